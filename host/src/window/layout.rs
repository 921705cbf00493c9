//! What every window kind shares: the key, the aggregates, and the shape of
//! a result row.

use std::sync::Arc;

use super::aggregate::{Accumulator, AggregateSpec};
use super::key::KeyRef;
use crate::data::{Batch, BatchBuilder, Column, Field, FieldType, Schema, Value};

struct Aggregate {
    input: Option<usize>,
    output: FieldType,
    init: Accumulator,
}

/// Result rows: `[key,] window_start, window_end, aggregates…[, update]`.
pub(super) struct ResultLayout {
    key_column: Option<usize>,
    aggregates: Vec<Aggregate>,
    output: Arc<Schema>,
    /// Windows with allowed lateness say whether a row updates a result
    /// emitted before.
    marks_updates: bool,
}

impl ResultLayout {
    pub fn new(
        key_by: Option<&str>,
        aggregates: &[AggregateSpec],
        input: &Schema,
        marks_updates: bool,
    ) -> Result<Self, String> {
        if aggregates.is_empty() {
            return Err(
                "a window needs at least one aggregate, e.g. `aggregates = { count = \"count\" }`"
                    .into(),
            );
        }
        let mut fields = Vec::new();
        let key_column = match key_by {
            Some(name) => {
                let index = input.index_of(name).ok_or_else(|| {
                    format!("key_by field `{name}` is not in the input; available: {input}")
                })?;
                let field = &input.fields()[index];
                if field.ty == FieldType::F64 {
                    return Err(format!(
                        "key_by field `{name}` is an f64; floats make unreliable keys"
                    ));
                }
                fields.push(field.clone());
                Some(index)
            }
            None => None,
        };
        fields.push(Field::new("window_start", FieldType::Timestamp));
        fields.push(Field::new("window_end", FieldType::Timestamp));
        let identity = (0..fields.len()).collect();
        let mut resolved = Vec::new();
        for spec in aggregates {
            let (input_index, output) = spec.resolve(input)?;
            let input_ty = input_index.map(|i| input.fields()[i].ty);
            resolved.push(Aggregate {
                input: input_index,
                output,
                init: Accumulator::new(spec.function, input_ty),
            });
            fields.push(Field::new(&spec.name, output));
        }
        if marks_updates {
            fields.push(Field::new("update", FieldType::Bool));
        }
        let output =
            Schema::with_identity(fields, identity).map_err(|e| format!("window output: {e}"))?;
        Ok(Self {
            key_column,
            aggregates: resolved,
            output,
            marks_updates,
        })
    }

    pub fn output(&self) -> &Arc<Schema> {
        &self.output
    }

    pub fn width(&self) -> usize {
        self.aggregates.len()
    }

    /// Whether every aggregate can take a merged part back out (see
    /// [`Accumulator::unmerge`]).
    pub fn invertible(&self) -> bool {
        self.aggregates.iter().all(|a| a.init.invertible())
    }

    pub fn key_column<'b>(&self, batch: &'b Batch) -> Option<&'b Column> {
        self.key_column.map(|i| &batch.columns[i])
    }

    /// The input column of each aggregate.
    pub fn inputs<'b>(&self, batch: &'b Batch) -> Vec<Option<&'b Column>> {
        self.aggregates
            .iter()
            .map(|a| a.input.map(|i| &batch.columns[i]))
            .collect()
    }

    pub fn key_of<'b>(key_column: Option<&'b Column>, row: usize) -> KeyRef<'b> {
        key_column.map_or(KeyRef::Unit, |c| KeyRef::of(c.get(row)))
    }

    pub fn new_accumulators(&self) -> Box<[Accumulator]> {
        self.aggregates.iter().map(|a| a.init.clone()).collect()
    }

    #[inline]
    pub fn add_row(
        accumulators: &mut [Accumulator],
        inputs: &[Option<&Column>],
        row: usize,
        time: i64,
    ) {
        for (accumulator, column) in accumulators.iter_mut().zip(inputs) {
            accumulator.add(*column, row, time);
        }
    }

    /// Appends one result row; `update` says it replaces one emitted before.
    #[allow(clippy::too_many_arguments)]
    pub fn emit_row(
        &self,
        out: &mut BatchBuilder,
        key: KeyRef<'_>,
        accumulators: &[Accumulator],
        start: i64,
        end: i64,
        watermark: i64,
        update: bool,
    ) {
        let columns = out.columns_mut();
        let mut next = 0;
        if self.key_column.is_some() {
            columns[0].push(key.value(self.output.fields()[0].ty));
            next = 1;
        }
        columns[next].push(Value::Timestamp(start));
        columns[next + 1].push(Value::Timestamp(end));
        next += 2;
        for (accumulator, aggregate) in accumulators.iter().zip(&self.aggregates) {
            accumulator.emit(&mut columns[next], aggregate.output);
            next += 1;
        }
        if self.marks_updates {
            columns[next].push(Value::Bool(update));
        }
        out.commit_row(end - 1, watermark, 0);
    }
}

/// Merges each accumulator of `from` into its counterpart in `into` (panes
/// into a window, sessions into one).
pub(super) fn merge_into(into: &mut [Accumulator], from: &[Accumulator]) {
    for (into, from) in into.iter_mut().zip(from) {
        into.merge(from);
    }
}

/// Adds, per stream, the earliest of `positions` to `earliest`.
pub(super) fn retain_positions(
    positions: &[(u32, u64)],
    earliest: &mut std::collections::BTreeMap<u32, u64>,
) {
    for &(stream, seq) in positions {
        earliest
            .entry(stream)
            .and_modify(|e| *e = (*e).min(seq))
            .or_insert(seq);
    }
}

/// Records that a row at `row_position` is held: `first` keeps the earliest
/// position per stream, the point input must be read again from if the held
/// state is lost.
pub(super) fn hold_position(first: &mut Vec<(u32, u64)>, row_position: u64) {
    use crate::data::position;
    if row_position == 0 {
        return;
    }
    let held = (
        position::stream_of(row_position),
        position::seq_of(row_position),
    );
    merge_positions(first, &[held]);
}

/// Adds the held positions of `from` to `into` (see [`hold_position`]).
pub(super) fn merge_positions(into: &mut Vec<(u32, u64)>, from: &[(u32, u64)]) {
    for &(stream, seq) in from {
        match into.iter_mut().find(|(s, _)| *s == stream) {
            Some((_, held)) => *held = (*held).min(seq),
            None => into.push((stream, seq)),
        }
    }
}
