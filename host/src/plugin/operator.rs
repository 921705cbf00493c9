//! A plugin as a pipeline stage: checks its schema against the rows it will
//! see, applies what it returns to each batch, and contains its failures.
//!
//! When a batch fails, the batch is bisected until the failing rows are
//! isolated: the other rows of the batch continue, only the rows the plugin
//! really fails on are reported. A trapped instance is replaced by a fresh one
//! before the next call. Each retry gets the share of the batch's CPU budget
//! that its rows are of the batch, so a row that loops forever costs about one
//! budget in all, not one per bisection step. After `quarantine_after`
//! consecutive failing batches the plugin is quarantined: it is not called
//! again and every row that reaches it is reported as failed.

use std::sync::Arc;

use super::codec::{decode_rows, encode_rows};
use super::engine::{PluginEngine, PluginLimits, PreparedPlugin};
use super::error::PluginError;
use super::instance::{Descriptor, OperatorKind, PluginInstance};
use super::keyed::KeyedPart;
use crate::data::{Batch, Column, Schema};
use crate::state::PluginVersion;

/// How a plugin's failures are contained.
#[derive(Debug, Clone, Copy)]
pub struct FailurePolicy {
    /// Consecutive failing batches before the plugin is quarantined (0: never).
    pub quarantine_after: u32,
    /// Failed calls allowed while bisecting one batch; past it, the rows not yet
    /// isolated fail together. Bounds the cost of a plugin that fails on everything.
    pub bisect_budget: u32,
}

impl Default for FailurePolicy {
    fn default() -> Self {
        Self {
            quarantine_after: 5,
            bisect_budget: 64,
        }
    }
}

/// How a plugin stage is configured, whichever component version runs in it.
#[derive(Debug, Clone)]
pub struct PluginSettings {
    pub config_json: String,
    /// The key field of a keyed operator.
    pub key_by: Option<String>,
    pub limits: PluginLimits,
    pub policy: FailurePolicy,
}

/// The rows of one input batch that the plugin failed on, with why.
#[derive(Debug)]
pub struct RowFailure {
    /// Index into the input batch.
    pub row: u32,
    pub error: PluginError,
}

pub struct Processed {
    pub batch: Batch,
    pub failures: Vec<RowFailure>,
}

pub struct PluginOperator {
    prepared: PreparedPlugin,
    config_json: String,
    pub(super) limits: PluginLimits,
    pub(super) policy: FailurePolicy,
    /// `None` after a trap, until the next call needs one.
    instance: Option<PluginInstance>,
    pub(super) descriptor: Descriptor,
    /// Input columns the plugin reads, in the order it declared them.
    pub(super) reads: Vec<usize>,
    pub(super) output: Arc<Schema>,
    /// For each emitted field, its column in the output schema.
    pub(super) emit_targets: Vec<usize>,
    consecutive_failures: u32,
    quarantined: Option<PluginError>,
    /// Instances created after a trap.
    pub restarts: u64,
    /// For keyed operators: the key and the state the host keeps for them.
    pub(super) keyed: Option<KeyedPart>,
}

impl PluginOperator {
    /// Loads, checks and initialises a plugin that will receive rows of `input`.
    pub fn load(
        engine: &PluginEngine,
        path: &std::path::Path,
        config_json: &str,
        input: &Arc<Schema>,
        limits: PluginLimits,
        policy: FailurePolicy,
    ) -> Result<Self, PluginError> {
        Self::new(engine.prepare(path)?, config_json, input, limits, policy)
    }

    /// Checks and initialises an already compiled plugin (see [`load`](Self::load)).
    pub fn new(
        prepared: PreparedPlugin,
        config_json: &str,
        input: &Arc<Schema>,
        limits: PluginLimits,
        policy: FailurePolicy,
    ) -> Result<Self, PluginError> {
        let mut instance = PluginInstance::new(&prepared, limits)?;
        let descriptor = instance.descriptor().clone();
        if descriptor.kind == OperatorKind::Aggregate {
            return Err(PluginError::Schema {
                plugin: descriptor.name.clone(),
                reason: "it is an aggregate: use it in a window's `aggregates`, e.g. `p95 = { plugin = \"…\", field = \"temperature\" }`, not as an operator".into(),
            });
        }
        let reads = check_reads(&descriptor, input)?;
        let (output, emit_targets) = match descriptor.kind {
            OperatorKind::Filter => (input.clone(), Vec::new()),
            OperatorKind::Map | OperatorKind::FlatMap => {
                let output = input.merged_with(&descriptor.emits);
                let positions: std::collections::HashMap<&str, usize> = output
                    .fields()
                    .iter()
                    .enumerate()
                    .map(|(i, f)| (f.name.as_str(), i))
                    .collect();
                let targets = descriptor
                    .emits
                    .iter()
                    .map(|f| positions[f.name.as_str()])
                    .collect();
                (output, targets)
            }
            // Set by `keyed_by`, which knows the key field.
            OperatorKind::Keyed => (input.clone(), Vec::new()),
            OperatorKind::Aggregate => unreachable!("refused above"),
        };
        instance.init(config_json)?;
        Ok(Self {
            prepared,
            config_json: config_json.into(),
            limits,
            policy,
            instance: Some(instance),
            descriptor,
            reads,
            output,
            emit_targets,
            consecutive_failures: 0,
            quarantined: None,
            restarts: 0,
            keyed: None,
        })
    }

    pub fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }

    /// Which component this is, for checkpoints.
    pub fn version(&self) -> PluginVersion {
        PluginVersion {
            name: self.descriptor.name.clone(),
            version: self.descriptor.version.clone(),
            hash: self.prepared.content_hash.clone(),
        }
    }

    /// The component this operator runs.
    pub fn prepared(&self) -> &PreparedPlugin {
        &self.prepared
    }

    /// A new instance of the same component with the same settings and no
    /// state: another parallel instance of its stage.
    pub fn replicate(&self, input: &Arc<Schema>) -> Result<Self, PluginError> {
        Self::new(
            self.prepared.clone(),
            &self.config_json,
            input,
            self.limits,
            self.policy,
        )?
        .keyed_by(self.key_by(), input)
    }

    /// What a replacement for this operator is built with: the same config,
    /// limits and failure policy.
    pub fn settings(&self) -> PluginSettings {
        PluginSettings {
            config_json: self.config_json.clone(),
            key_by: self.key_by().map(str::to_string),
            limits: self.limits,
            policy: self.policy,
        }
    }

    pub fn output_schema(&self) -> &Arc<Schema> {
        &self.output
    }

    /// Why the plugin was quarantined, if it was.
    pub fn quarantined(&self) -> Option<&PluginError> {
        self.quarantined.as_ref()
    }

    /// Runs one batch: the rows the plugin processed, and the rows it failed
    /// on; then, for a keyed operator, the timers the batch's watermark passed.
    pub fn process(&mut self, batch: &Batch) -> Processed {
        let mut processed = self.process_rows(batch);
        if self.keyed.is_some() && self.quarantined.is_none() {
            if let Some(fired) = self.fire_timers(batch.end_watermark) {
                let rows = std::mem::replace(
                    &mut processed.batch,
                    Batch::empty(self.output.clone(), batch.end_watermark),
                );
                processed.batch =
                    Batch::concat(self.output.clone(), vec![rows, fired], batch.end_watermark);
            }
        }
        processed
    }

    fn process_rows(&mut self, batch: &Batch) -> Processed {
        if batch.is_empty() {
            return Processed {
                batch: Batch::empty(self.output.clone(), batch.end_watermark),
                failures: Vec::new(),
            };
        }
        if let Some(error) = &self.quarantined {
            let failures = (0..batch.len() as u32)
                .map(|row| RowFailure {
                    row,
                    error: error.clone(),
                })
                .collect();
            return Processed {
                batch: Batch::empty(self.output.clone(), batch.end_watermark),
                failures,
            };
        }
        let error = match self.call(batch, 1.0) {
            Ok(out) => {
                self.consecutive_failures = 0;
                return Processed {
                    batch: out,
                    failures: Vec::new(),
                };
            }
            Err(error) => error,
        };
        let mut parts = Vec::new();
        let mut failures = Vec::new();
        let rows: Vec<u32> = (0..batch.len() as u32).collect();
        let mut budget = self.policy.bisect_budget;
        self.bisect(
            batch,
            &rows,
            error.clone(),
            &mut budget,
            &mut parts,
            &mut failures,
        );
        let batch_out = Batch::concat(self.output.clone(), parts, batch.end_watermark);
        if failures.is_empty() {
            // Failed whole, succeeded in parts (a limit the whole batch exceeds,
            // such as the output cap): nothing to report against any row.
            tracing::warn!(
                plugin = %self.descriptor.name,
                rows = batch.len(),
                "batch failed whole but succeeded when split: {error}"
            );
            return Processed {
                batch: batch_out,
                failures,
            };
        }
        tracing::warn!(
            plugin = %self.descriptor.name,
            rows = batch.len(),
            failed = failures.len(),
            "batch failed; isolated the failing rows: {}",
            failures[0].error
        );
        self.consecutive_failures += 1;
        if self.policy.quarantine_after > 0
            && self.consecutive_failures >= self.policy.quarantine_after
        {
            let reason = format!(
                "quarantined after {} consecutive failing batches; the last failure: {}",
                self.consecutive_failures, failures[0].error
            );
            tracing::error!(plugin = %self.descriptor.name, "{reason}");
            self.quarantined = Some(PluginError::Batch {
                plugin: self.descriptor.name.clone(),
                reason,
            });
        }
        Processed {
            batch: batch_out,
            failures,
        }
    }

    /// Narrows a failure on `rows` (indices into `batch`) down to single rows.
    /// Successful halves are appended to `parts` in input order.
    fn bisect(
        &mut self,
        batch: &Batch,
        rows: &[u32],
        error: PluginError,
        budget: &mut u32,
        parts: &mut Vec<Batch>,
        failures: &mut Vec<RowFailure>,
    ) {
        if rows.len() == 1 || *budget == 0 {
            failures.extend(rows.iter().map(|&row| RowFailure {
                row,
                error: error.clone(),
            }));
            return;
        }
        let (left, right) = rows.split_at(rows.len() / 2);
        for half in [left, right] {
            let sub = batch.gather(half);
            match self.call(&sub, half.len() as f64 / batch.len() as f64) {
                Ok(out) => parts.push(out),
                Err(error) => {
                    *budget = budget.saturating_sub(1);
                    self.bisect(batch, half, error, budget, parts, failures);
                }
            }
        }
    }

    /// The live instance, or a fresh one after a trap.
    pub(super) fn instance(&mut self) -> Result<&mut PluginInstance, PluginError> {
        if self.instance.is_none() {
            let mut fresh = PluginInstance::new(&self.prepared, self.limits)?;
            fresh.init(&self.config_json)?;
            self.restarts += 1;
            self.instance = Some(fresh);
        }
        Ok(self.instance.as_mut().expect("set just above"))
    }

    /// Drops the instance after a trap: it is unusable.
    pub(super) fn after_error(&mut self, error: &PluginError) {
        if matches!(error, PluginError::Trap { .. }) {
            self.instance = None;
        }
    }

    /// One attempt at `batch` with `share` of the CPU budget.
    fn call(&mut self, batch: &Batch, share: f64) -> Result<Batch, PluginError> {
        if self.keyed.is_some() {
            return self.call_keyed(batch, share);
        }
        self.instance()?;
        let instance = self.instance.as_mut().expect("made just above");
        encode_rows(batch, &self.reads, instance.input_buffer());
        let output = match instance.process(batch.len() as u32, share) {
            Ok(output) => output,
            Err(error) => {
                self.after_error(&error);
                return Err(error);
            }
        };
        let parents = output.parents;
        let size = parents.len() * 4 + output.rows.len();
        if size > self.limits.max_output_bytes {
            return Err(self.invalid(format!(
                "emitted {size} bytes for a batch of {} rows, over the limit of {} bytes (max_output_mib)",
                batch.len(),
                self.limits.max_output_bytes
            )));
        }
        self.check_parents(&parents, batch.len())?;
        let mut result = batch.gather(&parents);
        match self.descriptor.kind {
            OperatorKind::Filter => {}
            OperatorKind::Map if parents.len() != batch.len() => {
                return Err(self.invalid(format!(
                    "a map must emit one row per input row: {} in, {} out",
                    batch.len(),
                    parents.len()
                )));
            }
            OperatorKind::Keyed => unreachable!("keyed operators are called through call_keyed"),
            OperatorKind::Aggregate => unreachable!("aggregates are refused as operators on load"),
            OperatorKind::Map | OperatorKind::FlatMap => {
                let emitted = decode_rows(&self.descriptor.emits, parents.len(), &output.rows)
                    .map_err(|e| self.invalid(e))?;
                result.schema = self.output.clone();
                result
                    .columns
                    .resize(self.output.len(), Column::Bool(Vec::new()));
                for (column, &target) in emitted.into_iter().zip(&self.emit_targets) {
                    result.columns[target] = column;
                }
            }
        }
        Ok(result)
    }

    /// What the plugin returned does not make sense: its batch fails.
    pub(super) fn invalid(&self, reason: String) -> PluginError {
        PluginError::Batch {
            plugin: self.descriptor.name.clone(),
            reason,
        }
    }

    /// Output rows must name input rows of the batch: a filter or a map each
    /// at most once and in order (strictly ascending), a flat-map or keyed
    /// plugin in order and at most `max_fan_out` rows per input row.
    pub(super) fn check_parents(&self, parents: &[u32], rows: usize) -> Result<(), PluginError> {
        if let Some(bad) = parents.iter().find(|&&p| p as usize >= rows) {
            return Err(self.invalid(format!(
                "returned row index {bad}, but the batch has {rows} rows"
            )));
        }
        let once_each = matches!(
            self.descriptor.kind,
            OperatorKind::Filter | OperatorKind::Map
        );
        if let Some(pair) = parents
            .windows(2)
            .find(|w| w[0] > w[1] || (once_each && w[0] == w[1]))
        {
            let what = if pair[0] == pair[1] {
                format!(
                    "returned row index {} twice; a {} passes each row on at most once",
                    pair[0], self.descriptor.kind
                )
            } else {
                format!(
                    "returned row indices out of order ({} before {})",
                    pair[0], pair[1]
                )
            };
            return Err(self.invalid(what));
        }
        let most = rows.saturating_mul(self.limits.max_fan_out);
        if parents.len() > most {
            return Err(self.invalid(format!(
                "emitted {} rows for a batch of {rows}, over the limit of {} per input row (max_fan_out)",
                parents.len(),
                self.limits.max_fan_out
            )));
        }
        Ok(())
    }
}

/// The input columns for each field the plugin reads, or why the plugin does not fit.
pub(super) fn check_reads(
    descriptor: &Descriptor,
    input: &Schema,
) -> Result<Vec<usize>, PluginError> {
    let mismatch = |reason: String| PluginError::Schema {
        plugin: descriptor.name.clone(),
        reason,
    };
    if let Some(field) = descriptor
        .reads
        .iter()
        .chain(&descriptor.emits)
        .find(|f| f.name.starts_with("<invalid"))
    {
        return Err(mismatch(field.name.clone()));
    }
    descriptor
        .reads
        .iter()
        .map(|wanted| match input.index_of(&wanted.name) {
            None => Err(mismatch(format!(
                "it reads field `{}` ({}), which the pipeline does not have at this point; available: {input}",
                wanted.name, wanted.ty
            ))),
            Some(i) if input.fields()[i].ty != wanted.ty => Err(mismatch(format!(
                "it reads field `{}` as {}, but the pipeline has it as {}",
                wanted.name,
                wanted.ty,
                input.fields()[i].ty
            ))),
            Some(i) => Ok(i),
        })
        .collect()
}
