//! Operators on several cores. The stages of a pipeline run as N instances,
//! each with its own operator state (and its own plugin stores); the thread
//! that restores input order and stamps watermarks splits each batch among
//! them — by key group when a stage holds state per key, in contiguous
//! slices when no stage holds state — and a merger thread hands their
//! results to the sink in instance order, batch by batch. Every instance
//! sees every batch (an empty share still carries the watermark), so each
//! instance's watermark is the one the single-instance run would have, and
//! a checkpoint marker reaches every instance between the same two batches:
//! the barriers are aligned by construction.

mod coordinator;
mod instance;
mod merger;
mod threads;

pub use coordinator::Coordinator;
pub use instance::{run_instance, Reply, Step};
pub use merger::{merge_replies, Note, NoteKind};
pub use threads::{spawn, Parts, Threads};

use super::operator::StateKey;
use super::stage::Stage;
use crate::data::{instance_of_group, Batch, KeyRef, Schema, KEY_GROUPS};
use crate::state::{rescale, StageState};

/// A parallelism from outside (the pipeline file, the command line):
/// at least 1 and at most the number of key groups.
pub fn check(parallelism: usize) -> Result<usize, String> {
    if (1..=KEY_GROUPS).contains(&parallelism) {
        Ok(parallelism)
    } else {
        Err(format!(
            "must be between 1 and {KEY_GROUPS} (the number of key groups), got {parallelism}"
        ))
    }
}

/// How many instances the stages run as, and how rows are divided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parallelism {
    pub instances: usize,
    /// The source column rows are divided by; `None`: contiguous slices.
    pub key: Option<(String, usize)>,
    /// Why fewer instances run than were asked for.
    pub limited_by: Option<String>,
}

impl Parallelism {
    pub fn one(limited_by: Option<String>) -> Self {
        Self {
            instances: 1,
            key: None,
            limited_by,
        }
    }
}

/// The parallelism `requested` can have for these stages: every stage that
/// holds state must hold it per value of one field of the source's rows,
/// and every stage must be able to run as several instances.
pub fn choose(
    requested: usize,
    stages: &[Stage],
    source: &Schema,
    controlled: bool,
) -> Parallelism {
    if requested <= 1 {
        return Parallelism::one(None);
    }
    let limited = |reason: String| Parallelism::one(Some(reason));
    if controlled {
        return limited(
            "plugins can be changed while it runs (--admin), which one instance per stage supports"
                .into(),
        );
    }
    let mut key: Option<String> = None;
    for stage in stages {
        match stage.operator.state_key() {
            StateKey::None => {}
            StateKey::Global => {
                return limited(format!(
                    "stage `{}` keeps one state for all rows (no key_by)",
                    stage.name
                ))
            }
            StateKey::Field(field) => match &key {
                Some(k) if *k != field => {
                    return limited(format!(
                        "stages key by different fields (`{k}` and `{field}` at stage `{}`)",
                        stage.name
                    ))
                }
                _ => key = Some(field),
            },
        }
    }
    let key = match key {
        Some(field) => match source.index_of(&field) {
            Some(column) => Some((field, column)),
            None => {
                return limited(format!(
                    "the key `{field}` is not a field of the source's rows"
                ))
            }
        },
        None => None,
    };
    Parallelism {
        instances: requested.min(KEY_GROUPS),
        key,
        limited_by: None,
    }
}

/// Divides batches among the instances.
pub struct Partitioner {
    instances: usize,
    key_column: Option<usize>,
}

impl Partitioner {
    pub fn new(parallelism: &Parallelism) -> Self {
        Self {
            instances: parallelism.instances,
            key_column: parallelism.key.as_ref().map(|(_, column)| column).copied(),
        }
    }

    /// One share per instance, in input order within each; every share
    /// carries the batch's end watermark, even when it has no rows.
    pub fn split(&self, batch: &Batch) -> Vec<Batch> {
        let mut rows: Vec<Vec<u32>> = vec![Vec::new(); self.instances];
        match self.key_column {
            Some(column) => {
                let column = &batch.columns[column];
                for row in 0..batch.len() {
                    let group = KeyRef::of(column.get(row)).key_group();
                    rows[instance_of_group(group, self.instances)].push(row as u32);
                }
            }
            None => {
                let per = batch.len().div_ceil(self.instances).max(1);
                for row in 0..batch.len() {
                    rows[row / per].push(row as u32);
                }
            }
        }
        rows.iter().map(|rows| batch.gather(rows)).collect()
    }
}

/// The stages of each of `parallelism` instances: new operators with the
/// same settings (sharing the stage's counters), each holding its
/// instance's share of the state `stages` hold (restored from a
/// checkpoint, or empty). Each stage's state is taken once and split.
pub fn instance_stages(stages: &[Stage], parallelism: usize) -> Result<Vec<Vec<Stage>>, String> {
    let states: Vec<StageState> = stages.iter().map(|s| s.operator.snapshot()).collect();
    (0..parallelism)
        .map(|index| {
            let owns = |key: &crate::data::Key| {
                instance_of_group(key.as_ref().key_group(), parallelism) == index
            };
            stages
                .iter()
                .zip(&states)
                .map(|(stage, state)| {
                    let operator = stage
                        .operator
                        .replicate(&stage.input)
                        .map_err(|e| format!("stage `{}`: {e}", stage.name))?;
                    let mut replica = Stage::new(stage.name.clone(), operator, stage.input.clone());
                    replica.stats = stage.stats.clone();
                    replica.from = stage.from.clone();
                    if !matches!(state, StageState::Stateless { .. }) {
                        let share = rescale::split(state, owns)?;
                        replica.operator.restore(&stage.name, share)?;
                    }
                    Ok(replica)
                })
                .collect()
        })
        .collect()
}
