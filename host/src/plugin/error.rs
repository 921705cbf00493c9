use std::path::PathBuf;

/// Why a plugin could not be loaded or could not process a batch. Every variant
/// names the plugin, so a message is actionable on its own.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PluginError {
    #[error("cannot read plugin {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path} is not a valid WebAssembly component: {reason}")]
    Compile { path: PathBuf, reason: String },
    #[error("cannot instantiate plugin {path}: {reason}")]
    Instantiate { path: PathBuf, reason: String },
    #[error("plugin `{plugin}` does not fit the pipeline: {reason}")]
    Schema { plugin: String, reason: String },
    #[error("plugin `{plugin}` rejected its config: {reason}")]
    Config { plugin: String, reason: String },
    /// The plugin returned an error, or output the host cannot accept.
    #[error("plugin `{plugin}` failed a batch: {reason}")]
    Batch { plugin: String, reason: String },
    /// The plugin trapped; its instance is unusable and is replaced.
    #[error("plugin `{plugin}` trapped ({kind}): {reason}")]
    Trap {
        plugin: String,
        kind: TrapKind,
        reason: String,
    },
}

/// What stopped a plugin, for dead letters and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrapKind {
    /// It ran past its CPU budget for the batch (epoch deadline).
    Deadline,
    /// It tried to grow its memory past the limit.
    MemoryLimit,
    /// It panicked or aborted (`unreachable`).
    Panic,
    /// Any other trap.
    Other,
}

impl std::fmt::Display for TrapKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TrapKind::Deadline => "cpu deadline",
            TrapKind::MemoryLimit => "memory limit",
            TrapKind::Panic => "panic",
            TrapKind::Other => "trap",
        })
    }
}

/// Classifies a failed call. wasmtime's error is its own type: a trap is found
/// with `downcast_ref::<Trap>()`, and a refused `memory.grow` (with
/// `trap_on_grow_failure`) is an error that is not a `Trap`.
pub(crate) fn classify(error: &wasmtime::Error) -> (TrapKind, String) {
    let message = describe(error);
    let kind = match error.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => TrapKind::Deadline,
        Some(wasmtime::Trap::UnreachableCodeReached) => TrapKind::Panic,
        Some(_) => TrapKind::Other,
        None if message.contains("growing memory") => TrapKind::MemoryLimit,
        None => TrapKind::Other,
    };
    (kind, message)
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
