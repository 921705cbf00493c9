//! Pairs the instances' replies to each step and hands the results to the
//! sink thread in instance order: the output of a run is the same for a
//! given parallelism, whatever the threads' timing.

use std::collections::BTreeMap;

use crossbeam_channel::{Receiver, Sender};

use super::instance::Reply;
use crate::pipeline::deliver::ToSink;
use crate::pipeline::sequencer::hold_back;
use crate::pipeline::stage::StageError;
use crate::state::{rescale, Checkpoint, StageCheckpoint};

/// What the coordinator adds to a step, in step order: its own dead letters
/// (decoding, implausible times) and, for markers, what the sink needs.
pub struct Note {
    pub dead: Vec<u8>,
    pub kind: NoteKind,
}

pub enum NoteKind {
    Rows,
    /// Only the coordinator's last dead letters: no instance replies.
    DeadLettersOnly,
    /// Offsets consumed per stream, before what the stages hold back.
    Progress(Vec<(u32, u64)>),
    /// A checkpoint without its stages, and the offsets to commit with it.
    Checkpoint(Box<Checkpoint>, Vec<(u32, u64)>),
    /// Acknowledgements for the sink to send once what is before them is
    /// committed: no instance replies.
    Handover(Vec<crate::source::HandoverAck>),
}

/// Runs until the coordinator hangs up; `Err` when a stage stopped the
/// pipeline. Returns quietly when the sink thread has gone (it says why).
pub fn merge_replies(
    notes: Receiver<Note>,
    replies: Vec<Receiver<Reply>>,
    to_sink: Sender<ToSink>,
) -> Result<(), StageError> {
    let send = |message: ToSink| to_sink.send(message).is_ok();
    let send_dead = |lines: Vec<u8>| lines.is_empty() || send(ToSink::DeadLetters(lines));
    for note in notes {
        if !send_dead(note.dead) {
            return Ok(());
        }
        match note.kind {
            NoteKind::DeadLettersOnly => continue,
            NoteKind::Handover(acks) => {
                if !acks.into_iter().all(|ack| send(ToSink::Handover(ack))) {
                    return Ok(());
                }
                continue;
            }
            _ => {}
        }
        let mut retained = BTreeMap::new();
        let mut snapshots: Vec<Vec<StageCheckpoint>> = Vec::new();
        for instance in &replies {
            // An instance that has gone without a reply has failed, and its
            // failure was the reply before.
            let Ok(reply) = instance.recv() else {
                return Ok(());
            };
            let open = match reply {
                Reply::Rows(results, dead) => {
                    send_dead(dead)
                        && results
                            .into_iter()
                            .all(|(rows, tap)| send(ToSink::Rows(rows, tap)))
                }
                Reply::Retained(held, dead) => {
                    for (stream, first) in held {
                        retained
                            .entry(stream)
                            .and_modify(|f: &mut u64| *f = (*f).min(first))
                            .or_insert(first);
                    }
                    send_dead(dead)
                }
                Reply::Snapshot(stages, dead) => {
                    snapshots.push(stages);
                    send_dead(dead)
                }
                Reply::Failed(error, dead) => {
                    send_dead(dead);
                    return Err(error);
                }
            };
            if !open {
                return Ok(());
            }
        }
        let open = match note.kind {
            NoteKind::Rows | NoteKind::DeadLettersOnly | NoteKind::Handover(_) => true,
            NoteKind::Progress(consumed) => send(ToSink::Progress(hold_back(consumed, &retained))),
            NoteKind::Checkpoint(mut checkpoint, offsets) => {
                checkpoint.stages =
                    merge_snapshots(snapshots).map_err(|reason| StageError::Failed {
                        stage: "checkpoint".into(),
                        reason,
                    })?;
                send(ToSink::Checkpoint(checkpoint, offsets))
            }
        };
        if !open {
            return Ok(());
        }
    }
    Ok(())
}

/// Per stage, the instances' states as one (see [`rescale::merge`]).
fn merge_snapshots(instances: Vec<Vec<StageCheckpoint>>) -> Result<Vec<StageCheckpoint>, String> {
    let mut instances = instances.into_iter();
    let Some(first) = instances.next() else {
        return Ok(Vec::new());
    };
    let mut per_stage: Vec<(StageCheckpoint, Vec<_>)> =
        first.into_iter().map(|s| (s, Vec::new())).collect();
    for stages in instances {
        for ((_, others), stage) in per_stage.iter_mut().zip(stages) {
            others.push(stage.state);
        }
    }
    per_stage
        .into_iter()
        .map(|(mut stage, others)| {
            if !others.is_empty() {
                let states = std::iter::once(stage.state).chain(others).collect();
                stage.state = rescale::merge(states)?;
            }
            Ok(stage)
        })
        .collect()
}
