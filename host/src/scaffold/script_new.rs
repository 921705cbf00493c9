//! `weir plugin new --lang python|js`: a plugin directory with an example
//! of the kind (`app.py` or `app.js`) and a test that runs it natively —
//! CPython's unittest or Node.js's test runner — against the SDK of the
//! checkout or the one this weir carries.

use std::path::{Path, PathBuf};

use super::{write, PluginKind, ScaffoldError};

/// The language of a new plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PluginLang {
    Rust,
    Python,
    /// JavaScript (alias: javascript).
    #[value(alias = "javascript")]
    Js,
}

/// A Python or JavaScript plugin written by [`new_script_plugin`].
pub struct ScriptPlugin {
    pub root: PathBuf,
    /// The command that runs its test.
    pub test: String,
}

struct Templates {
    app: &'static str,
    test: &'static str,
}

fn templates(lang: PluginLang, kind: PluginKind) -> Result<Templates, ScaffoldError> {
    use PluginKind::*;
    let (app, test) = match (lang, kind) {
        (PluginLang::Python, Filter) => (
            include_str!("templates/python/filter.py.tmpl"),
            include_str!("templates/python/filter.test.py.tmpl"),
        ),
        (PluginLang::Python, Map) => (
            include_str!("templates/python/map.py.tmpl"),
            include_str!("templates/python/map.test.py.tmpl"),
        ),
        (PluginLang::Python, FlatMap) => (
            include_str!("templates/python/flat_map.py.tmpl"),
            include_str!("templates/python/flat_map.test.py.tmpl"),
        ),
        (PluginLang::Python, Keyed) => (
            include_str!("templates/python/keyed.py.tmpl"),
            include_str!("templates/python/keyed.test.py.tmpl"),
        ),
        (PluginLang::Python, Aggregate) => (
            include_str!("templates/python/aggregate.py.tmpl"),
            include_str!("templates/python/aggregate.test.py.tmpl"),
        ),
        (PluginLang::Js, Filter) => (
            include_str!("templates/js/filter.js.tmpl"),
            include_str!("templates/js/filter.test.mjs.tmpl"),
        ),
        (PluginLang::Js, Map) => (
            include_str!("templates/js/map.js.tmpl"),
            include_str!("templates/js/map.test.mjs.tmpl"),
        ),
        (PluginLang::Js, FlatMap) => (
            include_str!("templates/js/flat_map.js.tmpl"),
            include_str!("templates/js/flat_map.test.mjs.tmpl"),
        ),
        (PluginLang::Js, Keyed) => (
            include_str!("templates/js/keyed.js.tmpl"),
            include_str!("templates/js/keyed.test.mjs.tmpl"),
        ),
        (PluginLang::Js, Aggregate) => (
            include_str!("templates/js/aggregate.js.tmpl"),
            include_str!("templates/js/aggregate.test.mjs.tmpl"),
        ),
        (PluginLang::Rust, _) => return Err(ScaffoldError::NotAScript),
    };
    Ok(Templates { app, test })
}

/// Writes a `kind` plugin in `lang` named `name` into `dir/<name>`, its test
/// taking the SDK from `sdk_home` (a folder laid out as a checkout:
/// `plugin-sdk/python`, `plugin-sdk/js`). Returns where it is and how to
/// test it.
pub fn new_script_plugin(
    name: &str,
    lang: PluginLang,
    kind: PluginKind,
    dir: &Path,
    sdk_home: &Path,
) -> Result<ScriptPlugin, ScaffoldError> {
    super::check_name(name)?;
    let templates = templates(lang, kind)?;
    let lib = name.replace('-', "_");
    let root = dir.join(&lib);
    if root.exists() {
        return Err(ScaffoldError::Exists(root));
    }
    let (sdk, app_file, test_file) = match lang {
        PluginLang::Python => (sdk_home.join("plugin-sdk/python"), "app.py", "test_app.py"),
        _ => (
            sdk_home.join("plugin-sdk/js/weir-plugin.js"),
            "app.js",
            "app.test.mjs",
        ),
    };
    let sdk = sdk.canonicalize().map_err(|_| ScaffoldError::NoSdk(sdk))?;
    let root_text = root.display().to_string();
    let fill = |template: &str| {
        template
            .replace("{{name}}", name)
            .replace("{{lib}}", &lib)
            .replace("{{Type}}", &super::type_name(name))
            .replace("{{root}}", &root_text)
            // A quoted literal, valid in both languages.
            .replace("{{sdk}}", &format!("{:?}", sdk.display().to_string()))
    };
    let test = match lang {
        PluginLang::Python => fill(templates.test),
        _ => fill(include_str!("templates/js/test.mjs.tmpl")).replace("{{tests}}", templates.test),
    };
    write(&root.join(app_file), &fill(templates.app))?;
    write(&root.join(test_file), &test)?;
    let test = match lang {
        PluginLang::Python => format!("python3 -m unittest discover -s {root_text}"),
        _ => format!("node --test {root_text}/{test_file}"),
    };
    Ok(ScriptPlugin { root, test })
}
