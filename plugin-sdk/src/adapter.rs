//! Drives a plugin over one encoded batch: decode rows, run the author's logic,
//! encode the output. The same code runs in the component and in native tests.

use std::marker::PhantomData;

use bincode::Options;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::operator::{Emitter, Filter, FlatMap, Map};
use crate::schema::{fields_of, Field};

/// bincode as the host encodes rows: fixed-width integers, little-endian.
fn codec() -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .allow_trailing_bytes()
}

#[doc(hidden)]
pub enum Kind {
    Filter,
    Map,
    FlatMap,
}

#[doc(hidden)]
pub struct Descriptor {
    pub name: String,
    pub version: String,
    pub kind: Kind,
    pub reads: Vec<Field>,
    pub emits: Vec<Field>,
}

/// The bridge between the component's exports and an author's trait impl.
#[doc(hidden)]
pub trait Adapter: Sized {
    fn descriptor(name: &str, version: &str) -> Descriptor;
    fn init(config: &str) -> Result<Self, String>;
    /// Returns the parent index of each output row and the encoded emitted rows.
    fn process(&mut self, count: u32, rows: &[u8]) -> Result<(Vec<u32>, Vec<u8>), String>;
}

fn parse_config<C: DeserializeOwned>(config: &str) -> Result<C, String> {
    let config = if config.trim().is_empty() {
        "{}"
    } else {
        config
    };
    serde_json::from_str(config).map_err(|e| format!("invalid config: {e}"))
}

fn schema_of<T: for<'de> Deserialize<'de>>() -> Vec<Field> {
    // A row type that cannot be described is a bug in the plugin, not in the data;
    // surface it at load time through a field the host is sure to reject.
    fields_of::<T>().unwrap_or_else(|reason| {
        vec![Field {
            name: format!("<invalid row type: {reason}>"),
            ty: crate::FieldType::Bool,
        }]
    })
}

fn decode_rows<T: DeserializeOwned>(
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

fn encode_rows<T: Serialize>(rows: &[T]) -> Result<Vec<u8>, String> {
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
