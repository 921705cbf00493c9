//! One sandboxed plugin instance: its own store, memory limit and CPU deadline.

use std::time::Duration;

use wasmtime::component::ResourceTable;
use wasmtime::{Store, StoreLimitsBuilder};
use wasmtime_wasi::WasiCtx;

use super::bindings::weir::plugin::types;
use super::bindings::Operator;
use super::engine::{PluginLimits, PreparedPlugin, EPOCH_TICK};
use super::error::{classify, describe, PluginError, TrapKind};
use super::output::PluginOutput;
pub(crate) use super::state::PluginState;
use crate::data::{Field, FieldType};

/// What a plugin says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub name: String,
    pub version: String,
    pub kind: OperatorKind,
    pub reads: Vec<Field>,
    pub emits: Vec<Field>,
    /// Keyed operators: the version of their per-key state.
    pub state_version: u32,
    /// State versions the plugin can migrate from.
    pub migrates_from: Vec<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorKind {
    Filter,
    Map,
    FlatMap,
    Keyed,
    Aggregate,
}

/// `plugin NAME VERSION (KIND)`, then the fields it reads and emits.
impl std::fmt::Display for Descriptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fields = |fs: &[Field]| {
            fs.iter()
                .map(|f| format!("{} ({})", f.name, f.ty))
                .collect::<Vec<_>>()
                .join(", ")
        };
        write!(f, "plugin {} {} ({})", self.name, self.version, self.kind)?;
        write!(f, "\n  reads: {}", fields(&self.reads))?;
        if !self.emits.is_empty() {
            write!(f, "\n  emits: {}", fields(&self.emits))?;
        }
        Ok(())
    }
}

impl std::fmt::Display for OperatorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Filter => "filter",
            Self::Map => "map",
            Self::FlatMap => "flat-map",
            Self::Keyed => "keyed",
            Self::Aggregate => "aggregate",
        })
    }
}

/// Bounds on what a plugin may say about itself. Its name and version are
/// copied into every log line and dead letter about it, and its fields are
/// matched against the pipeline's on load, outside any CPU budget.
pub const MAX_NAME_BYTES: usize = 128;
pub const MAX_FIELDS: usize = 1024;
const MAX_MIGRATIONS: usize = 256;

/// Refuses a description too large, or with names that cannot be printed.
fn check_described(described: &types::Descriptor) -> Result<(), String> {
    let name = |what: &str, text: &str| -> Result<(), String> {
        if text.len() > MAX_NAME_BYTES {
            return Err(format!(
                "the plugin's {what} is {} bytes long, over the limit of {MAX_NAME_BYTES}",
                text.len()
            ));
        }
        if text.chars().any(char::is_control) {
            return Err(format!(
                "the plugin's {what} {text:?} holds control characters"
            ));
        }
        Ok(())
    };
    name("name", &described.name)?;
    name("version", &described.version)?;
    let fields = described.reads.len() + described.emits.len();
    if fields > MAX_FIELDS {
        return Err(format!(
            "the plugin declares {fields} fields, over the limit of {MAX_FIELDS}"
        ));
    }
    for field in described.reads.iter().chain(&described.emits) {
        name("field name", &field.name)?;
    }
    if described.migrates_from.len() > MAX_MIGRATIONS {
        return Err(format!(
            "the plugin migrates from {} state versions, over the limit of {MAX_MIGRATIONS}",
            described.migrates_from.len()
        ));
    }
    Ok(())
}

/// Time stands still inside a plugin: results must depend on the events alone,
/// so that replays give the same output.
struct FrozenClock;

impl wasmtime_wasi::HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl wasmtime_wasi::HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

fn sandbox(stdout: &PluginOutput, stderr: &PluginOutput) -> WasiCtx {
    WasiCtx::builder()
        .stdout(stdout.clone())
        .stderr(stderr.clone())
        .wall_clock(FrozenClock)
        .monotonic_clock(FrozenClock)
        .insecure_random_seed(0)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build()
}

pub struct PluginInstance {
    store: Store<PluginState>,
    bindings: Operator,
    descriptor: Descriptor,
    deadline_ticks: u64,
    input: types::Batch,
    stdout: PluginOutput,
    stderr: PluginOutput,
}

impl PluginInstance {
    /// Instantiates the plugin in a fresh sandbox and asks it to describe itself.
    pub fn new(prepared: &PreparedPlugin, limits: PluginLimits) -> Result<Self, PluginError> {
        let path = &prepared.path;
        let name = path.display().to_string();
        let (stdout, stderr) = (
            PluginOutput::new("stdout", &name),
            PluginOutput::new("stderr", &name),
        );
        let state = PluginState {
            wasi: sandbox(&stdout, &stderr),
            table: ResourceTable::new(),
            // A refused `memory.grow` traps instead of returning -1, so a memory
            // bomb is reported as such rather than as the guest's abort.
            limits: StoreLimitsBuilder::new()
                .memory_size(limits.memory_bytes)
                .instances(16)
                .trap_on_grow_failure(true)
                .build(),
            log: stderr.clone(),
        };
        let mut store = Store::new(&prepared.engine, state);
        store.limiter(|state| &mut state.limits);
        let deadline_ticks = ticks(limits.batch_deadline);
        store.set_epoch_deadline(deadline_ticks);
        let instantiate = |reason: String| PluginError::Instantiate {
            path: path.clone(),
            reason,
        };
        let bindings = prepared
            .pre
            .instantiate(&mut store)
            .map_err(|e| instantiate(describe(&e)))?;
        let described = bindings.call_describe(&mut store).map_err(|e| {
            let (kind, message) = classify(&e);
            let limit = match kind {
                TrapKind::Deadline => " (the plugin's batch_deadline applies to `describe` too)",
                _ => "",
            };
            instantiate(format!("`describe` trapped ({kind}){limit}: {message}"))
        })?;
        check_described(&described).map_err(instantiate)?;
        let descriptor = Descriptor {
            kind: match described.kind {
                types::OperatorKind::Filter => OperatorKind::Filter,
                types::OperatorKind::Map => OperatorKind::Map,
                types::OperatorKind::FlatMap => OperatorKind::FlatMap,
                types::OperatorKind::Keyed => OperatorKind::Keyed,
                types::OperatorKind::Aggregate => OperatorKind::Aggregate,
            },
            reads: described.reads.into_iter().map(field).collect(),
            emits: described.emits.into_iter().map(field).collect(),
            state_version: described.state_version,
            migrates_from: described.migrates_from,
            name: described.name,
            version: described.version,
        };
        stdout.set_plugin(&descriptor.name);
        stderr.set_plugin(&descriptor.name);
        Ok(Self {
            store,
            bindings,
            descriptor,
            deadline_ticks,
            input: types::Batch {
                count: 0,
                rows: Vec::new(),
            },
            stdout,
            stderr,
        })
    }

    pub fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }

    fn trap(&self, error: wasmtime::Error) -> PluginError {
        let (kind, mut reason) = classify(&error);
        // A Rust panic writes its message to stderr just before it aborts.
        let said = self.stderr.recent();
        if kind == TrapKind::Panic && !said.is_empty() {
            reason = format!("{reason}; the plugin wrote: {}", said.join(" | "));
        }
        PluginError::Trap {
            plugin: self.descriptor.name.clone(),
            kind,
            reason,
        }
    }

    /// Passes the pipeline's `config` table (as JSON).
    pub fn init(&mut self, config_json: &str) -> Result<(), PluginError> {
        self.store.set_epoch_deadline(self.deadline_ticks);
        match self.bindings.call_init(&mut self.store, config_json) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(PluginError::Config {
                plugin: self.descriptor.name.clone(),
                reason,
            }),
            Err(e) => Err(self.trap(e)),
        }
    }

    /// The buffer the next batch's rows are encoded into; reused across calls.
    pub fn input_buffer(&mut self) -> &mut Vec<u8> {
        &mut self.input.rows
    }

    /// Processes the `count` rows in [`Self::input_buffer`]: one component call,
    /// allowed `share` (0–1] of the batch CPU budget. After a trap the instance
    /// is unusable and must be replaced.
    pub fn process(&mut self, count: u32, share: f64) -> Result<types::Output, PluginError> {
        self.with_input(count, |instance, input| {
            instance.call(share, |bindings, store| bindings.call_process(store, input))
        })
    }

    /// Runs `call` with the `count` rows of [`Self::input_buffer`] as a batch,
    /// keeping the buffer for the next call.
    fn with_input<T>(
        &mut self,
        count: u32,
        call: impl FnOnce(&mut Self, &types::Batch) -> Result<T, PluginError>,
    ) -> Result<T, PluginError> {
        self.input.count = count;
        let empty = types::Batch {
            count: 0,
            rows: Vec::new(),
        };
        let input = std::mem::replace(&mut self.input, empty);
        let result = call(self, &input);
        self.input = input;
        result
    }

    /// A keyed operator's batch (or its timers), like [`process`](Self::process).
    pub fn process_keyed(
        &mut self,
        input: &types::KeyedBatch,
        share: f64,
    ) -> Result<types::KeyedOutput, PluginError> {
        self.call(share, |bindings, store| {
            bindings.call_process_keyed(store, input)
        })
    }

    /// Converts states stored under `from_version` to the plugin's state version.
    pub fn migrate_state(
        &mut self,
        from_version: u32,
        states: &[Vec<u8>],
    ) -> Result<Vec<Vec<u8>>, PluginError> {
        self.call(1.0, |bindings, store| {
            bindings.call_migrate_state(store, from_version, states)
        })
    }

    /// Aggregates: adds rows (in [`Self::input_buffer`]) to accumulators.
    pub fn aggregate_add(
        &mut self,
        accumulators: &types::Accumulators,
        count: u32,
        row_accumulators: &[u32],
    ) -> Result<types::Accumulators, PluginError> {
        self.with_input(count, |instance, input| {
            instance.call(1.0, |bindings, store| {
                bindings.call_aggregate_add(store, accumulators, input, row_accumulators)
            })
        })
    }

    /// Aggregates: merges `from[i]` into `into[i]`.
    pub fn aggregate_merge(
        &mut self,
        into: &types::Accumulators,
        from: &types::Accumulators,
    ) -> Result<types::Accumulators, PluginError> {
        self.call(1.0, |bindings, store| {
            bindings.call_aggregate_merge(store, into, from)
        })
    }

    /// Aggregates: each accumulator's result row.
    pub fn aggregate_result(
        &mut self,
        accumulators: &types::Accumulators,
    ) -> Result<types::Batch, PluginError> {
        self.call(1.0, |bindings, store| {
            bindings.call_aggregate_result(store, accumulators)
        })
    }

    fn call<T>(
        &mut self,
        share: f64,
        call: impl FnOnce(&Operator, &mut Store<PluginState>) -> wasmtime::Result<Result<T, String>>,
    ) -> Result<T, PluginError> {
        // An epoch deadline of n ticks fires after (n - 1, n] ticks, so a retry of a
        // few rows gets a floor that its real failure (not the clock) decides.
        let ticks = (self.deadline_ticks as f64 * share).ceil() as u64;
        self.store.set_epoch_deadline(ticks.clamp(
            MIN_RETRY_TICKS.min(self.deadline_ticks),
            self.deadline_ticks,
        ));
        self.stdout.begin_batch();
        self.stderr.begin_batch();
        let result = match call(&self.bindings, &mut self.store) {
            Ok(Ok(output)) => Ok(output),
            Ok(Err(reason)) => Err(PluginError::Batch {
                plugin: self.descriptor.name.clone(),
                reason,
            }),
            Err(e) => Err(self.trap(e)),
        };
        self.stdout.end_batch();
        self.stderr.end_batch();
        result
    }
}

/// 100 ms at the 10 ms epoch tick.
const MIN_RETRY_TICKS: u64 = 10;

fn ticks(deadline: Duration) -> u64 {
    (deadline.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64
}

fn field(field: types::Field) -> Field {
    Field::new(
        field.name,
        match field.type_ {
            types::FieldType::String => FieldType::String,
            types::FieldType::F64 => FieldType::F64,
            types::FieldType::I64 => FieldType::I64,
            types::FieldType::Bool => FieldType::Bool,
            types::FieldType::Timestamp => FieldType::Timestamp,
        },
    )
}
