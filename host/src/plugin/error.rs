use std::path::PathBuf;

/// Why a plugin could not be loaded or could not process a batch. Every variant
/// names the plugin, so a message is actionable on its own.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("cannot read plugin {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a valid WebAssembly component: {reason}")]
    Compile { path: PathBuf, reason: String },
    #[error("cannot instantiate plugin {path}: {reason}")]
    Instantiate { path: PathBuf, reason: String },
    #[error("plugin `{plugin}` does not fit the pipeline: {reason}")]
    Schema { plugin: String, reason: String },
    #[error("plugin `{plugin}` rejected its config: {reason}")]
    Config { plugin: String, reason: String },
    #[error("plugin `{plugin}` failed a batch: {reason}")]
    Batch { plugin: String, reason: String },
    #[error("plugin `{plugin}` trapped: {reason}")]
    Trap { plugin: String, reason: String },
}

/// The most specific message of a wasmtime error chain: the trap or the guest's
/// own words rather than "error while executing at wasm backtrace".
pub(crate) fn describe(error: &wasmtime::Error) -> String {
    if let Some(trap) = error.downcast_ref::<wasmtime::Trap>() {
        return trap.to_string();
    }
    let mut message = error.to_string();
    for cause in error.chain().skip(1) {
        message = cause.to_string();
    }
    message
}
