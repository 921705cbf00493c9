//! Starting the parallel part of a run: the instances, the merger and the
//! coordinator, each on its own thread, and collecting what they return.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::{Scope, ScopedJoinHandle};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

use super::{merge_replies, run_instance, Coordinator, Partitioner};
use crate::data::{Origin, Schema};
use crate::pipeline::checkpointing::Checkpointer;
use crate::pipeline::deliver::ToSink;
use crate::pipeline::ingest::DecodedChunk;
use crate::pipeline::sequencer::Sequencer;
use crate::pipeline::stage::{Stage, StageError};
use crate::pipeline::taps::Taps;
use crate::sink::DeadLetters;

/// Batches in flight to and from each instance.
const INSTANCE_QUEUE: usize = 4;

/// What the parallel part of a run takes from the run.
pub struct Parts<'a> {
    pub instances: Vec<Vec<Stage>>,
    pub partitioner: Partitioner,
    pub sequencer: &'a mut Sequencer,
    pub checkpointer: Option<&'a mut Checkpointer>,
    pub chunks: Receiver<DecodedChunk>,
    pub ticks: Receiver<Instant>,
    pub to_sink: Sender<ToSink>,
    pub dead: &'a DeadLetters,
    pub origin: &'a Origin,
    pub schema: Arc<Schema>,
    pub track_offsets: bool,
    pub complete: &'a AtomicBool,
    pub taps: &'a Taps,
}

pub struct Threads<'scope> {
    coordinator: ScopedJoinHandle<'scope, Result<(), StageError>>,
    merger: ScopedJoinHandle<'scope, Result<(), StageError>>,
    instances: Vec<ScopedJoinHandle<'scope, Vec<Stage>>>,
}

pub fn spawn<'scope, 'env: 'scope>(
    scope: &'scope Scope<'scope, 'env>,
    parts: Parts<'env>,
    after_chunk: impl Fn(&Sequencer) + Send + 'scope,
) -> Threads<'scope> {
    let spawn_error = "spawning a pipeline thread";
    let (notes, notes_in) = crossbeam_channel::bounded(INSTANCE_QUEUE * 4);
    let (mut steps, mut replies, mut instances) = (Vec::new(), Vec::new(), Vec::new());
    for (i, stages) in parts.instances.into_iter().enumerate() {
        let (step, step_in) = crossbeam_channel::bounded(INSTANCE_QUEUE);
        let (reply, reply_in) = crossbeam_channel::bounded(INSTANCE_QUEUE);
        let (origin, dead, taps) = (parts.origin, parts.dead.staged(), parts.taps);
        instances.push(
            std::thread::Builder::new()
                .name(format!("weir-operators-{i}"))
                .spawn_scoped(scope, move || {
                    run_instance(stages, taps, step_in, reply, origin, dead)
                })
                .expect(spawn_error),
        );
        steps.push(step);
        replies.push(reply_in);
    }
    let to_sink = parts.to_sink;
    let merger = std::thread::Builder::new()
        .name("weir-merge".into())
        .spawn_scoped(scope, move || merge_replies(notes_in, replies, to_sink))
        .expect(spawn_error);
    let coordinator = Coordinator {
        sequencer: parts.sequencer,
        partitioner: parts.partitioner,
        steps,
        notes,
        dead: parts.dead,
        checkpointer: parts.checkpointer,
        track_offsets: parts.track_offsets,
        schema: parts.schema,
    };
    let (chunks, ticks, complete) = (parts.chunks, parts.ticks, parts.complete);
    let coordinator = std::thread::Builder::new()
        .name("weir-operators".into())
        .spawn_scoped(scope, move || {
            coordinator.run(chunks, ticks, complete, after_chunk)
        })
        .expect(spawn_error);
    Threads {
        coordinator,
        merger,
        instances,
    }
}

impl Threads<'_> {
    /// Waits for every thread; the stages of each instance, and how the
    /// operators ended (a stage's failure first).
    pub fn join(self) -> (Vec<Vec<Stage>>, Result<(), StageError>) {
        let merged = self.merger.join().expect("the merger thread panicked");
        let coordinated = self
            .coordinator
            .join()
            .expect("the operator thread panicked");
        let stages = self
            .instances
            .into_iter()
            .map(|i| i.join().expect("an operator instance thread panicked"))
            .collect();
        (stages, merged.and(coordinated))
    }
}
