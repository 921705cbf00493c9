//! Plugin changes as the admin API, the CLI and the directory watcher ask for
//! them: everything slow and everything that can fail (reading, compiling,
//! checking the schema, `init`) is done here, before the pipeline is asked
//! to switch.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use crate::data::Schema;
use crate::pipeline::control::PipelineStopped;
use crate::pipeline::{Change, ChangeEvent, Controller, OnFailure, PluginStage, Stage, StageView};
use crate::plugin::{
    FailurePolicy, PluginEngine, PluginError, PluginLimits, PluginOperator, PreparedPlugin,
};

/// Where a new plugin version comes from.
pub enum Component {
    /// A file under one of the host's plugin directories.
    Path(PathBuf),
    /// Uploaded bytes; `label` names them in listings.
    Bytes { bytes: Vec<u8>, label: String },
}

/// The result of a change that went through.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeReport {
    pub stage: String,
    /// `swapped`, `unchanged`, `on-trial`, `loaded` or `unloaded`.
    pub outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_hash: Option<String>,
    /// How long the operator thread paused to switch, in microseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pause_us: Option<u64>,
    /// For a swap: the rows the stage had received when the new version
    /// took over (it processes every row after them, the old one every row
    /// before; after a rollback, `weir plugin list` shows where the old one
    /// took over again).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_row: Option<u64>,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("there is no stage named `{0}`")]
    NoStage(String),
    #[error("stage `{0}` is a {1}, not a plugin")]
    NotPlugin(String, &'static str),
    #[error("{path} is not inside a plugin directory of this host ({allowed}); copy it there, or upload it")]
    OutsideDirectories { path: String, allowed: String },
    #[error("cannot use {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("{0}")]
    Plugin(#[from] PluginError),
    #[error("{0}")]
    Incompatible(String),
    #[error("rolled back to the previous version: {0}")]
    RolledBack(String),
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Stopped(#[from] PipelineStopped),
    /// Waited [`CHANGE_WAIT`] for another change or for the operators.
    #[error("{0}")]
    Busy(String),
}

/// How long a change waits for the one before it, and for the operators to
/// take it, before the request is answered.
pub const CHANGE_WAIT: Duration = Duration::from_secs(30);

/// A request to add a stage.
pub struct LoadRequest {
    pub component: Component,
    /// Defaults to the plugin's own name.
    pub name: Option<String>,
    /// The stage it goes after; `None` puts it first.
    pub after: Option<String>,
    /// Passed to the plugin's `init`.
    pub config_json: String,
    pub on_failure: OnFailure,
}

pub struct Admin {
    controller: Controller,
    engine: Arc<PluginEngine>,
    /// Canonical paths of the directories components may be loaded from.
    plugin_dirs: Vec<PathBuf>,
    trial_batches: u32,
    /// How long a swap waits for its trial's verdict before answering
    /// `on-trial` (the stream may be idle).
    trial_wait: Duration,
    /// One change at a time, so each is checked against the pipeline as it is.
    serial: Mutex<()>,
}

impl Admin {
    pub fn new(
        controller: Controller,
        engine: Arc<PluginEngine>,
        plugin_dirs: &[PathBuf],
        trial_batches: u32,
        trial_wait: Duration,
    ) -> std::io::Result<Self> {
        let plugin_dirs = plugin_dirs
            .iter()
            .map(|dir| {
                dir.canonicalize().map_err(|e| {
                    std::io::Error::new(
                        e.kind(),
                        format!("plugin directory {}: {e}", dir.display()),
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            controller,
            engine,
            plugin_dirs,
            trial_batches,
            trial_wait,
            serial: Mutex::new(()),
        })
    }

    /// Changes are made one at a time; one waiting longer than
    /// [`CHANGE_WAIT`] for the one before is refused, not left hanging.
    fn one_at_a_time(&self) -> Result<std::sync::MutexGuard<'_, ()>, ChangeError> {
        let deadline = std::time::Instant::now() + CHANGE_WAIT;
        loop {
            match self.serial.try_lock() {
                Ok(guard) => return Ok(guard),
                Err(std::sync::TryLockError::Poisoned(poisoned)) => {
                    return Ok(poisoned.into_inner())
                }
                Err(std::sync::TryLockError::WouldBlock)
                    if std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(std::sync::TryLockError::WouldBlock) => {
                    return Err(ChangeError::Busy(format!(
                        "another change has been in progress for over {} s; try again when it ends",
                        CHANGE_WAIT.as_secs()
                    )))
                }
            }
        }
    }

    pub fn controller(&self) -> &Controller {
        &self.controller
    }

    pub fn plugin_dirs(&self) -> &[PathBuf] {
        &self.plugin_dirs
    }

    /// Replaces the plugin of `stage` by `component`, tried on the next
    /// batches and rolled back if it fails rows the old version did not.
    /// `config_json` replaces the stage's config; `None` keeps it.
    pub fn swap(
        &self,
        stage: &str,
        component: Component,
        config_json: Option<String>,
    ) -> Result<ChangeReport, ChangeError> {
        let _serial = self.one_at_a_time()?;
        let view = self.stage(stage)?;
        let Some(current) = &view.plugin else {
            return Err(ChangeError::NotPlugin(stage.into(), view.kind));
        };
        let prepared = self.prepare(component)?;
        let mut settings = current.settings.clone();
        let config_changed = config_json
            .as_ref()
            .is_some_and(|c| *c != settings.config_json);
        if let Some(config) = config_json {
            settings.config_json = config;
        }
        if prepared.content_hash == current.content_hash && !config_changed {
            return Ok(ChangeReport {
                stage: stage.into(),
                outcome: "unchanged",
                version: Some(current.version.clone()),
                content_hash: Some(current.content_hash.clone()),
                pause_us: None,
                at_row: None,
                message: "the component and config are the ones already running".into(),
            });
        }
        let operator = PluginOperator::new(
            prepared,
            &settings.config_json,
            &view.input,
            settings.limits,
            settings.policy,
        )?
        .keyed_by(settings.key_by.as_deref(), &view.input)?;
        if operator.output_schema() != &view.output {
            return Err(ChangeError::Incompatible(format!(
                "the new version would change the rows the next stages receive: it outputs {}, the stage outputs {}",
                operator.output_schema(),
                view.output
            )));
        }
        let (version, hash) = (
            operator.descriptor().version.clone(),
            operator.prepared().content_hash.clone(),
        );
        // A keyed stage's state moves to the new version, possibly migrated,
        // and cannot move back: no trial (see `Controller::swap`).
        let trial_batches = match settings.key_by {
            Some(_) => 0,
            None => self.trial_batches,
        };
        let events = self.controller.submit(Change::Swap {
            stage: stage.into(),
            operator: Box::new(operator),
            trial_batches,
        })?;
        let (pause, at_row) = applied(&events)?;
        let report = |outcome, message: String| ChangeReport {
            stage: stage.into(),
            outcome,
            version: Some(version.clone()),
            content_hash: Some(hash.clone()),
            pause_us: Some(pause.as_micros() as u64),
            at_row,
            message,
        };
        if trial_batches == 0 {
            return Ok(report("swapped", "swapped".into()));
        }
        match events.recv_timeout(self.trial_wait) {
            Ok(ChangeEvent::Kept) => Ok(report(
                "swapped",
                format!(
                    "swapped; the new version passed its trial of {} batches",
                    self.trial_batches
                ),
            )),
            Ok(ChangeEvent::RolledBack(reason)) => Err(ChangeError::RolledBack(reason)),
            Ok(ChangeEvent::Refused(reason)) => Err(ChangeError::Refused(reason)),
            Ok(ChangeEvent::Applied { .. }) => unreachable!("a change is applied once"),
            Err(_) => Ok(report(
                "on-trial",
                format!(
                    "serving, on trial until it has run {} batches (no verdict after {:?}; `weir plugin list` shows it)",
                    self.trial_batches, self.trial_wait
                ),
            )),
        }
    }

    /// Adds a plugin stage. It must pass rows on with the fields it finds,
    /// since the stages after it were checked against them.
    pub fn load(&self, request: LoadRequest) -> Result<ChangeReport, ChangeError> {
        let _serial = self.one_at_a_time()?;
        let pipeline = self.controller.view();
        let input: Arc<Schema> = match &request.after {
            None => pipeline.source_schema.clone(),
            Some(after) => pipeline
                .stages
                .iter()
                .find(|s| &s.name == after)
                .map(|s| s.output.clone())
                .ok_or_else(|| ChangeError::NoStage(after.clone()))?,
        };
        let prepared = self.prepare(request.component)?;
        let operator = PluginOperator::new(
            prepared,
            &request.config_json,
            &input,
            PluginLimits::default(),
            FailurePolicy::default(),
        )?
        .keyed_by(None, &input)?;
        if operator.output_schema() != &input {
            return Err(ChangeError::Incompatible(format!(
                "a plugin loaded into a running pipeline must pass rows on with the fields it receives ({input}), \
                 because the stages after it were checked against them; `{}` outputs {}",
                operator.descriptor().name,
                operator.output_schema()
            )));
        }
        let name = request
            .name
            .unwrap_or_else(|| operator.descriptor().name.clone());
        let (version, hash) = (
            operator.descriptor().version.clone(),
            operator.prepared().content_hash.clone(),
        );
        let stage = Stage::new(
            name.clone(),
            Box::new(PluginStage::new(Box::new(operator), request.on_failure)),
            input,
        );
        let events = self.controller.submit(Change::Insert {
            after: request.after.clone(),
            stage: Box::new(stage),
        })?;
        let (pause, _) = applied(&events)?;
        let place = match &request.after {
            Some(after) => format!("after `{after}`"),
            None => "first".into(),
        };
        Ok(ChangeReport {
            stage: name,
            outcome: "loaded",
            version: Some(version),
            content_hash: Some(hash),
            pause_us: Some(pause.as_micros() as u64),
            at_row: None,
            message: format!("loaded {place}"),
        })
    }

    pub fn unload(&self, stage: &str) -> Result<ChangeReport, ChangeError> {
        let _serial = self.one_at_a_time()?;
        self.stage(stage)?;
        let events = self.controller.submit(Change::Remove {
            stage: stage.into(),
        })?;
        let (pause, _) = applied(&events)?;
        Ok(ChangeReport {
            stage: stage.into(),
            outcome: "unloaded",
            version: None,
            content_hash: None,
            pause_us: Some(pause.as_micros() as u64),
            at_row: None,
            message: "unloaded; rows now flow past it".into(),
        })
    }

    fn stage(&self, name: &str) -> Result<StageView, ChangeError> {
        self.controller
            .view()
            .stages
            .into_iter()
            .find(|s| s.name == name)
            .ok_or_else(|| ChangeError::NoStage(name.into()))
    }

    fn prepare(&self, component: Component) -> Result<PreparedPlugin, ChangeError> {
        match component {
            Component::Path(path) => {
                let path = self.confine(&path)?;
                Ok(self.engine.prepare(&path)?)
            }
            Component::Bytes { bytes, label } => {
                Ok(self.engine.prepare_bytes(&bytes, Path::new(&label))?)
            }
        }
    }

    /// The canonical form of `path` if it lies inside a plugin directory;
    /// relative paths are taken from the first one. Symbolic links are
    /// resolved first, so a link cannot lead outside.
    pub fn confine(&self, path: &Path) -> Result<PathBuf, ChangeError> {
        let joined = match (path.is_relative(), self.plugin_dirs.first()) {
            (true, Some(dir)) => dir.join(path),
            _ => path.to_path_buf(),
        };
        // Errors name the path as asked, shortened, never where a link
        // leads: the answer must not map the host's files.
        let asked = crate::redact::shortened(&path.display().to_string(), 200);
        let canonical = joined.canonicalize().map_err(|e| ChangeError::Unreadable {
            path: asked.clone(),
            reason: e.to_string(),
        })?;
        if self
            .plugin_dirs
            .iter()
            .any(|dir| canonical.starts_with(dir))
        {
            Ok(canonical)
        } else {
            Err(ChangeError::OutsideDirectories {
                path: asked,
                allowed: if self.plugin_dirs.is_empty() {
                    "none configured".into()
                } else {
                    self.plugin_dirs
                        .iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            })
        }
    }
}

/// The first event of a change: how long it paused the pipeline, and for a
/// swap the row where the new version took over; or why it was refused.
fn applied(
    events: &crossbeam_channel::Receiver<ChangeEvent>,
) -> Result<(Duration, Option<u64>), ChangeError> {
    match events.recv_timeout(CHANGE_WAIT) {
        Ok(ChangeEvent::Applied { pause, at_row }) => Ok((pause, at_row)),
        Err(crossbeam_channel::RecvTimeoutError::Timeout) => Err(ChangeError::Busy(format!(
            "the pipeline did not take the change within {} s: its operators are busy with a batch (a plugin may be stuck until its deadline). The change is still queued and is applied when they get to it",
            CHANGE_WAIT.as_secs()
        ))),
        Ok(ChangeEvent::Refused(reason)) => Err(ChangeError::Refused(reason)),
        Ok(other) => unreachable!("a change is applied or refused first, got {other:?}"),
        Err(crossbeam_channel::RecvTimeoutError::Disconnected) => Err(PipelineStopped.into()),
    }
}
