use std::sync::Arc;

use super::{Column, ColumnBuilder, Schema, Value};

/// Rows that travel through the pipeline together, stored by column.
///
/// Every row carries its event time, the watermark as it stood right after the row
/// was read, and its position in the source. The per-row watermark is what makes a
/// row's lateness depend only on the rows before it in the input, never on how the
/// input was cut into batches.
#[derive(Debug, Clone)]
pub struct Batch {
    pub schema: Arc<Schema>,
    pub columns: Vec<Column>,
    pub event_time: Vec<i64>,
    pub watermark: Vec<i64>,
    /// Source position of each row (a line number for files).
    pub position: Vec<u64>,
    /// The watermark after the last input event this batch covers, including
    /// events that earlier operators dropped.
    pub end_watermark: i64,
}

impl Batch {
    pub fn empty(schema: Arc<Schema>, end_watermark: i64) -> Self {
        let columns = schema
            .fields()
            .iter()
            .map(|f| ColumnBuilder::new(f.ty, 0).finish())
            .collect();
        Self {
            schema,
            columns,
            event_time: Vec::new(),
            watermark: Vec::new(),
            position: Vec::new(),
            end_watermark,
        }
    }

    pub fn len(&self) -> usize {
        self.event_time.len()
    }

    pub fn is_empty(&self) -> bool {
        self.event_time.is_empty()
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.schema.index_of(name).map(|i| &self.columns[i])
    }

    /// The rows at `indices` (ascending), with their time and position metadata.
    pub fn gather(&self, indices: &[u32]) -> Batch {
        let pick = |values: &[i64]| indices.iter().map(|&i| values[i as usize]).collect();
        Batch {
            schema: self.schema.clone(),
            columns: self.columns.iter().map(|c| c.gather(indices)).collect(),
            event_time: pick(&self.event_time),
            watermark: pick(&self.watermark),
            position: indices.iter().map(|&i| self.position[i as usize]).collect(),
            end_watermark: self.end_watermark,
        }
    }

    /// The rows of `parts` (same schema) one after another; `end_watermark` as given.
    pub fn concat(schema: Arc<Schema>, parts: Vec<Batch>, end_watermark: i64) -> Batch {
        let mut out = Batch::empty(schema, end_watermark);
        for part in parts {
            for (column, other) in out.columns.iter_mut().zip(&part.columns) {
                column.extend_from(other);
            }
            out.event_time.extend_from_slice(&part.event_time);
            out.watermark.extend_from_slice(&part.watermark);
            out.position.extend_from_slice(&part.position);
        }
        out
    }

    /// One row as `(field name, value)` pairs, for sinks and dead letters.
    pub fn row(&self, row: usize) -> impl Iterator<Item = (&str, Value<'_>)> {
        self.schema
            .fields()
            .iter()
            .zip(&self.columns)
            .map(move |(f, c)| (f.name.as_str(), c.get(row)))
    }
}

/// Accumulates rows of a known schema into a [`Batch`].
#[derive(Debug)]
pub struct BatchBuilder {
    schema: Arc<Schema>,
    columns: Vec<ColumnBuilder>,
    event_time: Vec<i64>,
    watermark: Vec<i64>,
    position: Vec<u64>,
    capacity: usize,
}

impl BatchBuilder {
    pub fn new(schema: Arc<Schema>, capacity: usize) -> Self {
        let columns = schema
            .fields()
            .iter()
            .map(|f| ColumnBuilder::new(f.ty, capacity))
            .collect();
        Self {
            schema,
            columns,
            event_time: Vec::with_capacity(capacity),
            watermark: Vec::with_capacity(capacity),
            position: Vec::with_capacity(capacity),
            capacity,
        }
    }

    pub fn len(&self) -> usize {
        self.event_time.len()
    }

    pub fn is_empty(&self) -> bool {
        self.event_time.is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.len() >= self.capacity
    }

    /// Appends a row whose values are in schema order.
    pub fn push<'a>(
        &mut self,
        values: impl IntoIterator<Item = Value<'a>>,
        event_time: i64,
        watermark: i64,
        position: u64,
    ) {
        for (column, value) in self.columns.iter_mut().zip(values) {
            column.push(value);
        }
        self.event_time.push(event_time);
        self.watermark.push(watermark);
        self.position.push(position);
    }

    /// Column builders for decoding a row in place; see [`Self::commit_row`].
    pub fn columns_mut(&mut self) -> &mut [ColumnBuilder] {
        &mut self.columns
    }

    /// Completes a row whose values were pushed through [`Self::columns_mut`].
    pub fn commit_row(&mut self, event_time: i64, watermark: i64, position: u64) {
        self.event_time.push(event_time);
        self.watermark.push(watermark);
        self.position.push(position);
    }

    /// Drops values pushed since the last committed row (a record that failed to decode).
    pub fn rollback_row(&mut self) {
        let rows = self.len();
        for column in &mut self.columns {
            column.truncate(rows);
        }
    }

    /// The last value pushed into `column` if it is an integer or timestamp.
    pub fn last_int(&self, column: usize) -> Option<i64> {
        self.columns[column].last_int()
    }

    /// The batch so far; the builder starts over, empty, with the same schema.
    pub fn take(&mut self, end_watermark: i64) -> Batch {
        let fresh = BatchBuilder::new(self.schema.clone(), self.capacity);
        let full = std::mem::replace(self, fresh);
        Batch {
            schema: full.schema,
            columns: full
                .columns
                .into_iter()
                .map(ColumnBuilder::finish)
                .collect(),
            event_time: full.event_time,
            watermark: full.watermark,
            position: full.position,
            end_watermark,
        }
    }
}
