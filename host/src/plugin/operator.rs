//! A plugin as a pipeline stage: checks its schema against the rows it will
//! see, and applies what it returns to each batch.

use std::path::Path;
use std::sync::Arc;

use super::codec::{decode_rows, encode_rows};
use super::engine::{PluginEngine, PluginLimits};
use super::error::PluginError;
use super::instance::{Descriptor, OperatorKind, PluginInstance};
use crate::data::{Batch, Column, Schema};

pub struct PluginOperator {
    instance: PluginInstance,
    /// Input columns the plugin reads, in the order it declared them.
    reads: Vec<usize>,
    output: Arc<Schema>,
    /// For each emitted field, its column in the output schema.
    emit_targets: Vec<usize>,
}

impl PluginOperator {
    /// Loads, checks and initialises a plugin that will receive rows of `input`.
    pub fn load(
        engine: &PluginEngine,
        path: &Path,
        config_json: &str,
        input: &Arc<Schema>,
        limits: PluginLimits,
    ) -> Result<Self, PluginError> {
        let component = engine.compile_file(path)?;
        let mut instance = PluginInstance::new(engine, &component, path, limits)?;
        let descriptor = instance.descriptor().clone();
        let reads = check_reads(&descriptor, input)?;
        let output = match descriptor.kind {
            OperatorKind::Filter => input.clone(),
            OperatorKind::Map | OperatorKind::FlatMap => input.merged_with(&descriptor.emits),
        };
        let emit_targets = descriptor
            .emits
            .iter()
            .map(|f| {
                output
                    .index_of(&f.name)
                    .expect("merged schema holds every emitted field")
            })
            .collect();
        instance.init(config_json)?;
        Ok(Self {
            instance,
            reads,
            output,
            emit_targets,
        })
    }

    pub fn descriptor(&self) -> &Descriptor {
        self.instance.descriptor()
    }

    pub fn output_schema(&self) -> &Arc<Schema> {
        &self.output
    }

    /// Runs one batch through the plugin: one component call.
    pub fn process(&mut self, batch: &Batch) -> Result<Batch, PluginError> {
        if batch.is_empty() {
            return Ok(Batch::empty(self.output.clone(), batch.end_watermark));
        }
        encode_rows(batch, &self.reads, self.instance.input_buffer());
        let output = self.instance.process(batch.len() as u32)?;
        let plugin = || self.descriptor().name.clone();
        let invalid = |reason: String| PluginError::Batch {
            plugin: plugin(),
            reason,
        };
        let parents = output.parents;
        if let Some(bad) = parents.iter().find(|&&p| p as usize >= batch.len()) {
            return Err(invalid(format!(
                "returned row index {bad}, but the batch has {} rows",
                batch.len()
            )));
        }
        if parents.windows(2).any(|w| w[0] > w[1]) {
            return Err(invalid("returned row indices out of order".into()));
        }
        let mut result = batch.gather(&parents);
        match self.descriptor().kind {
            OperatorKind::Filter => {}
            OperatorKind::Map if parents.len() != batch.len() => {
                return Err(invalid(format!(
                    "a map must emit one row per input row: {} in, {} out",
                    batch.len(),
                    parents.len()
                )));
            }
            OperatorKind::Map | OperatorKind::FlatMap => {
                let emitted = decode_rows(&self.descriptor().emits, parents.len(), &output.rows)
                    .map_err(invalid)?;
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
}

/// The input columns for each field the plugin reads, or why the plugin does not fit.
fn check_reads(descriptor: &Descriptor, input: &Schema) -> Result<Vec<usize>, PluginError> {
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
