//! One wasmtime engine per host, shared by every plugin.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker};
use wasmtime::{Config, Engine};

use super::bindings::{Operator, OperatorPre};
use super::cache::ComponentCache;
use super::error::{describe, PluginError};
use super::state::PluginState;

/// Resources one plugin instance may use.
#[derive(Debug, Clone, Copy)]
pub struct PluginLimits {
    /// Linear memory, in bytes.
    pub memory_bytes: usize,
    /// Wall-clock budget for one batch, enforced by epoch interruption.
    pub batch_deadline: Duration,
    /// What one batch may emit (row indices and encoded rows together).
    pub max_output_bytes: usize,
    /// Rows a flat-map or keyed plugin may emit per input row, on average
    /// over a batch: bounds amplification, which the byte limit alone does
    /// not (a row index is four bytes).
    pub max_fan_out: usize,
    /// Timers a keyed plugin may hold pending at once, over all its keys.
    pub max_timers: usize,
}

impl Default for PluginLimits {
    fn default() -> Self {
        Self {
            memory_bytes: 64 << 20,
            batch_deadline: Duration::from_secs(1),
            max_output_bytes: 16 << 20,
            max_fan_out: 1000,
            max_timers: 2_000_000,
        }
    }
}

/// How often the epoch advances: the granularity of CPU deadlines.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

pub struct PluginEngine {
    engine: Engine,
    cache: ComponentCache,
    linker: Linker<PluginState>,
    ticker_stop: Arc<AtomicBool>,
}

impl PluginEngine {
    pub fn new() -> Result<Self, PluginError> {
        let mut config = Config::new();
        // Epoch checks cost less than fuel metering on every instruction.
        config.epoch_interruption(true);
        let engine = Engine::new(&config).map_err(|e| PluginError::Instantiate {
            path: "<engine>".into(),
            reason: describe(&e),
        })?;
        let mut linker = Linker::new(&engine);
        let link_error = |e: wasmtime::Error| PluginError::Instantiate {
            path: "<linker>".into(),
            reason: describe(&e),
        };
        // Rust's std on wasm32-wasip2 imports WASI; each instance gets an empty
        // context (no files, env, args, sockets; frozen clocks), see `instance.rs`.
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker).map_err(link_error)?;
        super::clocks::link_clocks_that_never_wait(&mut linker).map_err(link_error)?;
        Operator::add_to_linker::<_, HasSelf<_>>(&mut linker, |state| state).map_err(link_error)?;

        let ticker_stop = Arc::new(AtomicBool::new(false));
        let (weak_engine, stop) = (engine.weak(), ticker_stop.clone());
        std::thread::Builder::new()
            .name("weir-epoch".into())
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    match weak_engine.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .map_err(|e| PluginError::Instantiate {
                path: "<engine>".into(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            engine,
            linker,
            ticker_stop,
            cache: ComponentCache::from_env(),
        })
    }

    /// An engine whose compiled components are cached in `dir` rather
    /// than where the environment says.
    pub fn with_cache_dir(dir: PathBuf) -> Result<Self, PluginError> {
        let mut engine = Self::new()?;
        engine.cache = ComponentCache::at(dir);
        Ok(engine)
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Reads, compiles and links a component, ready to be instantiated any
    /// number of times (a fresh instance after a trap costs microseconds).
    pub fn prepare(&self, path: &Path) -> Result<PreparedPlugin, PluginError> {
        let bytes = read_component(path).map_err(|reason| PluginError::Read {
            path: path.into(),
            reason,
        })?;
        self.prepare_bytes(&bytes, path)
    }

    /// As [`prepare`](Self::prepare), for a component already in memory (an
    /// upload); `origin` names it in errors and listings.
    pub fn prepare_bytes(
        &self,
        bytes: &[u8],
        origin: &Path,
    ) -> Result<PreparedPlugin, PluginError> {
        let content_hash = ComponentCache::content_hash(bytes);
        let component = self
            .cache
            .load_or_compile(&self.engine, bytes, &content_hash)
            .map_err(|e| PluginError::Compile {
                path: origin.into(),
                reason: describe(&e),
            })?;
        check_wit_version(&self.engine, &component).map_err(|reason| PluginError::Instantiate {
            path: origin.into(),
            reason,
        })?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .and_then(OperatorPre::new)
            .map_err(|e| PluginError::Instantiate {
                path: origin.into(),
                reason: describe(&e),
            })?;
        Ok(PreparedPlugin {
            pre,
            engine: self.engine.clone(),
            path: origin.into(),
            content_hash,
        })
    }
}

/// The version of the `weir:plugin` WIT package this host implements.
pub const WIT_VERSION: &str = "0.3.0";

/// Refuses a component built against another version of weir's WIT, naming
/// both versions: linking alone would say only that a function is missing,
/// or accept it when the shapes happen to match.
fn check_wit_version(
    engine: &Engine,
    component: &wasmtime::component::Component,
) -> Result<(), String> {
    let ty = component.component_type();
    for (name, _) in ty.imports(engine) {
        let Some(interface) = name.strip_prefix("weir:plugin/") else {
            continue;
        };
        let version = interface.split_once('@').map(|(_, v)| v).unwrap_or("none");
        if version != WIT_VERSION {
            return Err(format!(
                "it was built against weir:plugin@{version} (it imports `{name}`); this host implements weir:plugin@{WIT_VERSION}. Rebuild it with this weir's plugin SDK"
            ));
        }
    }
    Ok(())
}

/// The largest component file read.
pub const MAX_COMPONENT_BYTES: u64 = 256 << 20;

/// A component file's bytes. Only a regular file is read, and only up to
/// [`MAX_COMPONENT_BYTES`]: a FIFO or a device in a plugin directory would
/// block the reader or never end.
fn read_component(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    // Asked before opening: opening a FIFO for reading waits for a writer.
    if !std::fs::metadata(path)
        .map_err(|e| e.to_string())?
        .is_file()
    {
        return Err("not a regular file".into());
    }
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let metadata = file.metadata().map_err(|e| e.to_string())?;
    if metadata.len() > MAX_COMPONENT_BYTES {
        return Err(format!(
            "{} bytes, over the limit of {MAX_COMPONENT_BYTES} bytes for a component",
            metadata.len()
        ));
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(MAX_COMPONENT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| e.to_string())?;
    Ok(bytes)
}

/// A compiled, linked plugin component.
#[derive(Clone)]
pub struct PreparedPlugin {
    pub(crate) pre: OperatorPre<PluginState>,
    pub(crate) engine: Engine,
    pub path: PathBuf,
    /// SHA-256 of the component's bytes, hex.
    pub content_hash: String,
}

impl Drop for PluginEngine {
    fn drop(&mut self) {
        self.ticker_stop.store(true, Ordering::Relaxed);
    }
}
