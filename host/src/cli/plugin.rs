//! `weir plugin …`: changing a running host through its admin API, and the
//! plugin author's commands (new, build, test) that need no host.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use weir::admin::{client, client::Client};
use weir::plugin::PluginEngine;

/// Which running host `weir plugin` talks to.
#[derive(clap::Args)]
pub struct AdminTarget {
    /// The host's admin address.
    #[arg(long, env = "WEIR_ADMIN", default_value = weir::admin::DEFAULT_ADDR, global = true)]
    admin: SocketAddr,
    /// The token file the host wrote (default: the one for the address's port).
    #[arg(long, env = "WEIR_ADMIN_TOKEN_FILE", global = true)]
    token_file: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum PluginAction {
    /// The plugin stages: version, content hash, counters, recent changes.
    ///
    /// Example: weir plugin list --admin 127.0.0.1:7370
    List {
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Replace a stage's plugin by a new version, without stopping the stream.
    ///
    /// Example: weir plugin swap hot-readings plugins/dist/over_threshold.wasm --config '{"threshold": 110}'
    Swap {
        stage: String,
        /// The new component (a file in one of the host's plugin directories).
        component: PathBuf,
        /// Send the file's bytes instead of its path.
        #[arg(long)]
        upload: bool,
        /// A new config for the stage, as a JSON object (default: keep it).
        #[arg(long)]
        config: Option<String>,
    },
    /// Add a plugin stage (it must leave the rows' fields as they are).
    ///
    /// Example: weir plugin load plugins/dist/over_threshold.wasm --name very-hot --after hot-readings --config '{"threshold": 115}'
    Load {
        component: PathBuf,
        /// Stage name (default: the plugin's name).
        #[arg(long)]
        name: Option<String>,
        /// The stage to put it after (default: first).
        #[arg(long)]
        after: Option<String>,
        /// The plugin's config, as a JSON object.
        #[arg(long)]
        config: Option<String>,
    },
    /// Remove a stage that was loaded at run time or is marked `unload = "bypass"`.
    ///
    /// Example: weir plugin unload very-hot
    Unload { stage: String },
    /// The pipeline's state and every stage's counters, as JSON.
    ///
    /// Example: weir plugin status | jq '.stages[] | {name, rows_in, rows_out}'
    Status,
    /// Start a plugin: an example of the kind and its test, in Rust (a
    /// crate), Python (app.py) or JavaScript (app.js).
    ///
    /// Example (in a weir checkout): weir plugin new cold-filter --kind filter --lang python
    New {
        /// Plugin name: lowercase letters, digits, dashes.
        name: String,
        #[arg(long, value_enum, default_value = "filter")]
        kind: weir::scaffold::PluginKind,
        #[arg(long, value_enum, default_value = "rust")]
        lang: weir::scaffold::PluginLang,
        /// Where to create it (default: plugins/ in a weir checkout, else here).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// A plugin-sdk folder to use (default outside a checkout: the SDK this
        /// weir carries, written once to $XDG_DATA_HOME/weir).
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Build a plugin crate, or a Python (app.py) or JavaScript (app.js)
    /// plugin, into a component and show its declared schema.
    ///
    /// Example: weir plugin build plugins/cold-filter --out plugins/dist
    Build {
        /// The plugin's directory.
        #[arg(default_value = ".")]
        dir: PathBuf,
        /// Copy the component into this directory.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run a plugin over sample NDJSON records, without a pipeline or a host,
    /// and show what it does with each line.
    ///
    /// Example: weir plugin test plugins/dist/over_threshold.wasm --input data/sensors-sample.ndjson --config '{"threshold": 100}'
    Test {
        component: PathBuf,
        /// NDJSON records with (at least) the fields the plugin reads.
        #[arg(long)]
        input: PathBuf,
        /// The plugin's config, as a JSON object (default: `{}`).
        #[arg(long, default_value = "{}")]
        config: String,
        /// For a keyed plugin: the field that keys it (a string).
        #[arg(long)]
        key_by: Option<String>,
    },
}

pub fn plugin_command(target: AdminTarget, action: PluginAction) -> anyhow::Result<ExitCode> {
    let client = || Client::new(target.admin, target.token_file.clone());
    let change = match action {
        // The author's commands need no host.
        PluginAction::Test {
            component,
            input,
            config,
            key_by,
        } => {
            let engine = PluginEngine::new()?;
            let run =
                weir::plugin::run_sample(&engine, &component, &config, &input, key_by.as_deref())?;
            println!("{run}");
            return Ok(ExitCode::SUCCESS);
        }
        PluginAction::Build { dir, out } => {
            let engine = PluginEngine::new()?;
            let built = weir::scaffold::build_plugin(&dir, out.as_deref(), &engine)?;
            println!(
                "built {} ({} bytes)",
                built.component.display(),
                built.bytes
            );
            println!("{}", built.descriptor);
            return Ok(ExitCode::SUCCESS);
        }
        PluginAction::New {
            name,
            kind,
            lang: weir::scaffold::PluginLang::Rust,
            dir,
            sdk,
        } => return new_plugin(&name, kind, dir.as_deref(), sdk.as_deref()),
        PluginAction::New {
            name,
            kind,
            lang,
            dir,
            sdk,
        } => return new_script_plugin(&name, lang, kind, dir.as_deref(), sdk.as_deref()),
        PluginAction::List { json } => {
            let list = client().list()?;
            match json {
                true => println!("{}", serde_json::to_string_pretty(&list)?),
                false => print!("{}", client::format_list(&list)),
            }
            return Ok(ExitCode::SUCCESS);
        }
        PluginAction::Status => {
            println!("{}", serde_json::to_string_pretty(&client().status()?)?);
            return Ok(ExitCode::SUCCESS);
        }
        PluginAction::Swap {
            stage,
            component,
            upload,
            config,
        } => client().swap(&stage, &component, upload, config.as_deref()),
        PluginAction::Load {
            component,
            name,
            after,
            config,
        } => client().load(
            &component,
            name.as_deref(),
            after.as_deref(),
            config.as_deref(),
        ),
        PluginAction::Unload { stage } => client().unload(&stage),
    };
    match change {
        Ok(report) => {
            println!("{}", client::format_change(&report));
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => match error.downcast_ref::<client::Refused>() {
            Some(refused) => {
                eprintln!("error: {refused}");
                Ok(ExitCode::from(1))
            }
            None => Err(error),
        },
    }
}

/// In a weir checkout (a `plugins/` beside a `plugin-sdk/`) the crate joins
/// the workspace; elsewhere it stands alone, with the SDK from `--sdk` or
/// else the one this binary carries.
pub fn new_plugin(
    name: &str,
    kind: weir::scaffold::PluginKind,
    dir: Option<&Path>,
    sdk: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    use weir::scaffold::Sdk;
    let in_checkout = Path::new("plugin-sdk/Cargo.toml").exists() && Path::new("plugins").is_dir();
    let bundled: PathBuf;
    let (dir, sdk) = match (dir, sdk) {
        (None, None) if in_checkout => (Path::new("plugins"), Sdk::Workspace),
        (Some(dir), None) if in_checkout && dir == Path::new("plugins") => (dir, Sdk::Workspace),
        (dir, Some(sdk)) => (dir.unwrap_or(Path::new(".")), Sdk::Path(sdk)),
        (dir, None) => {
            let Some(root) = weir::scaffold::bundled_sdk_root() else {
                anyhow::bail!("neither $XDG_DATA_HOME nor $HOME is set, so there is nowhere to put the plugin SDK: pass --sdk");
            };
            bundled = weir::scaffold::export_bundled_sdk(&root)?;
            println!(
                "plugin SDK (the one this weir carries): {}",
                bundled.display()
            );
            (dir.unwrap_or(Path::new(".")), Sdk::Path(&bundled))
        }
    };
    let root = weir::scaffold::new_plugin(name, kind, dir, sdk)?;
    println!("created {}", root.display());
    println!(
        "  test it:   cargo test --manifest-path {}/Cargo.toml",
        root.display()
    );
    println!("  build it:  scripts/build-plugins (in a weir checkout), or");
    println!(
        "             cargo build --release --target wasm32-wasip2 --manifest-path {}/Cargo.toml",
        root.display()
    );
    println!("  try it:    weir plugin test <the .wasm> --input sample.ndjson --config '{{…}}'");
    Ok(ExitCode::SUCCESS)
}

/// `weir plugin new --lang python|js`: in a checkout under plugins/python or
/// plugins/js (which scripts/python-plugins and scripts/js-plugins build),
/// elsewhere in `dir`, its test using the checkout's SDK or the one this
/// weir carries.
fn new_script_plugin(
    name: &str,
    lang: weir::scaffold::PluginLang,
    kind: weir::scaffold::PluginKind,
    dir: Option<&Path>,
    sdk: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    use weir::scaffold::PluginLang;
    let sub = if lang == PluginLang::Python {
        "python"
    } else {
        "js"
    };
    let in_checkout = Path::new("plugin-sdk").join(sub).is_dir() && Path::new("plugins").is_dir();
    let home = match sdk {
        Some(sdk) => sdk.parent().unwrap_or(Path::new(".")).to_path_buf(),
        None if in_checkout => PathBuf::from("."),
        None => weir::scaffold::bundled_sdk_home()?,
    };
    let dir = match dir {
        Some(dir) => dir.to_path_buf(),
        None if in_checkout => Path::new("plugins").join(sub),
        None => PathBuf::from("."),
    };
    let plugin = weir::scaffold::new_script_plugin(name, lang, kind, &dir, &home)?;
    let root = plugin.root.display();
    let (tool, install) = match lang {
        PluginLang::Python => (
            "componentize-py 0.25.1",
            "scripts/python-plugins install, or pip install componentize-py==0.25.1",
        ),
        _ => (
            "componentize-js 0.23.0",
            "scripts/js-plugins install, or npm install @bytecodealliance/componentize-js@0.23.0",
        ),
    };
    println!("created {root}");
    println!("  test it:   {}", plugin.test);
    println!("  build it:  weir plugin build {root}   (needs {tool}: {install})");
    println!("  try it:    weir plugin test <the .wasm> --input sample.ndjson --config '{{…}}'");
    Ok(ExitCode::SUCCESS)
}
