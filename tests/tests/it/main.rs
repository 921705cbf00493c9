//! The end-to-end tests, one module per feature, in one test binary: each
//! binary links wasmtime and rdkafka, so 24 of them cost minutes of linking
//! on every cold build. Run one module with `cargo test -p weir-tests --test
//! it kafka::`.

mod aggregate_plugins;
mod avro;
mod bad_input;
mod branches;
mod checkpoints;
mod cli;
mod clicks;
mod csv;
mod fan_out;
mod file_tail;
mod hostile_plugins;
mod hot_swap;
mod http_source;
mod js_plugins;
mod kafka;
mod kafka_avro;
mod kafka_exactly_once;
mod kafka_group;
mod kafka_tls;
mod keyed_state;
mod lifecycle;
mod live_page;
mod lookup;
mod metrics;
mod object_store;
mod plugin_cli;
mod postgres_sink;
mod postgres_tls;
mod properties;
mod python_plugins;
mod secrets;
mod sensor_alerts;
mod sql;
mod sql_functions;
mod sql_queries;
mod sql_twins;
mod webhook;
mod windows;
