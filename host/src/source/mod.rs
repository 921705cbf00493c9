//! Where records come from. A source yields raw records with their position;
//! decoding and event time are the ingest stage's job, done once, in the host.

mod lines;

pub use lines::{LineSource, ReadOutcome};
