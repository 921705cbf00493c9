//! Changes to a running pipeline — swap a plugin, insert or remove a stage —
//! asked for by the admin API and applied by the operator thread between two
//! batches, so every batch runs start to end on one set of stages.
//!
//! Whatever is slow happens elsewhere: the admin side compiles, checks and
//! initialises a new version before asking; the operator thread only moves a
//! pointer; a retired version is dropped on a thread of its own.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, Sender};
use serde::Serialize;

use super::operator::{Trial, TrialVerdict};
use super::stage::{Stage, Unload, Upstream};
use crate::data::Schema;
use crate::plugin::PluginOperator;

mod view;

use view::{now, stage_view};
pub use view::{PipelineView, PluginView, StageView, TrialView};

/// Changes kept in [`PipelineView::recent_changes`].
const RECENT_CHANGES: usize = 32;

pub enum Change {
    /// Replace the plugin of `stage`; the new version is on trial for
    /// `trial_batches` non-empty batches (0: no trial).
    Swap {
        stage: String,
        operator: Box<PluginOperator>,
        trial_batches: u32,
    },
    /// Add a stage after the named one (`None`: first).
    Insert {
        after: Option<String>,
        stage: Box<Stage>,
    },
    Remove {
        stage: String,
    },
}

/// What the operator thread reports about a change, in order: `Applied` or
/// `Refused`, then for a swap on trial `Kept` or `RolledBack`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeEvent {
    /// In effect from the next batch; `pause` is how long the operator
    /// thread spent on it. For a swap, `at_row` is the number of rows the
    /// stage had received: the new version starts with the next one.
    Applied {
        pause: Duration,
        at_row: Option<u64>,
    },
    Refused(String),
    Kept,
    RolledBack(String),
}

pub struct Request {
    change: Change,
    reply: Sender<ChangeEvent>,
}

/// A change as listings show it.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeRecord {
    pub at: String,
    pub stage: String,
    /// `swap`, `load` or `unload`.
    pub action: &'static str,
    /// `applied`, `on-trial`, `kept`, `rolled-back` or `refused`.
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// For a swap or a rollback: the rows the stage had received when the
    /// version changed. Rows before it were processed by the version before,
    /// the rest by the version after (each row by exactly one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_row: Option<u64>,
}

/// The admin side of a running pipeline.
#[derive(Clone)]
pub struct Controller {
    requests: Sender<Request>,
    view: Arc<Mutex<PipelineView>>,
}

#[derive(Debug, thiserror::Error)]
#[error("the pipeline has stopped")]
pub struct PipelineStopped;

impl Controller {
    /// False once the pipeline has ended (its input, or a stop).
    pub fn is_running(&self) -> bool {
        lock(&self.view).state == "running"
    }

    /// The pipeline's stages and their counters, as of now.
    pub fn view(&self) -> PipelineView {
        let mut view = lock(&self.view).clone();
        for stage in &mut view.stages {
            stage.batches = stage
                .stats
                .batches
                .load(std::sync::atomic::Ordering::Relaxed);
            stage.rows_in = stage.stats.rows_in();
            stage.rows_out = stage.stats.rows_out();
            stage.rows_failed = stage.stats.rows_failed();
        }
        view
    }

    /// Hands `change` to the operator thread; its events arrive on the
    /// returned channel.
    pub fn submit(&self, change: Change) -> Result<Receiver<ChangeEvent>, PipelineStopped> {
        let (reply, events) = crossbeam_channel::unbounded();
        self.requests
            .send(Request { change, reply })
            .map_err(|_| PipelineStopped)?;
        Ok(events)
    }
}

/// The operator thread's side.
pub struct ControlPort {
    requests: Receiver<Request>,
    view: Arc<Mutex<PipelineView>>,
    retire: Sender<Box<PluginOperator>>,
    source_schema: Arc<Schema>,
    /// Where to report the end of each trial, by stage.
    trials: HashMap<String, Sender<ChangeEvent>>,
    /// What the published view last showed of each stage (restarts, quarantined).
    shown: Vec<(u64, bool)>,
    /// Restarts of the plugin versions retired so far.
    retired_restarts: u64,
}

/// Creates the two sides of a pipeline's control channel.
pub fn channel(
    pipeline: &str,
    source_schema: Arc<Schema>,
    stages: &[Stage],
) -> (Controller, ControlPort) {
    let (requests_in, requests) = crossbeam_channel::unbounded();
    let view = Arc::new(Mutex::new(PipelineView {
        pipeline: pipeline.into(),
        state: "running",
        started_at: now(),
        stages: Vec::new(),
        recent_changes: VecDeque::new(),
        source_schema: source_schema.clone(),
        change_counts: Default::default(),
        dead_letters: None,
        source: None,
        checkpoints: None,
        sink: None,
    }));
    // Dropping an instance frees its linear memory and JIT state: hundreds of
    // microseconds that would otherwise stall the batch loop.
    let (retire, retired) = crossbeam_channel::unbounded::<Box<PluginOperator>>();
    std::thread::Builder::new()
        .name("weir-retire".into())
        .spawn(move || retired.iter().for_each(drop))
        .expect("spawning the retire thread");
    let mut port = ControlPort {
        requests,
        view: view.clone(),
        retire,
        source_schema,
        trials: HashMap::new(),
        shown: Vec::new(),
        retired_restarts: 0,
    };
    port.publish(stages);
    let controller = Controller {
        requests: requests_in,
        view,
    };
    (controller, port)
}

impl ControlPort {
    /// Lets the metrics count the run's dead letters.
    pub fn show_dead_letters(&self, counts: Arc<crate::sink::DeadLetterCounts>) {
        lock(&self.view).dead_letters = Some(counts);
    }

    /// Lets the metrics show the checkpoints written.
    pub fn show_checkpoints(&self, stats: Arc<crate::state::CheckpointStats>) {
        lock(&self.view).checkpoints = Some(stats);
    }

    /// Lets the metrics and the live page show what the sink did.
    pub fn show_sink(&self, stats: Arc<crate::sink::SinkStats>) {
        lock(&self.view).sink = Some(stats);
    }

    /// Lets the metrics show the source's counters.
    pub fn show_source(&self, stats: Arc<crate::source::SourceStats>) {
        lock(&self.view).source = Some(stats);
    }

    pub fn requests(&self) -> Receiver<Request> {
        self.requests.clone()
    }

    pub fn apply(&mut self, request: Request, stages: &mut Vec<Stage>) {
        let started = Instant::now();
        let Request { change, reply } = request;
        let (stage_name, action) = match &change {
            Change::Swap { stage, .. } => (stage.clone(), "swap"),
            Change::Insert { stage, .. } => (stage.name.clone(), "load"),
            Change::Remove { stage } => (stage.clone(), "unload"),
        };
        let outcome = match change {
            Change::Swap {
                stage,
                operator,
                trial_batches,
            } => self.swap(stages, &stage, operator, trial_batches),
            Change::Insert { after, stage } => self.insert(stages, after, *stage),
            Change::Remove { stage } => self.remove(stages, &stage),
        };
        let pause = started.elapsed();
        let at_row = match action {
            "swap" => stages
                .iter()
                .find(|s| s.name == stage_name)
                .map(|s| s.rows_in()),
            _ => None,
        };
        let (record_outcome, detail, event) = match outcome {
            Ok(true) => ("on-trial", None, ChangeEvent::Applied { pause, at_row }),
            Ok(false) => ("applied", None, ChangeEvent::Applied { pause, at_row }),
            Err(reason) => (
                "refused",
                Some(reason.clone()),
                ChangeEvent::Refused(reason),
            ),
        };
        let at_row = at_row.filter(|_| record_outcome != "refused");
        self.record(&stage_name, action, record_outcome, detail, at_row);
        // The view first: a client that acts on the reply (a second swap,
        // a status read) must find the change in it.
        self.publish(stages);
        let _ = reply.send(event);
        if record_outcome == "on-trial" {
            self.trials.insert(stage_name, reply);
        }
    }

    /// Returns whether the new version is on trial.
    fn swap(
        &mut self,
        stages: &mut [Stage],
        name: &str,
        operator: Box<PluginOperator>,
        trial_batches: u32,
    ) -> Result<bool, String> {
        let stage = find(stages, name)?;
        if stage.trial().is_some() {
            return Err(format!(
                "stage `{name}` is still trying a new version; swap again once it is kept or rolled back"
            ));
        }
        let Some(plugin_stage) = stage.plugin_mut() else {
            return Err(format!("stage `{name}` is not a plugin"));
        };
        let current = &mut plugin_stage.plugin;
        if operator.output_schema() != current.output_schema() {
            return Err(format!(
                "the new version outputs {}, the stage outputs {}",
                operator.output_schema(),
                current.output_schema()
            ));
        }
        let mut operator = operator;
        let mut trial_batches = trial_batches;
        if let Some((version, state)) = current.take_state() {
            // The state moves to the new version (migrated if its state
            // version differs). A rolled-back trial would have to move it
            // back through a migration the old version may not have: keyed
            // swaps are not tried.
            if let Err((reason, state)) = operator.adopt_state(version, state) {
                current
                    .adopt_state(version, state)
                    .map_err(|(e, _)| e)
                    .expect("the same version takes its own state back");
                return Err(reason);
            }
            trial_batches = 0;
        }
        let previous = std::mem::replace(current, operator);
        let on_trial = trial_batches > 0;
        if on_trial {
            plugin_stage.trial = Some(Trial {
                previous,
                batches_left: trial_batches,
            });
        } else {
            self.retire_operator(previous);
        }
        stage.loaded_at = SystemTime::now();
        Ok(on_trial)
    }

    fn insert(
        &mut self,
        stages: &mut Vec<Stage>,
        after: Option<String>,
        mut stage: Stage,
    ) -> Result<bool, String> {
        if stages.iter().any(|s| s.name == stage.name) {
            return Err(format!("a stage named `{}` already exists", stage.name));
        }
        let index = match &after {
            None => 0,
            Some(name) => stages
                .iter()
                .position(|s| &s.name == name)
                .map(|i| i + 1)
                .ok_or_else(|| format!("there is no stage named `{name}`"))?,
        };
        let input = match index {
            0 => &self.source_schema,
            i => stages[i - 1].output_schema(),
        };
        if &stage.input != input || stage.output_schema() != input {
            return Err(format!(
                "a stage loaded at run time must take and give the rows it finds there ({input}); it would take {} and give {}",
                stage.input,
                stage.output_schema()
            ));
        }
        stage.added_at_run_time = true;
        stages.insert(index, stage);
        Ok(false)
    }

    fn remove(&mut self, stages: &mut Vec<Stage>, name: &str) -> Result<bool, String> {
        let index = stages
            .iter()
            .position(|s| s.name == name)
            .ok_or_else(|| format!("there is no stage named `{name}`"))?;
        let stage = &stages[index];
        if !removable(stage) {
            return Err(format!(
                "stage `{name}` is part of the pipeline file and removing it would change the results; \
                 swap it instead, or mark it `unload = \"bypass\"` in the pipeline file (filters only)"
            ));
        }
        if stage.trial().is_some() {
            return Err(format!(
                "stage `{name}` is trying a new version; unload it once that is kept or rolled back"
            ));
        }
        let stage = detach(stages, index);
        if let Some(operator) = stage.operator.into_plugin() {
            self.retire_operator(operator);
        }
        Ok(false)
    }

    fn retire_operator(&mut self, operator: Box<PluginOperator>) {
        self.retired_restarts += operator.restarts;
        let _ = self.retire.send(operator);
    }

    /// For the run's summary: changes by (action, outcome), and the trap
    /// restarts of versions no longer serving.
    pub fn totals(&self) -> (Vec<(&'static str, &'static str, u64)>, u64) {
        let counts = lock(&self.view)
            .change_counts
            .iter()
            .map(|(&(action, outcome), &n)| (action, outcome, n))
            .collect();
        (counts, self.retired_restarts)
    }

    /// Called after each batch: reports ended trials and republishes the
    /// view when something listings show has changed.
    pub fn after_batch(&mut self, stages: &mut [Stage]) {
        let mut changed = false;
        if !self.trials.is_empty() {
            for stage in stages.iter_mut() {
                let Some(verdict) = stage.plugin_mut().and_then(|p| p.verdict.take()) else {
                    continue;
                };
                let reply = self.trials.remove(&stage.name);
                let (event, outcome, detail, retired, at_row) = match verdict {
                    TrialVerdict::Kept { retired } => {
                        (ChangeEvent::Kept, "kept", None, retired, None)
                    }
                    TrialVerdict::RolledBack {
                        rejected,
                        reason,
                        at_row,
                    } => {
                        stage.loaded_at = SystemTime::now();
                        let event = ChangeEvent::RolledBack(reason.clone());
                        (event, "rolled-back", Some(reason), rejected, Some(at_row))
                    }
                };
                self.retire_operator(retired);
                if let Some(reply) = reply {
                    let _ = reply.send(event);
                }
                let name = stage.name.clone();
                self.record(&name, "swap", outcome, detail, at_row);
                changed = true;
            }
        }
        let shown_differs = self.shown.len() != stages.len()
            || stages
                .iter()
                .zip(&self.shown)
                .any(|(stage, shown)| shown_state(stage) != *shown);
        if changed || shown_differs || stages.iter().any(|s| s.trial().is_some()) {
            self.publish(stages);
        }
    }

    /// The pipeline has ended: trials in progress end with it.
    pub fn finish(&mut self, stages: &[Stage]) {
        self.publish(stages);
        // Marked first, so whoever hears of an ended trial sees why.
        lock(&self.view).state = "finished";
        for (_, reply) in self.trials.drain() {
            let _ = reply.send(ChangeEvent::Refused(
                "the pipeline ended before the new version finished its trial".into(),
            ));
        }
    }

    fn record(
        &self,
        stage: &str,
        action: &'static str,
        outcome: &'static str,
        detail: Option<String>,
        at_row: Option<u64>,
    ) {
        match &detail {
            Some(detail) if outcome == "refused" => {
                tracing::info!(stage, action, outcome, "{detail}")
            }
            Some(detail) => tracing::warn!(stage, action, outcome, "{detail}"),
            None => tracing::info!(stage, action, outcome, "plugin change"),
        }
        let mut view = lock(&self.view);
        *view.change_counts.entry((action, outcome)).or_default() += 1;
        if view.recent_changes.len() == RECENT_CHANGES {
            view.recent_changes.pop_front();
        }
        view.recent_changes.push_back(ChangeRecord {
            at: now(),
            stage: stage.into(),
            action,
            outcome,
            detail,
            at_row,
        });
    }

    fn publish(&mut self, stages: &[Stage]) {
        self.shown = stages.iter().map(shown_state).collect();
        let views = stages.iter().map(stage_view).collect();
        lock(&self.view).stages = views;
    }
}

fn shown_state(stage: &Stage) -> (u64, bool) {
    stage.plugin().map_or((0, false), |p| {
        (p.plugin.restarts, p.plugin.quarantined().is_some())
    })
}

fn removable(stage: &Stage) -> bool {
    stage.added_at_run_time || stage.unload == Unload::Bypass
}

fn find<'a>(stages: &'a mut [Stage], name: &str) -> Result<&'a mut Stage, String> {
    stages
        .iter_mut()
        .find(|s| s.name == name)
        .ok_or_else(|| format!("there is no stage named `{name}`"))
}

fn lock(view: &Mutex<PipelineView>) -> MutexGuard<'_, PipelineView> {
    // A panic elsewhere cannot leave the view half-written in a way that
    // matters: every write replaces whole fields.
    view.lock().unwrap_or_else(|e| e.into_inner())
}

/// Takes stage `index` out, its readers reading what it read.
fn detach(stages: &mut Vec<Stage>, index: usize) -> Stage {
    let stage = stages.remove(index);
    let read = match (&stage.from, index) {
        (Upstream::Previous, 0) => Upstream::Source,
        (Upstream::Previous, i) => Upstream::Stage(stages[i - 1].name.clone()),
        (other, _) => other.clone(),
    };
    if let Some(next) = stages.get_mut(index) {
        if next.from == Upstream::Previous {
            next.from = stage.from.clone();
        }
    }
    for reader in stages.iter_mut() {
        if reader.from == Upstream::Stage(stage.name.clone()) {
            reader.from = read.clone();
        }
    }
    stage
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{detach, Stage, Upstream};
    use crate::data::{Field, FieldType, Schema};
    use crate::expr::Expr;
    use crate::pipeline::operator::FilterStage;

    fn filter(name: &str, from: Upstream) -> Stage {
        let schema = Schema::new(vec![Field::new("x", FieldType::F64)]).unwrap();
        let predicate = Expr::parse("x > 1", &schema).unwrap();
        let operator = FilterStage::new("x > 1".into(), predicate, schema.clone());
        let mut stage = Stage::new(name, Box::new(operator), Arc::clone(&schema));
        stage.from = from;
        stage
    }

    fn upstreams(stages: &[Stage]) -> Vec<(&str, Upstream)> {
        stages
            .iter()
            .map(|s| (s.name.as_str(), s.from.clone()))
            .collect()
    }

    /// a → b, and a branch c → d from the source that also feeds e from b:
    /// removing a stage hands its readers what it read.
    #[test]
    fn a_removed_stages_readers_read_what_it_read() {
        let stage = |name: &str| Upstream::Stage(name.to_string());
        let tree = || {
            vec![
                filter("a", Upstream::Previous),
                filter("b", Upstream::Previous),
                filter("c", Upstream::Source),
                filter("d", Upstream::Previous),
                filter("e", stage("b")),
            ]
        };
        let mut stages = tree();
        detach(&mut stages, 2);
        assert_eq!(
            upstreams(&stages),
            [
                ("a", Upstream::Previous),
                ("b", Upstream::Previous),
                ("d", Upstream::Source),
                ("e", stage("b")),
            ]
        );
        let mut stages = tree();
        detach(&mut stages, 1);
        assert_eq!(
            upstreams(&stages),
            [
                ("a", Upstream::Previous),
                ("c", Upstream::Source),
                ("d", Upstream::Previous),
                ("e", stage("a")),
            ]
        );
        let mut stages = tree();
        detach(&mut stages, 0);
        assert_eq!(upstreams(&stages)[0], ("b", Upstream::Previous));
    }
}
