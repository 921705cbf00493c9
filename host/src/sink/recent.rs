//! The newest rows out of a stage or into the sink, as JSON, for the live
//! page. Only the tail of each batch is kept, as a small copy, and rows are
//! encoded when the page asks for them: a stage emitting millions of rows
//! pays for copying a few dozen of them per batch, and for encoding only
//! what someone reads.

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::data::Batch;
use crate::format::json::JsonRow;

/// Rows kept; also the most taken from one batch.
const KEEP: usize = 20;

#[derive(Debug, Default)]
pub struct RecentRows {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Rows offered so far; the newest kept row is number `offered - 1`.
    offered: u64,
    /// Tails of the latest batches, oldest first, with the number of each
    /// tail's first row; at most `KEEP` rows in all.
    tails: VecDeque<(u64, Batch)>,
    kept: usize,
}

impl RecentRows {
    pub fn offer(&self, batch: &Batch) {
        if batch.is_empty() {
            return;
        }
        let first = batch.len().saturating_sub(KEEP);
        let indices: Vec<u32> = (first as u32..batch.len() as u32).collect();
        let tail = batch.gather(&indices);
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let number = inner.offered + first as u64;
        inner.offered += batch.len() as u64;
        inner.kept += tail.len();
        inner.tails.push_back((number, tail));
        while inner.kept - inner.tails.front().map_or(0, |(_, b)| b.len()) >= KEEP {
            let (_, dropped) = inner.tails.pop_front().expect("kept rows");
            inner.kept -= dropped.len();
        }
    }

    /// The kept rows numbered `from` or later (at most `KEEP`), oldest
    /// first, as JSON, and the number to ask from next time.
    pub fn since(&self, from: u64) -> (Vec<String>, u64) {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let from = from.max(inner.offered.saturating_sub(KEEP as u64));
        let mut rows = Vec::new();
        for (number, tail) in &inner.tails {
            for row in 0..tail.len() {
                if number + row as u64 >= from {
                    rows.extend(serde_json::to_string(&JsonRow::new(tail.row(row))).ok());
                }
            }
        }
        (rows, inner.offered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{BatchBuilder, Value};
    use crate::format::readings_schema;

    fn readings(ids: std::ops::Range<u32>) -> Batch {
        let mut builder = BatchBuilder::new(readings_schema(), 0);
        for i in ids {
            let id = format!("s{i}");
            let values = [Value::String(&id), Value::F64(100.0), Value::Timestamp(0)];
            builder.push(values, 0, 0, u64::from(i));
        }
        builder.take(0)
    }

    #[test]
    fn keeps_the_newest_rows_and_hands_each_out_once() {
        let recent = RecentRows::default();
        recent.offer(&readings(0..3));
        let (rows, next) = recent.since(0);
        assert_eq!(rows.len(), 3);
        assert!(rows[0].contains("\"s0\""), "{rows:?}");
        assert_eq!(next, 3);
        assert!(recent.since(next).0.is_empty());
        recent.offer(&readings(3..50));
        let (rows, next) = recent.since(next);
        assert_eq!((rows.len(), next), (KEEP, 50));
        assert!(rows[0].contains("\"s30\"") && rows[KEEP - 1].contains("\"s49\""));
    }

    #[test]
    fn rows_of_many_small_batches_are_numbered_and_bounded() {
        let recent = RecentRows::default();
        for i in 0..100 {
            recent.offer(&readings(i..i + 1));
        }
        let (rows, next) = recent.since(95);
        assert_eq!(next, 100);
        assert_eq!(rows.len(), 5);
        assert!(
            rows[0].contains("\"s95\"") && rows[4].contains("\"s99\""),
            "{rows:?}"
        );
        let (rows, _) = recent.since(0);
        assert_eq!(rows.len(), KEEP);
        assert!(rows[0].contains("\"s80\""), "{rows:?}");
        let inner = recent.inner.lock().unwrap();
        assert!(
            inner.kept < 2 * KEEP && inner.tails.len() <= KEEP,
            "{}",
            inner.kept
        );
    }
}
