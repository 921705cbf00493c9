//! Keyed event-time windows with host-native aggregates.

mod aggregate;
mod key;
mod tumbling;

pub use aggregate::{AggregateFn, AggregateSpec};
pub use tumbling::{TumblingWindows, WindowSpec};
