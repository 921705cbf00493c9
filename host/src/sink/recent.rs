//! The newest rows out of a stage or into the sink, as JSON, for the live
//! page. Only the tail of each batch is encoded, so a stage emitting millions
//! of rows pays for a few dozen of them per batch.

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
    rows: VecDeque<String>,
}

impl RecentRows {
    pub fn offer(&self, batch: &Batch) {
        if batch.is_empty() {
            return;
        }
        let first = batch.len().saturating_sub(KEEP);
        let encoded: Vec<String> = (first..batch.len())
            .filter_map(|row| serde_json::to_string(&JsonRow::new(batch.row(row))).ok())
            .collect();
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.offered += batch.len() as u64;
        for row in encoded {
            if inner.rows.len() == KEEP {
                inner.rows.pop_front();
            }
            inner.rows.push_back(row);
        }
    }

    /// The kept rows numbered `from` or later, oldest first, and the number
    /// to ask from next time.
    pub fn since(&self, from: u64) -> (Vec<String>, u64) {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let first_kept = inner.offered - inner.rows.len() as u64;
        let skip = from.saturating_sub(first_kept) as usize;
        let rows = inner.rows.iter().skip(skip).cloned().collect();
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
}
