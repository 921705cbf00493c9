//! Event time and watermarks.

mod future;
mod watermark;

pub use future::FutureLimit;
pub use watermark::BoundedOutOfOrderness;
