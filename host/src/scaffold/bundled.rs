//! The plugin SDK this `weir` was built with, carried inside the binary, so
//! that `weir plugin new` works outside a weir checkout: the SDK it writes
//! matches the host's WIT by construction, and only crates.io is needed to
//! build the plugin.

use std::path::{Path, PathBuf};

use include_dir::{include_dir, Dir};
use sha2::{Digest, Sha256};

use super::ScaffoldError;

// host/build.rs reruns (and so re-embeds) when either folder changes.
static SDK_SOURCES: Dir = include_dir!("$CARGO_MANIFEST_DIR/../plugin-sdk/src");
static WIT: Dir = include_dir!("$CARGO_MANIFEST_DIR/../wit");
static PYTHON_SDK: Dir = include_dir!("$CARGO_MANIFEST_DIR/../plugin-sdk/python/weir_plugin");
const JS_PRELUDE: &str = include_str!("../../../plugin-sdk/js/weir-plugin.js");
const SDK_MANIFEST: &str = include_str!("../../../plugin-sdk/Cargo.toml");
const WORKSPACE_MANIFEST: &str = include_str!("../../../Cargo.toml");

/// Writes the SDK under `root` (once per SDK content: the folder's name
/// carries a hash of it) and returns the SDK crate's path. The layout is the
/// checkout's — `plugin-sdk/` beside `wit/` — so the crate builds unchanged.
pub fn export(root: &Path) -> Result<PathBuf, ScaffoldError> {
    let manifest = standalone_manifest().map_err(ScaffoldError::Bundle)?;
    let home = root.join(format!(
        "sdk-{}-{}",
        env!("CARGO_PKG_VERSION"),
        content_hash(&manifest)
    ));
    let sdk = home.join("plugin-sdk");
    if sdk.join("Cargo.toml").exists() {
        return Ok(sdk);
    }
    // Written beside, then renamed: a half-written SDK is never taken for one.
    let partial = root.join(format!(".partial-{}", std::process::id()));
    let written = write_tree(&partial, &manifest).and_then(|()| {
        std::fs::rename(&partial, &home).map_err(|error| ScaffoldError::Write {
            path: home.clone(),
            error,
        })
    });
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&partial);
        // Another `weir plugin new` may have won the race.
        if sdk.join("Cargo.toml").exists() {
            return Ok(sdk);
        }
    }
    written.map(|()| sdk)
}

/// The exported SDK's home (laid out as a checkout: `plugin-sdk/`, `wit/`)
/// under [`default_root`].
pub fn home() -> Result<PathBuf, ScaffoldError> {
    let root = default_root().ok_or_else(|| {
        ScaffoldError::Bundle(
            "neither $XDG_DATA_HOME nor $HOME is set, so there is nowhere to put it".into(),
        )
    })?;
    let sdk = export(&root)?;
    Ok(sdk.parent().map_or(root, Path::to_path_buf))
}

/// Where the SDK goes when no `--sdk` is given outside a checkout:
/// `$XDG_DATA_HOME/weir`, else `~/.local/share/weir`.
pub fn default_root() -> Option<PathBuf> {
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(data.join("weir"))
}

fn write_tree(root: &Path, manifest: &str) -> Result<(), ScaffoldError> {
    let write = |path: PathBuf, bytes: &[u8]| -> Result<(), ScaffoldError> {
        let create = path.parent().map_or(Ok(()), std::fs::create_dir_all);
        create
            .and_then(|()| std::fs::write(&path, bytes))
            .map_err(|error| ScaffoldError::Write { path, error })
    };
    write(root.join("plugin-sdk/Cargo.toml"), manifest.as_bytes())?;
    for (dir, under) in bundled_dirs() {
        for file in files(dir) {
            write(root.join(under).join(file.path()), file.contents())?;
        }
    }
    write(
        root.join("plugin-sdk/js/weir-plugin.js"),
        JS_PRELUDE.as_bytes(),
    )?;
    Ok(())
}

/// The embedded folders and where they go in the exported tree.
fn bundled_dirs() -> [(&'static Dir<'static>, &'static str); 3] {
    [
        (&SDK_SOURCES, "plugin-sdk/src"),
        (&WIT, "wit"),
        (&PYTHON_SDK, "plugin-sdk/python/weir_plugin"),
    ]
}

/// A folder's files, its subfolders' included; Python's bytecode caches
/// (in a developer's checkout, not in git) left out.
fn files<'a>(dir: &'a Dir<'a>) -> Vec<&'a include_dir::File<'a>> {
    let mut out: Vec<_> = dir
        .files()
        .filter(|f| f.path().extension().is_none_or(|e| e != "pyc"))
        .collect();
    for sub in dir.dirs() {
        out.extend(files(sub));
    }
    out
}

fn content_hash(manifest: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(manifest);
    hash.update(JS_PRELUDE);
    for (dir, _) in bundled_dirs() {
        for file in files(dir) {
            hash.update(file.path().to_string_lossy().as_bytes());
            hash.update(file.contents());
        }
    }
    let digest = hash.finalize();
    digest[..6].iter().map(|b| format!("{b:02x}")).collect()
}

/// The SDK's manifest with every `workspace = true` replaced by the
/// workspace's value, so the crate stands alone.
fn standalone_manifest() -> Result<String, String> {
    let workspace: toml::Table = WORKSPACE_MANIFEST.parse().map_err(|e| format!("{e}"))?;
    let inherited = |section: &str| {
        workspace
            .get("workspace")
            .and_then(|w| w.get(section))
            .and_then(toml::Value::as_table)
            .cloned()
            .unwrap_or_default()
    };
    let (package_values, dependency_values) = (inherited("package"), inherited("dependencies"));
    let mut manifest: toml::Table = SDK_MANIFEST.parse().map_err(|e| format!("{e}"))?;
    for (section, values) in [
        ("package", &package_values),
        ("dependencies", &dependency_values),
    ] {
        let Some(table) = manifest
            .get_mut(section)
            .and_then(toml::Value::as_table_mut)
        else {
            continue;
        };
        for (name, value) in table.iter_mut() {
            let from_workspace = value
                .get("workspace")
                .and_then(toml::Value::as_bool)
                .unwrap_or(false);
            if from_workspace {
                *value = values
                    .get(name)
                    .cloned()
                    .ok_or_else(|| format!("the workspace has no `{name}` for the SDK"))?;
            }
        }
    }
    // A workspace of its own, so it builds wherever it is.
    manifest.insert("workspace".into(), toml::Table::new().into());
    toml::to_string(&manifest).map_err(|e| format!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_manifest_stands_alone() {
        let manifest = standalone_manifest().unwrap();
        assert!(!manifest.contains("workspace = true"), "{manifest}");
        let table: toml::Table = manifest.parse().unwrap();
        assert_eq!(table["package"]["name"].as_str(), Some("weir-plugin-sdk"));
        assert!(table["dependencies"]["wit-bindgen"]
            .get("version")
            .is_some());
    }

    #[test]
    fn the_bundle_holds_every_sdk_source_and_the_wit() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        for (dir, on_disk) in bundled_dirs() {
            let bundled: Vec<_> = files(dir).iter().map(|f| f.path().to_owned()).collect();
            for entry in std::fs::read_dir(root.join(on_disk)).unwrap() {
                let name = PathBuf::from(entry.unwrap().file_name());
                if name == Path::new("__pycache__") {
                    continue;
                }
                assert!(
                    bundled.contains(&name),
                    "{on_disk}/{} is not bundled",
                    name.display()
                );
            }
        }
    }
}
