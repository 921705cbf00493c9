//! Keyed event-time windows with host-native aggregates.

mod aggregate;
mod key;
mod tumbling;

pub use aggregate::{Accumulator, AggregateFn, AggregateSpec};
pub use key::{Key, KeyRef};
pub use tumbling::{TumblingWindows, WindowSpec};
