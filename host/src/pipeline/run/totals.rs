//! The run's summary, from the counters its threads kept.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::pipeline::sequencer::Sequencer;
use crate::pipeline::stage::Stage;
use crate::pipeline::summary::Summary;
use crate::sink::{DeadLetterKind, DeadLetters, SinkStats};
use crate::source::SourceStats;
use crate::state::CheckpointStore;

/// What a finished run counted, beside its stages.
pub(super) struct RunTotals<'a> {
    pub sequencer: &'a Sequencer,
    pub dead: &'a DeadLetters,
    pub source: &'a SourceStats,
    pub sink: &'a SinkStats,
    pub store: Option<&'a CheckpointStore>,
    pub results_out: u64,
    pub resumed_from: Option<u64>,
    pub elapsed: Duration,
    pub completed: bool,
}

impl RunTotals<'_> {
    pub fn summary(&self, pipeline: &str) -> Summary {
        let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
        let (dead, store) = (self.dead, self.store);
        Summary {
            pipeline: pipeline.to_string(),
            records_read: load(&self.source.records),
            source_pauses: load(&self.source.pauses),
            events_in: self.sequencer.events(),
            decode_failures: dead.count(DeadLetterKind::Decode),
            late_events: dead.count(DeadLetterKind::Late),
            plugin_failures: dead.count(DeadLetterKind::Plugin),
            expression_failures: dead.count(DeadLetterKind::Expression),
            sink_failures: dead.count(DeadLetterKind::Sink),
            unmatched_failures: dead.count(DeadLetterKind::Unmatched),
            abandoned_at_shutdown: load(&self.sink.abandoned),
            results_digest: load(&self.sink.digest),
            offset_commits: load(&self.source.offset_commits),
            results_out: self.results_out,
            checkpoints: store.map_or(0, |s| load(&s.stats.written)),
            checkpoint_bytes: store.map_or(0, |s| load(&s.stats.last_bytes)),
            checkpoint_time: store.map_or(Duration::ZERO, |s| {
                Duration::from_micros(load(&s.stats.total_write_us))
            }),
            resumed_from: self.resumed_from,
            elapsed: self.elapsed,
            completed: self.completed,
            ..Summary::default()
        }
    }
}

/// Adds the stages' rows and their operators' totals. `stages` are the
/// pipeline's; run in parallel, `instances` did the work, sharing the
/// stages' counters, which are therefore counted once.
pub(super) fn summarize_stages(
    summary: &mut Summary,
    stages: Vec<Stage>,
    instances: Vec<Vec<Stage>>,
    parallelism: usize,
) {
    for stage in &stages {
        summary
            .stages
            .push((stage.name.clone(), stage.rows_in(), stage.rows_out()));
    }
    summary.parallelism = parallelism;
    let ran = if instances.is_empty() {
        vec![stages]
    } else {
        instances
    };
    for (i, stages) in ran.iter().enumerate() {
        for stage in stages {
            let shared = (i == 0).then_some(&*stage.stats);
            stage.operator.summarize(&stage.name, shared, summary);
        }
    }
}
