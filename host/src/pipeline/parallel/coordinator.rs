//! The thread between the decoders and the instances: it restores input
//! order, stamps watermarks (the sequencer), divides each batch among the
//! instances and places the markers — offset progress, checkpoint barriers,
//! the end of input — between the same two batches on every instance.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender};

use super::instance::Step;
use super::merger::{Note, NoteKind};
use super::Partitioner;
use crate::data::{Batch, Schema};
use crate::pipeline::checkpointing::Checkpointer;
use crate::pipeline::ingest::DecodedChunk;
use crate::pipeline::sequencer::Sequencer;
use crate::pipeline::stage::StageError;
use crate::sink::DeadLetters;

pub struct Coordinator<'a> {
    pub sequencer: &'a mut Sequencer,
    pub partitioner: Partitioner,
    pub steps: Vec<Sender<Step>>,
    pub notes: Sender<Note>,
    /// The sequencer's dead letters (decoding, implausible times), staged.
    pub dead: &'a DeadLetters,
    pub checkpointer: Option<&'a mut Checkpointer>,
    /// Kafka without checkpoints: commit offsets as results are delivered.
    pub track_offsets: bool,
    pub schema: Arc<Schema>,
}

/// Whether to go on: false once the merger or an instance has gone (the
/// merger reports why).
type Open = bool;

impl Coordinator<'_> {
    /// Runs until the decoders are done or a downstream thread has gone;
    /// `after_chunk` updates the source's gauges.
    pub fn run(
        mut self,
        chunks: Receiver<DecodedChunk>,
        ticks: Receiver<Instant>,
        complete: &AtomicBool,
        after_chunk: impl Fn(&Sequencer),
    ) -> Result<(), StageError> {
        loop {
            crossbeam_channel::select! {
                recv(chunks) -> chunk => {
                    let Ok(chunk) = chunk else { break };
                    if !self.chunk(chunk)? {
                        return Ok(());
                    }
                    after_chunk(self.sequencer);
                }
                recv(ticks) -> _ => {
                    let tick = Batch::empty(self.schema.clone(), self.sequencer.watermark());
                    if !self.rows(&tick) {
                        return Ok(());
                    }
                }
            }
        }
        // The end of a bounded input: every remaining window fires.
        let open = !complete.load(Ordering::SeqCst)
            || self.rows(&Batch::empty(self.schema.clone(), i64::MAX));
        let open = open && (!self.track_offsets || self.progress());
        let open = open && (self.checkpointer.is_none() || self.checkpoint());
        if open {
            self.note(NoteKind::DeadLettersOnly);
        }
        Ok(())
    }

    fn chunk(&mut self, chunk: DecodedChunk) -> Result<Open, StageError> {
        let batches = self
            .sequencer
            .accept(chunk, self.dead)
            .map_err(StageError::DeadLetter)?;
        for batch in batches {
            if !self.rows(&batch) {
                return Ok(false);
            }
        }
        if self.track_offsets && !self.progress() {
            return Ok(false);
        }
        if self.sequencer.handover_pending() && !self.hand_over() {
            return Ok(false);
        }
        if self.checkpointer.as_ref().is_some_and(|c| c.due()) && !self.checkpoint() {
            return Ok(false);
        }
        Ok(true)
    }

    fn rows(&mut self, batch: &Batch) -> Open {
        let shares = self.partitioner.split(batch);
        self.note(NoteKind::Rows)
            && self
                .steps
                .iter()
                .zip(shares)
                .all(|(instance, share)| instance.send(Step::Rows(share)).is_ok())
    }

    fn progress(&mut self) -> Open {
        let consumed = self.sequencer.commit_offsets(&BTreeMap::new());
        self.note(NoteKind::Progress(consumed)) && self.broadcast(|| Step::Retained)
    }

    /// As the serial runner's: offsets (or a checkpoint) first, then the
    /// acknowledgements, behind them in the merger's order.
    fn hand_over(&mut self) -> Open {
        let open = match self.checkpointer {
            Some(_) => self.checkpoint(),
            None => self.progress(),
        };
        let acks = self.sequencer.take_handovers();
        open && self.note(NoteKind::Handover(acks))
    }

    fn checkpoint(&mut self) -> Open {
        let Some(checkpointer) = self.checkpointer.as_mut() else {
            return true;
        };
        // The stages' states come from the instances, merged by the merger.
        let (checkpoint, offsets) = checkpointer.take_parts(self.sequencer, &[]);
        self.note(NoteKind::Checkpoint(checkpoint, offsets)) && self.broadcast(|| Step::Snapshot)
    }

    fn broadcast(&self, step: impl Fn() -> Step) -> Open {
        self.steps
            .iter()
            .all(|instance| instance.send(step()).is_ok())
    }

    fn note(&self, kind: NoteKind) -> Open {
        let dead = self.dead.take_staged();
        self.notes.send(Note { dead, kind }).is_ok()
    }
}
