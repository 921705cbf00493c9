//! The sink's side of a run: write results in order, dead-letter what the sink
//! gives up on, and commit source offsets once what came before them is
//! acknowledged.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::data::Batch;
use crate::sink::{DeadLetter, DeadLetterKind, DeadLetters, Sink};
use crate::source::kafka::OffsetCommitter;
use crate::source::SourceStats;

/// What the operators hand the sink, in order.
pub enum ToSink {
    Rows(Batch),
    /// Offsets (stream, next offset) whose input is fully processed once
    /// every result before this marker is acknowledged.
    Progress(Vec<(u32, u64)>),
}

pub struct Commits {
    pub committer: OffsetCommitter,
    pub interval: Duration,
    pub stats: Arc<SourceStats>,
}

/// Writes everything from `input` to `sink` until the operators finish;
/// returns the number of results written.
pub fn deliver(
    sink: &mut dyn Sink,
    sink_name: &str,
    input: Receiver<ToSink>,
    dead: &DeadLetters,
    commits: Option<&Commits>,
) -> std::io::Result<u64> {
    let mut results = 0;
    let mut progress: Option<Vec<(u32, u64)>> = None;
    let mut last_commit = Instant::now();
    // Wake up at the commit interval even when nothing arrives, so the last
    // progress of a stream gone quiet is committed too.
    let wait = commits.map_or(Duration::MAX, |c| c.interval);
    loop {
        match input.recv_timeout(wait) {
            Ok(ToSink::Rows(batch)) => {
                results += batch.len() as u64;
                sink.write(&batch)?;
            }
            Ok(ToSink::Progress(offsets)) => progress = Some(offsets),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        dead_letter_failures(sink, sink_name, dead)?;
        if let Some(commits) = commits {
            if progress.is_some() && last_commit.elapsed() >= commits.interval {
                commit(sink, sink_name, dead, commits, progress.take())?;
                last_commit = Instant::now();
            }
        }
    }
    sink.flush()?;
    dead_letter_failures(sink, sink_name, dead)?;
    if let Some(commits) = commits {
        commit(sink, sink_name, dead, commits, progress)?;
    }
    Ok(results)
}

fn commit(
    sink: &mut dyn Sink,
    sink_name: &str,
    dead: &DeadLetters,
    commits: &Commits,
    offsets: Option<Vec<(u32, u64)>>,
) -> std::io::Result<()> {
    let Some(offsets) = offsets else {
        return Ok(());
    };
    // Acknowledged (or dead-lettered) first, committed after: at-least-once.
    sink.flush()?;
    dead_letter_failures(sink, sink_name, dead)?;
    dead.flush()?;
    let started = Instant::now();
    match commits.committer.commit(&offsets) {
        Ok(()) => {
            commits.stats.offset_commits.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(?offsets, took = ?started.elapsed(), "offsets committed");
        }
        // A rebalance or a broker away: the next commit carries it.
        Err(e) => tracing::warn!(error = %e, "offsets not committed"),
    }
    Ok(())
}

fn dead_letter_failures(
    sink: &mut dyn Sink,
    sink_name: &str,
    dead: &DeadLetters,
) -> std::io::Result<()> {
    for failure in sink.take_failures() {
        dead.send(&DeadLetter {
            kind: DeadLetterKind::Sink,
            reason: &failure.reason,
            source: sink_name,
            record: failure.record,
        })?;
    }
    Ok(())
}
