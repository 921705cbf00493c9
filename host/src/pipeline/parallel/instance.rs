//! One instance of the stages, on its own thread: it answers every step
//! with exactly one reply, in order, so the merger can pair them up.

use std::collections::BTreeMap;

use crossbeam_channel::{Receiver, Sender};

use crate::data::{Batch, Origin};
use crate::pipeline::stage::{Stage, StageError};
use crate::pipeline::taps::Taps;
use crate::sink::DeadLetters;
use crate::sink::Tap;
use crate::state::StageCheckpoint;

/// What the coordinator sends every instance.
pub enum Step {
    /// The instance's share of a batch (possibly empty: it still moves the
    /// watermark, or is the processing-time tick).
    Rows(Batch),
    /// Report the input positions the stages still hold (for offset commits).
    Retained,
    /// A checkpoint barrier: report the stages' state.
    Snapshot,
}

/// An instance's answer to one step, with the dead letters it staged.
pub enum Reply {
    /// Each tap's results, in order.
    Rows(Vec<(Batch, Tap)>, Vec<u8>),
    Retained(BTreeMap<u32, u64>, Vec<u8>),
    Snapshot(Vec<StageCheckpoint>, Vec<u8>),
    /// The stages stopped the pipeline; the instance ends.
    Failed(StageError, Vec<u8>),
}

/// Runs `stages` on the steps until the coordinator hangs up or a stage
/// fails; returns the stages for the run's summary.
pub fn run_instance(
    mut stages: Vec<Stage>,
    taps: &Taps,
    steps: Receiver<Step>,
    replies: Sender<Reply>,
    origin: &Origin,
    dead: DeadLetters,
) -> Vec<Stage> {
    for step in steps {
        let reply = match step {
            Step::Rows(batch) => {
                let mut results = Vec::new();
                match taps.run_stages(&mut stages, batch, origin, &dead, |rows, tap| {
                    results.push((rows, tap))
                }) {
                    Ok(()) => Reply::Rows(results, dead.take_staged()),
                    Err(e) => Reply::Failed(e, dead.take_staged()),
                }
            }
            Step::Retained => {
                let mut retained = BTreeMap::new();
                for stage in &stages {
                    stage.retained(&mut retained);
                }
                Reply::Retained(retained, dead.take_staged())
            }
            Step::Snapshot => Reply::Snapshot(
                stages.iter().map(Stage::checkpoint).collect(),
                dead.take_staged(),
            ),
        };
        let failed = matches!(reply, Reply::Failed(..));
        if replies.send(reply).is_err() || failed {
            break;
        }
    }
    stages
}
