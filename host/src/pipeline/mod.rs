//! The pipeline: the file that describes it, the stages it is built from, and
//! the run loop that moves batches from source to sink.

pub(crate) mod build;
mod checkpointing;
pub mod config;
pub mod control;
mod deliver;
mod endpoints;
mod error;
mod hint;
mod histogram;
mod ingest;
pub(crate) mod interpolate;
mod open;
pub mod operator;
pub mod parallel;
pub mod plan;
mod progress;
pub mod reference;
mod run;
mod sequencer;
mod stage;
mod summary;
mod taps;

pub use crate::sink::RecentRows;
pub use build::{load, parse, Pipeline, Resume, SinkRoute};
pub use control::{Change, ChangeEvent, Controller, PipelineView, StageView};
pub use endpoints::{SinkSpec, SourceSpec};
pub use error::PipelineError;
pub use error::RunError;
pub use histogram::{Histogram, HistogramSnapshot};
pub use operator::{
    NativeOperator, NativeStage, Operator, OperatorContext, PluginStage, Trial, TrialVerdict,
    WindowStage,
};
pub use progress::Progress;
pub use run::run;
pub use stage::SOURCE;
pub use stage::{OnFailure, Stage, StageError, StageStats, Unload};
pub use summary::Summary;
