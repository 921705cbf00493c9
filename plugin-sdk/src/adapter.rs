//! Drives a plugin over one encoded batch: decode rows, run the author's logic,
//! encode the output. The same code runs in the component and in native tests.

use std::marker::PhantomData;

use bincode::Options;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::keyed::{Context, Keyed};
use crate::operator::{Emitter, Filter, FlatMap, Map};
use crate::schema::{fields_of, Field};

/// bincode as the host encodes rows: fixed-width integers, little-endian.
pub(crate) fn codec() -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .allow_trailing_bytes()
}

#[doc(hidden)]
pub enum Kind {
    Filter,
    Map,
    FlatMap,
    Keyed,
    Aggregate,
}

#[doc(hidden)]
pub struct Descriptor {
    pub name: String,
    pub version: String,
    pub kind: Kind,
    pub reads: Vec<Field>,
    pub emits: Vec<Field>,
    pub state_version: u32,
    pub migrates_from: Vec<u32>,
}

/// A keyed batch as the component receives it (see the WIT `keyed-batch`).
#[doc(hidden)]
pub struct KeyedInput<'a> {
    pub count: u32,
    pub rows: &'a [u8],
    pub row_keys: &'a [u32],
    pub keys: &'a str,
    pub key_ends: &'a [u32],
    pub states: &'a [u8],
    pub state_lens: &'a [i32],
    /// (key index, time)
    pub timers: &'a [(u32, i64)],
}

impl KeyedInput<'_> {
    /// Each key's text, in order.
    fn keys(&self) -> Result<Vec<&str>, String> {
        let mut start = 0usize;
        self.key_ends
            .iter()
            .map(|&end| {
                let key = self
                    .keys
                    .get(start..end as usize)
                    .ok_or_else(|| format!("key bounds {start}..{end} out of range"))?;
                start = end as usize;
                Ok(key)
            })
            .collect()
    }

    /// Each key's stored state bytes, in order.
    fn states(&self) -> Result<Vec<Option<&[u8]>>, String> {
        unpack(self.states, self.state_lens, "state")
    }
}

/// Splits values packed back to back (keyed states, accumulators) by their
/// lengths; a length of -1 is `None` (nothing stored). `what` names them in errors.
pub(crate) fn unpack<'a>(
    packed: &'a [u8],
    lens: &[i32],
    what: &str,
) -> Result<Vec<Option<&'a [u8]>>, String> {
    let mut start = 0usize;
    lens.iter()
        .map(|&len| {
            if len < 0 {
                return Ok(None);
            }
            let end = start + len as usize;
            let value = packed
                .get(start..end)
                .ok_or_else(|| format!("{what} bounds {start}..{end} out of range"))?;
            start = end;
            Ok(Some(value))
        })
        .collect()
}

/// What a keyed operator returns (see the WIT `keyed-output`).
#[doc(hidden)]
#[derive(Debug, Default)]
pub struct KeyedOutput {
    pub parents: Vec<u32>,
    pub rows: Vec<u8>,
    /// Keys whose state changed, their new states back to back, and each
    /// one's length (-1: forgotten).
    pub changed: Vec<u32>,
    pub states: Vec<u8>,
    pub state_lens: Vec<i32>,
    pub timers: Vec<(u32, i64)>,
}

/// The bridge between the component's exports and an author's trait impl.
#[doc(hidden)]
pub trait Adapter: Sized {
    fn descriptor(name: &str, version: &str) -> Descriptor;
    fn init(config: &str) -> Result<Self, String>;
    /// Returns the parent index of each output row and the encoded emitted rows.
    fn process(&mut self, count: u32, rows: &[u8]) -> Result<(Vec<u32>, Vec<u8>), String>;
    /// Keyed operators only.
    fn process_keyed(&mut self, input: KeyedInput<'_>) -> Result<KeyedOutput, String> {
        let _ = input;
        Err("not a keyed operator".into())
    }
    /// Keyed operators only.
    fn migrate_state(from_version: u32, states: Vec<Vec<u8>>) -> Result<Vec<Vec<u8>>, String> {
        let _ = states;
        Err(format!("no migration from state version {from_version}"))
    }
    /// Aggregates only: adds rows to packed accumulators, returns them all.
    fn aggregate_add(
        &mut self,
        states: &[u8],
        lens: &[i32],
        count: u32,
        rows: &[u8],
        row_accumulators: &[u32],
    ) -> Result<(Vec<u8>, Vec<i32>), String> {
        let _ = (states, lens, count, rows, row_accumulators);
        Err("not an aggregate".into())
    }
    /// Aggregates only: merges `from[i]` into `into[i]`.
    fn aggregate_merge(
        &mut self,
        into: (&[u8], &[i32]),
        from: (&[u8], &[i32]),
    ) -> Result<(Vec<u8>, Vec<i32>), String> {
        let _ = (into, from);
        Err("not an aggregate".into())
    }
    /// Aggregates only: each accumulator's result row.
    fn aggregate_result(&mut self, states: &[u8], lens: &[i32]) -> Result<(u32, Vec<u8>), String> {
        let _ = (states, lens);
        Err("not an aggregate".into())
    }
}

pub(crate) fn parse_config<C: DeserializeOwned>(config: &str) -> Result<C, String> {
    let config = if config.trim().is_empty() {
        "{}"
    } else {
        config
    };
    serde_json::from_str(config).map_err(|e| format!("invalid config: {e}"))
}

pub(crate) fn schema_of<T: for<'de> Deserialize<'de>>() -> Vec<Field> {
    // A row type that cannot be described is a bug in the plugin, not in the data;
    // surface it at load time through a field the host is sure to reject.
    fields_of::<T>().unwrap_or_else(|reason| {
        vec![Field {
            name: format!("<invalid row type: {reason}>"),
            ty: crate::FieldType::Bool,
        }]
    })
}

pub(crate) fn decode_rows<T: DeserializeOwned>(
    count: u32,
    rows: &[u8],
    mut each: impl FnMut(u32, T),
) -> Result<(), String> {
    let mut de = bincode::Deserializer::from_slice(rows, codec());
    for index in 0..count {
        let row =
            T::deserialize(&mut de).map_err(|e| format!("cannot decode input row {index}: {e}"))?;
        each(index, row);
    }
    Ok(())
}

pub(crate) fn encode_rows<T: Serialize>(rows: &[T]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(rows.len() * 32);
    for row in rows {
        codec()
            .serialize_into(&mut out, row)
            .map_err(|e| format!("cannot encode output row: {e}"))?;
    }
    Ok(out)
}

#[doc(hidden)]
pub struct FilterAdapter<F>(F);

impl<F: Filter> Adapter for FilterAdapter<F>
where
    F::Row: for<'de> Deserialize<'de>,
{
    fn descriptor(name: &str, version: &str) -> Descriptor {
        Descriptor {
            name: name.into(),
            version: version.into(),
            kind: Kind::Filter,
            reads: schema_of::<F::Row>(),
            emits: Vec::new(),
            state_version: 0,
            migrates_from: Vec::new(),
        }
    }

    fn init(config: &str) -> Result<Self, String> {
        F::new(parse_config(config)?).map(FilterAdapter)
    }

    fn process(&mut self, count: u32, rows: &[u8]) -> Result<(Vec<u32>, Vec<u8>), String> {
        let mut kept = Vec::with_capacity(count as usize);
        decode_rows::<F::Row>(count, rows, |index, row| {
            if self.0.keep(&row) {
                kept.push(index);
            }
        })?;
        Ok((kept, Vec::new()))
    }
}

#[doc(hidden)]
pub struct MapAdapter<M>(M);

impl<M: Map> Adapter for MapAdapter<M>
where
    M::In: for<'de> Deserialize<'de>,
    M::Out: for<'de> Deserialize<'de>,
{
    fn descriptor(name: &str, version: &str) -> Descriptor {
        Descriptor {
            name: name.into(),
            version: version.into(),
            kind: Kind::Map,
            reads: schema_of::<M::In>(),
            emits: schema_of::<M::Out>(),
            state_version: 0,
            migrates_from: Vec::new(),
        }
    }

    fn init(config: &str) -> Result<Self, String> {
        M::new(parse_config(config)?).map(MapAdapter)
    }

    fn process(&mut self, count: u32, rows: &[u8]) -> Result<(Vec<u32>, Vec<u8>), String> {
        let mut out = Vec::with_capacity(count as usize);
        decode_rows::<M::In>(count, rows, |_, row| out.push(self.0.map(row)))?;
        Ok(((0..count).collect(), encode_rows(&out)?))
    }
}

#[doc(hidden)]
pub struct FlatMapAdapter<F>(F, PhantomData<()>);

impl<F: FlatMap> Adapter for FlatMapAdapter<F>
where
    F::In: for<'de> Deserialize<'de>,
    F::Out: for<'de> Deserialize<'de>,
{
    fn descriptor(name: &str, version: &str) -> Descriptor {
        Descriptor {
            name: name.into(),
            version: version.into(),
            kind: Kind::FlatMap,
            reads: schema_of::<F::In>(),
            emits: schema_of::<F::Out>(),
            state_version: 0,
            migrates_from: Vec::new(),
        }
    }

    fn init(config: &str) -> Result<Self, String> {
        F::new(parse_config(config)?).map(|f| FlatMapAdapter(f, PhantomData))
    }

    fn process(&mut self, count: u32, rows: &[u8]) -> Result<(Vec<u32>, Vec<u8>), String> {
        let mut parents = Vec::new();
        let mut out = Vec::new();
        decode_rows::<F::In>(count, rows, |index, row| {
            let before = out.len();
            self.0.flat_map(row, &mut Emitter { rows: &mut out });
            parents.extend(std::iter::repeat_n(index, out.len() - before));
        })?;
        Ok((parents, encode_rows(&out)?))
    }
}

#[doc(hidden)]
pub struct KeyedAdapter<K>(K);

type KeyedContext<'a, K> = Context<'a, <K as Keyed>::State, <K as Keyed>::Out>;

impl<K: Keyed> Adapter for KeyedAdapter<K>
where
    K::In: for<'de> Deserialize<'de>,
    K::Out: for<'de> Deserialize<'de>,
{
    fn descriptor(name: &str, version: &str) -> Descriptor {
        Descriptor {
            name: name.into(),
            version: version.into(),
            kind: Kind::Keyed,
            reads: schema_of::<K::In>(),
            emits: schema_of::<K::Out>(),
            state_version: K::STATE_VERSION,
            migrates_from: K::MIGRATES_FROM.to_vec(),
        }
    }

    fn init(config: &str) -> Result<Self, String> {
        K::new(parse_config(config)?).map(KeyedAdapter)
    }

    fn process(&mut self, _: u32, _: &[u8]) -> Result<(Vec<u32>, Vec<u8>), String> {
        Err("a keyed operator is called through process-keyed".into())
    }

    fn process_keyed(&mut self, input: KeyedInput<'_>) -> Result<KeyedOutput, String> {
        let keys = input.keys()?;
        let stored = input.states()?;
        if keys.len() != stored.len() || input.row_keys.len() != input.count as usize {
            return Err("keys, states and rows do not match".into());
        }
        let mut states: Vec<Option<K::State>> = stored
            .iter()
            .zip(&keys)
            .map(|(bytes, key)| {
                bytes
                    .map(crate::keyed::decode_state)
                    .transpose()
                    .map_err(|e| format!("key `{key}`: {e}"))
            })
            .collect::<Result<_, _>>()?;
        let mut output = KeyedOutput::default();
        let mut emitted = Vec::new();
        let mut timers = Vec::new();
        let key_of = |index: u32| -> Result<usize, String> {
            let index = index as usize;
            (index < keys.len())
                .then_some(index)
                .ok_or_else(|| format!("key index {index} out of range"))
        };
        let mut each = |parent: u32,
                        key: usize,
                        run: &mut dyn FnMut(&mut KeyedContext<'_, K>)|
         -> Result<(), String> {
            let before = emitted.len();
            let timers_before = timers.len();
            let mut ctx = Context {
                key: keys[key],
                state: &mut states[key],
                out: &mut emitted,
                timers: &mut timers,
            };
            run(&mut ctx);
            output
                .parents
                .extend(std::iter::repeat_n(parent, emitted.len() - before));
            output
                .timers
                .extend(timers.drain(timers_before..).map(|at| (key as u32, at)));
            Ok(())
        };
        let operator = &mut self.0;
        decode_rows::<K::In>(input.count, input.rows, |index, row| {
            let mut row = Some(row);
            // A bad key index is the host's bug; the row is dropped rather than misattributed.
            if let Ok(key) = key_of(input.row_keys[index as usize]) {
                let _ = each(index, key, &mut |ctx| {
                    if let Some(row) = row.take() {
                        operator.process(row, ctx);
                    }
                });
            }
        })?;
        for (i, &(key, at)) in input.timers.iter().enumerate() {
            let key = key_of(key)?;
            each(input.count + i as u32, key, &mut |ctx| {
                operator.on_timer(crate::Timestamp(at), ctx)
            })?;
        }
        output.rows = encode_rows(&emitted)?;
        // Only the states that changed go back: encoded in place, dropped
        // again when the bytes are the ones stored.
        for (index, (state, before)) in states.iter().zip(&stored).enumerate() {
            let start = output.states.len();
            let len = match state {
                Some(state) => {
                    codec()
                        .serialize_into(&mut output.states, state)
                        .map_err(|e| format!("cannot encode state: {e}"))?;
                    if Some(&output.states[start..]) == *before {
                        output.states.truncate(start);
                        continue;
                    }
                    (output.states.len() - start) as i32
                }
                None if before.is_none() => continue,
                None => -1,
            };
            output.changed.push(index as u32);
            output.state_lens.push(len);
        }
        Ok(output)
    }

    fn migrate_state(from_version: u32, states: Vec<Vec<u8>>) -> Result<Vec<Vec<u8>>, String> {
        if !K::MIGRATES_FROM.contains(&from_version) {
            return Err(format!(
                "state version {from_version} is not one this plugin migrates from ({:?})",
                K::MIGRATES_FROM
            ));
        }
        states
            .iter()
            .map(|old| {
                let state = K::migrate(from_version, old)?;
                codec()
                    .serialize(&state)
                    .map_err(|e| format!("cannot encode state: {e}"))
            })
            .collect()
    }
}
