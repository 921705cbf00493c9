//! Decoding source records against the pipeline schema, and encoding results.

pub mod json;
pub mod timestamp;
