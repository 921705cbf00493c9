//! Unit tests of the window kinds; `model.rs` holds the property tests.

use std::sync::Arc;

use super::*;
use crate::data::{Batch, BatchBuilder, Field, FieldType, Schema, Value};

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
        shape: WindowShape::Tumbling { size_ms: 10 },
        allowed_lateness_ms: 0,
        time: WindowTime::Event,
        early_fire_every_ms: None,
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
    let out = w
        .process(
            &mut batch(&[("b", 1.0, 1, 0), ("a", 5.0, 9, 0), ("a", 7.0, 3, 0)], 8),
            &mut late,
        )
        .unwrap();
    assert!(out.is_empty(), "watermark 8 < 9: window [0, 10) stays open");
    let out = w.process(&mut batch(&[], 9), &mut late).unwrap();
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
    let out = w
        .process(
            &mut batch(&[("a", 1.0, 25, 9), ("a", 1.0, 4, 9), ("a", 1.0, 24, 9)], 9),
            &mut late,
        )
        .unwrap();
    assert_eq!(
        late,
        vec![LateRow {
            row: 1,
            window_start: 0,
            window_end: 10,
            allowed_lateness_ms: 0,
        }]
    );
    assert!(out.is_empty());
    assert_eq!(w.open_windows(), 1);
}

/// A window restored from a checkpoint taken between two batches gives the
/// same results as one that ran through.
#[test]
fn a_restored_window_continues_as_if_never_stopped() {
    let shapes = [
        (WindowShape::Session { gap_ms: 4 }, 0),
        (WindowShape::Tumbling { size_ms: 10 }, 15),
        (
            WindowShape::Sliding {
                size_ms: 10,
                slide_ms: 5,
            },
            0,
        ),
    ];
    for (shape, allowed_lateness_ms) in shapes {
        let spec = WindowSpec {
            key_by: Some("k".into()),
            shape,
            allowed_lateness_ms,
            time: WindowTime::Event,
            early_fire_every_ms: None,
            aggregates: vec![
                AggregateSpec::parse("n", "count").unwrap(),
                AggregateSpec::parse("last", "last(t)").unwrap(),
            ],
        };
        let first = batch(&[("a", 1.0, 1, 0), ("b", 2.0, 3, 0), ("a", 3.0, 6, 0)], 0);
        // A row late for [0, 10) (update with lateness), and rows that
        // extend or bridge sessions.
        let second = batch(
            &[
                ("a", 4.0, 14, 5),
                ("b", 5.0, 8, 5),
                ("a", 6.0, 30, 21),
                ("a", 7.0, 9, 21),
            ],
            21,
        );
        let end = Batch::empty(input(), i64::MAX);
        let mut late = vec![];

        let mut through = EventTimeWindows::new(&spec, &input()).unwrap();
        let mut expected = Vec::new();
        for b in [&first, &second, &end] {
            expected.extend(rows(&through.process(&mut b.clone(), &mut late).unwrap()));
        }

        let mut before = EventTimeWindows::new(&spec, &input()).unwrap();
        let mut got = rows(&before.process(&mut first.clone(), &mut late).unwrap());
        let mut after = EventTimeWindows::new(&spec, &input()).unwrap();
        after.restore(before.checkpoint()).unwrap();
        for b in [&second, &end] {
            got.extend(rows(&after.process(&mut b.clone(), &mut late).unwrap()));
        }
        assert!(expected.len() >= 3, "{shape:?}: {expected:?}");
        assert_eq!(got, expected, "{shape:?}");
        assert_eq!(after.open_windows(), 0);
    }
}

/// Early firings emit every window not fired yet, as it stands, marked
/// partial; the final results are unchanged by them.
#[test]
fn early_firings_emit_each_open_window_so_far() {
    let cases = [
        (
            WindowShape::Sliding {
                size_ms: 10,
                slide_ms: 5,
            },
            vec![
                ("a", -5, 5, 1),
                ("b", -5, 5, 1),
                ("a", 0, 10, 2),
                ("b", 0, 10, 1),
                ("a", 5, 15, 1),
            ],
        ),
        (
            WindowShape::Session { gap_ms: 4 },
            vec![("a", 1, 5, 1), ("a", 6, 10, 1), ("b", 3, 7, 1)],
        ),
    ];
    for (shape, expected) in cases {
        let spec = |early_fire_every_ms| WindowSpec {
            key_by: Some("k".into()),
            shape,
            allowed_lateness_ms: 0,
            time: WindowTime::Event,
            early_fire_every_ms,
            aggregates: vec![AggregateSpec::parse("n", "count").unwrap()],
        };
        let mut early = EventTimeWindows::new(&spec(Some(1)), &input()).unwrap();
        let first = batch(&[("a", 1.0, 1, 0), ("b", 2.0, 3, 0), ("a", 3.0, 6, 0)], 0);
        std::thread::sleep(std::time::Duration::from_millis(5));
        let mut late = vec![];
        let out = early.process(&mut first.clone(), &mut late).unwrap();
        let got: Vec<_> = (0..out.len())
            .map(|r| {
                let row: Vec<_> = out.row(r).map(|(_, v)| v).collect();
                let (Value::String(k), Value::Timestamp(s), Value::Timestamp(e), Value::I64(n)) =
                    (row[0], row[1], row[2], row[3])
                else {
                    panic!("{row:?}")
                };
                assert_eq!(row[4], Value::Bool(true), "{shape:?}: partial");
                (k, s, e, n)
            })
            .collect();
        assert_eq!(got, expected, "{shape:?}");
        assert_eq!(early.partials(), expected.len() as u64);

        // The end of the input fires every window finally, as without early firings.
        let mut plain = EventTimeWindows::new(&spec(None), &input()).unwrap();
        plain.process(&mut first.clone(), &mut late).unwrap();
        let end = Batch::empty(input(), i64::MAX);
        let finals = early.process(&mut end.clone(), &mut late).unwrap();
        let without = plain.process(&mut end.clone(), &mut late).unwrap();
        let strip = |b: &Batch| -> Vec<String> {
            rows(b)
                .into_iter()
                .map(|r| r.replace(" partial=Bool(false)", ""))
                .collect()
        };
        assert_eq!(strip(&finals), strip(&without), "{shape:?}");
    }
}
