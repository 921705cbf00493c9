//! Where records come from. A source yields raw records with their position;
//! decoding and event time are the ingest stage's job, done once, in the host.

mod chunk;
mod http;
pub mod kafka;
mod lines;
mod quoted;
mod stats;

pub use chunk::{RawChunk, RawRecord, StreamChange};
pub use http::{read_http, HttpSource, HttpSourceSettings};
pub use lines::{LineSource, ReadOutcome};
pub use quoted::QuotedRecords;
pub use stats::{SourceStats, QUEUES};
