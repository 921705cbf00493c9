//! Event time and watermarks.

mod future;
mod partitioned;
mod watermark;

pub use future::FutureLimit;
pub use partitioned::PartitionedWatermarks;
pub use watermark::BoundedOutOfOrderness;
