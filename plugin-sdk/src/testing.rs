//! Run a plugin natively over typed rows through the same encode → process →
//! decode path the host uses, without Wasm and without a pipeline.
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use weir_plugin_sdk::{Map, NoConfig};
//!
//! #[derive(Serialize, Deserialize)]
//! struct F { temperature: f64 }
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! struct C { temperature_c: f64 }
//!
//! struct ToCelsius;
//! impl Map for ToCelsius {
//!     type Config = NoConfig;
//!     type In = F;
//!     type Out = C;
//!     fn new(_: NoConfig) -> Result<Self, String> { Ok(ToCelsius) }
//!     fn map(&mut self, row: F) -> C { C { temperature_c: (row.temperature - 32.0) * 5.0 / 9.0 } }
//! }
//!
//! let mut plugin = weir_plugin_sdk::testing::map::<ToCelsius>("{}").unwrap();
//! let out: Vec<(u32, C)> = plugin.run(&[F { temperature: 212.0 }]).unwrap();
//! assert_eq!(out, vec![(0, C { temperature_c: 100.0 })]);
//! ```

use std::marker::PhantomData;

use bincode::Options;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use std::collections::{BTreeMap, BTreeSet};

use crate::adapter::{
    unpack, Adapter, FilterAdapter, FlatMapAdapter, KeyedAdapter, KeyedInput, MapAdapter,
};
use crate::aggregate::{Aggregate, AggregateAdapter};
use crate::keyed::Keyed;
use crate::operator::{Filter, FlatMap, Map};

fn codec() -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .allow_trailing_bytes()
}

/// A [`Map`] or [`FlatMap`] instance driven natively.
pub struct Harness<A, In, Out> {
    adapter: A,
    _rows: PhantomData<(In, Out)>,
}

fn encode<T: Serialize>(rows: &[T]) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    for row in rows {
        codec()
            .serialize_into(&mut buf, row)
            .map_err(|e| e.to_string())?;
    }
    Ok(buf)
}

/// A [`Filter`] instance driven natively.
pub struct FilterHarness<F> {
    adapter: FilterAdapter<F>,
}

/// Initialises a [`Filter`] with a JSON configuration, as the host would.
pub fn filter<F: Filter>(config: &str) -> Result<FilterHarness<F>, String>
where
    F::Row: for<'de> Deserialize<'de>,
{
    Ok(FilterHarness {
        adapter: FilterAdapter::init(config)?,
    })
}

/// A [`Map`] driven natively.
pub type MapHarness<M> = Harness<MapAdapter<M>, <M as Map>::In, <M as Map>::Out>;

/// A [`FlatMap`] driven natively.
pub type FlatMapHarness<F> = Harness<FlatMapAdapter<F>, <F as FlatMap>::In, <F as FlatMap>::Out>;

/// Initialises a [`Map`] with a JSON configuration, as the host would.
pub fn map<M: Map>(config: &str) -> Result<MapHarness<M>, String>
where
    M::In: for<'de> Deserialize<'de>,
    M::Out: for<'de> Deserialize<'de>,
{
    Ok(Harness {
        adapter: MapAdapter::init(config)?,
        _rows: PhantomData,
    })
}

/// Initialises a [`FlatMap`] with a JSON configuration, as the host would.
pub fn flat_map<F: FlatMap>(config: &str) -> Result<FlatMapHarness<F>, String>
where
    F::In: for<'de> Deserialize<'de>,
    F::Out: for<'de> Deserialize<'de>,
{
    Ok(Harness {
        adapter: FlatMapAdapter::init(config)?,
        _rows: PhantomData,
    })
}

impl<F: Filter> FilterHarness<F>
where
    F::Row: Serialize + for<'de> Deserialize<'de>,
{
    /// Runs one batch; returns the indices of the kept rows.
    pub fn run(&mut self, rows: &[F::Row]) -> Result<Vec<u32>, String> {
        let (kept, _) = self.adapter.process(rows.len() as u32, &encode(rows)?)?;
        Ok(kept)
    }
}

impl<A: Adapter, In: Serialize, Out: DeserializeOwned> Harness<A, In, Out> {
    /// Runs one batch; returns each emitted row with the index of its input row.
    pub fn run(&mut self, rows: &[In]) -> Result<Vec<(u32, Out)>, String> {
        let (parents, encoded) = self.adapter.process(rows.len() as u32, &encode(rows)?)?;
        let mut de = bincode::Deserializer::from_slice(&encoded, codec());
        parents
            .into_iter()
            .map(|parent| {
                Out::deserialize(&mut de)
                    .map(|row| (parent, row))
                    .map_err(|e| e.to_string())
            })
            .collect()
    }
}

/// A [`Keyed`] operator driven natively, with the host's part played here:
/// state stored per key between batches, timers fired as the watermark moves.
pub struct KeyedHarness<K: Keyed> {
    adapter: KeyedAdapter<K>,
    states: BTreeMap<String, Vec<u8>>,
    timers: BTreeSet<(i64, String)>,
}

/// Initialises a [`Keyed`] operator with a JSON configuration, as the host would.
pub fn keyed<K: Keyed>(config: &str) -> Result<KeyedHarness<K>, String>
where
    K::In: for<'de> Deserialize<'de>,
    K::Out: for<'de> Deserialize<'de>,
{
    Ok(KeyedHarness {
        adapter: KeyedAdapter::init(config)?,
        states: BTreeMap::new(),
        timers: BTreeSet::new(),
    })
}

impl<K: Keyed> KeyedHarness<K>
where
    K::In: Serialize + for<'de> Deserialize<'de>,
    K::Out: for<'de> Deserialize<'de>,
{
    /// Runs one batch of `(key, row)`; returns `(key, output)` per emitted row.
    pub fn run(&mut self, rows: &[(&str, K::In)]) -> Result<Vec<(String, K::Out)>, String> {
        let mut keys: Vec<String> = Vec::new();
        let mut row_keys = Vec::new();
        for (key, _) in rows {
            let index = match keys.iter().position(|k| k == key) {
                Some(index) => index,
                None => {
                    keys.push(key.to_string());
                    keys.len() - 1
                }
            };
            row_keys.push(index as u32);
        }
        let encoded = encode(&rows.iter().map(|(_, row)| row).collect::<Vec<_>>())?;
        self.call(rows.len() as u32, &encoded, &row_keys, keys, &[])
    }

    /// Moves the watermark to `watermark`, firing the timers it passes.
    pub fn advance_watermark(&mut self, watermark: i64) -> Result<Vec<(String, K::Out)>, String> {
        let mut keys: Vec<String> = Vec::new();
        let mut timers = Vec::new();
        while let Some((at, key)) = self.timers.first().cloned() {
            if at > watermark {
                break;
            }
            self.timers.pop_first();
            let index = keys.iter().position(|k| *k == key).unwrap_or_else(|| {
                keys.push(key);
                keys.len() - 1
            });
            timers.push((index as u32, at));
        }
        self.call(0, &[], &[], keys, &timers)
    }

    /// The state stored for `key`.
    pub fn state(&self, key: &str) -> Option<K::State> {
        self.states
            .get(key)
            .and_then(|bytes| crate::decode_state(bytes).ok())
    }

    fn call(
        &mut self,
        count: u32,
        rows: &[u8],
        row_keys: &[u32],
        keys: Vec<String>,
        timers: &[(u32, i64)],
    ) -> Result<Vec<(String, K::Out)>, String> {
        let (mut packed_keys, mut key_ends) = (String::new(), Vec::new());
        let (mut states, mut state_lens) = (Vec::new(), Vec::new());
        for key in &keys {
            packed_keys.push_str(key);
            key_ends.push(packed_keys.len() as u32);
            match self.states.get(key) {
                Some(state) => {
                    states.extend_from_slice(state);
                    state_lens.push(state.len() as i32);
                }
                None => state_lens.push(-1),
            }
        }
        let out = self.adapter.process_keyed(KeyedInput {
            count,
            rows,
            row_keys,
            keys: &packed_keys,
            key_ends: &key_ends,
            states: &states,
            state_lens: &state_lens,
            timers,
        })?;
        let mut start = 0;
        for (&index, &len) in out.changed.iter().zip(&out.state_lens) {
            let key = keys[index as usize].clone();
            if len < 0 {
                self.states.remove(&key);
                continue;
            }
            let end = start + len as usize;
            self.states.insert(key, out.states[start..end].to_vec());
            start = end;
        }
        for (key, at) in out.timers {
            self.timers.insert((at, keys[key as usize].clone()));
        }
        let mut de = bincode::Deserializer::from_slice(&out.rows, codec());
        out.parents
            .iter()
            .map(|&parent| {
                let key = if parent < count {
                    keys[row_keys[parent as usize] as usize].clone()
                } else {
                    keys[timers[(parent - count) as usize].0 as usize].clone()
                };
                K::Out::deserialize(&mut de)
                    .map(|row| (key, row))
                    .map_err(|e| e.to_string())
            })
            .collect()
    }
}

/// An [`Aggregate`] driven natively through the packed accumulators the host
/// passes: rows added in a batch, accumulators merged as panes and sessions are.
pub struct AggregateHarness<A> {
    adapter: AggregateAdapter<A>,
}

/// Initialises an [`Aggregate`] with a JSON configuration, as the host would.
pub fn aggregate<A: Aggregate>(config: &str) -> Result<AggregateHarness<A>, String>
where
    A::In: for<'de> Deserialize<'de>,
    A::Out: for<'de> Deserialize<'de>,
{
    Ok(AggregateHarness {
        adapter: AggregateAdapter::init(config)?,
    })
}

impl<A: Aggregate> AggregateHarness<A>
where
    A::In: Serialize + for<'de> Deserialize<'de>,
    A::Out: for<'de> Deserialize<'de>,
{
    /// The result over `rows`, added to one new accumulator in one batch.
    pub fn over(&mut self, rows: &[A::In]) -> Result<A::Out, String> {
        self.merged(&[rows])
    }

    /// Adds each part to its own accumulator (all in one batch), merges them
    /// left to right, and returns the result: what a sliding window does
    /// with its panes. It must equal [`over`](Self::over) of all the rows.
    pub fn merged(&mut self, parts: &[&[A::In]]) -> Result<A::Out, String> {
        let rows: Vec<&A::In> = parts.iter().flat_map(|p| p.iter()).collect();
        let row_accumulators: Vec<u32> = parts
            .iter()
            .enumerate()
            .flat_map(|(i, p)| std::iter::repeat_n(i as u32, p.len()))
            .collect();
        let fresh = vec![-1; parts.len().max(1)];
        let (states, lens) = self.adapter.aggregate_add(
            &[],
            &fresh,
            rows.len() as u32,
            &encode(&rows)?,
            &row_accumulators,
        )?;
        let packed = unpack(&states, &lens, "accumulator")?;
        let (mut into, mut into_lens) = (packed[0].unwrap_or_default().to_vec(), vec![lens[0]]);
        for part in &packed[1..] {
            let part = part.unwrap_or_default();
            (into, into_lens) = self
                .adapter
                .aggregate_merge((&into, &into_lens), (part, &[part.len() as i32]))?;
        }
        let (count, rows) = self.adapter.aggregate_result(&into, &into_lens)?;
        if count != 1 {
            return Err(format!("one accumulator gave {count} results"));
        }
        A::Out::deserialize(&mut bincode::Deserializer::from_slice(&rows, codec()))
            .map_err(|e| e.to_string())
    }
}
