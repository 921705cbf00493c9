//! Keyed plugins: the host keeps each key's state and timers, hands a batch's
//! keys their state with the rows, and stores what the plugin returns. A call
//! that fails changes nothing, so bisecting a failing batch keeps the state
//! of the rows that succeeded, in input order.

use std::sync::Arc;

use hashbrown::HashTable;

use super::bindings::weir::plugin::types;
use super::codec::{decode_rows, encode_rows};
use super::error::PluginError;
use super::instance::OperatorKind;
use super::operator::PluginOperator;
use crate::data::KeyRef;
use crate::data::{Batch, ColumnBuilder, Field, FieldType, Schema};
use crate::state::{KeyedState, Timer};
use crate::time::range;

pub(super) struct KeyedPart {
    pub field: Field,
    pub column: usize,
    pub state: KeyedState,
}

/// The distinct keys of some rows, in first-seen order, each hashed once:
/// with the state's hasher, so that the one hash finds the key in the
/// batch, its stored state, and the slot its new state goes to.
struct BatchKeys<'b> {
    /// Borrowed from the batch (or the due timers): a batch's keys cost no
    /// allocation unless they are new to the state.
    keys: Vec<KeyRef<'b>>,
    hashes: Vec<u64>,
    /// Indices into `keys`.
    index: HashTable<u32>,
}

impl<'b> BatchKeys<'b> {
    /// Room for `rows` keys, so that a batch never grows the index.
    fn with_capacity(rows: usize) -> Self {
        Self {
            keys: Vec::with_capacity(rows),
            hashes: Vec::with_capacity(rows),
            index: HashTable::with_capacity(rows),
        }
    }

    fn add(&mut self, key: KeyRef<'b>, state: &KeyedState) -> u32 {
        let hash = state.hash(&key);
        let keys = &self.keys;
        if let Some(&at) = self.index.find(hash, |&at| keys[at as usize] == key) {
            return at;
        }
        let at = self.keys.len() as u32;
        self.keys.push(key);
        self.hashes.push(hash);
        let hashes = &self.hashes;
        self.index
            .insert_unique(hash, at, |&at| hashes[at as usize]);
        at
    }
}

impl PluginOperator {
    /// Sets the key of a keyed operator (the stage's `key_by`); any other
    /// kind must have none.
    pub fn keyed_by(
        mut self,
        key_by: Option<&str>,
        input: &Arc<Schema>,
    ) -> Result<Self, PluginError> {
        let mismatch = |reason: String| PluginError::Schema {
            plugin: self.descriptor.name.clone(),
            reason,
        };
        let name = match (self.descriptor.kind, key_by) {
            (OperatorKind::Keyed, Some(name)) => name,
            (OperatorKind::Keyed, None) => {
                return Err(mismatch(
                    "it is a keyed operator: give its stage a `key_by` field".into(),
                ))
            }
            (kind, Some(_)) => {
                return Err(mismatch(format!(
                    "`key_by` is for keyed operators; this plugin is a {kind}"
                )))
            }
            (_, None) => return Ok(self),
        };
        let column = input.index_of(name).ok_or_else(|| {
            mismatch(format!(
                "key_by field `{name}` is not in the input; available: {input}"
            ))
        })?;
        let field = input.fields()[column].clone();
        if field.ty == FieldType::F64 {
            return Err(mismatch(format!(
                "key_by field `{name}` is an f64; floats make unreliable keys"
            )));
        }
        let mut fields = vec![field.clone()];
        fields.extend(self.descriptor.emits.iter().cloned());
        self.output = Schema::new(fields).map_err(|e| mismatch(format!("its output: {e}")))?;
        self.emit_targets = (1..=self.descriptor.emits.len()).collect();
        self.keyed = Some(KeyedPart {
            field,
            column,
            state: KeyedState::default(),
        });
        Ok(self)
    }

    /// The key field of a keyed operator.
    pub fn key_by(&self) -> Option<&str> {
        self.keyed.as_ref().map(|k| k.field.name.as_str())
    }

    pub fn keyed_state(&self) -> Option<&KeyedState> {
        self.keyed.as_ref().map(|k| &k.state)
    }

    /// Takes up `state`, stored by a plugin with state version `version`,
    /// migrating it if this plugin's version differs and it knows how.
    /// On failure the state comes back untouched with the reason.
    pub fn adopt_state(
        &mut self,
        version: u32,
        mut state: KeyedState,
    ) -> Result<(), (String, KeyedState)> {
        if self.keyed.is_none() {
            let reason = format!(
                "{} is not a keyed operator, and the stage keeps keyed state",
                self.descriptor.name
            );
            return Err((reason, state));
        }
        let ours = self.descriptor.state_version;
        if version != ours {
            if !self.descriptor.migrates_from.contains(&version) {
                let reason = format!(
                    "{} {} stores state version {ours} and cannot migrate the stage's state version {version} (it migrates from {:?}); keys with state: {}",
                    self.descriptor.name,
                    self.descriptor.version,
                    self.descriptor.migrates_from,
                    state.keys()
                );
                return Err((reason, state));
            }
            let old: Vec<Vec<u8>> = state.values_mut().map(|v| v.clone()).collect();
            let migrated = match self
                .instance()
                .and_then(|instance| instance.migrate_state(version, &old))
            {
                Ok(migrated) if migrated.len() == old.len() => migrated,
                Ok(migrated) => {
                    let reason = format!(
                        "migrating state from version {version}: {} states in, {} out",
                        old.len(),
                        migrated.len()
                    );
                    return Err((reason, state));
                }
                Err(e) => {
                    self.after_error(&e);
                    return Err((
                        format!("migrating state from version {version}: {e}"),
                        state,
                    ));
                }
            };
            for (slot, new) in state.values_mut().zip(migrated) {
                *slot = new;
            }
            tracing::info!(plugin = %self.descriptor.name, keys = state.keys(), "state migrated from version {version} to {ours}");
        }
        state.recount();
        if let Some(keyed) = &mut self.keyed {
            keyed.state = state;
        }
        Ok(())
    }

    /// Gives up the state, for the version replacing this one.
    pub fn take_state(&mut self) -> Option<(u32, KeyedState)> {
        let version = self.descriptor.state_version;
        self.keyed
            .as_mut()
            .map(|k| (version, std::mem::take(&mut k.state)))
    }

    /// One attempt at a keyed batch; on success the keys' state and timers
    /// are stored.
    pub(super) fn call_keyed(&mut self, batch: &Batch, share: f64) -> Result<Batch, PluginError> {
        let keyed = self.keyed.as_ref().expect("called for keyed operators");
        let key_column = keyed.column;
        let column = &batch.columns[key_column];
        let mut keys = BatchKeys::with_capacity(batch.len());
        let row_keys: Vec<u32> = (0..batch.len())
            .map(|row| keys.add(KeyRef::of(column.get(row)), &keyed.state))
            .collect();
        let mut rows = Vec::new();
        encode_rows(batch, &self.reads, &mut rows);
        let input = self.keyed_batch(
            types::Batch {
                count: batch.len() as u32,
                rows,
            },
            row_keys,
            &keys,
            Vec::new(),
        );
        let output = self.call_component(&input, share)?;
        let parents = &output.parents;
        self.check_parents(parents, batch.len())?;
        let emitted = decode_rows(&self.descriptor.emits, parents.len(), &output.rows)
            .map_err(|e| self.invalid(e))?;
        let mut result = batch.gather(parents);
        let keys_out = result.columns.swap_remove(key_column);
        result.schema = self.output.clone();
        result.columns = std::iter::once(keys_out).chain(emitted).collect();
        self.store(&keys, output);
        Ok(result)
    }

    /// Fires the timers `watermark` has passed. A call that fails is tried
    /// again in halves (on a fresh instance after a trap), as a failed batch
    /// of rows is, so one failing timer, or a limit the whole set exceeds,
    /// does not take the others with it; a timer that still fails alone is
    /// logged and dropped: there is no input row to dead-letter.
    pub(super) fn fire_timers(&mut self, watermark: i64) -> Option<Batch> {
        let keyed = self.keyed.as_mut().expect("called for keyed operators");
        let due = keyed.state.take_due(watermark);
        if due.is_empty() {
            return None;
        }
        let mut parts = Vec::new();
        let mut budget = self.policy.bisect_budget;
        self.fire_in_halves(&due, watermark, &mut budget, &mut parts);
        Some(Batch::concat(self.output.clone(), parts, watermark))
    }

    fn fire_in_halves(
        &mut self,
        due: &[Timer],
        watermark: i64,
        budget: &mut u32,
        parts: &mut Vec<Batch>,
    ) {
        let error = match self.fire(due, watermark) {
            Ok(fired) => return parts.push(fired),
            Err(error) => error,
        };
        if due.len() == 1 || *budget == 0 {
            let first = &due[0];
            tracing::error!(
                plugin = %self.descriptor.name,
                timers = due.len(),
                key = %first.key.text(),
                at = first.at,
                "timers dropped: {error}"
            );
            return;
        }
        *budget -= 1;
        tracing::warn!(plugin = %self.descriptor.name, timers = due.len(), "timers failed; firing them in halves: {error}");
        let (left, right) = due.split_at(due.len() / 2);
        self.fire_in_halves(left, watermark, budget, parts);
        self.fire_in_halves(right, watermark, budget, parts);
    }

    /// One attempt at firing `due`; on success the keys' state and timers
    /// are stored.
    fn fire(&mut self, due: &[Timer], watermark: i64) -> Result<Batch, PluginError> {
        let keyed = self.keyed.as_ref().expect("keyed");
        let key_type = keyed.field.ty;
        let mut keys = BatchKeys::with_capacity(due.len());
        let timers: Vec<types::Timer> = due
            .iter()
            .map(|t| types::Timer {
                key: keys.add(t.key.as_ref(), &keyed.state),
                at: t.at,
            })
            .collect();
        let input = self.keyed_batch(
            types::Batch {
                count: 0,
                rows: Vec::new(),
            },
            Vec::new(),
            &keys,
            timers,
        );
        let output = self.call_component(&input, 1.0)?;
        let parents = output.parents.clone();
        if let Some(bad) = parents.iter().find(|&&p| p as usize >= due.len()) {
            return Err(self.invalid(format!(
                "returned timer index {bad}, but {} timers fired",
                due.len()
            )));
        }
        let emitted = decode_rows(&self.descriptor.emits, parents.len(), &output.rows)
            .map_err(|e| self.invalid(e))?;
        self.store(&keys, output);
        let mut key_column = ColumnBuilder::new(key_type, parents.len());
        for &p in &parents {
            key_column.push(due[p as usize].key.value(key_type));
        }
        Ok(Batch {
            schema: self.output.clone(),
            columns: std::iter::once(key_column.finish())
                .chain(emitted)
                .collect(),
            event_time: parents.iter().map(|&p| due[p as usize].at).collect(),
            watermark: vec![watermark; parents.len()],
            position: vec![0; parents.len()],
            end_watermark: watermark,
        })
    }

    /// The call's input: the keys and their stored states, packed.
    fn keyed_batch(
        &self,
        rows: types::Batch,
        row_keys: Vec<u32>,
        keys: &BatchKeys<'_>,
        timers: Vec<types::Timer>,
    ) -> types::KeyedBatch {
        let stored = &self.keyed.as_ref().expect("keyed").state;
        let mut input = types::KeyedBatch {
            rows,
            row_keys,
            keys: String::new(),
            key_ends: Vec::with_capacity(keys.keys.len()),
            states: Vec::new(),
            state_lens: Vec::with_capacity(keys.keys.len()),
            timers,
        };
        for (key, &hash) in keys.keys.iter().zip(&keys.hashes) {
            match *key {
                KeyRef::Str(s) => input.keys.push_str(s),
                other => input.keys.push_str(&other.to_owned().text()),
            }
            input.key_ends.push(input.keys.len() as u32);
            match stored.get_hashed(hash, key) {
                Some(state) => {
                    input.states.extend_from_slice(state);
                    input.state_lens.push(state.len() as i32);
                }
                None => input.state_lens.push(-1),
            }
        }
        input
    }

    fn call_component(
        &mut self,
        input: &types::KeyedBatch,
        share: f64,
    ) -> Result<types::KeyedOutput, PluginError> {
        let result = self
            .instance()
            .and_then(|instance| instance.process_keyed(input, share));
        if let Err(error) = &result {
            self.after_error(error);
        }
        let output = result?;
        let size = output.parents.len() * 4
            + output.rows.len()
            + output.states.len()
            + output.timers.len() * std::mem::size_of::<types::Timer>();
        if size > self.limits.max_output_bytes {
            return Err(self.invalid(format!(
                "returned {size} bytes of rows and state, over the limit of {} bytes (max_output_mib)",
                self.limits.max_output_bytes
            )));
        }
        let keys = input.key_ends.len();
        let stated: i64 = output.state_lens.iter().map(|&l| i64::from(l.max(0))).sum();
        if output.changed.len() != output.state_lens.len()
            || stated != output.states.len() as i64
            || output.changed.iter().any(|&k| k as usize >= keys)
        {
            return Err(self.invalid(format!(
                "returned inconsistent state changes ({} keys changed, {} lengths, {} bytes) for {keys} keys",
                output.changed.len(),
                output.state_lens.len(),
                output.states.len()
            )));
        }
        if let Some(bad) = output.timers.iter().find(|t| t.key as usize >= keys) {
            return Err(self.invalid(format!("set a timer for key index {}", bad.key)));
        }
        if let Some(reason) = output
            .timers
            .iter()
            .find_map(|t| range::refuse_event_time(t.at))
        {
            return Err(self.invalid(format!("set a timer at an impossible time: {reason}")));
        }
        let pending = self.keyed.as_ref().map_or(0, |k| k.state.timers());
        if pending.saturating_add(output.timers.len()) > self.limits.max_timers {
            return Err(self.invalid(format!(
                "set {} timers with {pending} pending, over the limit of {} (max_timers)",
                output.timers.len(),
                self.limits.max_timers
            )));
        }
        Ok(output)
    }

    fn store(&mut self, keys: &BatchKeys<'_>, output: types::KeyedOutput) {
        let state = &mut self.keyed.as_mut().expect("keyed").state;
        for t in &output.timers {
            state.set_timer(Timer {
                at: t.at,
                key: keys.keys[t.key as usize].to_owned(),
            });
        }
        let mut start = 0;
        for (&index, &len) in output.changed.iter().zip(&output.state_lens) {
            let (key, hash) = (keys.keys[index as usize], keys.hashes[index as usize]);
            if len < 0 {
                state.forget(key);
                continue;
            }
            let end = start + len as usize;
            state.update_hashed(hash, key, &output.states[start..end]);
            start = end;
        }
    }
}
