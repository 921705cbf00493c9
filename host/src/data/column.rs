use super::FieldType;

/// Strings of one column stored back to back, Arrow-style: one allocation per
/// column instead of one per value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StrColumn {
    data: String,
    /// `offsets[i]..offsets[i + 1]` is value `i`.
    offsets: Vec<u32>,
}

impl StrColumn {
    pub fn with_capacity(rows: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        Self {
            data: String::with_capacity(rows * 12),
            offsets,
        }
    }

    pub fn push(&mut self, value: &str) {
        self.data.push_str(value);
        self.offsets.push(self.data.len() as u32);
    }

    pub fn get(&self, row: usize) -> &str {
        &self.data[self.offsets[row] as usize..self.offsets[row + 1] as usize]
    }

    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).map(|row| self.get(row))
    }
}

/// One field's values for every row of a batch.
#[derive(Debug, Clone, PartialEq)]
pub enum Column {
    String(StrColumn),
    F64(Vec<f64>),
    I64(Vec<i64>),
    Bool(Vec<bool>),
    Timestamp(Vec<i64>),
}

/// One value, borrowed from a column.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    String(&'a str),
    F64(f64),
    I64(i64),
    Bool(bool),
    Timestamp(i64),
}

impl Column {
    pub fn len(&self) -> usize {
        match self {
            Column::String(c) => c.len(),
            Column::F64(c) => c.len(),
            Column::I64(c) | Column::Timestamp(c) => c.len(),
            Column::Bool(c) => c.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn field_type(&self) -> FieldType {
        match self {
            Column::String(_) => FieldType::String,
            Column::F64(_) => FieldType::F64,
            Column::I64(_) => FieldType::I64,
            Column::Bool(_) => FieldType::Bool,
            Column::Timestamp(_) => FieldType::Timestamp,
        }
    }

    pub fn get(&self, row: usize) -> Value<'_> {
        match self {
            Column::String(c) => Value::String(c.get(row)),
            Column::F64(c) => Value::F64(c[row]),
            Column::I64(c) => Value::I64(c[row]),
            Column::Bool(c) => Value::Bool(c[row]),
            Column::Timestamp(c) => Value::Timestamp(c[row]),
        }
    }

    /// Appends every row of `other`, which must be of the same type.
    pub fn extend_from(&mut self, other: &Column) {
        match (self, other) {
            (Column::String(a), Column::String(b)) => {
                for value in b.iter() {
                    a.push(value);
                }
            }
            (Column::F64(a), Column::F64(b)) => a.extend_from_slice(b),
            (Column::I64(a), Column::I64(b)) | (Column::Timestamp(a), Column::Timestamp(b)) => {
                a.extend_from_slice(b)
            }
            (Column::Bool(a), Column::Bool(b)) => a.extend_from_slice(b),
            (a, b) => unreachable!(
                "a {} column extended with a {} column",
                a.field_type(),
                b.field_type()
            ),
        }
    }

    /// The rows at `indices`, in that order.
    pub fn gather(&self, indices: &[u32]) -> Column {
        fn pick<T: Copy>(values: &[T], indices: &[u32]) -> Vec<T> {
            indices.iter().map(|&i| values[i as usize]).collect()
        }
        match self {
            Column::String(c) => {
                let mut out = StrColumn::with_capacity(indices.len());
                for &i in indices {
                    out.push(c.get(i as usize));
                }
                Column::String(out)
            }
            Column::F64(c) => Column::F64(pick(c, indices)),
            Column::I64(c) => Column::I64(pick(c, indices)),
            Column::Bool(c) => Column::Bool(pick(c, indices)),
            Column::Timestamp(c) => Column::Timestamp(pick(c, indices)),
        }
    }
}

/// Appends values of one type; becomes a [`Column`].
#[derive(Debug)]
pub struct ColumnBuilder(Column);

impl ColumnBuilder {
    pub fn new(ty: FieldType, rows: usize) -> Self {
        Self(match ty {
            FieldType::String => Column::String(StrColumn::with_capacity(rows)),
            FieldType::F64 => Column::F64(Vec::with_capacity(rows)),
            FieldType::I64 => Column::I64(Vec::with_capacity(rows)),
            FieldType::Bool => Column::Bool(Vec::with_capacity(rows)),
            FieldType::Timestamp => Column::Timestamp(Vec::with_capacity(rows)),
        })
    }

    /// Appends `value`. The caller guarantees the value's type matches the column's.
    pub fn push(&mut self, value: Value<'_>) {
        match (&mut self.0, value) {
            (Column::String(c), Value::String(v)) => c.push(v),
            (Column::F64(c), Value::F64(v)) => c.push(v),
            (Column::I64(c), Value::I64(v)) => c.push(v),
            (Column::Bool(c), Value::Bool(v)) => c.push(v),
            (Column::Timestamp(c), Value::Timestamp(v)) => c.push(v),
            (column, value) => {
                unreachable!("{value:?} pushed into a {} column", column.field_type())
            }
        }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn truncate(&mut self, rows: usize) {
        match &mut self.0 {
            Column::String(c) => {
                if c.len() > rows {
                    c.data.truncate(c.offsets[rows] as usize);
                    c.offsets.truncate(rows + 1);
                }
            }
            Column::F64(c) => c.truncate(rows),
            Column::I64(c) | Column::Timestamp(c) => c.truncate(rows),
            Column::Bool(c) => c.truncate(rows),
        }
    }

    pub fn last_int(&self) -> Option<i64> {
        match &self.0 {
            Column::I64(c) | Column::Timestamp(c) => c.last().copied(),
            _ => None,
        }
    }

    pub fn finish(self) -> Column {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_column_round_trips_and_gathers() {
        let mut c = StrColumn::with_capacity(2);
        for s in ["a", "", "héllo", "z"] {
            c.push(s);
        }
        let col = Column::String(c);
        assert_eq!(col.gather(&[2, 0, 1]), {
            let mut e = StrColumn::with_capacity(3);
            e.push("héllo");
            e.push("a");
            e.push("");
            Column::String(e)
        });
        assert_eq!(col.get(2), Value::String("héllo"));
    }
}
