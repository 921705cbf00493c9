//! `SET 'key' = 'value'`: what a pipeline file says in its top-level tables,
//! under Flink's configuration keys where Flink has one.

use std::path::PathBuf;

use sqlparser::ast;
use toml::Spanned;

use super::SqlError;
use crate::pipeline::config::{CheckpointConfig, DeadLetterConfig, Millis, SourceConfig};

/// The keys a script may SET, for the error that names a wrong one.
const KEYS: &str = "'execution.checkpointing.interval', 'state.checkpoints.dir', 'state.checkpoints.num-retained', 's3.endpoint', 's3.access-key', 's3.secret-key', 's3.path.style.access', 'weir.checkpoint.storage.<object_store key>', 'parallelism.default', 'pipeline.name', 'table.exec.source.idle-timeout', 'weir.dead-letter.path', 'weir.batch-size'";

#[derive(Default)]
pub struct Settings {
    checkpoint_interval: Option<Millis>,
    checkpoint_dir: Option<PathBuf>,
    checkpoints_kept: Option<usize>,
    /// The object store's settings, for checkpoints in one.
    checkpoint_storage: indexmap::IndexMap<String, String>,
    /// Where the first checkpoint key was set, for errors about them.
    checkpoint_span: Option<std::ops::Range<usize>>,
    pub parallelism: Option<Spanned<usize>>,
    pub name: Option<String>,
    idle_timeout: Option<Millis>,
    pub dead_letter: Option<DeadLetterConfig>,
    pub batch_size: Option<usize>,
}

impl Settings {
    pub fn set(
        &mut self,
        key: &str,
        value: &str,
        span: std::ops::Range<usize>,
    ) -> Result<(), SqlError> {
        let error = |message: String| SqlError {
            message,
            span: Some(span.clone()),
        };
        let duration = || {
            humantime::parse_duration(value)
                .map(|d| Millis(d.as_millis().min(i64::MAX as u128) as i64))
                .map_err(|e| {
                    error(format!(
                        "'{key}' = '{value}' is not a duration ({e}); write e.g. '10s'"
                    ))
                })
        };
        let count = || {
            value
                .parse::<usize>()
                .map_err(|_| error(format!("'{key}' = '{value}' is not a whole number")))
        };
        match key {
            "execution.checkpointing.interval" => self.checkpoint_interval = Some(duration()?),
            "state.checkpoints.dir" => self.checkpoint_dir = Some(PathBuf::from(value)),
            "state.checkpoints.num-retained" => self.checkpoints_kept = Some(count()?),
            "parallelism.default" => self.parallelism = Some(Spanned::new(span.clone(), count()?)),
            "pipeline.name" => self.name = Some(value.to_string()),
            "table.exec.source.idle-timeout" => self.idle_timeout = Some(duration()?),
            "weir.dead-letter.path" => {
                self.dead_letter = Some(DeadLetterConfig {
                    path: PathBuf::from(value),
                })
            }
            "weir.batch-size" => self.batch_size = Some(count()?),
            // Flink's names for its S3 file systems.
            "s3.endpoint" => self.storage("aws_endpoint", value),
            "s3.access-key" => self.storage("aws_access_key_id", value),
            "s3.secret-key" => self.storage("aws_secret_access_key", value),
            "s3.path.style.access" => {
                let path_style = value
                    .parse::<bool>()
                    .map_err(|_| error(format!("'{key}' = '{value}' is not true or false")))?;
                self.storage(
                    "aws_virtual_hosted_style_request",
                    &(!path_style).to_string(),
                )
            }
            other if other.starts_with("weir.checkpoint.storage.") => {
                self.storage(&other["weir.checkpoint.storage.".len()..], value)
            }
            other => {
                return Err(error(format!(
                    "SET '{other}' is not a setting weir knows; it knows {KEYS}"
                )))
            }
        }
        if key.starts_with("execution.checkpointing") || key.starts_with("state.checkpoints") {
            self.checkpoint_span.get_or_insert(span);
        } else if !self.checkpoint_storage.is_empty() && self.checkpoint_span.is_none() {
            // Storage alone turns checkpoints on: it says where they go.
            self.checkpoint_span.get_or_insert(span);
        }
        Ok(())
    }

    /// A `SET 'key' = 'value'` statement at `span`.
    pub fn apply(&mut self, set: &ast::Set, span: std::ops::Range<usize>) -> Result<(), SqlError> {
        let shape = || SqlError {
            message: "SET takes a key and one quoted value: SET 'key' = 'value'".into(),
            span: Some(span.clone()),
        };
        let ast::Set::SingleAssignment {
            variable, values, ..
        } = set
        else {
            return Err(shape());
        };
        let value = match values.as_slice() {
            [ast::Expr::Value(v)] => match &v.value {
                ast::Value::SingleQuotedString(s) | ast::Value::Number(s, _) => s.clone(),
                other => other.to_string(),
            },
            _ => return Err(shape()),
        };
        let key = variable
            .0
            .iter()
            .filter_map(|p| p.as_ident())
            .map(|i| i.value.clone())
            .collect::<Vec<_>>()
            .join(".");
        self.set(&key, &value, span)
    }

    fn storage(&mut self, key: &str, value: &str) {
        self.checkpoint_storage
            .insert(key.to_string(), value.to_string());
    }

    /// Checkpoints are on once any of their keys is set.
    pub fn checkpoint(&self) -> Option<Spanned<CheckpointConfig>> {
        let span = self.checkpoint_span.clone()?;
        Some(Spanned::new(
            span,
            CheckpointConfig {
                dir: self.checkpoint_dir.clone(),
                interval: self.checkpoint_interval,
                keep: self.checkpoints_kept,
                storage: (!self.checkpoint_storage.is_empty())
                    .then(|| self.checkpoint_storage.clone()),
            },
        ))
    }

    /// `table.exec.source.idle-timeout` is the Kafka source's `idle_timeout`.
    pub fn apply_to_source(&self, source: &mut SourceConfig) {
        if let (Some(idle), SourceConfig::Kafka(kafka)) = (self.idle_timeout, source) {
            kafka.idle_timeout = Some(idle);
        }
    }
}
