//! WebAssembly plugins: the engine, sandboxed instances, the batch codec and
//! the pipeline operator that drives them.

mod aggregate;
mod bindings;
mod cache;
mod clocks;
mod codec;
mod engine;
mod error;
mod instance;
mod keyed;
mod operator;
mod output;
mod sample;
mod state;

pub use aggregate::{AggregatePlugin, EncodedRows, Pending};
pub use cache::ComponentCache;
pub use engine::{PluginEngine, PluginLimits, PreparedPlugin};
pub use error::{PluginError, TrapKind};
pub use instance::{Descriptor, OperatorKind, PluginInstance};
pub use operator::{FailurePolicy, PluginOperator, PluginSettings, Processed, RowFailure};
pub use sample::{run_sample, SampleError, SampleOutcome, SampleRun};
