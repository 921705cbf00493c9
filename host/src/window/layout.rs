//! What every window kind shares: the key, the aggregates, and the shape of
//! a result row.

use std::cell::RefCell;
use std::sync::Arc;

use super::aggregate::{Accumulator, AggregateInput, AggregateSpec};
use super::plugin_accumulator::PluginAccumulator;
use crate::data::KeyRef;
use crate::data::{Batch, BatchBuilder, Column, Field, FieldType, Schema, Value};
use crate::plugin::AggregatePlugin;

struct Aggregate {
    input: Option<usize>,
    output: FieldType,
    init: Accumulator,
    plugin: Option<Arc<AggregatePlugin>>,
}

/// What a result row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mark {
    /// A window's first result for a key.
    First,
    /// A result replacing one emitted before (allowed lateness).
    Update,
    /// An open window's result so far (early firing).
    Partial,
}

impl Mark {
    pub fn update_if(emitted_before: bool) -> Self {
        if emitted_before {
            Mark::Update
        } else {
            Mark::First
        }
    }
}

/// Result rows: `[key,] window_start, window_end, aggregates…[, update][, partial]`.
pub(super) struct ResultLayout {
    key_column: Option<usize>,
    aggregates: Vec<Aggregate>,
    output: Arc<Schema>,
    /// Windows with allowed lateness say whether a row updates a result
    /// emitted before.
    marks_updates: bool,
    /// Windows with early firings say whether a row is a partial result.
    marks_partial: bool,
    /// Per aggregate, the plugin accumulators of the results emitted in
    /// this batch, whose values [`finish`](Self::finish) fills in.
    deferred: RefCell<Vec<Vec<PluginAccumulator>>>,
}

impl ResultLayout {
    pub fn new(
        key_by: Option<&str>,
        aggregates: &[AggregateSpec],
        input: &Schema,
        marks_updates: bool,
        marks_partial: bool,
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
            let init = match &spec.plugin {
                Some(plugin) => {
                    Accumulator::Plugin(Box::new(PluginAccumulator::new(plugin.clone())))
                }
                None => Accumulator::new(spec.function, input_ty),
            };
            resolved.push(Aggregate {
                input: input_index,
                output,
                init,
                plugin: spec.plugin.clone(),
            });
            fields.push(Field::new(&spec.name, output));
        }
        if marks_updates {
            fields.push(Field::new("update", FieldType::Bool));
        }
        if marks_partial {
            fields.push(Field::new("partial", FieldType::Bool));
        }
        let output =
            Schema::with_identity(fields, identity).map_err(|e| format!("window output: {e}"))?;
        Ok(Self {
            key_column,
            deferred: RefCell::new(vec![Vec::new(); resolved.len()]),
            aggregates: resolved,
            output,
            marks_updates,
            marks_partial,
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

    /// What each aggregate reads from `batch`.
    pub fn inputs<'b>(&self, batch: &'b Batch) -> Vec<AggregateInput<'b>> {
        self.aggregates
            .iter()
            .map(|a| match &a.plugin {
                Some(plugin) => AggregateInput::Encoded(plugin.encode(batch)),
                None => AggregateInput::Column(a.input.map(|i| &batch.columns[i])),
            })
            .collect()
    }

    /// Connects restored plugin accumulators to their plugins.
    pub fn attach(&self, accumulators: &mut [Accumulator]) {
        for (accumulator, aggregate) in accumulators.iter_mut().zip(&self.aggregates) {
            if let (Accumulator::Plugin(accumulator), Some(plugin)) =
                (accumulator, &aggregate.plugin)
            {
                accumulator.attach(plugin);
            }
        }
    }

    pub fn key_of<'b>(key_column: Option<&'b Column>, row: usize) -> KeyRef<'b> {
        key_column.map_or(KeyRef::Unit, |c| KeyRef::of(c.get(row)))
    }

    pub fn new_accumulators<C: FromIterator<Accumulator>>(&self) -> C {
        self.aggregates.iter().map(|a| a.init.clone()).collect()
    }

    #[inline]
    pub fn add_row(
        accumulators: &mut [Accumulator],
        inputs: &[AggregateInput<'_>],
        row: usize,
        time: i64,
    ) {
        for (accumulator, input) in accumulators.iter_mut().zip(inputs) {
            accumulator.add(input, row, time);
        }
    }

    /// Appends one result row.
    #[allow(clippy::too_many_arguments)]
    pub fn emit_row(
        &self,
        out: &mut BatchBuilder,
        key: KeyRef<'_>,
        accumulators: &[Accumulator],
        start: i64,
        end: i64,
        watermark: i64,
        mark: Mark,
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
        for (index, (accumulator, aggregate)) in
            accumulators.iter().zip(&self.aggregates).enumerate()
        {
            match accumulator {
                Accumulator::Plugin(accumulator) => {
                    columns[next].push(placeholder(aggregate.output));
                    self.deferred.borrow_mut()[index].push((**accumulator).clone());
                }
                accumulator => accumulator.emit(&mut columns[next], aggregate.output),
            }
            next += 1;
        }
        if self.marks_updates {
            columns[next].push(Value::Bool(mark == Mark::Update));
            next += 1;
        }
        if self.marks_partial {
            columns[next].push(Value::Bool(mark == Mark::Partial));
        }
        out.commit_row(end - 1, watermark, 0);
    }
}

impl ResultLayout {
    /// Fills in the plugin aggregates of the results in `out` (one plugin
    /// call per plugin per batch), and reports a plugin's failure.
    pub fn finish(&self, out: &mut Batch) -> Result<(), String> {
        let first_aggregate = usize::from(self.key_column.is_some()) + 2;
        let mut deferred = self.deferred.borrow_mut();
        for (index, aggregate) in self.aggregates.iter().enumerate() {
            let Some(plugin) = &aggregate.plugin else {
                continue;
            };
            let emitted = std::mem::take(&mut deferred[index]);
            if !emitted.is_empty() {
                let pending: Vec<_> = emitted.iter().map(|a| a.pending()).collect();
                if let Some(column) = plugin.results(&pending) {
                    debug_assert_eq!(column.len(), out.len());
                    out.columns[first_aggregate + index] = column;
                }
            }
            if let Some(failure) = plugin.take_failure() {
                return Err(format!(
                    "aggregate `{}`: {failure}",
                    self.output.fields()[first_aggregate + index].name
                ));
            }
        }
        Ok(())
    }
}

/// A value of `ty` to hold a plugin result's place until [`ResultLayout::finish`].
fn placeholder(ty: FieldType) -> Value<'static> {
    match ty {
        FieldType::String => Value::String(""),
        FieldType::F64 => Value::F64(0.0),
        FieldType::I64 => Value::I64(0),
        FieldType::Bool => Value::Bool(false),
        FieldType::Timestamp => Value::Timestamp(0),
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

/// The first position per stream of the rows a session holds: almost
/// always one stream, so no allocation of its own.
pub(super) type Held = smallvec::SmallVec<[(u32, u64); 1]>;

/// What holds positions: a pane's `Vec` (one per pane, hot per row, where
/// the inline check of [`Held`] costs more than it saves) or a session's
/// [`Held`] (one per session, so one allocation fewer each).
pub(super) trait HeldPositions {
    fn positions(&mut self) -> &mut [(u32, u64)];
    fn hold(&mut self, position: (u32, u64));
}

impl HeldPositions for Vec<(u32, u64)> {
    fn positions(&mut self) -> &mut [(u32, u64)] {
        self
    }
    fn hold(&mut self, position: (u32, u64)) {
        self.push(position);
    }
}

impl HeldPositions for Held {
    fn positions(&mut self) -> &mut [(u32, u64)] {
        self
    }
    fn hold(&mut self, position: (u32, u64)) {
        self.push(position);
    }
}

/// Records that a row at `row_position` is held: `first` keeps the earliest
/// position per stream, the point input must be read again from if the held
/// state is lost.
pub(super) fn hold_position(first: &mut impl HeldPositions, row_position: u64) {
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
pub(super) fn merge_positions(into: &mut impl HeldPositions, from: &[(u32, u64)]) {
    for &(stream, seq) in from {
        match into.positions().iter_mut().find(|(s, _)| *s == stream) {
            Some((_, held)) => *held = (*held).min(seq),
            None => into.hold((stream, seq)),
        }
    }
}
