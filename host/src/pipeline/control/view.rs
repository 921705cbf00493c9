//! What the admin API shows of a running pipeline: a snapshot the operator
//! thread republishes when something in it changes, plus live counters.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;

use super::ChangeRecord;
use crate::data::Schema;
use crate::format::timestamp;
use crate::pipeline::stage::{Stage, StageStats};
use crate::plugin::PluginSettings;
use crate::sink::DeadLetterCounts;

#[derive(Debug, Clone, Serialize)]
pub struct PipelineView {
    pub pipeline: String,
    /// `running` or `finished`.
    pub state: &'static str,
    pub started_at: String,
    pub stages: Vec<StageView>,
    pub recent_changes: VecDeque<ChangeRecord>,
    /// The rows the first stage receives.
    #[serde(skip)]
    pub source_schema: Arc<Schema>,
    /// Changes by (action, outcome), since the start.
    #[serde(skip)]
    pub change_counts: BTreeMap<(&'static str, &'static str), u64>,
    #[serde(skip)]
    pub dead_letters: Option<Arc<DeadLetterCounts>>,
    #[serde(skip)]
    pub source: Option<Arc<crate::source::SourceStats>>,
    #[serde(skip)]
    pub checkpoints: Option<Arc<crate::state::CheckpointStats>>,
    #[serde(skip)]
    pub sink: Option<Arc<crate::sink::SinkStats>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StageView {
    pub name: String,
    /// `plugin`, `window` or `native`.
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin: Option<PluginView>,
    /// Whether `unload` would be accepted.
    pub removable: bool,
    pub added_at_run_time: bool,
    pub batches: u64,
    pub rows_in: u64,
    pub rows_out: u64,
    pub rows_failed: u64,
    #[serde(skip)]
    pub stats: Arc<StageStats>,
    #[serde(skip)]
    pub input: Arc<Schema>,
    #[serde(skip)]
    pub output: Arc<Schema>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PluginView {
    /// The name the plugin gives itself.
    pub name: String,
    pub version: String,
    /// `filter`, `map` or `flat-map`.
    pub kind: String,
    /// SHA-256 of the component.
    pub content_hash: String,
    pub component: String,
    pub loaded_at: String,
    /// Instances replaced after a trap.
    pub restarts: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quarantined: Option<String>,
    /// The version that was replaced, while the new one is on trial.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_trial: Option<TrialView>,
    #[serde(skip)]
    pub settings: PluginSettings,
}

#[derive(Debug, Clone, Serialize)]
pub struct TrialView {
    pub previous_version: String,
    pub previous_hash: String,
    pub batches_left: u32,
}

pub(super) fn stage_view(stage: &Stage) -> StageView {
    let plugin = stage.plugin().map(|stage_plugin| {
        let p = &stage_plugin.plugin;
        let descriptor = p.descriptor();
        PluginView {
            name: descriptor.name.clone(),
            version: descriptor.version.clone(),
            kind: descriptor.kind.to_string(),
            content_hash: p.prepared().content_hash.clone(),
            component: p.prepared().path.display().to_string(),
            loaded_at: rfc3339(stage.loaded_at),
            restarts: p.restarts,
            quarantined: p.quarantined().map(|e| e.to_string()),
            on_trial: stage_plugin.trial.as_ref().map(|t| TrialView {
                previous_version: t.previous.descriptor().version.clone(),
                previous_hash: t.previous.prepared().content_hash.clone(),
                batches_left: t.batches_left,
            }),
            settings: p.settings(),
        }
    });
    let kind = stage.operator.kind();
    StageView {
        name: stage.name.clone(),
        kind,
        plugin,
        removable: super::removable(stage),
        added_at_run_time: stage.added_at_run_time,
        batches: 0,
        rows_in: 0,
        rows_out: 0,
        rows_failed: 0,
        stats: stage.stats.clone(),
        input: stage.input.clone(),
        output: stage.output_schema().clone(),
    }
}

pub(super) fn rfc3339(at: SystemTime) -> String {
    let millis = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    timestamp::format(millis)
}

pub(super) fn now() -> String {
    rfc3339(SystemTime::now())
}
