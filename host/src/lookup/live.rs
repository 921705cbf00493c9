//! A table kept current: every `check_every` a thread looks at the file's
//! modification time and length and, when either changed, reads it while
//! the stream goes on (a query it runs again each time); every instance of
//! the operator takes the new table up at its next batch. A table that
//! fails to read, or a file that changed while it was being read (written
//! in place rather than renamed), leaves the table as it was; one read
//! again unchanged is not taken up.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use super::changelog::Changelog;
use super::{load, LookupTable, TableOrigin, TableSpec};

/// What says a file changed: its modification time and length.
type Stamp = Option<(SystemTime, u64)>;

/// `None` for a query, which has none, and for a file that cannot be read.
fn stamp(origin: &TableOrigin) -> Stamp {
    let TableOrigin::File { path, .. } = origin else {
        return None;
    };
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

pub struct LiveTable {
    spec: TableSpec,
    current: Mutex<Arc<LookupTable>>,
    /// Counts up with each table taken; instances compare theirs.
    version: AtomicU64,
    pub reloads: AtomicU64,
    pub failed_reloads: AtomicU64,
}

impl LiveTable {
    /// Reads the table now (an error here stops the pipeline from
    /// starting), and, with `check_every`, watches the file until the table
    /// is dropped.
    pub fn open(spec: TableSpec, check_every: Option<Duration>) -> Result<Arc<Self>, String> {
        if let TableOrigin::Kafka(kafka) = &spec.origin {
            let mut changelog = Changelog::open(kafka, &spec)?;
            let table = changelog.table(&spec)?;
            let live = Self::new(spec, table);
            if let Some(every) = check_every {
                let followed = Arc::downgrade(&live);
                std::thread::Builder::new()
                    .name("weir-lookup-follow".into())
                    .spawn(move || follow(followed, changelog, every))
                    .map_err(|e| format!("cannot start following the table: {e}"))?;
            }
            return Ok(live);
        }
        let seen = stamp(&spec.origin);
        let table = load(&spec)?;
        let live = Self::new(spec, table);
        if let Some(every) = check_every {
            let watched = Arc::downgrade(&live);
            std::thread::Builder::new()
                .name("weir-lookup-watch".into())
                .spawn(move || watch(watched, every, seen))
                .map_err(|e| format!("cannot start watching the table: {e}"))?;
        }
        Ok(live)
    }

    fn new(spec: TableSpec, table: LookupTable) -> Arc<Self> {
        Arc::new(Self {
            spec,
            current: Mutex::new(Arc::new(table)),
            version: AtomicU64::new(0),
            reloads: AtomicU64::new(0),
            failed_reloads: AtomicU64::new(0),
        })
    }

    pub fn spec(&self) -> &TableSpec {
        &self.spec
    }

    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    pub fn current(&self) -> Arc<LookupTable> {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Reads the table, whose file had stamp `before`; the stamp it is now
    /// settled at, or `None` if it changed while being read.
    fn reload(&self, before: Stamp) -> Option<Stamp> {
        let result = load(&self.spec);
        let after = stamp(&self.spec.origin);
        if after != before {
            return None;
        }
        match result {
            Ok(table) => self.take_up(table),
            Err(e) => {
                tracing::error!(error = %e, "the lookup table changed but cannot be read; rows go on joining the table as it was");
                self.failed_reloads.fetch_add(1, Ordering::Relaxed);
            }
        }
        Some(after)
    }

    /// Makes `table` the one rows join with, unless it holds the same.
    fn take_up(&self, table: LookupTable) {
        if table.digest() == self.current().digest() {
            return;
        }
        tracing::info!(table = %self.spec.origin, rows = table.len(), "lookup table read again");
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Arc::new(table);
        self.version.fetch_add(1, Ordering::AcqRel);
        self.reloads.fetch_add(1, Ordering::Relaxed);
    }
}

/// Applies a changelog's messages as they come, building the table again
/// at most every `every`, until the table is dropped.
fn follow(table: Weak<LiveTable>, mut changelog: Changelog, every: Duration) {
    loop {
        let Some(live) = table.upgrade() else {
            return;
        };
        changelog.follow(every, &live.spec);
        if changelog.changed {
            match changelog.table(&live.spec) {
                Ok(built) => live.take_up(built),
                Err(e) => {
                    tracing::error!(error = %e, "the lookup table's changes cannot be taken up; rows go on joining the table as it was");
                    live.failed_reloads.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// Looks at the file every `every` until the table is dropped.
fn watch(table: Weak<LiveTable>, every: Duration, mut seen: Stamp) {
    loop {
        std::thread::sleep(every);
        let Some(table) = table.upgrade() else {
            return;
        };
        let now = stamp(&table.spec.origin);
        // A query has no stamp: it runs again every time.
        if now != seen || now.is_none() {
            if let Some(settled) = table.reload(now) {
                seen = settled;
            }
        }
    }
}
