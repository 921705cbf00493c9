//! Tumbling and sliding event-time windows per key.
//!
//! Windows are `[start, start + size)` with `start` a multiple of `slide`
//! (tumbling: `slide = size`). Rows are aggregated once, into the
//! slide-long *pane* holding their event time; a window's result combines
//! its `size / slide` panes when it fires, so the work per row does not grow
//! with `size / slide` (the pane approach, as Arroyo does, rather than adding
//! each row to every window that holds it). A window fires when the watermark
//! reaches `end - 1` (Flink's `window.maxTimestamp() <= watermark`). A row is
//! late when the last window holding it has reached that point by the
//! watermark as it stood right after the row was read; a row some of whose
//! windows fired already counts in the others, as in Flink. As every row
//! carries that watermark, results and late rows do not depend on batching.

use std::collections::BTreeMap;
use std::sync::Arc;

use hashbrown::HashMap;

use super::aggregate::{Accumulator, AggregateSpec};
use super::key::{Key, KeyRef};
use crate::data::{position, Batch, BatchBuilder, Column, Field, FieldType, Schema, Value};
use crate::state::{Encoded, WindowState};

/// [`WindowState`] as borrowed from the live windows: serializes exactly as
/// a `WindowState` does.
#[derive(serde::Serialize)]
struct WindowStateView<'a> {
    open: Vec<OpenWindowView<'a>>,
    next_end: Option<i64>,
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
    /// Sliding windows: a window starts every `slide_ms` (a divisor of the
    /// size). `None`: tumbling.
    pub slide_ms: Option<i64>,
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

/// The totals of the window ending at `end`, per key with the number of its
/// panes that hold the key.
struct RunningWindow {
    end: i64,
    keys: HashMap<Key, (u32, Box<[Accumulator]>)>,
}

#[derive(Default)]
struct OpenWindow {
    keys: HashMap<Key, Box<[Accumulator]>>,
    /// The first position per stream of the rows this window holds: input
    /// from there on must be read again if the window is lost before it fires.
    first: Vec<(u32, u64)>,
}

pub struct EventTimeWindows {
    size_ms: i64,
    slide_ms: i64,
    /// The end of the next window to fire: windows before it have fired.
    next_end: Option<i64>,
    key_column: Option<usize>,
    aggregates: Vec<Aggregate>,
    output: Arc<Schema>,
    /// Open windows by end time.
    open: BTreeMap<i64, OpenWindow>,
    fired_windows: u64,
    /// Sliding windows whose aggregates can be taken back out (counts,
    /// integer sums) keep the last window's totals and move them on by a
    /// pane: add the pane that enters, subtract the one that leaves.
    running: Option<RunningWindow>,
    invertible: bool,
    /// What this window computes, to match it with checkpointed state.
    fingerprint: String,
}

impl EventTimeWindows {
    /// Checks the spec against the rows the window will receive.
    pub fn new(spec: &WindowSpec, input: &Schema) -> Result<Self, String> {
        if spec.size_ms <= 0 {
            return Err("window size must be positive".into());
        }
        let slide_ms = spec.slide_ms.unwrap_or(spec.size_ms);
        if slide_ms <= 0 || slide_ms > spec.size_ms || spec.size_ms % slide_ms != 0 {
            return Err(format!(
                "a sliding window's slide must divide its size: size {} ms, slide {slide_ms} ms",
                spec.size_ms
            ));
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
        let kind = match spec.slide_ms {
            Some(slide) if slide != spec.size_ms => format!("sliding slide={slide}ms "),
            _ => "tumbling ".into(),
        };
        let fingerprint = format!(
            "{kind}size={}ms key_by={:?} aggregates={:?}",
            spec.size_ms, spec.key_by, spec.aggregates
        );
        let invertible = aggregates.iter().all(|a| a.init.invertible());
        Ok(Self {
            running: None,
            invertible,
            size_ms: spec.size_ms,
            slide_ms,
            next_end: None,
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
            next_end: self.next_end,
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
        self.next_end = state.next_end;
        self.running = None;
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
        let mut fired = Vec::new();
        for row in 0..batch.len() {
            // Windows the watermark closed before this row fire first, so a
            // row never lands in a window that had closed when it was read.
            let watermark = batch.watermark[row];
            if watermark >= self.next_due() {
                fired.push(self.fire(watermark));
            }
            // Windows the watermark closed while they held nothing are closed
            // too: a row must not reopen them through a pane they share.
            if watermark > i64::MIN / 2 {
                let closed = watermark + 1;
                let open_from = closed - closed.rem_euclid(self.slide_ms) + self.slide_ms;
                if self.next_end.is_none_or(|n| n < open_from) {
                    self.next_end = Some(open_from);
                }
            }
            let event_time = batch.event_time[row];
            let start = event_time - event_time.rem_euclid(self.slide_ms);
            // The last window holding the row starts with its pane.
            let last_end = start.saturating_add(self.size_ms);
            if last_end - 1 <= batch.watermark[row] {
                late.push(LateRow {
                    row,
                    window_start: start,
                    window_end: last_end,
                });
                continue;
            }
            // Few panes are open at once (size and disorder bound keep it to a
            // handful), so this lookup is a couple of comparisons.
            let pane_end = start.saturating_add(self.slide_ms);
            // A row behind the running totals' window: recompute them.
            if self.running.as_ref().is_some_and(|r| pane_end <= r.end) {
                self.running = None;
            }
            let window = self.open.entry(pane_end).or_default();
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
        if fired.is_empty() {
            return self.fire(batch.end_watermark);
        }
        fired.push(self.fire(batch.end_watermark));
        Batch::concat(self.output.clone(), fired, batch.end_watermark)
    }

    /// The watermark at which the next window fires.
    fn next_due(&self) -> i64 {
        match self.open.first_key_value() {
            Some((&pane_end, _)) => self.next_end.map_or(pane_end, |n| n.max(pane_end)) - 1,
            None => i64::MAX,
        }
    }

    /// Emits, in (window end, key) order, every window the watermark has closed.
    fn fire(&mut self, watermark: i64) -> Batch {
        let mut out = BatchBuilder::new(self.output.clone(), 0);
        while let Some((&first_pane_end, _)) = self.open.first_key_value() {
            // The first window to fire holds the oldest pane still open.
            let end = self
                .next_end
                .map_or(first_pane_end, |n| n.max(first_pane_end));
            if end - 1 > watermark {
                break;
            }
            self.next_end = Some(end.saturating_add(self.slide_ms));
            if self.slide_ms == self.size_ms {
                // Tumbling: the window is its one pane.
                let pane = self.open.remove(&end).unwrap_or_default();
                let mut keys: Vec<_> = pane.keys.into_iter().collect();
                keys.sort_unstable_by(|a, b| a.0.cmp(&b.0));
                for (key, accumulators) in &keys {
                    self.emit_row(&mut out, key, accumulators, end, watermark);
                }
                self.fired_windows += keys.len() as u64;
            } else if self.invertible {
                self.fired_windows += self.emit_running(&mut out, end, watermark);
                // Panes already taken out of the running totals.
                self.drop_panes_through(end - self.size_ms);
            } else {
                self.fired_windows += self.emit_combined(&mut out, end, watermark);
                // Panes no later window holds.
                self.drop_panes_through(end.saturating_add(self.slide_ms) - self.size_ms);
            }
        }
        out.take(watermark)
    }

    /// Emits the window ending at `end` from the running totals, moved on from
    /// the previous window by one pane, or rebuilt from the panes after a gap.
    /// Returns the number of keys.
    fn emit_running(&mut self, out: &mut BatchBuilder, end: i64, watermark: i64) -> u64 {
        let running = match self.running.take() {
            Some(mut running) if running.end + self.slide_ms == end => {
                if let Some(entering) = self.open.get(&end) {
                    add_pane(&mut running.keys, entering);
                }
                if let Some(leaving) = self.open.get(&(end - self.size_ms)) {
                    for (key, accumulators) in &leaving.keys {
                        if let Some((panes, into)) = running.keys.get_mut(key) {
                            *panes -= 1;
                            if *panes == 0 {
                                running.keys.remove(key);
                                continue;
                            }
                            for (into, from) in into.iter_mut().zip(accumulators.iter()) {
                                into.unmerge(from);
                            }
                        }
                    }
                }
                running.end = end;
                running
            }
            _ => {
                let mut keys = HashMap::new();
                for pane in self.panes_of(end) {
                    add_pane(&mut keys, pane);
                }
                RunningWindow { end, keys }
            }
        };
        let mut keys: Vec<_> = running.keys.iter().collect();
        keys.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (key, (_, accumulators)) in &keys {
            self.emit_row(out, key, accumulators, end, watermark);
        }
        let fired = keys.len() as u64;
        self.running = Some(running);
        fired
    }

    /// Emits the window ending at `end`: its panes' accumulators merged per
    /// key, in key order. Returns the number of keys.
    fn emit_combined(&self, out: &mut BatchBuilder, end: i64, watermark: i64) -> u64 {
        let width = self.aggregates.len();
        // Keys borrowed from the panes and accumulators in one arena: merging
        // a window allocates per window, not per key.
        let mut index: HashMap<&Key, usize> = HashMap::new();
        let mut arena: Vec<Accumulator> = Vec::new();
        for pane in self.panes_of(end) {
            for (key, accumulators) in &pane.keys {
                match index.get(key) {
                    Some(&at) => {
                        for (into, from) in
                            arena[at..at + width].iter_mut().zip(accumulators.iter())
                        {
                            into.merge(from);
                        }
                    }
                    None => {
                        index.insert(key, arena.len());
                        arena.extend_from_slice(accumulators);
                    }
                }
            }
        }
        let mut keys: Vec<(&Key, usize)> = index.into_iter().collect();
        keys.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for &(key, at) in &keys {
            self.emit_row(out, key, &arena[at..at + width], end, watermark);
        }
        keys.len() as u64
    }

    /// The panes of the window ending at `end`.
    fn panes_of(&self, end: i64) -> impl Iterator<Item = &OpenWindow> {
        self.open
            .range(end - self.size_ms + 1..=end)
            .map(|(_, pane)| pane)
    }

    /// Drops the panes that end at or before `pane_end`.
    fn drop_panes_through(&mut self, pane_end: i64) {
        while self
            .open
            .first_key_value()
            .is_some_and(|(&end, _)| end <= pane_end)
        {
            self.open.pop_first();
        }
    }

    /// One result row: key, window start and end, aggregates.
    fn emit_row(
        &self,
        out: &mut BatchBuilder,
        key: &Key,
        accumulators: &[Accumulator],
        end: i64,
        watermark: i64,
    ) {
        let columns = out.columns_mut();
        let mut next = 0;
        if self.key_column.is_some() {
            columns[0].push(key.value(self.output.fields()[0].ty));
            next = 1;
        }
        columns[next].push(Value::Timestamp(end - self.size_ms));
        columns[next + 1].push(Value::Timestamp(end));
        for (i, (accumulator, aggregate)) in accumulators.iter().zip(&self.aggregates).enumerate() {
            accumulator.emit(&mut columns[next + 2 + i], aggregate.output);
        }
        out.commit_row(end - 1, watermark, 0);
    }
}

fn add_pane(keys: &mut HashMap<Key, (u32, Box<[Accumulator]>)>, pane: &OpenWindow) {
    for (key, accumulators) in &pane.keys {
        match keys.get_mut(key) {
            Some((panes, into)) => {
                *panes += 1;
                for (into, from) in into.iter_mut().zip(accumulators.iter()) {
                    into.merge(from);
                }
            }
            None => {
                keys.insert(key.clone(), (1, accumulators.clone()));
            }
        }
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

    fn windows() -> EventTimeWindows {
        let spec = WindowSpec {
            key_by: Some("k".into()),
            size_ms: 10,
            slide_ms: None,
            aggregates: vec![
                AggregateSpec::parse("n", "count").unwrap(),
                AggregateSpec::parse("hi", "max(t)").unwrap(),
            ],
        };
        EventTimeWindows::new(&spec, &input()).unwrap()
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

#[cfg(test)]
mod model {
    //! Sliding and tumbling windows against a plain model: each row added to
    //! every window holding it that has not fired by the row's watermark.
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;

    const BOUND: i64 = 8;

    type Result = (String, i64, i64, i64, i64);

    /// (key, window start, window end, count, max event time or 0), in the
    /// order windows fire.
    fn model(rows: &[(u8, i64)], size: i64, slide: i64, with_max: bool) -> (Vec<Result>, usize) {
        let mut counts: BTreeMap<(i64, String, i64), (i64, i64)> = BTreeMap::new();
        let (mut max, mut late) = (i64::MIN, 0);
        for &(key, t) in rows {
            max = max.max(t);
            let watermark = max - BOUND - 1;
            let mut start = t - t.rem_euclid(slide);
            let mut counted = false;
            while start > t - size {
                if start + size - 1 > watermark {
                    let entry = counts
                        .entry((start + size, format!("k{key}"), start))
                        .or_insert((0, 0));
                    entry.0 += 1;
                    entry.1 = if with_max { entry.1.max(t) } else { 0 };
                    counted = true;
                }
                start -= slide;
            }
            late += usize::from(!counted);
        }
        let windows = counts
            .into_iter()
            .map(|((end, key, start), (n, m))| (key, start, end, n, m))
            .collect();
        (windows, late)
    }

    /// `with_max` adds `max(v)`, which cannot be subtracted: the windows
    /// then combine their panes instead of keeping running totals.
    fn weir(
        rows: &[(u8, i64)],
        size: i64,
        slide: i64,
        cut: usize,
        with_max: bool,
    ) -> (Vec<Result>, usize) {
        let schema = Schema::new(vec![
            Field::new("k", FieldType::String),
            Field::new("v", FieldType::I64),
        ])
        .unwrap();
        let mut aggregates = vec![AggregateSpec::parse("n", "count").unwrap()];
        if with_max {
            aggregates.push(AggregateSpec::parse("m", "max(v)").unwrap());
        }
        let spec = WindowSpec {
            key_by: Some("k".into()),
            size_ms: size,
            slide_ms: (slide != size).then_some(slide),
            aggregates,
        };
        let mut windows = EventTimeWindows::new(&spec, &schema).unwrap();
        let (mut out, mut late, mut max) = (Vec::new(), Vec::new(), i64::MIN);
        let mut fired = Vec::new();
        for chunk in rows.chunks(cut.max(1)) {
            let mut builder = BatchBuilder::new(schema.clone(), chunk.len());
            let names: Vec<String> = chunk.iter().map(|(k, _)| format!("k{k}")).collect();
            let mut watermark = i64::MIN;
            for (name, &(_, t)) in names.iter().zip(chunk) {
                max = max.max(t);
                watermark = max - BOUND - 1;
                builder.push([Value::String(name), Value::I64(t)], t, watermark, 0);
            }
            fired.push(windows.process(&builder.take(watermark), &mut late));
        }
        fired.push(windows.process(&Batch::empty(schema.clone(), i64::MAX), &mut late));
        for batch in fired {
            for row in 0..batch.len() {
                let values: Vec<Value> = batch.row(row).map(|(_, v)| v).collect();
                match values[..] {
                    [Value::String(k), Value::Timestamp(s), Value::Timestamp(e), Value::I64(n)] => {
                        out.push((k.to_string(), s, e, n, 0))
                    }
                    [Value::String(k), Value::Timestamp(s), Value::Timestamp(e), Value::I64(n), Value::I64(m)] => {
                        out.push((k.to_string(), s, e, n, m))
                    }
                    _ => panic!("unexpected row {values:?}"),
                }
            }
        }
        (out, late.len())
    }

    #[test]
    fn a_slide_must_divide_the_size() {
        let schema = Schema::new(vec![Field::new("k", FieldType::String)]).unwrap();
        for (size, slide) in [(10, 3), (10, 20), (10, 0)] {
            let spec = WindowSpec {
                key_by: None,
                size_ms: size,
                slide_ms: Some(slide),
                aggregates: vec![AggregateSpec::parse("n", "count").unwrap()],
            };
            let error = EventTimeWindows::new(&spec, &schema).err().unwrap();
            assert!(error.contains("slide must divide its size"), "{error}");
        }
    }

    proptest! {
        #[test]
        fn windows_match_the_model(
            steps in proptest::collection::vec((0u8..3, 0i64..4, 0i64..12), 0..150),
            shape in 0usize..5,
            cut in 1usize..40,
            with_max: bool,
        ) {
            let (size, slide) = [(10, 10), (20, 5), (30, 10), (12, 4), (8, 1)][shape];
            // Times that mostly rise, some far behind (late).
            let mut base = 1_000;
            let rows: Vec<(u8, i64)> = steps
                .iter()
                .map(|&(key, step, back)| {
                    base += step;
                    (key, base - back)
                })
                .collect();
            prop_assert_eq!(
                weir(&rows, size, slide, cut, with_max),
                model(&rows, size, slide, with_max)
            );
        }
    }
}
