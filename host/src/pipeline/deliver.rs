//! The sink's side of a run: write results in order, dead-letter what the sink
//! gives up on, and commit source offsets once what came before them is
//! acknowledged.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};

use crate::data::Batch;
use crate::format::json::JsonRow;
use crate::sink::{
    DeadLetter, DeadLetterKind, DeadLetters, FanOut, SinkContext, SinkFailure, SinkStats, Tap,
};
use crate::source::kafka::OffsetCommitter;
use crate::source::SourceStats;
use crate::state::{Checkpoint, CheckpointStore};

/// What the operators hand the sink, in order.
pub enum ToSink {
    /// Results, and the tap they left by (which sinks take them).
    Rows(Batch, Tap),
    /// Offsets (stream, next offset) whose input is fully processed once
    /// every result before this marker is acknowledged.
    Progress(Vec<(u32, u64)>),
    /// A checkpoint covering every result before it, and the Kafka offsets
    /// (stream, next offset) to commit once it is written.
    Checkpoint(Box<Checkpoint>, Vec<(u32, u64)>),
    /// Dead letters the operators staged (see [`DeadLetters::staged`]),
    /// written here so that the file follows the order of the input.
    DeadLetters(Vec<u8>),
    /// Kafka partitions are being handed over: commit the progress before
    /// this now, then acknowledge.
    Handover(crate::source::HandoverAck),
}

pub struct Commits {
    pub committer: OffsetCommitter,
    pub interval: Duration,
    pub stats: Arc<SourceStats>,
}

/// Writes everything from `input` to `sink` until the operators finish;
/// returns the number of results written. Checkpoints written are counted
/// in the store's stats.
#[allow(clippy::too_many_arguments)]
pub fn deliver(
    sink: &mut FanOut,
    sink_name: &str,
    stats: &SinkStats,
    input: Receiver<ToSink>,
    dead: &DeadLetters,
    commits: Option<&Commits>,
    checkpoints: Option<&CheckpointStore>,
    shutdown: (&AtomicBool, Duration),
) -> std::io::Result<u64> {
    let mut results = 0;
    let mut context = SinkContext::new(stats, dead, sink_name, shutdown.0, shutdown.1);
    let mut progress: Option<Vec<(u32, u64)>> = None;
    let mut last_commit = Instant::now();
    // Wake up at the commit interval even when nothing arrives, so the last
    // progress of a stream gone quiet is committed too.
    let wait = commits.map_or(Duration::MAX, |c| c.interval);
    loop {
        match input.recv_timeout(wait) {
            Ok(ToSink::Rows(batch, tap)) => {
                results += batch.len() as u64;
                stats.start_busy();
                if context.past_deadline() {
                    abandon(&batch, &mut context, stats)?;
                } else {
                    context.begin_batch();
                    sink.write_tap(tap, &batch, &mut context)?;
                    context.end_batch(batch.len() as u64);
                }
                stats.end_busy();
                stats.recent.offer(&batch);
            }
            Ok(ToSink::Progress(offsets)) => progress = Some(offsets),
            Ok(ToSink::DeadLetters(lines)) => dead.write_staged(&lines)?,
            Ok(ToSink::Handover(ack)) => {
                if let Some(commits) = commits {
                    stats.start_busy();
                    commit(sink, dead, commits, progress.take())?;
                    stats.end_busy();
                    last_commit = Instant::now();
                }
                ack.done();
            }
            Ok(ToSink::Checkpoint(checkpoint, offsets)) => {
                let store = checkpoints.expect("checkpoints are sent only with a store");
                let started = Instant::now();
                stats.start_busy();
                let id = checkpoint.id;
                let bytes = write_checkpoint(sink, dead, store, checkpoint)?;
                store.stats.record(id, bytes, started.elapsed());
                stats.end_busy();
                if let Some(commits) = commits {
                    commit_offsets(commits, &offsets);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        dead_letter_failures(sink, dead)?;
        if let Some(commits) = commits {
            if progress.is_some() && last_commit.elapsed() >= commits.interval {
                stats.start_busy();
                commit(sink, dead, commits, progress.take())?;
                stats.end_busy();
                last_commit = Instant::now();
            }
        }
    }
    sink.flush()?;
    dead_letter_failures(sink, dead)?;
    if let Some(commits) = commits {
        commit(sink, dead, commits, progress)?;
    }
    Ok(results)
}

/// The run is stopping and its shutdown_timeout has passed: what reaches the
/// sink now is dead-lettered, not tried, so the stop ends in bounded time.
fn abandon(batch: &Batch, context: &mut SinkContext<'_>, stats: &SinkStats) -> std::io::Result<()> {
    let reason = context.abandon_reason();
    for row in 0..batch.len() {
        let record = serde_json::to_value(JsonRow::new(batch.row(row)))?;
        context.failed(SinkFailure {
            reason: reason.clone(),
            record,
        })?;
    }
    context.done(batch.len() as u64);
    stats
        .abandoned
        .fetch_add(batch.len() as u64, Ordering::Relaxed);
    Ok(())
}

/// Results before the checkpoint made durable, then the checkpoint written,
/// then the results published: a crash anywhere leaves a checkpoint and an
/// output that a resume can bring back into agreement.
fn write_checkpoint(
    sink: &mut FanOut,
    dead: &DeadLetters,
    store: &CheckpointStore,
    mut checkpoint: Box<Checkpoint>,
) -> std::io::Result<u64> {
    checkpoint.sink = sink.pre_commit()?;
    dead_letter_failures(sink, dead)?;
    dead.sync()?;
    checkpoint.dead_letter_bytes = dead.position();
    let bytes = store.write(&checkpoint).map_err(std::io::Error::other)?;
    sink.commit()?;
    tracing::debug!(id = checkpoint.id, bytes, "checkpoint written");
    Ok(bytes)
}

fn commit(
    sink: &mut FanOut,
    dead: &DeadLetters,
    commits: &Commits,
    offsets: Option<Vec<(u32, u64)>>,
) -> std::io::Result<()> {
    let Some(offsets) = offsets else {
        return Ok(());
    };
    // Acknowledged (or dead-lettered) first, committed after: at-least-once.
    sink.flush()?;
    dead_letter_failures(sink, dead)?;
    dead.flush()?;
    commit_offsets(commits, &offsets);
    Ok(())
}

fn commit_offsets(commits: &Commits, offsets: &[(u32, u64)]) {
    let started = Instant::now();
    match commits.committer.commit(offsets) {
        Ok(()) => {
            commits.stats.offset_commits.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(?offsets, took = ?started.elapsed(), "offsets committed");
        }
        // A rebalance or a broker away: the next commit carries it.
        Err(e) => tracing::warn!(error = %e, "offsets not committed"),
    }
}

/// What the sinks gave up on (Kafka deliveries), each named by its sink.
fn dead_letter_failures(sink: &mut FanOut, dead: &DeadLetters) -> std::io::Result<()> {
    for (sink_name, failure) in sink.take_failures() {
        dead.send(&DeadLetter {
            kind: DeadLetterKind::Sink,
            stage: None,
            reason: &failure.reason,
            source: &sink_name,
            record: failure.record,
        })?;
    }
    Ok(())
}
