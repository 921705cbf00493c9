//! # weir plugin SDK
//!
//! Write stream operators for [weir](https://example.invalid/weir) in plain Rust and
//! build them into sandboxed WebAssembly components.
//!
//! A plugin is a type that implements one of five traits:
//!
//! * [`Filter`] — keep or drop each row;
//! * [`Map`] — turn each row into exactly one output row;
//! * [`FlatMap`] — turn each row into zero or more output rows (alerts, splitters);
//! * [`Keyed`] — remember a typed state per key and set event-time timers
//!   (detectors such as "hot for more than 5 s"); the host stores the state,
//!   checkpoints it and carries it across swaps. Export it with
//!   [`export_keyed!`] and test it with [`testing::keyed`].
//! * [`Aggregate`] — a window aggregate (a percentile, a sketch): create,
//!   add, merge and read an accumulator the host keeps per window and key.
//!   Export it with [`export_aggregate!`] and test it with [`testing::aggregate`].
//!
//! The rows a plugin reads are an ordinary `#[derive(Deserialize)]` struct. The SDK
//! derives the plugin's declared schema from that struct, and the host checks it
//! against the pipeline when the plugin is loaded, so a misspelled field or a wrong
//! type is an error at load time, not garbage at run time. Rows cross the Wasm
//! boundary a batch at a time, bincode-encoded in one buffer.
//!
//! Field types map as follows: `String` ↔ `string`, `f64` ↔ `f64`, `i64` ↔ `i64`,
//! `bool` ↔ `bool`, [`Timestamp`] ↔ `timestamp`.
//!
//! ## A complete filter
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use weir_plugin_sdk::Filter;
//!
//! #[derive(Serialize, Deserialize)]
//! struct Reading {
//!     temperature: f64,
//! }
//!
//! #[derive(Deserialize)]
//! struct Config {
//!     threshold: f64,
//! }
//!
//! struct OverThreshold {
//!     threshold: f64,
//! }
//!
//! impl Filter for OverThreshold {
//!     type Config = Config;
//!     type Row = Reading;
//!
//!     fn new(config: Config) -> Result<Self, String> {
//!         if config.threshold.is_nan() {
//!             return Err("threshold must be a number".into());
//!         }
//!         Ok(Self { threshold: config.threshold })
//!     }
//!
//!     fn keep(&mut self, row: &Reading) -> bool {
//!         row.temperature > self.threshold
//!     }
//! }
//!
//! // Exports the component's entry points when built for wasm32-wasip2;
//! // expands to nothing natively, so the logic stays unit-testable.
//! weir_plugin_sdk::export_filter!(OverThreshold);
//!
//! // Natively, the same code path the host drives, minus the sandbox:
//! let mut plugin = weir_plugin_sdk::testing::filter::<OverThreshold>(r#"{"threshold": 100}"#).unwrap();
//! let kept = plugin.run(&[Reading { temperature: 99.0 }, Reading { temperature: 101.5 }]).unwrap();
//! assert_eq!(kept, vec![1]);
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2` (the crate must be a
//! `cdylib`), and point a pipeline's `[[operators]]` entry at the `.wasm` file.

#![warn(missing_docs)]

mod adapter;
mod aggregate;
mod keyed;
pub mod log;
mod operator;
mod schema;
pub mod testing;

#[doc(hidden)]
#[allow(missing_docs, clippy::too_many_arguments)]
pub mod bindings;

#[doc(hidden)]
pub use adapter::{
    Adapter, FilterAdapter, FlatMapAdapter, KeyedAdapter, KeyedInput, KeyedOutput, MapAdapter,
};
pub use aggregate::Aggregate;
#[doc(hidden)]
pub use aggregate::AggregateAdapter;
pub use keyed::{decode_state, Context, Keyed};
pub use operator::{Emitter, Filter, FlatMap, Map, NoConfig};
pub use schema::{fields_of, Field, FieldType, Timestamp};

/// Exports a [`Filter`] implementation as the plugin's component entry points.
///
/// Use it once per plugin crate. The plugin's name and version are the crate's
/// package name and version.
#[macro_export]
macro_rules! export_filter {
    ($plugin:ty) => {
        $crate::__export_operator!($crate::FilterAdapter<$plugin>);
    };
}

/// Exports a [`Map`] implementation as the plugin's component entry points.
#[macro_export]
macro_rules! export_map {
    ($plugin:ty) => {
        $crate::__export_operator!($crate::MapAdapter<$plugin>);
    };
}

/// Exports a [`FlatMap`] implementation as the plugin's component entry points.
#[macro_export]
macro_rules! export_flat_map {
    ($plugin:ty) => {
        $crate::__export_operator!($crate::FlatMapAdapter<$plugin>);
    };
}

/// Exports an [`Aggregate`] implementation as the plugin's component entry points.
#[macro_export]
macro_rules! export_aggregate {
    ($plugin:ty) => {
        $crate::__export_operator!($crate::AggregateAdapter<$plugin>);
    };
}

/// Exports a [`Keyed`] implementation as the plugin's component entry points.
#[macro_export]
macro_rules! export_keyed {
    ($plugin:ty) => {
        $crate::__export_operator!($crate::KeyedAdapter<$plugin>);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __export_operator {
    ($adapter:ty) => {
        // Only a wasm32 build is a component; natively the plugin is a plain library
        // whose logic tests run without Wasm, and several plugins can link together.
        #[cfg(target_arch = "wasm32")]
        mod __weir_export {
            use super::*;
            use $crate::bindings::weir::plugin::types::{
                Accumulators, Batch, Descriptor, KeyedBatch, KeyedOutput, Output, Timer,
            };

            struct Export;

            ::std::thread_local! {
                static OPERATOR: ::std::cell::RefCell<Option<$adapter>> =
                    const { ::std::cell::RefCell::new(None) };
            }

            impl $crate::bindings::Guest for Export {
                fn describe() -> Descriptor {
                    <$adapter as $crate::Adapter>::descriptor(
                        env!("CARGO_PKG_NAME"),
                        env!("CARGO_PKG_VERSION"),
                    )
                    .into()
                }

                fn init(config: String) -> Result<(), String> {
                    let operator = <$adapter as $crate::Adapter>::init(&config)?;
                    OPERATOR.with(|slot| *slot.borrow_mut() = Some(operator));
                    Ok(())
                }

                fn process(input: Batch) -> Result<Output, String> {
                    OPERATOR.with(|slot| match slot.borrow_mut().as_mut() {
                        Some(operator) => $crate::Adapter::process(operator, input.count, &input.rows)
                            .map(|(parents, rows)| Output { parents, rows }),
                        None => Err("process called before init".to_string()),
                    })
                }

                fn process_keyed(input: KeyedBatch) -> Result<KeyedOutput, String> {
                    let timers: Vec<(u32, i64)> =
                        input.timers.iter().map(|t| (t.key, t.at)).collect();
                    OPERATOR.with(|slot| match slot.borrow_mut().as_mut() {
                        Some(operator) => $crate::Adapter::process_keyed(
                            operator,
                            $crate::KeyedInput {
                                count: input.rows.count,
                                rows: &input.rows.rows,
                                row_keys: &input.row_keys,
                                keys: &input.keys,
                                key_ends: &input.key_ends,
                                states: &input.states,
                                state_lens: &input.state_lens,
                                timers: &timers,
                            },
                        )
                        .map(|out| KeyedOutput {
                            parents: out.parents,
                            rows: out.rows,
                            changed: out.changed,
                            states: out.states,
                            state_lens: out.state_lens,
                            timers: out
                                .timers
                                .into_iter()
                                .map(|(key, at)| Timer { key, at })
                                .collect(),
                        }),
                        None => Err("process-keyed called before init".to_string()),
                    })
                }

                fn migrate_state(from_version: u32, states: Vec<Vec<u8>>) -> Result<Vec<Vec<u8>>, String> {
                    <$adapter as $crate::Adapter>::migrate_state(from_version, states)
                }

                fn aggregate_add(
                    accumulators: Accumulators,
                    input: Batch,
                    row_accumulators: Vec<u32>,
                ) -> Result<Accumulators, String> {
                    OPERATOR.with(|slot| match slot.borrow_mut().as_mut() {
                        Some(operator) => $crate::Adapter::aggregate_add(
                            operator,
                            &accumulators.states,
                            &accumulators.lens,
                            input.count,
                            &input.rows,
                            &row_accumulators,
                        )
                        .map(|(states, lens)| Accumulators { states, lens }),
                        None => Err("aggregate-add called before init".to_string()),
                    })
                }

                fn aggregate_merge(into: Accumulators, from: Accumulators) -> Result<Accumulators, String> {
                    OPERATOR.with(|slot| match slot.borrow_mut().as_mut() {
                        Some(operator) => $crate::Adapter::aggregate_merge(
                            operator,
                            (&into.states, &into.lens),
                            (&from.states, &from.lens),
                        )
                        .map(|(states, lens)| Accumulators { states, lens }),
                        None => Err("aggregate-merge called before init".to_string()),
                    })
                }

                fn aggregate_result(accumulators: Accumulators) -> Result<Batch, String> {
                    OPERATOR.with(|slot| match slot.borrow_mut().as_mut() {
                        Some(operator) => $crate::Adapter::aggregate_result(
                            operator,
                            &accumulators.states,
                            &accumulators.lens,
                        )
                        .map(|(count, rows)| Batch { count, rows }),
                        None => Err("aggregate-result called before init".to_string()),
                    })
                }
            }

            $crate::bindings::export!(Export with_types_in $crate::bindings);
        }
    };
}
