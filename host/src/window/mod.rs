//! Keyed event-time windows with host-native aggregates.

mod aggregate;
mod event_time;
mod key;

pub use aggregate::{Accumulator, AggregateFn, AggregateSpec};
pub use event_time::{EventTimeWindows, WindowSpec};
pub use key::{Key, KeyRef};
