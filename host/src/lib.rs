//! weir: a stream-processing host whose user logic runs as sandboxed
//! WebAssembly components.
//!
//! Data flows one way: source → decode → event time and watermark →
//! operators (plugins, windows) → sink, in columnar batches.

pub mod admin;
pub mod bench;
pub mod data;
pub mod expr;
pub mod format;
pub mod generate;
pub mod kafka_client;
pub mod lookup;
pub mod pipeline;
pub mod plugin;
pub mod postgres_connection;
pub mod redact;
pub mod scaffold;
pub mod sink;
pub mod source;
pub mod sql;
pub mod state;
pub mod time;
pub mod window;
