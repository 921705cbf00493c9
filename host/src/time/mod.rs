//! Event time and watermarks.

mod future;
mod partitioned;
mod processing;
pub mod range;
mod watermark;

pub use future::FutureLimit;
pub use partitioned::PartitionedWatermarks;
pub use processing::ProcessingClock;
pub use watermark::BoundedOutOfOrderness;
