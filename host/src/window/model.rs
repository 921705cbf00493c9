//! Every window kind against a plain model: each row added to every window
//! holding it (or merged into its key's sessions) one by one, with no panes,
//! running totals or lazy timers, over random streams with disorder, late
//! rows, gaps and random batch cuts. The results, update records included,
//! must be equal, in order.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;
use crate::data::{Batch, BatchBuilder, Field, FieldType, Schema, Value};

/// How far the watermark trails the newest event time.
const BOUND: i64 = 8;

/// (key, start, end, count, max(v), count_distinct(v), first(v), last(v), update)
type Result = (String, i64, i64, i64, i64, i64, i64, i64, bool);

#[derive(Clone)]
struct Acc {
    n: i64,
    max: i64,
    distinct: BTreeSet<i64>,
    /// (event time, value); ties keep the first to arrive.
    first: (i64, i64),
    /// (event time, value); ties take the last to arrive.
    last: (i64, i64),
}

impl Acc {
    fn new() -> Self {
        Self {
            n: 0,
            max: i64::MIN,
            distinct: BTreeSet::new(),
            first: (i64::MAX, 0),
            last: (i64::MIN, 0),
        }
    }

    fn add(&mut self, t: i64, v: i64) {
        self.n += 1;
        self.max = self.max.max(v);
        self.distinct.insert(v);
        if t < self.first.0 {
            self.first = (t, v);
        }
        if t >= self.last.0 {
            self.last = (t, v);
        }
    }

    /// `other` holds rows that arrived later.
    fn merge(&mut self, other: &Acc) {
        self.n += other.n;
        self.max = self.max.max(other.max);
        self.distinct.extend(&other.distinct);
        if other.first.0 < self.first.0 {
            self.first = other.first;
        }
        if other.last.0 >= self.last.0 {
            self.last = other.last;
        }
    }

    fn result(&self, key: u8, start: i64, end: i64, rich: bool, update: bool) -> Result {
        let (max, distinct, first, last) = if rich {
            (
                self.max,
                self.distinct.len() as i64,
                self.first.1,
                self.last.1,
            )
        } else {
            (0, 0, 0, 0)
        };
        let key = format!("k{key}");
        (key, start, end, self.n, max, distinct, first, last, update)
    }
}

/// Tumbling and sliding windows with allowed lateness `lateness`.
fn pane_model(
    rows: &[(u8, i64, i64)],
    size: i64,
    slide: i64,
    lateness: i64,
    rich: bool,
) -> (Vec<Result>, usize) {
    // (end, key) → (start, accumulator, emitted)
    let mut windows: BTreeMap<(i64, u8), (i64, Acc, bool)> = BTreeMap::new();
    let (mut out, mut late, mut max) = (Vec::new(), 0, i64::MIN);
    let fire = |windows: &mut BTreeMap<(i64, u8), (i64, Acc, bool)>,
                out: &mut Vec<Result>,
                watermark: i64| {
        for (&(end, key), (start, acc, emitted)) in windows.iter_mut() {
            if end - 1 <= watermark && !*emitted {
                out.push(acc.result(key, *start, end, rich, false));
                *emitted = true;
            }
        }
    };
    for &(key, t, v) in rows {
        max = max.max(t);
        let watermark = max - BOUND - 1;
        fire(&mut windows, &mut out, watermark);
        let mut start = t - t.rem_euclid(slide);
        let mut counted = false;
        let mut updates = Vec::new();
        while start > t - size {
            let end = start + size;
            if end - 1 + lateness > watermark {
                let existed = windows.contains_key(&(end, key));
                let entry = windows
                    .entry((end, key))
                    .or_insert_with(|| (start, Acc::new(), false));
                entry.1.add(t, v);
                counted = true;
                if end - 1 <= watermark {
                    entry.2 = true;
                    updates.push((end, entry.1.result(key, start, end, rich, existed)));
                }
            }
            start -= slide;
        }
        updates.sort_by_key(|(end, _)| *end);
        out.extend(updates.into_iter().map(|(_, result)| result));
        late += usize::from(!counted);
    }
    fire(&mut windows, &mut out, i64::MAX);
    (out, late)
}

/// Session windows: a row's `[t, t + gap)` merges every session of its key
/// it touches.
fn session_model(rows: &[(u8, i64, i64)], gap: i64, rich: bool) -> (Vec<Result>, usize) {
    let mut sessions: BTreeMap<u8, Vec<(i64, i64, Acc)>> = BTreeMap::new();
    let (mut out, mut late, mut max) = (Vec::new(), 0, i64::MIN);
    let fire = |sessions: &mut BTreeMap<u8, Vec<(i64, i64, Acc)>>,
                out: &mut Vec<Result>,
                watermark: i64| {
        let mut due = Vec::new();
        for (&key, list) in sessions.iter_mut() {
            list.retain(|(start, end, acc)| {
                if end - 1 <= watermark {
                    due.push((*end, key, acc.result(key, *start, *end, rich, false)));
                    false
                } else {
                    true
                }
            });
        }
        due.sort_by_key(|(end, key, _)| (*end, *key));
        out.extend(due.into_iter().map(|(_, _, result)| result));
    };
    for &(key, t, v) in rows {
        max = max.max(t);
        let watermark = max - BOUND - 1;
        fire(&mut sessions, &mut out, watermark);
        let list = sessions.entry(key).or_default();
        let (touching, rest): (Vec<_>, Vec<_>) = list
            .drain(..)
            .partition(|(start, end, _)| *start <= t + gap && *end >= t);
        *list = rest;
        if touching.is_empty() && t + gap - 1 <= watermark {
            late += 1;
            continue;
        }
        let mut merged = (t, t + gap, Acc::new());
        let mut touching = touching;
        touching.sort_by_key(|(start, _, _)| *start);
        if let Some((start, end, acc)) = touching.first() {
            merged = (*start, *end, acc.clone());
        }
        for (start, end, acc) in touching.iter().skip(1) {
            merged.0 = merged.0.min(*start);
            merged.1 = merged.1.max(*end);
            merged.2.merge(acc);
        }
        merged.0 = merged.0.min(t);
        merged.1 = merged.1.max(t + gap);
        merged.2.add(t, v);
        list.push(merged);
    }
    fire(&mut sessions, &mut out, i64::MAX);
    (out, late)
}

/// `rich` adds max, count_distinct, first and last, which cannot be
/// subtracted: sliding windows then combine their panes instead of keeping
/// running totals.
fn weir(
    rows: &[(u8, i64, i64)],
    shape: WindowShape,
    lateness: i64,
    cut: usize,
    rich: bool,
) -> (Vec<Result>, usize) {
    let schema = Schema::new(vec![
        Field::new("k", FieldType::String),
        Field::new("v", FieldType::I64),
    ])
    .unwrap();
    let mut aggregates = vec![AggregateSpec::parse("n", "count").unwrap()];
    if rich {
        for (name, expression) in [
            ("m", "max(v)"),
            ("d", "count_distinct(v)"),
            ("f", "first(v)"),
            ("l", "last(v)"),
        ] {
            aggregates.push(AggregateSpec::parse(name, expression).unwrap());
        }
    }
    let spec = WindowSpec {
        key_by: Some("k".into()),
        shape,
        allowed_lateness_ms: lateness,
        time: WindowTime::Event,
        early_fire_every_ms: None,
        aggregates,
    };
    let mut windows = EventTimeWindows::new(&spec, &schema).unwrap();
    let (mut late, mut max, mut fired) = (Vec::new(), i64::MIN, Vec::new());
    for chunk in rows.chunks(cut.max(1)) {
        let mut builder = BatchBuilder::new(schema.clone(), chunk.len());
        let names: Vec<String> = chunk.iter().map(|(k, _, _)| format!("k{k}")).collect();
        let mut watermark = i64::MIN;
        for (name, &(_, t, v)) in names.iter().zip(chunk) {
            max = max.max(t);
            watermark = max - BOUND - 1;
            builder.push([Value::String(name), Value::I64(v)], t, watermark, 0);
        }
        fired.push(
            windows
                .process(&mut builder.take(watermark), &mut late)
                .unwrap(),
        );
    }
    fired.push(
        windows
            .process(&mut Batch::empty(schema.clone(), i64::MAX), &mut late)
            .unwrap(),
    );
    let mut out = Vec::new();
    for batch in fired {
        for row in 0..batch.len() {
            let values: Vec<Value> = batch.row(row).map(|(_, v)| v).collect();
            let int = |i: usize| match values.get(i) {
                Some(Value::I64(n)) => *n,
                other => panic!("column {i}: {other:?} in {values:?}"),
            };
            let (Value::String(k), Value::Timestamp(s), Value::Timestamp(e)) =
                (values[0], values[1], values[2])
            else {
                panic!("unexpected row {values:?}");
            };
            let (max, distinct, first, last) = if rich {
                (int(4), int(5), int(6), int(7))
            } else {
                (0, 0, 0, 0)
            };
            let update = match values.last() {
                Some(Value::Bool(update)) if lateness > 0 => *update,
                _ => false,
            };
            out.push((
                k.to_string(),
                s,
                e,
                int(3),
                max,
                distinct,
                first,
                last,
                update,
            ));
        }
    }
    (out, late.len())
}

/// Event times that mostly rise, some far behind (late), with values.
fn stream(steps: &[(u8, i64, i64, i64)]) -> Vec<(u8, i64, i64)> {
    let mut base = 1_000;
    steps
        .iter()
        .map(|&(key, step, back, value)| {
            base += step;
            (key, base - back, value)
        })
        .collect()
}

#[test]
fn a_slide_must_divide_the_size() {
    let schema = Schema::new(vec![Field::new("k", FieldType::String)]).unwrap();
    for (size_ms, slide_ms) in [(10, 3), (10, 20), (10, 0)] {
        let spec = WindowSpec {
            key_by: None,
            shape: WindowShape::Sliding { size_ms, slide_ms },
            allowed_lateness_ms: 0,
            time: WindowTime::Event,
            early_fire_every_ms: None,
            aggregates: vec![AggregateSpec::parse("n", "count").unwrap()],
        };
        let error = EventTimeWindows::new(&spec, &schema).err().unwrap();
        assert!(error.contains("slide must divide its size"), "{error}");
    }
}

proptest! {
    #[test]
    fn pane_windows_match_the_model(
        steps in proptest::collection::vec((0u8..3, 0i64..4, 0i64..14, 0i64..4), 0..150),
        shape in 0usize..5,
        lateness in prop::sample::select(vec![0i64, 3, 10, 25]),
        cut in 1usize..40,
        rich: bool,
    ) {
        let (size, slide) = [(10, 10), (20, 5), (30, 10), (12, 4), (8, 1)][shape];
        let rows = stream(&steps);
        let shape = WindowShape::Sliding { size_ms: size, slide_ms: slide };
        prop_assert_eq!(
            weir(&rows, shape, lateness, cut, rich),
            pane_model(&rows, size, slide, lateness, rich)
        );
    }

    #[test]
    fn session_windows_match_the_model(
        steps in proptest::collection::vec((0u8..3, 0i64..6, 0i64..14, 0i64..4), 0..150),
        gap in prop::sample::select(vec![1i64, 3, 7]),
        cut in 1usize..40,
        rich: bool,
    ) {
        let rows = stream(&steps);
        prop_assert_eq!(
            weir(&rows, WindowShape::Session { gap_ms: gap }, 0, cut, rich),
            session_model(&rows, gap, rich)
        );
    }
}
