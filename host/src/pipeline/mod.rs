//! The pipeline: the file that describes it, the stages it is built from, and
//! the run loop that moves batches from source to sink.

mod build;
mod checkpointing;
pub mod config;
pub mod control;
mod deliver;
mod endpoints;
mod error;
mod hint;
mod histogram;
mod ingest;
mod open;
mod progress;
mod recent;
pub mod reference;
mod run;
mod sequencer;
mod stage;
mod summary;

pub use build::{load, parse, Pipeline, Resume};
pub use control::{Change, ChangeEvent, Controller, PipelineView, StageView};
pub use endpoints::{SinkSpec, SourceSpec};
pub use error::PipelineError;
pub use histogram::{Histogram, HistogramSnapshot};
pub use progress::Progress;
pub use recent::RecentRows;
pub use run::{run, RunError};
pub use stage::{
    NativeOperator, OnFailure, Stage, StageError, StageKind, StageStats, Trial, TrialVerdict,
    Unload,
};
pub use summary::Summary;
