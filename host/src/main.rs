//! The `weir` command line. Errors become messages here, at the edge.

use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
mod cli;

use cli::admin::{serve_admin, AdminArgs};
use cli::plugin::{plugin_command, AdminTarget, PluginAction};
use weir::generate::{write_clicks, write_sensors, ClickWorkload, SensorWorkload};
use weir::pipeline;
use weir::plugin::PluginEngine;
use weir::redact;

#[derive(Clone, Copy, clap::ValueEnum)]
enum PlanFormat {
    Text,
    /// Graphviz.
    Dot,
    Mermaid,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum SchemaFormat {
    /// JSON Schema, for editors.
    Json,
    /// The book's reference page.
    Markdown,
}

/// weir: stream processing with sandboxed WebAssembly operators.
#[derive(Parser)]
#[command(
    name = "weir",
    version,
    about,
    after_help = "Exit codes: 0 a run ended (or one Ctrl-C/SIGTERM stopped it); 1 an error \
                  (a pipeline that does not load, unreadable input, a refused change); \
                  2 a usage error; 130 a second Ctrl-C cut a run short.\n\
                  Logs: WEIR_LOG=debug for more, --log-format json for collectors."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log lines as text for people, or JSON objects for log collectors.
    #[arg(long, value_enum, default_value = "text", global = true)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run a pipeline until its input ends (or Ctrl-C).
    ///
    /// Example: weir run pipelines/sensor-alerts.toml
    /// A `.sql` file is a SQL script (Flink's dialect): CREATE TABLE
    /// statements and one SELECT or INSERT INTO … SELECT; `EXPLAIN SELECT …`
    /// prints the plan instead of running.
    Run {
        /// The pipeline file (`.toml`) or SQL script (`.sql`).
        pipeline: PathBuf,
        /// Override the pipeline's batch_size.
        #[arg(long)]
        batch_size: Option<usize>,
        /// Threads decoding input (default: one per core, at most four).
        /// Results are the same whatever the number.
        #[arg(long)]
        decoders: Option<usize>,
        /// Instances of the operators, each on its own thread (overrides the
        /// pipeline's `parallelism`; 1 to 128). Results are the same whatever
        /// the number.
        #[arg(long)]
        parallelism: Option<usize>,
        /// Do not print the summary at the end, nor progress.
        #[arg(long)]
        quiet: bool,
        /// Reading a file with standard error not a terminal (a log, a CI
        /// job): how often to log a progress line. On a terminal a progress
        /// bar shows instead.
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        progress_every: std::time::Duration,
        /// Delete the pipeline's checkpoints and start from the beginning
        /// instead of resuming from the newest one.
        #[arg(long)]
        fresh: bool,
        /// Kafka: this process's stable name in its consumer group (static
        /// membership, `group.instance.id`): restarted under the same name
        /// within the session timeout, it gets its partitions back without a
        /// rebalance of the others.
        #[arg(long)]
        instance_id: Option<String>,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Check a pipeline file (or SQL script) and load its plugins, without
    /// running it.
    ///
    /// Example: weir validate pipelines/sensor-alerts.sql
    Validate { pipeline: PathBuf },
    /// Print the pipeline's dataflow graph: sources, operators, sinks, and
    /// how rows cross each edge.
    ///
    /// Example: weir explain pipelines/sensor-alerts.toml --format dot | dot -Tsvg > plan.svg
    Explain {
        pipeline: PathBuf,
        /// As `weir run --parallelism`.
        #[arg(long)]
        parallelism: Option<usize>,
        #[arg(long, value_enum, default_value = "text")]
        format: PlanFormat,
    },
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
    /// Print a completion script for a shell.
    ///
    /// Example: weir completions bash > ~/.local/share/bash-completion/completions/weir
    Completions { shell: clap_complete::Shell },
    /// Print the JSON Schema of the pipeline file, for editors (taplo, Even
    /// Better TOML) to complete and check pipeline files.
    ///
    /// Example: weir schema > pipeline.schema.json
    ///
    /// `--format markdown` prints the same facts as the book's reference page.
    Schema {
        #[arg(long, value_enum, default_value = "json")]
        format: SchemaFormat,
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

#[derive(Subcommand)]
enum BenchKind {
    /// Throughput while the filter is swapped (every --interval, and back to
    /// back) against the same run without swaps, and the swap pause.
    ///
    /// Example: weir bench swap --events 10000000 --runs 3
    Swap(weir::bench::SwapBenchOptions),
    /// The seed query from a Kafka topic to another, against a plain rdkafka
    /// consumer of the same topic. Needs a broker: `scripts/kafka-broker start`.
    ///
    /// Example: weir bench kafka --events 200000 --runs 3
    Kafka(weir::bench::KafkaBenchOptions),
    /// The size and time of a checkpoint of 1 M keys, and throughput with a
    /// checkpoint every second against none.
    ///
    /// Example: weir bench checkpoint --keys 1000000 --events 10000000 --runs 3
    Checkpoint(weir::bench::CheckpointBenchOptions),
    /// Clicks per page: a 60 s tumbling window against a 60 s window
    /// sliding every second, on the same input.
    ///
    /// Example: weir bench windows --events 5000000 --runs 3
    Windows(weir::bench::WindowBenchOptions),
    /// A lookup join (a 100,000-row table) against no operators and the
    /// seed query, on the same input.
    ///
    /// Example: weir bench joins --events 5000000 --runs 3
    Joins(weir::bench::JoinBenchOptions),
    /// An aggregate plugin (p95) against a host aggregate (max) in the same
    /// tumbling and sliding windows, on the same input.
    ///
    /// Example: weir bench aggregates --events 5000000 --runs 3
    Aggregates(weir::bench::AggregateBenchOptions),
    /// The keyed sustained-heat pipeline and the seed query at parallelism
    /// 1 against 2 (or --parallelism), alternating in the same run.
    ///
    /// Example: weir bench parallel --events 5000000 --runs 3
    Parallel(weir::bench::ParallelBenchOptions),
    /// The seed query with its filter native, in Rust, Python and JavaScript: throughput,
    /// the filter's cost per event, component size, first and cached load,
    /// memory per instance.
    ///
    /// Example: weir bench languages --events 2000000 --runs 3
    Languages(weir::bench::LanguageBenchOptions),
}

#[derive(Subcommand)]
enum Workload {
    /// Clicks: user_id, page (Zipf-skewed popularity), event_time.
    ///
    /// Example: weir generate clicks --events 100000 --output clicks.ndjson
    Clicks {
        #[command(flatten)]
        workload: ClickWorkload,
        /// Output file; standard output when omitted.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Purchases: user_id, amount, ip, event_time, with planted fraud (a
    /// small purchase, then a large one from a new address within minutes).
    ///
    /// Example: weir generate payments --events 100000 --output payments.ndjson
    Payments {
        #[command(flatten)]
        workload: weir::generate::PaymentWorkload,
        /// Output file; standard output when omitted.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Sensor readings: sensor_id, temperature (60–120 °F), event_time.
    ///
    /// Example (a live stream): weir generate sensors --rate 2000 --now --events 1000000000 | weir run pipelines/sensor-alerts-live.toml --admin
    Sensors {
        #[command(flatten)]
        workload: SensorWorkload,
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
    let logs = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WEIR_LOG")
                .unwrap_or_else(|_| default_log.into()),
        )
        .with_writer(|| weir::redact::Stderr);
    match cli.log_format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => logs.json().init(),
    }
    match execute(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", redact::secrets(&format!("{error:#}")));
            ExitCode::from(1)
        }
    }
}

/// A workload, ready to be written to the output chosen.
type WriteWorkload = Box<dyn Fn(&mut dyn Write) -> std::io::Result<()>>;

fn execute(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run {
            pipeline: path,
            batch_size,
            decoders,
            parallelism,
            quiet,
            progress_every,
            fresh,
            instance_id,
            admin,
        } => {
            let engine = Arc::new(PluginEngine::new()?);
            let mut pipeline = load(&path, &engine)?;
            if fresh {
                pipeline.resume = weir::pipeline::Resume::Fresh;
            }
            if let Some(id) = instance_id {
                pipeline
                    .set_instance_id(&id)
                    .map_err(|e| anyhow::anyhow!("--instance-id: {e}"))?;
            }
            if let Some(size) = batch_size {
                anyhow::ensure!(size > 0, "--batch-size must be at least 1");
                pipeline.batch_size = size;
            }
            if let Some(threads) = decoders {
                anyhow::ensure!(threads > 0, "--decoders must be at least 1");
                pipeline.decoders = Some(threads);
            }
            if let Some(instances) = parallelism {
                pipeline.parallelism = checked_parallelism(instances)?;
            }
            if pipeline.explain_only {
                print!(
                    "{}",
                    redact::secrets(&weir::pipeline::plan::Plan::of(&pipeline).text())
                );
                return Ok(ExitCode::SUCCESS);
            }
            let _admin = match admin.admin {
                Some(listen) => Some(serve_admin(listen, admin, &mut pipeline, engine.clone())?),
                None => None,
            };
            let stop = Arc::new(AtomicBool::new(false));
            install_stop_handler(stop.clone());
            pipeline.progress = match (quiet, std::io::stderr().is_terminal()) {
                (true, _) => pipeline::Progress::Off,
                (false, true) => pipeline::Progress::Bar,
                (false, false) => pipeline::Progress::Lines {
                    every: progress_every,
                },
            };
            let summary = pipeline::run(pipeline, &stop)?;
            if !quiet {
                eprint!("{}", redact::secrets(&summary.to_string()));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate { pipeline: path } => {
            let engine = PluginEngine::new()?;
            let pipeline = load(&path, &engine)?;
            let mut shown = format!("{}: ok\n", path.display());
            shown += &format!("  source schema: {}\n", pipeline.schema);
            for stage in &pipeline.stages {
                shown += &format!("  {} → {}\n", stage.name, stage.output_schema());
            }
            print!("{}", redact::secrets(&shown));
            Ok(ExitCode::SUCCESS)
        }
        Command::Explain {
            pipeline: path,
            parallelism,
            format,
        } => {
            let engine = PluginEngine::new()?;
            let mut pipeline = load(&path, &engine)?;
            if let Some(instances) = parallelism {
                pipeline.parallelism = checked_parallelism(instances)?;
            }
            let plan = weir::pipeline::plan::Plan::of(&pipeline);
            let shown = match format {
                PlanFormat::Text => plan.text(),
                PlanFormat::Dot => plan.dot(),
                PlanFormat::Mermaid => plan.mermaid(),
            };
            print!("{}", redact::secrets(&shown));
            Ok(ExitCode::SUCCESS)
        }
        Command::Generate { workload } => {
            let (write, output): (WriteWorkload, _) = match workload {
                Workload::Sensors { workload, output } => {
                    (Box::new(move |out| write_sensors(&workload, out)), output)
                }
                Workload::Clicks { workload, output } => {
                    (Box::new(move |out| write_clicks(&workload, out)), output)
                }
                Workload::Payments { workload, output } => (
                    Box::new(move |out| weir::generate::write_payments(&workload, out)),
                    output,
                ),
            };
            match output {
                Some(path) => {
                    let file = std::fs::File::create(&path)
                        .with_context(|| format!("creating {}", path.display()))?;
                    write(&mut BufWriter::with_capacity(1 << 20, file))?;
                }
                None => match write(&mut BufWriter::new(std::io::stdout().lock())) {
                    // `weir generate … | weir run …` stopped by Ctrl-C: the
                    // reader went first, which is how it should end.
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
                    other => other?,
                },
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Plugin { target, action } => plugin_command(target, action),
        Command::Schema { format } => {
            let schema = weir::pipeline::config::json_schema();
            match format {
                SchemaFormat::Json => println!("{schema}"),
                SchemaFormat::Markdown => {
                    let schema = serde_json::from_str(&schema)?;
                    print!("{}", weir::pipeline::reference::markdown(&schema));
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "weir", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench { kind, options } => {
            match kind {
                None => println!("{}", weir::bench::run(&options)?),
                Some(BenchKind::Swap(options)) => println!("{}", weir::bench::run_swap(&options)?),
                Some(BenchKind::Kafka(options)) => {
                    println!("{}", weir::bench::run_kafka(&options)?)
                }
                Some(BenchKind::Checkpoint(options)) => {
                    println!("{}", weir::bench::run_checkpoint(&options)?)
                }
                Some(BenchKind::Aggregates(options)) => {
                    println!("{}", weir::bench::run_aggregates(&options)?)
                }
                Some(BenchKind::Windows(options)) => {
                    println!("{}", weir::bench::run_windows(&options)?)
                }
                Some(BenchKind::Joins(options)) => {
                    println!("{}", weir::bench::run_joins(&options)?)
                }
                Some(BenchKind::Parallel(options)) => {
                    println!("{}", weir::bench::run_parallel(&options)?)
                }
                Some(BenchKind::Languages(options)) => {
                    println!("{}", weir::bench::run_languages(&options)?)
                }
            }
            std::io::stdout().flush()?;
            Ok(ExitCode::SUCCESS)
        }
    }
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

fn checked_parallelism(instances: usize) -> anyhow::Result<usize> {
    weir::pipeline::parallel::check(instances).map_err(|e| anyhow::anyhow!("--parallelism {e}"))
}
