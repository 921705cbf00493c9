//! Aggregate plugins: user-defined window aggregates (percentiles, sketches,
//! weighted means) that the host runs in any window kind.
//!
//! The host keeps one accumulator per (window, key), stores it and
//! checkpoints it; the plugin only says how to create, add to, merge and
//! read one. Merge is what lets the host combine the panes of a sliding
//! window and join sessions, so it must agree with adding the rows one by
//! one. The host adds rows in batches and may merge in any order, so the
//! result must not depend on the order rows arrive in.

use bincode::Options;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::adapter::{
    codec, decode_rows, encode_rows, parse_config, schema_of, unpack, Adapter, Descriptor, Kind,
};

/// A window aggregate, used in a pipeline as
/// `aggregates = { p95 = { plugin = "percentile.wasm", field = "temperature" } }`.
pub trait Aggregate: Sized {
    /// The plugin's configuration.
    type Config: DeserializeOwned;
    /// The fields this aggregate reads. A plugin that reads one field can be
    /// pointed at any input field of that type with the pipeline's `field`.
    type In: DeserializeOwned;
    /// The running state of one (window, key), stored by the host (bincode).
    /// Keep it bounded: the host holds one per open window and key.
    type Accumulator: Serialize + DeserializeOwned;
    /// The result: a struct with exactly one field, whose type is the
    /// window output column's type (the pipeline names the column).
    type Out: Serialize + DeserializeOwned;

    /// Builds the aggregate from its configuration.
    fn new(config: Self::Config) -> Result<Self, String>;

    /// An accumulator that has seen no rows.
    fn create(&self) -> Self::Accumulator;

    /// Adds one row.
    fn add(&self, accumulator: &mut Self::Accumulator, row: Self::In);

    /// Adds everything `other` has seen to `accumulator`.
    fn merge(&self, accumulator: &mut Self::Accumulator, other: Self::Accumulator);

    /// The result for the rows the accumulator has seen (at least one).
    fn result(&self, accumulator: &Self::Accumulator) -> Self::Out;
}

#[doc(hidden)]
pub struct AggregateAdapter<A>(A);

impl<A: Aggregate> AggregateAdapter<A> {
    fn decode(&self, states: &[u8], lens: &[i32]) -> Result<Vec<A::Accumulator>, String> {
        unpack(states, lens, "accumulator")?
            .into_iter()
            .enumerate()
            .map(|(i, bytes)| match bytes {
                None => Ok(self.0.create()),
                Some(bytes) => codec()
                    .deserialize(bytes)
                    .map_err(|e| format!("cannot decode accumulator {i}: {e}")),
            })
            .collect()
    }
}

fn pack<T: Serialize>(accumulators: &[T]) -> Result<(Vec<u8>, Vec<i32>), String> {
    let mut states = Vec::new();
    let mut lens = Vec::with_capacity(accumulators.len());
    for accumulator in accumulators {
        let start = states.len();
        codec()
            .serialize_into(&mut states, accumulator)
            .map_err(|e| format!("cannot encode accumulator: {e}"))?;
        lens.push((states.len() - start) as i32);
    }
    Ok((states, lens))
}

impl<A: Aggregate> Adapter for AggregateAdapter<A>
where
    A::In: for<'de> Deserialize<'de>,
    A::Out: for<'de> Deserialize<'de>,
{
    fn descriptor(name: &str, version: &str) -> Descriptor {
        Descriptor {
            name: name.into(),
            version: version.into(),
            kind: Kind::Aggregate,
            reads: schema_of::<A::In>(),
            emits: schema_of::<A::Out>(),
            state_version: 0,
            migrates_from: Vec::new(),
        }
    }

    fn init(config: &str) -> Result<Self, String> {
        A::new(parse_config(config)?).map(AggregateAdapter)
    }

    fn process(&mut self, _: u32, _: &[u8]) -> Result<(Vec<u32>, Vec<u8>), String> {
        Err("an aggregate is called through aggregate-add".into())
    }

    fn aggregate_add(
        &mut self,
        states: &[u8],
        lens: &[i32],
        count: u32,
        rows: &[u8],
        row_accumulators: &[u32],
    ) -> Result<(Vec<u8>, Vec<i32>), String> {
        let mut accumulators = self.decode(states, lens)?;
        if row_accumulators.len() != count as usize {
            return Err(format!(
                "{count} rows but {} accumulator indices",
                row_accumulators.len()
            ));
        }
        let mut bad = None;
        decode_rows::<A::In>(count, rows, |index, row| {
            match accumulators.get_mut(row_accumulators[index as usize] as usize) {
                Some(accumulator) => self.0.add(accumulator, row),
                None => bad = Some(index),
            }
        })?;
        if let Some(index) = bad {
            return Err(format!("row {index}: accumulator index out of range"));
        }
        pack(&accumulators)
    }

    fn aggregate_merge(
        &mut self,
        into: (&[u8], &[i32]),
        from: (&[u8], &[i32]),
    ) -> Result<(Vec<u8>, Vec<i32>), String> {
        let mut into = self.decode(into.0, into.1)?;
        let from = self.decode(from.0, from.1)?;
        if into.len() != from.len() {
            return Err(format!(
                "merging {} accumulators into {}",
                from.len(),
                into.len()
            ));
        }
        for (into, from) in into.iter_mut().zip(from) {
            self.0.merge(into, from);
        }
        pack(&into)
    }

    fn aggregate_result(&mut self, states: &[u8], lens: &[i32]) -> Result<(u32, Vec<u8>), String> {
        let accumulators = self.decode(states, lens)?;
        let results: Vec<A::Out> = accumulators.iter().map(|a| self.0.result(a)).collect();
        Ok((results.len() as u32, encode_rows(&results)?))
    }
}
