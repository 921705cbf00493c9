//! `weir plugin build`: the wasm32-wasip2 build of a plugin crate (or of a
//! Python or JavaScript plugin, see `script_build.rs`), then what
//! the component says of itself, so an author sees at once the size and the
//! schema the host will check.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::plugin::{Descriptor, PluginEngine, PluginError, PluginInstance, PluginLimits};

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("no Cargo.toml, app.py or app.js in {0}")]
    NoManifest(PathBuf),
    #[error("{0}")]
    Tool(String),
    #[error("running cargo: {0}")]
    Cargo(std::io::Error),
    #[error("the build failed (its errors are above)")]
    Failed,
    #[error("the build produced no .wasm; is the crate's lib `crate-type = [\"cdylib\", …]`?")]
    NoComponent,
    #[error("copying the component to {path}: {error}")]
    Copy {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(transparent)]
    Plugin(#[from] PluginError),
}

pub struct Built {
    pub component: PathBuf,
    pub bytes: u64,
    pub descriptor: Descriptor,
}

/// Builds the plugin crate at `dir` in release mode for wasm32-wasip2 and
/// loads the result; with `out`, copies the component there too.
pub fn build_plugin(
    dir: &Path,
    out: Option<&Path>,
    engine: &PluginEngine,
) -> Result<Built, BuildError> {
    if let Some(script) = super::script_build::Script::of(dir) {
        let component = super::script_build::build(script, dir, out)?;
        return describe(component, engine);
    }
    let manifest = dir.join("Cargo.toml");
    if !manifest.exists() {
        return Err(BuildError::NoManifest(dir.to_path_buf()));
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut child = Command::new(cargo)
        .args(["build", "--release", "--target", "wasm32-wasip2"])
        .arg("--manifest-path")
        .arg(&manifest)
        .arg("--message-format=json-render-diagnostics")
        // Components ship small: as scripts/build-plugins builds them.
        .env("CARGO_PROFILE_RELEASE_DEBUG", "false")
        .env("CARGO_PROFILE_RELEASE_STRIP", "debuginfo")
        .env("CARGO_PROFILE_RELEASE_LTO", "true")
        .env("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "1")
        .stdout(Stdio::piped())
        .spawn()
        .map_err(BuildError::Cargo)?;
    // Cargo names each artifact it builds; the component is the .wasm of
    // this crate (not of its dependencies).
    let own_manifest = manifest
        .canonicalize()
        .map_err(BuildError::Cargo)?
        .to_string_lossy()
        .into_owned();
    let mut component = None;
    let stdout = child.stdout.take().expect("piped");
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.map_err(BuildError::Cargo)?;
        let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if message["reason"] != "compiler-artifact" || message["manifest_path"] != *own_manifest {
            continue;
        }
        let wasm = message["filenames"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f.as_str())
            .find(|f| f.ends_with(".wasm"));
        if let Some(wasm) = wasm {
            component = Some(PathBuf::from(wasm));
        }
    }
    if !child.wait().map_err(BuildError::Cargo)?.success() {
        return Err(BuildError::Failed);
    }
    let mut component = component.ok_or(BuildError::NoComponent)?;
    if let Some(out) = out {
        let target = out.join(component.file_name().expect("a file"));
        std::fs::create_dir_all(out)
            .and_then(|()| std::fs::copy(&component, &target).map(drop))
            .map_err(|error| BuildError::Copy {
                path: target.clone(),
                error,
            })?;
        component = target;
    }
    describe(component, engine)
}

/// The built component and what it says of itself.
fn describe(component: PathBuf, engine: &PluginEngine) -> Result<Built, BuildError> {
    let prepared = engine.prepare(&component)?;
    let descriptor = PluginInstance::new(&prepared, PluginLimits::default())?
        .descriptor()
        .clone();
    let bytes = std::fs::metadata(&component).map_or(0, |m| m.len());
    Ok(Built {
        component,
        bytes,
        descriptor,
    })
}
