//! The `weir` command line. Errors become messages here, at the edge.

use std::io::{BufWriter, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use weir::admin::{client, client::Client, AdminOptions, AdminServer};
use weir::generate::{write_sensors, SensorWorkload};
use weir::pipeline;
use weir::plugin::PluginEngine;

/// weir: stream processing with sandboxed WebAssembly operators.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a pipeline until its input ends (or Ctrl-C).
    ///
    /// Example: weir run pipelines/sensor-alerts.toml
    Run {
        /// The pipeline file.
        pipeline: PathBuf,
        /// Override the pipeline's batch_size.
        #[arg(long)]
        batch_size: Option<usize>,
        /// Threads decoding input (default: one per core, at most four).
        /// Results are the same whatever the number.
        #[arg(long)]
        decoders: Option<usize>,
        /// Do not print the summary at the end.
        #[arg(long)]
        quiet: bool,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Check a pipeline file and load its plugins, without running it.
    ///
    /// Example: weir validate pipelines/sensor-alerts.toml
    Validate { pipeline: PathBuf },
    /// Write a deterministic workload as NDJSON.
    ///
    /// Example: weir generate sensors --events 100000 --seed 7 --output sensors.ndjson
    Generate {
        #[command(subcommand)]
        workload: Workload,
    },
    /// Change the plugins of a running pipeline (started with --admin).
    ///
    /// Example: weir plugin swap over-threshold plugins/dist/over_threshold.wasm
    Plugin {
        #[command(flatten)]
        target: AdminTarget,
        #[command(subcommand)]
        action: PluginAction,
    },
    /// Measure the seed query with Wasm plugins against the same logic compiled natively.
    ///
    /// Example: weir bench --events 10000000
    ///
    /// `weir bench swap` measures hot swapping instead.
    Bench {
        #[command(subcommand)]
        kind: Option<BenchKind>,
        #[command(flatten)]
        options: weir::bench::BenchOptions,
    },
}

/// Serving the admin API from `weir run`.
#[derive(clap::Args)]
struct AdminArgs {
    /// Serve the admin API (plugin list, load, swap, unload) on this
    /// address; loopback only unless --admin-allow-remote.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = weir::admin::DEFAULT_ADDR)]
    admin: Option<SocketAddr>,
    /// Allow --admin on an address other than loopback.
    #[arg(long, requires = "admin")]
    admin_allow_remote: bool,
    /// Where to write the generated bearer token (mode 0600). Default:
    /// ~/.local/state/weir/admin-PORT.token. $WEIR_ADMIN_TOKEN replaces it.
    #[arg(long, value_name = "FILE", requires = "admin")]
    admin_token_file: Option<PathBuf>,
    /// A directory components may be loaded from (repeatable). Default: the
    /// directories of the pipeline's plugins.
    #[arg(long, value_name = "DIR", requires = "admin")]
    plugin_dir: Vec<PathBuf>,
    /// Swap a stage whenever its component file changes on disk.
    #[arg(long, requires = "admin")]
    watch: bool,
    /// Batches a new version must process before it is kept; on a batch it
    /// fails more rows of than the old version, it is rolled back.
    #[arg(long, default_value_t = 3, requires = "admin")]
    trial_batches: u32,
    /// How long a swap request waits for the trial's verdict before it
    /// answers `on-trial` (the stream may be idle); the trial goes on.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, requires = "admin")]
    trial_wait: Duration,
}

/// Which running host `weir plugin` talks to.
#[derive(clap::Args)]
struct AdminTarget {
    /// The host's admin address.
    #[arg(long, env = "WEIR_ADMIN", default_value = weir::admin::DEFAULT_ADDR, global = true)]
    admin: SocketAddr,
    /// The token file the host wrote (default: the one for the address's port).
    #[arg(long, env = "WEIR_ADMIN_TOKEN_FILE", global = true)]
    token_file: Option<PathBuf>,
}

#[derive(Subcommand)]
enum PluginAction {
    /// The plugin stages: version, content hash, counters, recent changes.
    List {
        /// Print the API's JSON.
        #[arg(long)]
        json: bool,
    },
    /// Replace a stage's plugin by a new version, without stopping the stream.
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
    Unload { stage: String },
    /// The pipeline's state and every stage's counters, as JSON.
    Status,
    /// Start a plugin crate: an example of the kind and its test.
    ///
    /// Example (in a weir checkout): weir plugin new cold-filter --kind filter
    New {
        /// Crate name: lowercase letters, digits, dashes.
        name: String,
        #[arg(long, value_enum, default_value = "filter")]
        kind: weir::scaffold::PluginKind,
        /// Where to create it (default: plugins/ in a weir checkout, else here).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// The weir checkout's plugin-sdk, for a plugin outside the checkout.
        #[arg(long)]
        sdk: Option<PathBuf>,
    },
    /// Build a plugin crate into a component and show its declared schema.
    ///
    /// Example: weir plugin build plugins/cold-filter --out plugins/dist
    Build {
        /// The crate's directory.
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
    },
}

#[derive(Subcommand)]
enum BenchKind {
    /// Throughput while the filter is swapped (every --interval, and back to
    /// back) against the same run without swaps, and the swap pause.
    ///
    /// Example: weir bench swap --events 10000000 --runs 3
    Swap(weir::bench::SwapBenchOptions),
}

#[derive(Subcommand)]
enum Workload {
    /// Sensor readings: sensor_id, temperature (60–120 °F), event_time.
    Sensors {
        #[arg(long, default_value_t = 1_000_000)]
        events: u64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        #[arg(long, default_value_t = 1_000)]
        sensors: u32,
        /// Largest delay of an on-time reading, in ms.
        #[arg(long, default_value_t = 4_000)]
        max_disorder_ms: i64,
        /// Fraction of readings delayed far beyond the disorder bound.
        #[arg(long, default_value_t = 0.0)]
        late_ratio: f64,
        /// Write event_time as RFC 3339 text instead of epoch millis.
        #[arg(long)]
        rfc3339: bool,
        /// Readings per second, for a live stream (default: as fast as possible).
        #[arg(long)]
        rate: Option<u64>,
        /// Output file; standard output when omitted.
        #[arg(long)]
        output: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // A benchmark swaps thousands of times; one log line each would be noise.
    let default_log = match cli.command {
        Command::Bench { .. } => "warn",
        _ => "weir=info,warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WEIR_LOG")
                .unwrap_or_else(|_| default_log.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match execute(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
    }
}

fn execute(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run {
            pipeline: path,
            batch_size,
            decoders,
            quiet,
            admin,
        } => {
            let engine = Arc::new(PluginEngine::new()?);
            let mut pipeline = load(&path, &engine)?;
            if let Some(size) = batch_size {
                anyhow::ensure!(size > 0, "--batch-size must be at least 1");
                pipeline.batch_size = size;
            }
            if let Some(threads) = decoders {
                anyhow::ensure!(threads > 0, "--decoders must be at least 1");
                pipeline.decoders = Some(threads);
            }
            let _admin = match admin.admin {
                Some(listen) => Some(serve_admin(listen, admin, &mut pipeline, engine.clone())?),
                None => None,
            };
            let stop = Arc::new(AtomicBool::new(false));
            install_stop_handler(stop.clone());
            let summary = pipeline::run(pipeline, &stop)?;
            if !quiet {
                eprint!("{summary}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate { pipeline: path } => {
            let engine = PluginEngine::new()?;
            let pipeline = load(&path, &engine)?;
            println!("{}: ok", path.display());
            println!("  source schema: {}", pipeline.schema);
            for stage in &pipeline.stages {
                println!("  {} → {}", stage.name, stage.output_schema());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Generate {
            workload:
                Workload::Sensors {
                    events,
                    seed,
                    sensors,
                    max_disorder_ms,
                    late_ratio,
                    rfc3339,
                    rate,
                    output,
                },
        } => {
            let workload = SensorWorkload {
                events,
                seed,
                sensors,
                max_disorder_ms,
                late_ratio,
                rfc3339,
                rate,
                ..Default::default()
            };
            match output {
                Some(path) => {
                    let file = std::fs::File::create(&path)
                        .with_context(|| format!("creating {}", path.display()))?;
                    write_sensors(&workload, &mut BufWriter::with_capacity(1 << 20, file))?;
                }
                None => {
                    let written =
                        write_sensors(&workload, &mut BufWriter::new(std::io::stdout().lock()));
                    match written {
                        // `weir generate … | weir run …` stopped by Ctrl-C:
                        // the reader went first, which is how it should end.
                        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                        other => other?,
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Plugin { target, action } => plugin_command(target, action),
        Command::Bench { kind, options } => {
            match kind {
                None => println!("{}", weir::bench::run(&options)?),
                Some(BenchKind::Swap(options)) => println!("{}", weir::bench::run_swap(&options)?),
            }
            std::io::stdout().flush()?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn serve_admin(
    listen: SocketAddr,
    args: AdminArgs,
    pipeline: &mut pipeline::Pipeline,
    engine: Arc<PluginEngine>,
) -> anyhow::Result<AdminServer> {
    let plugin_dirs = if args.plugin_dir.is_empty() {
        let mut dirs: Vec<PathBuf> = pipeline
            .stages
            .iter()
            .filter_map(|stage| match &stage.kind {
                pipeline::StageKind::Plugin(plugin, _) => {
                    plugin.prepared().path.parent().map(Path::to_path_buf)
                }
                _ => None,
            })
            .collect();
        dirs.dedup();
        dirs
    } else {
        args.plugin_dir
    };
    let options = AdminOptions {
        listen,
        allow_remote: args.admin_allow_remote,
        token_file: args.admin_token_file,
        plugin_dirs,
        watch: args.watch,
        trial_batches: args.trial_batches,
        trial_wait: args.trial_wait,
    };
    AdminServer::start(options, pipeline.controller(), engine)
}

fn plugin_command(target: AdminTarget, action: PluginAction) -> anyhow::Result<ExitCode> {
    if let PluginAction::Test {
        component,
        input,
        config,
    } = &action
    {
        let engine = PluginEngine::new()?;
        let run = weir::plugin::run_sample(&engine, component, config, input)?;
        println!("{run}");
        return Ok(ExitCode::SUCCESS);
    }
    if let PluginAction::Build { dir, out } = &action {
        let engine = PluginEngine::new()?;
        let built = weir::scaffold::build_plugin(dir, out.as_deref(), &engine)?;
        println!(
            "built {} ({} bytes)",
            built.component.display(),
            built.bytes
        );
        println!("{}", built.descriptor);
        return Ok(ExitCode::SUCCESS);
    }
    if let PluginAction::New {
        name,
        kind,
        dir,
        sdk,
    } = &action
    {
        return new_plugin(name, *kind, dir.as_deref(), sdk.as_deref());
    }
    let client = Client::new(target.admin, target.token_file);
    let result = match action {
        PluginAction::List { json } => {
            let list = client.list()?;
            match json {
                true => println!("{}", serde_json::to_string_pretty(&list)?),
                false => print!("{}", client::format_list(&list)),
            }
            return Ok(ExitCode::SUCCESS);
        }
        PluginAction::Status => {
            println!("{}", serde_json::to_string_pretty(&client.status()?)?);
            return Ok(ExitCode::SUCCESS);
        }
        PluginAction::Swap {
            stage,
            component,
            upload,
            config,
        } => client.swap(&stage, &component, upload, config.as_deref()),
        PluginAction::Load {
            component,
            name,
            after,
            config,
        } => client.load(
            &component,
            name.as_deref(),
            after.as_deref(),
            config.as_deref(),
        ),
        PluginAction::Unload { stage } => client.unload(&stage),
        PluginAction::Test { .. } | PluginAction::New { .. } | PluginAction::Build { .. } => {
            unreachable!("handled above, without a host")
        }
    };
    match result {
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
/// the workspace; elsewhere it stands alone and needs `--sdk`.
fn new_plugin(
    name: &str,
    kind: weir::scaffold::PluginKind,
    dir: Option<&Path>,
    sdk: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    use weir::scaffold::Sdk;
    let in_checkout = Path::new("plugin-sdk/Cargo.toml").exists() && Path::new("plugins").is_dir();
    let (dir, sdk) = match (dir, sdk) {
        (None, None) if in_checkout => (Path::new("plugins"), Sdk::Workspace),
        (Some(dir), None) if in_checkout && dir == Path::new("plugins") => (dir, Sdk::Workspace),
        (dir, Some(sdk)) => (dir.unwrap_or(Path::new(".")), Sdk::Path(sdk)),
        (dir, None) => {
            let sdk = Path::new("plugin-sdk");
            (dir.unwrap_or(Path::new(".")), Sdk::Path(sdk))
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

fn load(path: &Path, engine: &PluginEngine) -> anyhow::Result<pipeline::Pipeline> {
    // The error already says file:line:column; no extra context needed.
    Ok(pipeline::load(path, engine)?)
}

/// First Ctrl-C (or SIGTERM): stop reading and finish what is in flight.
/// Second: exit now.
fn install_stop_handler(stop: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut interrupt), Ok(mut terminate)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) else {
                tracing::warn!("cannot listen for signals; Ctrl-C will end the process at once");
                return;
            };
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            tracing::warn!("stopping: finishing in-flight batches (Ctrl-C again to exit now)");
            stop.store(true, Ordering::Relaxed);
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            std::process::exit(130);
        });
    });
}
