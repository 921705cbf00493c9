//! `weir plugin build` for plugins written in Python (`app.py`) or
//! JavaScript (`app.js`): the same tools, at the same pinned versions, as
//! scripts/python-plugins and scripts/js-plugins install, against the SDK
//! and WIT of the weir checkout the plugin is in. Nothing is installed
//! here: a missing tool is named with the command that installs it.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::build::BuildError;

/// A plugin written in a scripting language, by its entry file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Script {
    Python,
    JavaScript,
}

impl Script {
    /// The language of the plugin in `dir`, if it is one.
    pub fn of(dir: &Path) -> Option<Self> {
        if dir.join("app.py").exists() {
            Some(Self::Python)
        } else if dir.join("app.js").exists() {
            Some(Self::JavaScript)
        } else {
            None
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            Self::Python => "py",
            Self::JavaScript => "js",
        }
    }

    /// The tool, where its install script puts it, else on the PATH.
    fn tool(self) -> Result<PathBuf, BuildError> {
        let tools = std::env::var_os("WEIR_TOOLS")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/weir-tools")));
        let (installed, name, install) = match self {
            Self::Python => (
                "componentize-py-0.25.1/bin/componentize-py",
                "componentize-py",
                "scripts/python-plugins install (or pip install componentize-py==0.25.1)",
            ),
            Self::JavaScript => (
                "componentize-js-0.23.0/node_modules/.bin/componentize-js",
                "componentize-js",
                "scripts/js-plugins install (or npm install @bytecodealliance/componentize-js@0.23.0)",
            ),
        };
        if let Some(path) = tools.map(|t| t.join(installed)).filter(|p| p.exists()) {
            return Ok(path);
        }
        let on_path = std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|p| p.exists())
        });
        on_path.ok_or_else(|| BuildError::Tool(format!("{name} is not installed; run {install}")))
    }
}

/// Builds the `script` plugin in `dir` into `<dir name>_<suffix>.wasm` in
/// `out` (default: `dir`); returns the component's path.
pub fn build(script: Script, dir: &Path, out: Option<&Path>) -> Result<PathBuf, BuildError> {
    let dir = dir.canonicalize().map_err(BuildError::Cargo)?;
    // A checkout's SDK and WIT, else those this weir carries.
    let checkout = match dir
        .ancestors()
        .find(|a| a.join("wit/operator.wit").exists() && a.join("plugin-sdk").is_dir())
    {
        Some(checkout) => checkout.to_path_buf(),
        None => super::bundled::home().map_err(|e| BuildError::Tool(e.to_string()))?,
    };
    let tool = script.tool()?;
    let name = dir
        .file_name()
        .map_or("plugin".into(), |n| n.to_string_lossy().replace('-', "_"));
    let out = out.map_or_else(|| dir.clone(), Path::to_path_buf);
    std::fs::create_dir_all(&out).map_err(|error| BuildError::Copy {
        path: out.clone(),
        error,
    })?;
    let component = out.join(format!("{name}_{}.wasm", script.suffix()));
    let wit = checkout.join("wit");
    let status = match script {
        Script::Python => Command::new(&tool)
            .arg("-d")
            .arg(&wit)
            .args(["-w", "operator", "componentize", "-p"])
            .arg(&dir)
            .arg("-p")
            .arg(checkout.join("plugin-sdk/python"))
            .arg("app")
            .arg("-o")
            .arg(&component)
            .status(),
        Script::JavaScript => {
            // The SDK is a prelude before the app: one module, as
            // componentize-js takes it.
            let source = [
                checkout.join("plugin-sdk/js/weir-plugin.js"),
                dir.join("app.js"),
            ]
            .iter()
            .map(std::fs::read_to_string)
            .collect::<Result<Vec<_>, _>>()
            .map_err(BuildError::Cargo)?
            .join("\n");
            let bundle =
                std::env::temp_dir().join(format!("weir-js-{}-{name}.js", std::process::id()));
            std::fs::write(&bundle, source).map_err(BuildError::Cargo)?;
            // No wasi:http: weir links none, and a plugin has no network.
            let status = Command::new(&tool)
                .arg("--wit")
                .arg(&wit)
                .args([
                    "--world-name",
                    "operator",
                    "--disable",
                    "http",
                    "fetch-event",
                    "-o",
                ])
                .arg(&component)
                .arg(&bundle)
                .status();
            let _ = std::fs::remove_file(&bundle);
            status
        }
    };
    match status {
        Ok(status) if status.success() => Ok(component),
        Ok(_) => Err(BuildError::Failed),
        Err(e) => Err(BuildError::Cargo(e)),
    }
}
