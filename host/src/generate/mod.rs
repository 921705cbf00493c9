//! Deterministic workloads for tests, demos and benchmarks.

mod sensors;

pub use sensors::{write_sensors, SensorWorkload};
