//! From a pipeline file to a runnable, fully checked pipeline: every plugin is
//! compiled, its schema checked and its config accepted before any event flows.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::config::{
    AggregateConfig, Millis, OperatorConfig, PipelineFile, WindowKind, WindowTime,
};
use super::control::{self, ControlPort, Controller};
use super::endpoints::{self, SinkSpec, SourceSpec};
use super::error::PipelineError;
use super::operator::{PluginStage, WindowStage};
use super::progress::Progress;
use super::stage::{Stage, Unload};
use crate::data::{Field, FieldType, Schema};
use crate::plugin::{AggregatePlugin, FailurePolicy, PluginEngine, PluginLimits, PluginOperator};
use crate::state::CheckpointSettings;
use crate::window::{self, AggregateSpec, EventTimeWindows, WindowShape, WindowSpec};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    Latest,
    Fresh,
}

pub struct Pipeline {
    pub name: String,
    pub batch_size: usize,
    /// Decoder threads; `None` picks one per core (at most four).
    pub decoders: Option<usize>,
    /// Instances of the operators (see [`super::parallel`]).
    pub parallelism: usize,
    pub source: SourceSpec,
    pub schema: Arc<Schema>,
    /// Index in `schema` of the event-time field.
    pub time_column: usize,
    pub max_out_of_orderness_ms: i64,
    /// See [`crate::time::FutureLimit`].
    pub max_future_ms: i64,
    pub stages: Vec<Stage>,
    /// Where results go, each sink with the stage it takes them from.
    pub sinks: Vec<SinkRoute>,
    pub dead_letter: Option<PathBuf>,
    pub checkpoint: Option<CheckpointSettings>,
    /// See the pipeline file's `shutdown_timeout`.
    pub shutdown_timeout: std::time::Duration,
    /// Whether to resume from the newest checkpoint, if there is one, or
    /// delete the checkpoints and start afresh.
    pub resume: Resume,
    /// The directory of the pipeline file: the base of its relative paths.
    pub base_dir: PathBuf,
    pub(crate) control: Option<ControlPort>,
    /// How to show progress while a file (not followed) is read.
    pub progress: Progress,
}

/// A sink and the stage whose results it receives (`None`: the last).
pub struct SinkRoute {
    pub spec: SinkSpec,
    pub from: Option<String>,
}

impl Pipeline {
    /// Sends every result of the last stage to `spec`, and only there
    /// (benchmarks and tests replace the file's sinks so).
    pub fn set_sink(&mut self, spec: SinkSpec) {
        self.sinks = vec![SinkRoute { spec, from: None }];
    }

    /// Opens the pipeline to changes while it runs (see [`Controller`]).
    pub fn controller(&mut self) -> Controller {
        let (controller, port) = control::channel(&self.name, self.schema.clone(), &self.stages);
        self.control = Some(port);
        controller
    }
}

/// Reads, checks and builds the pipeline at `path`, loading its plugins.
pub fn load(path: &Path, engine: &PluginEngine) -> Result<Pipeline, PipelineError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        PipelineError::at(
            path,
            "",
            None,
            format!("cannot read the pipeline file: {e}"),
        )
    })?;
    parse(path, &text, engine)
}

/// Checks and builds a pipeline from its text; `path` locates errors and is the
/// base for relative paths.
pub fn parse(path: &Path, text: &str, engine: &PluginEngine) -> Result<Pipeline, PipelineError> {
    let file: PipelineFile = toml::from_str(text)
        .map_err(|e| PipelineError::at(path, text, e.span(), e.message().trim_end()))?;
    let base = path.parent().unwrap_or(Path::new(""));
    let at = |span: std::ops::Range<usize>, message: String| {
        PipelineError::at(path, text, Some(span), message)
    };

    if file.batch_size == 0 || file.batch_size > 1 << 20 {
        return Err(at(
            0..0,
            format!(
                "batch_size must be between 1 and {}, got {}",
                1 << 20,
                file.batch_size
            ),
        ));
    }
    let parallelism = match &file.parallelism {
        Some(spanned) => super::parallel::check(*spanned.get_ref())
            .map_err(|e| at(spanned.span(), format!("parallelism {e}")))?,
        None => 1,
    };
    let schema_span = file.schema.span();
    let fields: Vec<Field> = file
        .schema
        .into_inner()
        .into_iter()
        .map(|(name, ty)| Field::new(name, ty))
        .collect();
    if fields.is_empty() {
        return Err(at(schema_span, "the schema declares no fields".into()));
    }
    let schema = Schema::new(fields).map_err(|e| at(schema_span.clone(), e.to_string()))?;

    let time_span = file.event_time.field.span();
    let time_field = file.event_time.field.into_inner();
    let time_column = match schema.field(&time_field) {
        Some(f) if matches!(f.ty, FieldType::Timestamp | FieldType::I64) => schema.index_of(&time_field).unwrap_or(0),
        Some(f) => {
            return Err(at(time_span, format!("event_time field `{time_field}` is a {}; it must be a timestamp or i64 (epoch millis)", f.ty)))
        }
        None => return Err(at(time_span, format!("event_time field `{time_field}` is not in the schema; available: {schema}"))),
    };

    let source_span = file.source.span();
    let source = endpoints::source(file.source.into_inner(), base, &schema)
        .map_err(|message| at(source_span, message))?;

    let mut stages = Vec::new();
    let mut current = schema.clone();
    for (index, spanned) in file.operators.into_iter().enumerate() {
        let span = spanned.span();
        let number = index + 1;
        let stage = match spanned.into_inner() {
            OperatorConfig::Plugin {
                name,
                path: plugin_path,
                config,
                key_by,
                memory_mib,
                batch_deadline,
                max_output_mib,
                max_fan_out,
                max_timers,
                on_failure,
                quarantine_after,
                unload,
            } => {
                let config_json = serde_json::to_string(&config).map_err(|e| {
                    at(
                        span.clone(),
                        format!("operator #{number}: config cannot be passed as JSON: {e}"),
                    )
                })?;
                let limits = plugin_limits(&LimitSettings {
                    memory_mib,
                    batch_deadline,
                    max_output_mib,
                    max_fan_out,
                    max_timers,
                })
                .map_err(|e| at(span.clone(), format!("operator #{number}: {e}")))?;
                let mut policy = FailurePolicy::default();
                if let Some(after) = quarantine_after {
                    policy.quarantine_after = after;
                }
                let path = base.join(&plugin_path);
                let plugin =
                    PluginOperator::load(engine, &path, &config_json, &current, limits, policy)
                        .and_then(|p| p.keyed_by(key_by.as_deref(), &current))
                        .map_err(|e| at(span.clone(), format!("operator #{number}: {e}")))?;
                let name = name.unwrap_or_else(|| plugin.descriptor().name.clone());
                if unload == Unload::Bypass && plugin.output_schema() != &current {
                    return Err(at(
                        span.clone(),
                        format!(
                            "operator #{number} (`{name}`): unload = \"bypass\" needs a stage that passes rows on with the same fields (a filter); this one outputs {}",
                            plugin.output_schema()
                        ),
                    ));
                }
                let mut stage = Stage::new(
                    name,
                    Box::new(PluginStage::new(Box::new(plugin), on_failure)),
                    current.clone(),
                );
                stage.unload = unload;
                stage
            }
            OperatorConfig::Window {
                name,
                kind,
                size,
                slide,
                gap,
                time,
                early_fire_every,
                allowed_lateness,
                key_by,
                aggregates,
            } => {
                let name = name.unwrap_or_else(|| format!("window-{number}"));
                let shape = window_shape(kind, size, slide, gap)
                    .map_err(|e| at(span.clone(), format!("operator #{number} (`{name}`): {e}")))?;
                let aggregates = aggregates
                    .iter()
                    .map(|(aggregate, config)| {
                        aggregate_spec(engine, base, aggregate, config, &current)
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| at(span.clone(), format!("operator #{number} (`{name}`): {e}")))?;
                let spec = WindowSpec {
                    key_by,
                    shape,
                    allowed_lateness_ms: allowed_lateness.map_or(0, |l| l.0),
                    time: match time {
                        WindowTime::Event => window::WindowTime::Event,
                        WindowTime::Processing => window::WindowTime::Processing,
                    },
                    early_fire_every_ms: early_fire_every.map(|every| every.0),
                    aggregates,
                };
                let window = EventTimeWindows::new(&spec, &current)
                    .map_err(|e| at(span.clone(), format!("operator #{number} (`{name}`): {e}")))?;
                Stage::new(
                    name,
                    Box::new(WindowStage(Box::new(window))),
                    current.clone(),
                )
            }
        };
        if stages.iter().any(|s: &Stage| s.name == stage.name) {
            return Err(at(
                span,
                format!(
                    "operator #{number}: a stage named `{}` already exists; give this one a `name`",
                    stage.name
                ),
            ));
        }
        current = stage.output_schema().clone();
        stages.push(stage);
    }

    let name = file.name.unwrap_or_else(|| {
        path.file_stem()
            .map_or("pipeline".into(), |s| s.to_string_lossy().into_owned())
    });
    let configs = match (file.sink, file.sinks.is_empty()) {
        (Some(sink), true) => vec![sink],
        (None, false) => file.sinks,
        (Some(sink), false) => {
            return Err(at(
                sink.span(),
                "use either one [sink] table or [[sinks]] tables, not both".into(),
            ))
        }
        (None, true) => {
            return Err(at(
                0..0,
                "where do results go? add a [sink] table (or [[sinks]] tables)".into(),
            ))
        }
    };
    let mut sinks = Vec::new();
    for (number, spanned) in configs.into_iter().enumerate() {
        let span = spanned.span();
        let config = spanned.into_inner();
        let from = config.from().map(str::to_string);
        let results = match &from {
            None => current.clone(),
            Some(stage) => match stages.iter().find(|s| s.name == *stage) {
                Some(stage) => stage.output_schema().clone(),
                None => {
                    let known: Vec<&str> = stages.iter().map(|s| s.name.as_str()).collect();
                    return Err(at(
                        span,
                        format!(
                            "sink #{}: from = \"{stage}\" names no stage; the stages are: {}",
                            number + 1,
                            known.join(", ")
                        ),
                    ));
                }
            },
        };
        let mut spec = endpoints::sink(config, base, &results).map_err(|m| at(span.clone(), m))?;
        match &mut spec {
            SinkSpec::Webhook(settings) => settings.id_prefix = name.clone(),
            SinkSpec::Postgres(settings) => settings.id_prefix = name.clone(),
            SinkSpec::Kafka(settings) => {
                settings.id_prefix = name.clone();
                if settings.transactional_id.is_some() && file.checkpoint.is_none() {
                    return Err(at(
                        span,
                        "transactional_id commits a transaction with each checkpoint: add a [checkpoint] table".into(),
                    ));
                }
            }
            _ => {}
        }
        sinks.push(SinkRoute { spec, from });
    }
    let checkpoint = match file.checkpoint {
        None => None,
        Some(spanned) => {
            let span = spanned.span();
            let config = spanned.into_inner();
            if matches!(source, SourceSpec::Stdin { .. } | SourceSpec::Http(_)) {
                let which = if matches!(source, SourceSpec::Http(_)) {
                    "an http source"
                } else {
                    "stdin"
                };
                return Err(at(
                    span,
                    format!("checkpoints need a source that can be read again from a position (a file or Kafka), not {which}"),
                ));
            }
            if config.interval.is_some_and(|i| i.0 == 0) || config.keep == Some(0) {
                return Err(at(
                    span,
                    "checkpoint interval and keep must be above zero".into(),
                ));
            }
            Some(CheckpointSettings {
                dir: base.join(
                    config
                        .dir
                        .unwrap_or_else(|| Path::new(".weir/checkpoints").join(&name)),
                ),
                interval: config
                    .interval
                    .map_or(std::time::Duration::from_secs(10), Millis::duration),
                keep: config.keep.unwrap_or(3),
            })
        }
    };
    Ok(Pipeline {
        name,
        batch_size: file.batch_size,
        decoders: None,
        parallelism,
        source,
        schema,
        time_column,
        max_out_of_orderness_ms: file.event_time.max_out_of_orderness.into_inner().0,
        max_future_ms: file
            .event_time
            .max_future
            .map_or(crate::time::FutureLimit::DEFAULT_MS, |m| m.0),
        stages,
        sinks,
        dead_letter: file.dead_letter.map(|d| base.join(d.path)),
        checkpoint,
        shutdown_timeout: file
            .shutdown_timeout
            .map_or(std::time::Duration::from_secs(30), Millis::duration),
        resume: Resume::Latest,
        base_dir: base.to_path_buf(),
        control: None,
        progress: Progress::Off,
    })
}

/// The window's shape from the settings its kind takes; a setting of
/// another kind is refused rather than ignored.
fn window_shape(
    kind: WindowKind,
    size: Option<Millis>,
    slide: Option<Millis>,
    gap: Option<Millis>,
) -> Result<WindowShape, String> {
    match (kind, size, slide, gap) {
        (WindowKind::Tumbling, Some(size), None, None) => Ok(WindowShape::Tumbling { size_ms: size.0 }),
        (WindowKind::Sliding, Some(size), Some(slide), None) => Ok(WindowShape::Sliding {
            size_ms: size.0,
            slide_ms: slide.0,
        }),
        (WindowKind::Session, None, None, Some(gap)) => Ok(WindowShape::Session { gap_ms: gap.0 }),
        (WindowKind::Tumbling | WindowKind::Sliding, None, _, _) => {
            Err("a tumbling or sliding window needs `size`, e.g. size = \"10s\"".into())
        }
        (WindowKind::Tumbling, _, Some(_), _) => Err(
            "`slide` is for kind = \"sliding\"; a tumbling window slides by its size".into(),
        ),
        (WindowKind::Sliding, _, None, _) => Err(
            "a sliding window needs `slide`, e.g. size = \"60s\", slide = \"10s\"".into(),
        ),
        (WindowKind::Tumbling | WindowKind::Sliding, _, _, Some(_)) => {
            Err("`gap` is for kind = \"session\"".into())
        }
        (WindowKind::Session, Some(_), _, _) | (WindowKind::Session, _, Some(_), _) => Err(
            "a session window has no `size` or `slide`: it lasts while rows come at most `gap` apart".into(),
        ),
        (WindowKind::Session, None, None, None) => {
            Err("a session window needs `gap`, e.g. gap = \"30s\"".into())
        }
    }
}

/// A window aggregate from its pipeline-file entry; plugins are loaded here,
/// for the rows the window receives.
fn aggregate_spec(
    engine: &PluginEngine,
    base: &Path,
    name: &str,
    config: &AggregateConfig,
    input: &Schema,
) -> Result<AggregateSpec, String> {
    let plugin = match config {
        AggregateConfig::Expression(expression) => return AggregateSpec::parse(name, expression),
        AggregateConfig::Plugin(plugin) => plugin,
    };
    let config_json = serde_json::to_string(&plugin.config)
        .map_err(|e| format!("aggregate `{name}`: config cannot be passed as JSON: {e}"))?;
    let limits = plugin_limits(&LimitSettings {
        memory_mib: plugin.memory_mib,
        batch_deadline: plugin.batch_deadline,
        ..LimitSettings::default()
    })
    .map_err(|e| format!("aggregate `{name}`: {e}"))?;
    let loaded = AggregatePlugin::load(
        engine,
        &base.join(&plugin.plugin),
        &config_json,
        plugin.field.as_deref(),
        input,
        limits,
    )
    .map_err(|e| format!("aggregate `{name}`: {e}"))?;
    Ok(AggregateSpec::plugin(name, loaded))
}

/// A plugin's limits as the pipeline file gives them.
#[derive(Default)]
struct LimitSettings {
    memory_mib: Option<usize>,
    batch_deadline: Option<Millis>,
    max_output_mib: Option<usize>,
    max_fan_out: Option<usize>,
    max_timers: Option<usize>,
}

/// The limits, each checked against its range: a limit exists to bound the
/// host, so a value that would not (or would overflow) is refused.
fn plugin_limits(settings: &LimitSettings) -> Result<PluginLimits, String> {
    let defaults = PluginLimits::default();
    let within =
        |key: &str, value: Option<usize>, range: std::ops::RangeInclusive<usize>| match value {
            Some(v) if !range.contains(&v) => Err(format!(
                "`{key} = {v}` is out of range; it takes {} to {}",
                range.start(),
                range.end()
            )),
            other => Ok(other),
        };
    let memory_mib = within("memory_mib", settings.memory_mib, 1..=4096)?;
    let output_mib = within("max_output_mib", settings.max_output_mib, 1..=1024)?;
    let deadline_ms = settings.batch_deadline.map(|d| d.0 as usize);
    within("batch_deadline", deadline_ms, 10..=600_000)?;
    Ok(PluginLimits {
        memory_bytes: memory_mib.map_or(defaults.memory_bytes, |mib| mib << 20),
        batch_deadline: settings
            .batch_deadline
            .map_or(defaults.batch_deadline, Millis::duration),
        max_output_bytes: output_mib.map_or(defaults.max_output_bytes, |mib| mib << 20),
        max_fan_out: within("max_fan_out", settings.max_fan_out, 1..=1_000_000)?
            .unwrap_or(defaults.max_fan_out),
        max_timers: within("max_timers", settings.max_timers, 1..=100_000_000)?
            .unwrap_or(defaults.max_timers),
    })
}
