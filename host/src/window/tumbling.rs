//! Tumbling event-time windows per key.
//!
//! A row belongs to the window `[start, start + size)` containing its event time.
//! The window fires when the watermark reaches `end - 1` (Flink's
//! `window.maxTimestamp() <= watermark`); a row whose window has reached that
//! point by the watermark as it stood right after the row was read is late. As
//! every row carries that watermark, results and late rows do not depend on batching.

use std::collections::BTreeMap;
use std::sync::Arc;

use hashbrown::HashMap;

use super::aggregate::{Accumulator, AggregateSpec};
use super::key::{Key, KeyRef};
use crate::data::{
    position, Batch, BatchBuilder, Column, ColumnBuilder, Field, FieldType, Schema, Value,
};
use crate::state::{Encoded, WindowState};

/// [`WindowState`] as borrowed from the live windows: serializes exactly as
/// a `WindowState` does.
#[derive(serde::Serialize)]
struct WindowStateView<'a> {
    open: Vec<OpenWindowView<'a>>,
}

#[derive(serde::Serialize)]
struct OpenWindowView<'a> {
    end: i64,
    keys: KeysView<'a>,
    first: &'a [(u32, u64)],
}

struct KeysView<'a>(&'a HashMap<Key, Box<[Accumulator]>>);

impl serde::Serialize for KeysView<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|(key, acc)| (key, &**acc)))
    }
}

/// A window as the pipeline file describes it.
#[derive(Debug, Clone)]
pub struct WindowSpec {
    pub key_by: Option<String>,
    pub size_ms: i64,
    pub aggregates: Vec<AggregateSpec>,
}

/// A row that arrived after its window fired.
#[derive(Debug, Clone, PartialEq)]
pub struct LateRow {
    pub row: usize,
    pub window_start: i64,
    pub window_end: i64,
}

struct Aggregate {
    input: Option<usize>,
    output: FieldType,
    init: Accumulator,
}

#[derive(Default)]
struct OpenWindow {
    keys: HashMap<Key, Box<[Accumulator]>>,
    /// The first position per stream of the rows this window holds: input
    /// from there on must be read again if the window is lost before it fires.
    first: Vec<(u32, u64)>,
}

pub struct TumblingWindows {
    size_ms: i64,
    key_column: Option<usize>,
    aggregates: Vec<Aggregate>,
    output: Arc<Schema>,
    /// Open windows by end time.
    open: BTreeMap<i64, OpenWindow>,
    fired_windows: u64,
    /// What this window computes, to match it with checkpointed state.
    fingerprint: String,
}

impl TumblingWindows {
    /// Checks the spec against the rows the window will receive.
    pub fn new(spec: &WindowSpec, input: &Schema) -> Result<Self, String> {
        if spec.size_ms <= 0 {
            return Err("window size must be positive".into());
        }
        if spec.aggregates.is_empty() {
            return Err(
                "a window needs at least one aggregate, e.g. `aggregates = { count = \"count\" }`"
                    .into(),
            );
        }
        let mut fields = Vec::new();
        let key_column = match &spec.key_by {
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
        let mut aggregates = Vec::new();
        for spec in &spec.aggregates {
            let (input_index, output) = spec.resolve(input)?;
            let input_ty = input_index.map(|i| input.fields()[i].ty);
            aggregates.push(Aggregate {
                input: input_index,
                output,
                init: Accumulator::new(spec.function, input_ty),
            });
            fields.push(Field::new(&spec.name, output));
        }
        let output = Schema::new(fields).map_err(|e| format!("window output: {e}"))?;
        let fingerprint = format!(
            "tumbling size={}ms key_by={:?} aggregates={:?}",
            spec.size_ms, spec.key_by, spec.aggregates
        );
        Ok(Self {
            size_ms: spec.size_ms,
            key_column,
            aggregates,
            output,
            open: BTreeMap::new(),
            fired_windows: 0,
            fingerprint,
        })
    }

    pub fn output_schema(&self) -> &Arc<Schema> {
        &self.output
    }

    /// Windows fired so far (one per key and window).
    pub fn fired_windows(&self) -> u64 {
        self.fired_windows
    }

    /// (key, window) pairs currently open.
    pub fn open_windows(&self) -> usize {
        self.open.values().map(|w| w.keys.len()).sum()
    }

    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The open windows' contents, encoded for a checkpoint without copying them.
    pub fn checkpoint(&self) -> Encoded<WindowState> {
        Encoded::encode(&WindowStateView {
            open: self
                .open
                .iter()
                .map(|(&end, window)| OpenWindowView {
                    end,
                    keys: KeysView(&window.keys),
                    first: &window.first,
                })
                .collect(),
        })
    }

    /// Puts back the contents [`checkpoint`](Self::checkpoint) took.
    pub fn restore(&mut self, state: WindowState) -> Result<(), String> {
        self.open.clear();
        for window in state.open {
            let mut keys = HashMap::with_capacity(window.keys.len());
            for (key, accumulators) in window.keys {
                if accumulators.len() != self.aggregates.len() {
                    return Err(format!(
                        "the checkpoint holds {} aggregates per window, this window computes {}",
                        accumulators.len(),
                        self.aggregates.len()
                    ));
                }
                keys.insert(key, accumulators.into_boxed_slice());
            }
            let first = window.first;
            self.open.insert(window.end, OpenWindow { keys, first });
        }
        Ok(())
    }

    /// Adds, per stream, the earliest sequence number an open window holds
    /// (see [`crate::data::position`]).
    pub fn retained(&self, earliest: &mut BTreeMap<u32, u64>) {
        for window in self.open.values() {
            for &(stream, seq) in &window.first {
                earliest
                    .entry(stream)
                    .and_modify(|e| *e = (*e).min(seq))
                    .or_insert(seq);
            }
        }
    }

    /// Adds the batch's on-time rows, reports late ones in `late`, and returns the
    /// windows the batch's end watermark closes.
    pub fn process(&mut self, batch: &Batch, late: &mut Vec<LateRow>) -> Batch {
        let key_column = self.key_column.map(|i| &batch.columns[i]);
        let inputs: Vec<Option<&Column>> = self
            .aggregates
            .iter()
            .map(|a| a.input.map(|i| &batch.columns[i]))
            .collect();
        for row in 0..batch.len() {
            let event_time = batch.event_time[row];
            let start = event_time - event_time.rem_euclid(self.size_ms);
            let end = start.saturating_add(self.size_ms);
            if end - 1 <= batch.watermark[row] {
                late.push(LateRow {
                    row,
                    window_start: start,
                    window_end: end,
                });
                continue;
            }
            // Few windows are open at once (size and disorder bound keep it to a
            // handful), so this lookup is a couple of comparisons.
            let window = self.open.entry(end).or_default();
            let row_position = batch.position[row];
            if row_position != 0 {
                let (stream, seq) = (
                    position::stream_of(row_position),
                    position::seq_of(row_position),
                );
                match window.first.iter_mut().find(|(s, _)| *s == stream) {
                    Some((_, first)) => *first = (*first).min(seq),
                    None => window.first.push((stream, seq)),
                }
            }
            let keys = &mut window.keys;
            let key = key_column.map_or(KeyRef::Unit, |c| KeyRef::of(c.get(row)));
            let accumulators = match keys.get_mut(&key) {
                Some(accumulators) => accumulators,
                None => keys
                    .entry(key.to_owned())
                    .or_insert_with(|| self.aggregates.iter().map(|a| a.init).collect()),
            };
            for (accumulator, column) in accumulators.iter_mut().zip(&inputs) {
                accumulator.add(*column, row);
            }
        }
        self.fire(batch.end_watermark)
    }

    /// Emits, in (window end, key) order, every window the watermark has closed.
    fn fire(&mut self, watermark: i64) -> Batch {
        let mut out = BatchBuilder::new(self.output.clone(), 0);
        while let Some(entry) = self.open.first_entry() {
            if *entry.key() - 1 > watermark {
                break;
            }
            let end = *entry.key();
            let mut keys: Vec<_> = entry.remove().keys.into_iter().collect();
            keys.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            self.fired_windows += keys.len() as u64;
            for (key, accumulators) in keys {
                let mut columns = self
                    .output
                    .fields()
                    .iter()
                    .map(|f| ColumnBuilder::new(f.ty, 1))
                    .collect::<Vec<_>>();
                let mut next = 0;
                if self.key_column.is_some() {
                    columns[0].push(key.value(self.output.fields()[0].ty));
                    next = 1;
                }
                columns[next].push(Value::Timestamp(end - self.size_ms));
                columns[next + 1].push(Value::Timestamp(end));
                for (i, (accumulator, aggregate)) in
                    accumulators.iter().zip(&self.aggregates).enumerate()
                {
                    accumulator.emit(&mut columns[next + 2 + i], aggregate.output);
                }
                let values: Vec<Column> = columns.into_iter().map(ColumnBuilder::finish).collect();
                out.push(values.iter().map(|c| c.get(0)), end - 1, watermark, 0);
            }
        }
        out.take(watermark)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::AggregateSpec;

    fn input() -> Arc<Schema> {
        Schema::new(vec![
            Field::new("k", FieldType::String),
            Field::new("t", FieldType::F64),
        ])
        .unwrap()
    }

    fn windows() -> TumblingWindows {
        let spec = WindowSpec {
            key_by: Some("k".into()),
            size_ms: 10,
            aggregates: vec![
                AggregateSpec::parse("n", "count").unwrap(),
                AggregateSpec::parse("hi", "max(t)").unwrap(),
            ],
        };
        TumblingWindows::new(&spec, &input()).unwrap()
    }

    /// Rows of (key, temperature, event time, watermark after the row).
    fn batch(rows: &[(&str, f64, i64, i64)], end_watermark: i64) -> Batch {
        let mut b = BatchBuilder::new(input(), rows.len());
        for (i, &(k, t, time, wm)) in rows.iter().enumerate() {
            b.push([Value::String(k), Value::F64(t)], time, wm, i as u64 + 1);
        }
        b.take(end_watermark)
    }

    fn rows(batch: &Batch) -> Vec<String> {
        (0..batch.len())
            .map(|r| {
                batch
                    .row(r)
                    .map(|(n, v)| format!("{n}={v:?}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    #[test]
    fn fires_when_the_watermark_reaches_the_last_millisecond() {
        let mut w = windows();
        let mut late = vec![];
        let out = w.process(
            &batch(&[("b", 1.0, 1, 0), ("a", 5.0, 9, 0), ("a", 7.0, 3, 0)], 8),
            &mut late,
        );
        assert!(out.is_empty(), "watermark 8 < 9: window [0, 10) stays open");
        let out = w.process(&batch(&[], 9), &mut late);
        assert_eq!(
            rows(&out),
            vec![
                "k=String(\"a\") window_start=Timestamp(0) window_end=Timestamp(10) n=I64(2) hi=F64(7.0)",
                "k=String(\"b\") window_start=Timestamp(0) window_end=Timestamp(10) n=I64(1) hi=F64(1.0)",
            ]
        );
        assert_eq!(w.fired_windows(), 2);
        assert!(late.is_empty());
    }

    #[test]
    fn a_row_behind_the_watermark_of_its_own_moment_is_late() {
        let mut w = windows();
        let mut late = vec![];
        // The second row's window [0, 10) closed when the watermark reached 9,
        // even though the window has not been emitted yet within this batch.
        let out = w.process(
            &batch(&[("a", 1.0, 25, 9), ("a", 1.0, 4, 9), ("a", 1.0, 24, 9)], 9),
            &mut late,
        );
        assert_eq!(
            late,
            vec![LateRow {
                row: 1,
                window_start: 0,
                window_end: 10
            }]
        );
        assert!(out.is_empty());
        assert_eq!(w.open_windows(), 1);
    }
}
