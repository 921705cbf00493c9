//! The lookup join (enrichment): each row takes fields from the reference
//! table's row with its key — Flink's `JOIN … FOR SYSTEM_TIME AS OF` on a
//! processing-time attribute. A row whose key the table lacks is kept with
//! the fields' defaults (a left join) or dead-lettered, as configured. The
//! table is not state: it is read from its file, again when the file
//! changes, so a checkpoint holds nothing for it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::{Operator, OperatorContext};
use crate::data::{Batch, Field, KeyRef, Schema};
use crate::lookup::{LiveTable, LookupTable};
use crate::pipeline::stage::{StageError, StageStats};
use crate::pipeline::summary::Summary;
use crate::sink::DeadLetterKind;

/// What happens to a row whose key is not in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unmatched {
    /// Kept, with each added field's default (a left join).
    Keep,
    /// Dead-lettered with the key named (an inner join that loses nothing).
    DeadLetter,
}

pub struct LookupStage {
    live: Arc<LiveTable>,
    /// The table this instance joins with, and its version.
    table: Arc<LookupTable>,
    version: u64,
    /// The rows' key field.
    key: usize,
    unmatched: Unmatched,
    schema: Arc<Schema>,
    /// Rows whose key the table lacked, over every instance.
    missed: Arc<AtomicU64>,
}

/// The rows of `input` with `added` appended, keeping their identity:
/// what a lookup join gives. An added field may not have a row's name.
pub fn joined_schema(input: &Schema, added: &[Field]) -> Result<Arc<Schema>, String> {
    if let Some(field) = added.iter().find(|f| input.index_of(&f.name).is_some()) {
        return Err(format!(
            "the rows already have a field `{}`; a lookup adds fields, it does not replace them",
            field.name
        ));
    }
    let fields = input.fields().iter().chain(added).cloned().collect();
    Schema::with_identity(fields, input.identity().to_vec()).map_err(|e| e.to_string())
}

impl LookupStage {
    /// Rows of `input` join `live` on their field `key`; the output is the
    /// input with the table's fields appended, its identity kept.
    pub fn new(
        live: Arc<LiveTable>,
        input: &Schema,
        key: usize,
        unmatched: Unmatched,
    ) -> Result<Self, String> {
        let schema = joined_schema(input, &live.spec().fields)?;
        Ok(Self {
            table: live.current(),
            version: live.version(),
            live,
            key,
            unmatched,
            schema,
            missed: Arc::default(),
        })
    }

    /// Takes up a table read again since the last batch.
    fn refresh(&mut self) {
        let version = self.live.version();
        if version != self.version {
            self.table = self.live.current();
            self.version = version;
        }
    }

    /// What the join is, whatever the table holds now.
    fn join_text(&self) -> String {
        let spec = self.live.spec();
        let fields: Vec<String> = spec
            .fields
            .iter()
            .map(|f| format!("{}: {}", f.name, f.ty))
            .collect();
        format!(
            "lookup join on {} = {}.{} adding {}; unmatched rows {}",
            self.schema.fields()[self.key].name,
            spec.origin,
            spec.key,
            fields.join(", "),
            match self.unmatched {
                Unmatched::Keep => "kept with defaults",
                Unmatched::DeadLetter => "dead-lettered",
            }
        )
    }

    fn describe_key(&self, batch: &Batch, row: usize) -> String {
        let name = &batch.schema.fields()[self.key].name;
        match batch.columns[self.key].get(row) {
            crate::data::Value::String(s) => format!("{name} = {s:?}"),
            value => format!(
                "{name} = {}",
                crate::data::KeyRef::of(value).to_owned().text()
            ),
        }
    }
}

impl Operator for LookupStage {
    fn kind(&self) -> &'static str {
        "lookup"
    }

    fn describe(&self) -> String {
        format!("{} ({} rows)", self.join_text(), self.table.len())
    }

    fn output_schema(&self) -> &Arc<Schema> {
        &self.schema
    }

    fn process(
        &mut self,
        mut batch: Batch,
        cx: &mut OperatorContext<'_>,
    ) -> Result<Batch, StageError> {
        self.refresh();
        let keys = &batch.columns[self.key];
        let mut rows = Vec::with_capacity(batch.len());
        let mut missing = Vec::new();
        for row in 0..batch.len() {
            match self.table.find(KeyRef::of(keys.get(row))) {
                Some(at) => rows.push(at),
                None if self.unmatched == Unmatched::Keep => {
                    missing.push(row as u32);
                    rows.push(self.table.defaults_row());
                }
                None => missing.push(row as u32),
            }
        }
        self.missed
            .fetch_add(missing.len() as u64, Ordering::Relaxed);
        if self.unmatched == Unmatched::DeadLetter && !missing.is_empty() {
            let path = self.live.spec().origin.to_string();
            for &row in &missing {
                let reason = format!(
                    "stage `{}`: no row in {path} for {}",
                    cx.stage,
                    self.describe_key(&batch, row as usize)
                );
                cx.dead.send_row(
                    DeadLetterKind::Unmatched,
                    Some(cx.stage),
                    &reason,
                    cx.origin,
                    &batch,
                    row as usize,
                )?;
            }
            cx.stats
                .rows_failed
                .fetch_add(missing.len() as u64, Ordering::Relaxed);
            let kept: Vec<u32> = (0..batch.len() as u32)
                .filter(|row| missing.binary_search(row).is_err())
                .collect();
            batch = batch.gather(&kept);
        }
        batch.columns.extend(self.table.gather(&rows));
        batch.schema = self.schema.clone();
        Ok(batch)
    }

    fn fingerprint(&self) -> String {
        format!("lookup: {}", self.join_text())
    }

    no_state!();

    fn summarize(&self, _stage: &str, stats: Option<&StageStats>, summary: &mut Summary) {
        // The counters are shared by the instances: count them once.
        if stats.is_some() {
            summary.lookup_unmatched += self.missed.load(Ordering::Relaxed);
            summary.lookup_reloads += self.live.reloads.load(Ordering::Relaxed);
        }
    }

    fn replicate(&self, _input: &Arc<Schema>) -> Result<Box<dyn Operator>, String> {
        Ok(Box::new(Self {
            live: self.live.clone(),
            table: self.table.clone(),
            version: self.version,
            key: self.key,
            unmatched: self.unmatched,
            schema: self.schema.clone(),
            missed: self.missed.clone(),
        }))
    }
}
