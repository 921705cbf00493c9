//! Compiled components cached on disk by content, so a restart — or a swap back
//! to a version seen before — does not recompile.
//!
//! The key is the SHA-256 of the component's bytes plus wasmtime's own
//! compatibility hash of the engine (version and settings), so a cached
//! artefact is never loaded into an engine that did not produce it. The cache
//! lives in `$WEIR_CACHE_DIR`, else `$XDG_CACHE_HOME/weir`, else
//! `~/.cache/weir`; `WEIR_CACHE_DIR=off` disables it.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

pub struct ComponentCache {
    dir: Option<PathBuf>,
}

impl ComponentCache {
    pub fn from_env() -> Self {
        let dir = match std::env::var_os("WEIR_CACHE_DIR") {
            Some(dir) if dir == "off" => None,
            Some(dir) => Some(PathBuf::from(dir)),
            None => std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache")))
                .map(|base| base.join("weir")),
        };
        Self {
            dir: dir.map(|d| d.join("components")),
        }
    }

    /// A cache in `dir` (for measurements that need a cold one).
    pub fn at(dir: PathBuf) -> Self {
        Self {
            dir: Some(dir.join("components")),
        }
    }

    /// The content hash of a component, as hex: its identity in listings and logs.
    pub fn content_hash(bytes: &[u8]) -> String {
        Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn entry(&self, engine: &Engine, content_hash: &str) -> Option<PathBuf> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let dir = self.dir.as_ref()?;
        Some(dir.join(format!("{content_hash}-{:016x}.cwasm", hasher.finish())))
    }

    /// The compiled component for `bytes`, from the cache or freshly compiled
    /// (and then cached). Cache trouble is logged, never fatal.
    pub fn load_or_compile(
        &self,
        engine: &Engine,
        bytes: &[u8],
        content_hash: &str,
    ) -> wasmtime::Result<Component> {
        let entry = self.entry(engine, content_hash);
        if let Some(entry) = entry.as_ref().filter(|e| e.exists()) {
            // SAFETY: the file was written by `Component::serialize` of an engine
            // with the same compatibility hash, into the user's own cache
            // directory; wasmtime checks the header and refuses a mismatch.
            match unsafe { Component::deserialize_file(engine, entry) } {
                Ok(component) => return Ok(component),
                Err(e) => {
                    tracing::warn!(path = %entry.display(), "ignoring an unusable cached component: {e}")
                }
            }
        }
        let component = Component::new(engine, bytes)?;
        if let Some(entry) = entry {
            if let Err(e) = store(&entry, &component) {
                tracing::warn!(path = %entry.display(), "could not cache the compiled component: {e}");
            }
        }
        Ok(component)
    }
}

/// Writes atomically: a reader sees the whole artefact or none.
fn store(entry: &Path, component: &Component) -> anyhow::Result<()> {
    let dir = entry.parent().expect("cache entries live in a directory");
    std::fs::create_dir_all(dir)?;
    let bytes = component.serialize().map_err(|e| anyhow::anyhow!("{e}"))?;
    let temporary = dir.join(format!(
        ".{}.{}",
        std::process::id(),
        entry.file_name().and_then(|n| n.to_str()).unwrap_or("tmp")
    ));
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, entry)?;
    Ok(())
}
