//! The accumulator of an aggregate plugin, as the window holds it.
//!
//! Rows are added host-side, as bytes appended to a pending buffer; the
//! plugin folds them in only when the buffer grows past a bound, when two
//! folded states must merge, or when the window emits (a batch of results
//! at a time, see `ResultLayout::finish`). A window key that sees a few
//! rows thus costs no plugin call until its result is due, and one that
//! sees many costs one call per `FOLD_AFTER_BYTES` of rows.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::plugin::{AggregatePlugin, Pending};

/// Pending rows past this many bytes are folded into the state.
const FOLD_AFTER_BYTES: usize = 16 << 10;

#[derive(Clone, Serialize, Deserialize)]
pub struct PluginAccumulator {
    /// Set when the window is built or restored (`ResultLayout::attach`).
    #[serde(skip)]
    plugin: Option<Arc<AggregatePlugin>>,
    /// What the plugin last returned; `None` before its first fold.
    state: Option<Vec<u8>>,
    /// Rows (the plugin's read fields, encoded) not folded in yet.
    pending: Vec<u8>,
    pending_rows: u32,
}

impl PluginAccumulator {
    pub fn new(plugin: Arc<AggregatePlugin>) -> Self {
        Self {
            plugin: Some(plugin),
            state: None,
            pending: Vec::new(),
            pending_rows: 0,
        }
    }

    pub fn attach(&mut self, plugin: &Arc<AggregatePlugin>) {
        self.plugin = Some(plugin.clone());
    }

    fn plugin(&self) -> &AggregatePlugin {
        self.plugin
            .as_deref()
            .expect("plugin accumulators are attached when built or restored")
    }

    pub fn pending(&self) -> Pending<'_> {
        Pending {
            state: self.state.as_deref(),
            rows: &self.pending,
            count: self.pending_rows,
        }
    }

    #[inline]
    pub fn add(&mut self, row: &[u8]) {
        self.pending.extend_from_slice(row);
        self.pending_rows += 1;
        if self.pending.len() >= FOLD_AFTER_BYTES {
            self.fold();
        }
    }

    fn fold(&mut self) {
        // On failure the rows stay pending; the plugin keeps the failure,
        // which stops the pipeline at the end of the batch.
        if let Some(mut folded) = self.plugin().fold(&[self.pending()]) {
            self.state = folded.pop();
            self.pending.clear();
            self.pending_rows = 0;
        }
    }

    /// Adds what `other` holds. Folded states merge in the plugin; pending
    /// rows are carried over as they are.
    pub fn merge(&mut self, other: &PluginAccumulator) {
        match (&self.state, &other.state) {
            (_, None) => {}
            (None, Some(theirs)) => self.state = Some(theirs.clone()),
            (Some(ours), Some(theirs)) => {
                if let Some(merged) = self.plugin().merge(ours, theirs) {
                    self.state = Some(merged);
                }
            }
        }
        self.pending.extend_from_slice(&other.pending);
        self.pending_rows += other.pending_rows;
        if self.pending.len() >= FOLD_AFTER_BYTES {
            self.fold();
        }
    }
}

impl PartialEq for PluginAccumulator {
    fn eq(&self, other: &Self) -> bool {
        (&self.state, &self.pending, self.pending_rows)
            == (&other.state, &other.pending, other.pending_rows)
    }
}

impl std::fmt::Debug for PluginAccumulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginAccumulator")
            .field("state_bytes", &self.state.as_ref().map(Vec::len))
            .field("pending_rows", &self.pending_rows)
            .finish()
    }
}
