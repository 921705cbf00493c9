//! Taking checkpoints in a run and resuming from them.
//!
//! The operator thread takes a checkpoint between two chunks, when the
//! source position, the watermark and every stage's state describe the same
//! point of the input, and sends it down the result channel behind the
//! results it covers. The sink thread then makes those results durable,
//! writes the checkpoint, publishes the results and commits Kafka offsets —
//! in that order, so that whatever a crash interrupts, the newest complete
//! checkpoint and the published output agree.

use std::time::{Duration, Instant};

use super::deliver::ToSink;
use super::sequencer::Sequencer;
use super::stage::Stage;
use crate::state::{Checkpoint, SinkPosition, StageState};

pub struct Checkpointer {
    pipeline: String,
    next_id: u64,
    interval: Duration,
    last: Instant,
}

impl Checkpointer {
    /// `first_id`: the id of the first checkpoint this run writes, above
    /// every checkpoint file present (see [`crate::state::CheckpointStore::next_id`]).
    pub fn new(pipeline: &str, interval: Duration, first_id: u64) -> Self {
        Self {
            pipeline: pipeline.into(),
            next_id: first_id,
            interval,
            last: Instant::now(),
        }
    }

    pub fn due(&self) -> bool {
        self.last.elapsed() >= self.interval
    }

    /// A checkpoint of the run as it stands, with the Kafka offsets to commit
    /// once it is written.
    pub fn take(&mut self, sequencer: &Sequencer, stages: &[Stage]) -> ToSink {
        let (checkpoint, offsets) = self.take_parts(sequencer, stages);
        ToSink::Checkpoint(checkpoint, offsets)
    }

    /// [`take`](Self::take)'s checkpoint and offsets, apart: with parallel
    /// instances the stages' states are added later, by the merger.
    pub fn take_parts(
        &mut self,
        sequencer: &Sequencer,
        stages: &[Stage],
    ) -> (Box<Checkpoint>, Vec<(u32, u64)>) {
        let (source, clock, events) = sequencer.checkpoint();
        let checkpoint = Checkpoint {
            id: self.next_id,
            pipeline: self.pipeline.clone(),
            taken_at_ms: crate::format::timestamp::now_ms(),
            source,
            clock,
            events,
            stages: stages.iter().map(Stage::checkpoint).collect(),
            sink: SinkPosition::None,
            dead_letter_bytes: 0,
        };
        self.next_id += 1;
        self.last = Instant::now();
        // Window contents are in the checkpoint: nothing is held back.
        let offsets = sequencer.commit_offsets(&Default::default());
        (Box::new(checkpoint), offsets)
    }
}

/// Puts the stages' checkpointed state back. Every stateful stage of the
/// checkpoint must still exist and compute the same thing; a stage added
/// since starts empty.
pub fn restore_stages(checkpoint: &Checkpoint, stages: &mut [Stage]) -> Result<(), String> {
    for saved in &checkpoint.stages {
        match stages.iter_mut().find(|s| s.name == saved.name) {
            Some(stage) => stage.restore(saved.clone())?,
            None if matches!(saved.state, StageState::Stateless { .. }) => {}
            None => {
                return Err(format!(
                    "stage `{}` has state in the checkpoint but is no longer in the pipeline",
                    saved.name
                ))
            }
        }
    }
    for stage in stages.iter() {
        if !checkpoint.stages.iter().any(|s| s.name == stage.name) {
            tracing::info!(stage = %stage.name, "stage not in the checkpoint; it starts empty");
        }
    }
    Ok(())
}

/// One line for the log: where the run continues from.
pub fn describe(checkpoint: &Checkpoint) -> String {
    use crate::state::SourcePosition;
    let at = match &checkpoint.source {
        SourcePosition::Lines { line, .. } => format!("after line {line}"),
        SourcePosition::Kafka(offsets) => offsets
            .iter()
            .map(|o| format!("{} [{}] offset {}", o.topic, o.partition, o.next_offset))
            .collect::<Vec<_>>()
            .join(", "),
    };
    let taken = chrono::DateTime::from_timestamp_millis(checkpoint.taken_at_ms)
        .map_or_else(String::new, |t| {
            format!(" taken {}", t.format("%Y-%m-%d %H:%M:%S UTC"))
        });
    format!(
        "resuming from checkpoint {}{taken}: {at}, {} events before it",
        checkpoint.id, checkpoint.events
    )
}
