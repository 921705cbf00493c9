//! `weir plugin test`: a plugin run over sample records, without a pipeline.
//! The records are decoded against the fields the plugin itself declares, so
//! an author can try a build on a few lines of NDJSON and see, line by line,
//! what it keeps, emits or fails on.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use super::{
    Descriptor, FailurePolicy, OperatorKind, PluginEngine, PluginError, PluginInstance,
    PluginLimits, PluginOperator,
};
use crate::data::{BatchBuilder, Field, FieldType, Schema};
use crate::format::json::{decode_record, JsonRow};
use crate::source::{LineSource, ReadOutcome};

/// What became of one input line.
#[derive(Debug, Clone, PartialEq)]
pub enum SampleOutcome {
    /// The rows the plugin produced from it, as JSON (a filter's kept row, a
    /// map's row with its emitted fields, a flat-map's zero or more rows).
    Rows(Vec<String>),
    /// The plugin failed on it (trap, error, limit).
    Failed(String),
    /// It does not decode against the fields the plugin reads.
    Undecodable(String),
}

pub struct SampleRun {
    pub descriptor: Descriptor,
    /// By line number; blank lines are skipped.
    pub lines: BTreeMap<u64, SampleOutcome>,
}

#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    #[error(transparent)]
    Plugin(#[from] PluginError),
    #[error("reading {path}: {error}")]
    Input { path: String, error: std::io::Error },
    #[error("the plugin declares fields that cannot form rows: {0}")]
    Schema(String),
    #[error("`{0}` is a keyed plugin: name the field that keys the records with --key-by")]
    NeedsKey(String),
}

/// Runs the component at `component`, initialised with `config_json`, over
/// the NDJSON lines of `input`, in one batch. A keyed plugin is keyed by the
/// string field `key_by`; its timers all fire at the end, as at the end of
/// a bounded input.
pub fn run_sample(
    engine: &PluginEngine,
    component: &Path,
    config_json: &str,
    input: &Path,
    key_by: Option<&str>,
) -> Result<SampleRun, SampleError> {
    let prepared = engine.prepare(component)?;
    let limits = PluginLimits::default();
    let descriptor = PluginInstance::new(&prepared, limits)?.descriptor().clone();
    if descriptor.kind == OperatorKind::Keyed && key_by.is_none() {
        return Err(SampleError::NeedsKey(descriptor.name));
    }
    let mut fields = descriptor.reads.clone();
    if let Some(key) = key_by.filter(|key| !fields.iter().any(|f| f.name == *key)) {
        fields.push(Field::new(key, FieldType::String));
    }
    let schema = Schema::new(fields).map_err(|e| SampleError::Schema(e.to_string()))?;
    let policy = FailurePolicy {
        quarantine_after: 0,
        ..FailurePolicy::default()
    };
    let mut operator = PluginOperator::new(prepared, config_json, &schema, limits, policy)?
        .keyed_by(key_by, &schema)?;

    let input_error = |error| SampleError::Input {
        path: input.display().to_string(),
        error,
    };
    let mut source = LineSource::open(input, 1 << 20).map_err(input_error)?;
    let mut builder = BatchBuilder::new(schema.clone(), 1024);
    let mut lines = BTreeMap::new();
    let mut line = Vec::new();
    loop {
        match source.read_line(&mut line).map_err(input_error)? {
            // A file opened without following never waits.
            ReadOutcome::Eof | ReadOutcome::Wait => break,
            ReadOutcome::Line if line.iter().all(u8::is_ascii_whitespace) => continue,
            ReadOutcome::TooLong(bytes) => {
                let reason = format!("{bytes} bytes, over the 1 MiB limit");
                lines.insert(source.line_number(), SampleOutcome::Undecodable(reason));
            }
            ReadOutcome::Line => match decode_record(&schema, builder.columns_mut(), &line) {
                Ok(()) => {
                    builder.commit_row(0, i64::MIN, source.line_number());
                    lines.insert(source.line_number(), SampleOutcome::Rows(Vec::new()));
                }
                Err(reason) => {
                    builder.rollback_row();
                    lines.insert(source.line_number(), SampleOutcome::Undecodable(reason));
                }
            },
        }
    }
    let batch = builder.take(if key_by.is_some() { i64::MAX } else { i64::MIN });
    let processed = operator.process(&batch);
    for failure in &processed.failures {
        let line = batch.position[failure.row as usize];
        lines.insert(line, SampleOutcome::Failed(failure.error.to_string()));
    }
    let out = &processed.batch;
    for row in 0..out.len() {
        let json = serde_json::to_string(&JsonRow::new(out.row(row)))
            .unwrap_or_else(|e| format!("<unprintable: {e}>"));
        if let Some(SampleOutcome::Rows(rows)) = lines.get_mut(&out.position[row]) {
            rows.push(json);
        }
    }
    Ok(SampleRun { descriptor, lines })
}

impl fmt::Display for SampleRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.descriptor)?;
        let (mut rows, mut dropped, mut failed, mut undecodable) = (0, 0, 0, 0);
        for (line, outcome) in &self.lines {
            match outcome {
                SampleOutcome::Rows(out) if out.is_empty() => {
                    dropped += 1;
                    writeln!(f, "line {line}: dropped")?;
                }
                SampleOutcome::Rows(out) => {
                    for row in out {
                        rows += 1;
                        writeln!(f, "line {line}: {row}")?;
                    }
                }
                SampleOutcome::Failed(reason) => {
                    failed += 1;
                    writeln!(f, "line {line}: FAILED: {reason}")?;
                }
                SampleOutcome::Undecodable(reason) => {
                    undecodable += 1;
                    writeln!(f, "line {line}: not decoded: {reason}")?;
                }
            }
        }
        write!(
            f,
            "{} lines: {rows} rows out, {dropped} dropped, {failed} failed, {undecodable} not decoded",
            self.lines.len()
        )
    }
}
