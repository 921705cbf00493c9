//! The plugin author's workflow: `weir plugin new` (a crate that builds, with
//! an example and a test to start from) and `weir plugin build`.

use std::path::{Path, PathBuf};

mod build;
mod bundled;
mod script_build;
mod script_new;

pub use build::{build_plugin, BuildError, Built};
pub use bundled::{
    default_root as bundled_sdk_root, export as export_bundled_sdk, home as bundled_sdk_home,
};
pub use script_new::{new_script_plugin, PluginLang, ScriptPlugin};

/// What the new plugin does with rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PluginKind {
    /// Keeps or drops each row.
    Filter,
    /// Adds fields to each row.
    Map,
    /// Emits zero or more rows per row: alerts, splits (alias: alert).
    #[value(alias = "alert")]
    FlatMap,
    /// Keeps a state per key and sets event-time timers: detectors (alias:
    /// stateful).
    #[value(alias = "stateful")]
    Keyed,
    /// A window aggregate: an accumulator per window and key.
    Aggregate,
}

#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error("`{0}` is not a plugin name: use lowercase letters, digits and dashes, starting with a letter")]
    Name(String),
    #[error("{0} already exists; choose another name or remove it")]
    Exists(PathBuf),
    #[error("no plugin SDK at {0}: pass --sdk with the path to a weir checkout's plugin-sdk, or leave --sdk out to use the SDK this weir carries")]
    NoSdk(PathBuf),
    #[error("a Rust plugin is a crate: `weir plugin new NAME` (without --lang) writes one")]
    NotAScript,
    #[error("the SDK this weir carries cannot be written out: {0}")]
    Bundle(String),
    #[error("writing {path}: {error}")]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
}

/// Where the crate takes the SDK from.
pub enum Sdk<'a> {
    /// Inside weir's own workspace (`plugins/NAME`): workspace dependencies.
    Workspace,
    /// Anywhere else: a crate with its own workspace and the SDK by path.
    Path(&'a Path),
}

/// Writes a `kind` plugin crate named `name` into `dir/name`; returns its path.
pub fn new_plugin(
    name: &str,
    kind: PluginKind,
    dir: &Path,
    sdk: Sdk<'_>,
) -> Result<PathBuf, ScaffoldError> {
    check_name(name)?;
    let root = dir.join(name);
    if root.exists() {
        return Err(ScaffoldError::Exists(root));
    }
    let manifest = match sdk {
        Sdk::Workspace => format!(
            r#"[package]
name = "{name}"
version = "0.1.0"
edition.workspace = true
license.workspace = true
publish = false

[lib]
# cdylib: the wasm32-wasip2 component; rlib: native unit tests.
crate-type = ["cdylib", "rlib"]

[dependencies]
serde.workspace = true
weir-plugin-sdk.workspace = true
"#
        ),
        Sdk::Path(sdk) => {
            let sdk = sdk
                .canonicalize()
                .map_err(|_| ScaffoldError::NoSdk(sdk.to_path_buf()))?;
            if !sdk.join("Cargo.toml").exists() {
                return Err(ScaffoldError::NoSdk(sdk));
            }
            format!(
                r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2021"
publish = false

[lib]
# cdylib: the wasm32-wasip2 component; rlib: native unit tests.
crate-type = ["cdylib", "rlib"]

[dependencies]
serde = {{ version = "1", features = ["derive"] }}
weir-plugin-sdk = {{ path = "{sdk}" }}

# A workspace of its own, so it builds wherever it is.
[workspace]
"#,
                sdk = sdk.display()
            )
        }
    };
    let template = match kind {
        PluginKind::Filter => include_str!("templates/filter.rs.tmpl"),
        PluginKind::Map => include_str!("templates/map.rs.tmpl"),
        PluginKind::FlatMap => include_str!("templates/flat_map.rs.tmpl"),
        PluginKind::Keyed => include_str!("templates/keyed.rs.tmpl"),
        PluginKind::Aggregate => include_str!("templates/aggregate.rs.tmpl"),
    };
    let source = template
        .replace("{{name}}", name)
        .replace("{{lib}}", &name.replace('-', "_"))
        .replace("{{Type}}", &type_name(name));
    write(&root.join("Cargo.toml"), &manifest)?;
    write(&root.join("src/lib.rs"), &source)?;
    Ok(root)
}

fn check_name(name: &str) -> Result<(), ScaffoldError> {
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if valid {
        Ok(())
    } else {
        Err(ScaffoldError::Name(name.into()))
    }
}

/// `cold-filter` → `ColdFilter`.
fn type_name(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or(String::new(), |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

fn write(path: &Path, text: &str) -> Result<(), ScaffoldError> {
    let error = |error| ScaffoldError::Write {
        path: path.to_path_buf(),
        error,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(error)?;
    }
    std::fs::write(path, text).map_err(error)
}
