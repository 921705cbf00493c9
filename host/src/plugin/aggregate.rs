//! An aggregate plugin as the window stage uses it: the plugin defines the
//! accumulator, the host stores one per (window, key) and calls the plugin
//! a batch of accumulators at a time.
//!
//! A failing aggregate cannot be contained the way a failing operator is:
//! the rows it was given are already inside accumulators, so no row can be
//! dead-lettered on its own. The first failure is kept and stops the
//! pipeline at the end of the batch, naming the plugin; a restart resumes
//! from the last checkpoint.

use std::path::Path;
use std::sync::{Arc, Mutex};

use super::bindings::weir::plugin::types;
use super::codec::{decode_rows, encode_rows_with_ends};
use super::engine::{PluginEngine, PluginLimits};
use super::error::PluginError;
use super::instance::{Descriptor, OperatorKind, PluginInstance};
use super::operator::check_reads;
use crate::data::{Batch, Column, Field, FieldType, Schema};

/// Rows of one batch encoded for an aggregate plugin, each row's bytes
/// findable by its index.
pub struct EncodedRows {
    bytes: Vec<u8>,
    ends: Vec<u32>,
}

impl EncodedRows {
    pub fn row(&self, row: usize) -> &[u8] {
        let start = if row == 0 { 0 } else { self.ends[row - 1] };
        &self.bytes[start as usize..self.ends[row] as usize]
    }
}

/// One accumulator as the host holds it: what the plugin last returned
/// (`None`: nothing yet) and the encoded rows added since.
pub struct Pending<'a> {
    pub state: Option<&'a [u8]>,
    pub rows: &'a [u8],
    pub count: u32,
}

pub struct AggregatePlugin {
    descriptor: Descriptor,
    /// Input columns, in the order the plugin reads them.
    reads: Vec<usize>,
    output: FieldType,
    /// What the window's fingerprint records: plugin, version and config.
    identity: String,
    instance: Mutex<Instance>,
}

struct Instance {
    instance: PluginInstance,
    failure: Option<PluginError>,
}

impl std::fmt::Debug for AggregatePlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.identity)
    }
}

impl PartialEq for AggregatePlugin {
    fn eq(&self, other: &Self) -> bool {
        self.identity == other.identity
    }
}

impl AggregatePlugin {
    /// Loads an aggregate plugin for rows of `input`. With `field`, the
    /// plugin's one read field is bound to that input field, whatever its
    /// name in the plugin.
    pub fn load(
        engine: &PluginEngine,
        path: &Path,
        config_json: &str,
        field: Option<&str>,
        input: &Schema,
        limits: PluginLimits,
    ) -> Result<Arc<Self>, PluginError> {
        let prepared = engine.prepare(path)?;
        let mut instance = PluginInstance::new(&prepared, limits)?;
        let descriptor = instance.descriptor().clone();
        let unfit = |reason: String| PluginError::Schema {
            plugin: descriptor.name.clone(),
            reason,
        };
        if descriptor.kind != OperatorKind::Aggregate {
            return Err(unfit(format!(
                "it is a {} operator, not an aggregate: put it in `[[operators]]`",
                descriptor.kind
            )));
        }
        let [result] = descriptor.emits.as_slice() else {
            return Err(unfit(format!(
                "an aggregate's result must have exactly one field; it declares {}",
                descriptor.emits.len()
            )));
        };
        let reads = match field {
            None => check_reads(&descriptor, input)?,
            Some(name) => {
                let [wanted] = descriptor.reads.as_slice() else {
                    return Err(unfit(format!(
                        "`field = \"{name}\"` binds one field, but it reads {}; leave `field` out to read them by name",
                        descriptor.reads.len()
                    )));
                };
                let index = input.index_of(name).ok_or_else(|| {
                    unfit(format!(
                        "`field = \"{name}\"` is not in the window's input; available: {input}"
                    ))
                })?;
                let have = input.fields()[index].ty;
                if have != wanted.ty {
                    return Err(unfit(format!(
                        "it reads a {} (`{}`), but `{name}` is a {have}",
                        wanted.ty, wanted.name
                    )));
                }
                vec![index]
            }
        };
        instance.init(config_json)?;
        let read_names: Vec<&str> = reads
            .iter()
            .map(|&i| input.fields()[i].name.as_str())
            .collect();
        let identity = format!(
            "{} {} reads={read_names:?} config={config_json}",
            descriptor.name, descriptor.version
        );
        Ok(Arc::new(Self {
            output: result.ty,
            descriptor,
            reads,
            identity,
            instance: Mutex::new(Instance {
                instance,
                failure: None,
            }),
        }))
    }

    pub fn output_type(&self) -> FieldType {
        self.output
    }

    /// Encodes the fields the plugin reads, every row of `batch`.
    pub fn encode(&self, batch: &Batch) -> EncodedRows {
        let mut bytes = Vec::new();
        let mut ends = Vec::with_capacity(batch.len());
        encode_rows_with_ends(batch, &self.reads, &mut bytes, |end| ends.push(end as u32));
        EncodedRows { bytes, ends }
    }

    /// The first failure since the last call, which stops the pipeline.
    pub fn take_failure(&self) -> Option<PluginError> {
        self.lock().failure.take()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Instance> {
        // A panic while holding the lock leaves nothing half-written that
        // the next call would misread: calls replace whole values.
        self.instance.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Folds pending rows into each accumulator; `None` after a failure
    /// (kept for [`take_failure`](Self::take_failure)).
    pub fn fold(&self, accumulators: &[Pending<'_>]) -> Option<Vec<Vec<u8>>> {
        let mut guard = self.lock();
        if guard.failure.is_some() {
            return None;
        }
        let result = fold(&mut guard.instance, accumulators);
        match result {
            Ok(states) => Some(states),
            Err(e) => {
                guard.failure = Some(e);
                None
            }
        }
    }

    /// Merges `from` into `into` (both folded states).
    pub fn merge(&self, into: &[u8], from: &[u8]) -> Option<Vec<u8>> {
        let mut guard = self.lock();
        if guard.failure.is_some() {
            return None;
        }
        let result = guard
            .instance
            .aggregate_merge(&pack([Some(into)]), &pack([Some(from)]))
            .and_then(|merged| unpack(&merged, 1, &self.descriptor.name).map(|mut v| v.remove(0)));
        match result {
            Ok(state) => Some(state),
            Err(e) => {
                guard.failure = Some(e);
                None
            }
        }
    }

    /// The result of each accumulator, as one column; `None` after a failure.
    pub fn results(&self, accumulators: &[Pending<'_>]) -> Option<Column> {
        let mut guard = self.lock();
        if guard.failure.is_some() {
            return None;
        }
        let name = self.descriptor.name.clone();
        let field = Field::new(&name, self.output);
        let result = fold(&mut guard.instance, accumulators).and_then(|states| {
            let batch = guard
                .instance
                .aggregate_result(&pack(states.iter().map(|s| Some(s.as_slice()))))?;
            if batch.count as usize != accumulators.len() {
                return Err(PluginError::Batch {
                    plugin: name.clone(),
                    reason: format!(
                        "{} results for {} accumulators",
                        batch.count,
                        accumulators.len()
                    ),
                });
            }
            decode_rows(&[field], accumulators.len(), &batch.rows)
                .map(|mut columns| columns.remove(0))
                .map_err(|reason| PluginError::Batch {
                    plugin: name.clone(),
                    reason,
                })
        });
        match result {
            Ok(column) => Some(column),
            Err(e) => {
                guard.failure = Some(e);
                None
            }
        }
    }
}

/// One `aggregate-add` call for all accumulators' pending rows; those with
/// none pending keep their state without a round trip.
fn fold(
    instance: &mut PluginInstance,
    accumulators: &[Pending<'_>],
) -> Result<Vec<Vec<u8>>, PluginError> {
    let plugin = instance.descriptor().name.clone();
    let mut row_accumulators = Vec::new();
    let rows = instance.input_buffer();
    rows.clear();
    for (index, accumulator) in accumulators.iter().enumerate() {
        rows.extend_from_slice(accumulator.rows);
        row_accumulators.extend(std::iter::repeat_n(
            index as u32,
            accumulator.count as usize,
        ));
    }
    let packed = pack(accumulators.iter().map(|a| a.state));
    let count = row_accumulators.len() as u32;
    let folded = instance.aggregate_add(&packed, count, &row_accumulators)?;
    unpack(&folded, accumulators.len(), &plugin)
}

fn pack<'a>(states: impl IntoIterator<Item = Option<&'a [u8]>>) -> types::Accumulators {
    let mut packed = types::Accumulators {
        states: Vec::new(),
        lens: Vec::new(),
    };
    for state in states {
        match state {
            Some(state) => {
                packed.states.extend_from_slice(state);
                packed.lens.push(state.len() as i32);
            }
            None => packed.lens.push(-1),
        }
    }
    packed
}

fn unpack(
    packed: &types::Accumulators,
    expected: usize,
    plugin: &str,
) -> Result<Vec<Vec<u8>>, PluginError> {
    let bad = |reason: String| PluginError::Batch {
        plugin: plugin.into(),
        reason,
    };
    if packed.lens.len() != expected {
        return Err(bad(format!(
            "returned {} accumulators for {expected}",
            packed.lens.len()
        )));
    }
    let mut start = 0usize;
    packed
        .lens
        .iter()
        .map(|&len| {
            let end = start + len.max(0) as usize;
            let state = packed
                .states
                .get(start..end)
                .ok_or_else(|| bad(format!("accumulator bounds {start}..{end} out of range")))?;
            start = end;
            Ok(state.to_vec())
        })
        .collect()
}
