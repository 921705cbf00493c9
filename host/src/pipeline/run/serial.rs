//! The operators on one thread: the sequencer's batches through every stage
//! in turn, with offset progress, checkpoints and plugin changes between
//! batches. (With `parallelism` above 1, `pipeline/parallel/` does this.)

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use crate::data::{Batch, Origin, Schema};
use crate::pipeline::checkpointing::Checkpointer;
use crate::pipeline::control::ControlPort;
use crate::pipeline::deliver::ToSink;
use crate::pipeline::ingest::DecodedChunk;
use crate::pipeline::sequencer::Sequencer;
use crate::pipeline::stage::{Stage, StageError};
use crate::pipeline::taps::Taps;
use crate::sink::DeadLetters;
use crate::window::PROCESSING_TICK;

pub(super) struct SerialOperators<'a> {
    pub stages: &'a mut Vec<Stage>,
    pub sequencer: &'a mut Sequencer,
    pub checkpointer: Option<&'a mut Checkpointer>,
    /// Plugin changes from the admin API, applied between batches.
    pub control: Option<ControlPort>,
    pub to_sink: Sender<ToSink>,
    /// Staged: they reach the file through the sink thread, in input order.
    pub dead: &'a DeadLetters,
    pub origin: &'a Origin,
    pub schema: Arc<Schema>,
    /// Kafka without checkpoints: commit offsets as results are delivered.
    pub track_offsets: bool,
    pub taps: Taps,
}

/// Whether to go on: false once the sink thread has gone (it says why).
type Open = bool;

impl SerialOperators<'_> {
    /// Runs until the decoders are done, the sink has gone or a stage
    /// stopped the pipeline; `after_chunk` updates the source's gauges.
    pub fn run(
        mut self,
        chunks: Receiver<DecodedChunk>,
        complete: &AtomicBool,
        after_chunk: impl Fn(&Sequencer),
    ) -> (Result<(), StageError>, Option<ControlPort>) {
        let result = self.batches(chunks, after_chunk);
        // The end of a bounded input: the watermark jumps to the end of
        // time and every remaining window fires, as Flink does.
        let result = result.and_then(|()| {
            if complete.load(Ordering::SeqCst) {
                self.run_stages(Batch::empty(self.schema.clone(), i64::MAX))?;
            }
            Ok(())
        });
        if result.is_ok() {
            if self.track_offsets {
                self.progress();
            }
            self.checkpoint();
        }
        self.send_dead_letters();
        if let Some(control) = &mut self.control {
            control.finish(self.stages);
        }
        (result, self.control)
    }

    fn batches(
        &mut self,
        chunks: Receiver<DecodedChunk>,
        after_chunk: impl Fn(&Sequencer),
    ) -> Result<(), StageError> {
        let requests = self
            .control
            .as_ref()
            .map_or_else(crossbeam_channel::never, |c| c.requests());
        // Processing-time windows close by the clock, rows or not.
        let ticks = if self.stages.iter().any(Stage::needs_ticks) {
            crossbeam_channel::tick(PROCESSING_TICK)
        } else {
            crossbeam_channel::never()
        };
        loop {
            crossbeam_channel::select! {
                recv(chunks) -> chunk => {
                    let Ok(chunk) = chunk else { return Ok(()) };
                    if !self.chunk(chunk, &after_chunk)? {
                        return Ok(());
                    }
                }
                recv(ticks) -> _ => {
                    let tick = Batch::empty(self.schema.clone(), self.sequencer.watermark());
                    if !self.run_stages(tick)? {
                        return Ok(());
                    }
                }
                recv(requests) -> request => {
                    if let (Ok(request), Some(control)) = (request, &mut self.control) {
                        control.apply(request, self.stages);
                    }
                }
            }
        }
    }

    fn chunk(
        &mut self,
        chunk: DecodedChunk,
        after_chunk: &impl Fn(&Sequencer),
    ) -> Result<Open, StageError> {
        for batch in self.sequencer.accept(chunk, self.dead)? {
            let open = self.run_stages(batch)?;
            if let Some(control) = &mut self.control {
                control.after_batch(self.stages);
            }
            if !open {
                return Ok(false);
            }
        }
        if self.track_offsets && !self.progress() {
            return Ok(false);
        }
        if self.sequencer.handover_pending() && !self.hand_over() {
            return Ok(false);
        }
        after_chunk(self.sequencer);
        if self.checkpointer.as_ref().is_some_and(|c| c.due()) && !self.checkpoint() {
            return Ok(false);
        }
        Ok(self.send_dead_letters())
    }

    fn run_stages(&mut self, batch: Batch) -> Result<Open, StageError> {
        let mut results = Vec::new();
        self.taps
            .run_stages(self.stages, batch, self.origin, self.dead, |rows, tap| {
                results.push((rows, tap))
            })?;
        Ok(results
            .into_iter()
            .all(|(rows, tap)| self.send(ToSink::Rows(rows, tap))))
    }

    /// The offsets whose input no stage holds any more, to be committed
    /// once the results before this marker are delivered.
    fn progress(&mut self) -> Open {
        let mut retained = BTreeMap::new();
        for stage in self.stages.iter() {
            stage.retained(&mut retained);
        }
        let offsets = self.sequencer.commit_offsets(&retained);
        self.send(ToSink::Progress(offsets))
    }

    /// Partitions are being taken away: their offsets are committed (with a
    /// checkpoint, when the run takes them) before the reader lets them go.
    fn hand_over(&mut self) -> Open {
        let open = match self.checkpointer {
            Some(_) => self.checkpoint(),
            None => self.progress(),
        };
        let acks = self.sequencer.take_handovers();
        open && acks.into_iter().all(|ack| self.send(ToSink::Handover(ack)))
    }

    fn checkpoint(&mut self) -> Open {
        match self.checkpointer.as_mut() {
            Some(checkpointer) => {
                let checkpoint = checkpointer.take(self.sequencer, self.stages);
                self.send(checkpoint)
            }
            None => true,
        }
    }

    /// Staged dead letters go first, so the sink writes them in input order.
    fn send(&self, message: ToSink) -> Open {
        self.send_dead_letters() && self.to_sink.send(message).is_ok()
    }

    fn send_dead_letters(&self) -> Open {
        let lines = self.dead.take_staged();
        lines.is_empty() || self.to_sink.send(ToSink::DeadLetters(lines)).is_ok()
    }
}
