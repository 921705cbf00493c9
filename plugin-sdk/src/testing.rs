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

use crate::adapter::{Adapter, FilterAdapter, FlatMapAdapter, MapAdapter};
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
