//! From a pipeline file to a runnable, fully checked pipeline: every plugin is
//! compiled, its schema checked and its config accepted before any event flows.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use toml::Spanned;

mod lookup;
pub(crate) mod stage;

use super::config::{CheckpointConfig, Millis, PipelineFile, SinkConfig};
use super::control::{self, ControlPort, Controller};
use super::endpoints::{self, SinkSpec, SourceSpec};
use super::error::PipelineError;
use super::interpolate::{Expanded, ProcessEnvironment, Syntax};
use super::progress::Progress;
use super::stage::{Stage, Upstream, SOURCE};
use crate::data::{Field, FieldType, Schema};
use crate::plugin::PluginEngine;
use crate::state::{CheckpointLocation, CheckpointSettings, RemoteSpec};

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
    /// A SQL script that says `EXPLAIN …`: print the plan, run nothing.
    pub explain_only: bool,
}

/// A sink and the stage whose results it receives (`None`: the last).
pub struct SinkRoute {
    pub spec: SinkSpec,
    pub from: Option<String>,
}

impl Pipeline {
    /// Names this process in its Kafka consumer group (static membership).
    pub fn set_instance_id(&mut self, id: &str) -> Result<(), String> {
        let valid = !id.is_empty()
            && id.len() <= 249
            && id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !valid {
            return Err(format!(
                "`{id}` is not an instance id: 1 to 249 of a-z, A-Z, 0-9, '.', '_' and '-'"
            ));
        }
        match &mut self.source {
            SourceSpec::Kafka(settings) => {
                settings.properties.retain(|(key, _)| key != "group.instance.id");
                settings
                    .properties
                    .push(("group.instance.id".into(), id.into()));
                Ok(())
            }
            _ => Err("the pipeline does not read Kafka; an instance id names a member of a consumer group".into()),
        }
    }

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
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("sql"))
    {
        let source = expand(path, &text, Syntax::Sql)?;
        return crate::sql::parse(path, &source, engine);
    }
    parse(path, &text, engine)
}

/// `text` with its `${…}` references expanded (see [`interpolate`]); the
/// values are secrets from then on, kept out of everything weir prints.
fn expand(path: &Path, text: &str, syntax: Syntax) -> Result<Expanded, PipelineError> {
    let base = path.parent().unwrap_or(Path::new(""));
    let source = Expanded::expand(text, syntax, base, &ProcessEnvironment)
        .map_err(|e| PipelineError::at(path, text, Some(e.span), e.message))?;
    crate::redact::add_secrets(&source.values);
    Ok(source)
}

/// Checks and builds a pipeline from its text; `path` locates errors and is the
/// base for relative paths.
pub fn parse(path: &Path, text: &str, engine: &PluginEngine) -> Result<Pipeline, PipelineError> {
    let source = expand(path, text, Syntax::Toml)?;
    let file: PipelineFile = toml::from_str(&source.text)
        .map_err(|e| PipelineError::in_source(path, &source, e.span(), e.message().trim_end()))?;
    let cx = Context {
        path,
        text: &source.text,
        source: &source,
        base: path.parent().unwrap_or(Path::new("")),
        engine,
    };
    build(file, &cx)
}

/// What errors are located in and paths are relative to: the text the
/// spans of a [`PipelineFile`] point into (a pipeline file or a SQL script,
/// expanded).
pub(crate) struct Context<'a> {
    pub path: &'a Path,
    /// `source.text`.
    pub text: &'a str,
    pub source: &'a Expanded,
    pub base: &'a Path,
    pub engine: &'a PluginEngine,
}

impl Context<'_> {
    pub fn at(&self, span: std::ops::Range<usize>, message: impl Into<String>) -> PipelineError {
        PipelineError::in_source(self.path, self.source, Some(span), message)
    }

    /// An expression's error, placed inside the quoted string at `span`
    /// (a pipeline file) or at the expression's start (a SQL script).
    pub fn at_expression(
        &self,
        span: std::ops::Range<usize>,
        error: crate::expr::ExprError,
        what: &str,
    ) -> PipelineError {
        let quoted = matches!(self.text.as_bytes().get(span.start), Some(b'"' | b'\''));
        let offset = match (quoted, error.offset) {
            (true, Some(offset)) => span.start + 1 + offset,
            _ => span.start,
        };
        self.at(offset..offset, format!("{what}: {}", error.message))
    }
}

/// Checks and builds a pipeline from its parsed form.
pub(crate) fn build(file: PipelineFile, cx: &Context<'_>) -> Result<Pipeline, PipelineError> {
    let (path, base) = (cx.path, cx.base);
    let at = |span: std::ops::Range<usize>, message: String| cx.at(span, message);

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

    let mut stages: Vec<Stage> = Vec::new();
    for (index, spanned) in file.operators.into_iter().enumerate() {
        let span = spanned.span();
        let number = index + 1;
        let from = upstream(spanned.get_ref().from(), &stages)
            .map_err(|e| at(span.clone(), format!("operator #{number}: {e}")))?;
        let input = from
            .producer(&stages)
            .map_or(&schema, |p| stages[p].output_schema())
            .clone();
        let mut stage = stage::build(spanned, number, &input, cx)?;
        if stage.name == SOURCE || stages.iter().any(|s| s.name == stage.name) {
            return Err(at(
                span,
                format!(
                    "operator #{number}: a stage named `{}` already exists; give this one a `name`",
                    stage.name
                ),
            ));
        }
        stage.from = from;
        stages.push(stage);
    }

    let name = file.name.unwrap_or_else(|| {
        path.file_stem()
            .map_or("pipeline".into(), |s| s.to_string_lossy().into_owned())
    });
    let has_checkpoints = file.checkpoint.is_some();
    let sinks = sinks(
        file.sink,
        file.sinks,
        &stages,
        &schema,
        &name,
        has_checkpoints,
        cx,
    )?;
    let checkpoint = match file.checkpoint {
        None => None,
        Some(spanned) => Some(checkpoint(spanned, &source, &name, cx)?),
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
        explain_only: false,
    })
}

/// What an operator's `from` names: `"source"`, or a stage above it. The
/// stage just above (or the source, for the first operator) is the default
/// and is kept as such, so a stage loaded at run time between the two
/// feeds the one below it.
fn upstream(from: Option<&str>, above: &[Stage]) -> Result<Upstream, String> {
    let Some(name) = from else {
        return Ok(Upstream::Previous);
    };
    if name == SOURCE {
        return Ok(match above.is_empty() {
            true => Upstream::Previous,
            false => Upstream::Source,
        });
    }
    match above.iter().position(|s| s.name == name) {
        Some(i) if i + 1 == above.len() => Ok(Upstream::Previous),
        Some(_) => Ok(Upstream::Stage(name.to_string())),
        None => {
            let mut known = vec![SOURCE];
            known.extend(above.iter().map(|s| s.name.as_str()));
            Err(format!(
                "from = \"{name}\" names no stage above this one; it can read: {}",
                known.join(", ")
            ))
        }
    }
}

/// The `[sink]` or `[[sinks]]` tables, each checked against the results of
/// the stage it takes them from.
fn sinks(
    sink: Option<Spanned<SinkConfig>>,
    more: Vec<Spanned<SinkConfig>>,
    stages: &[Stage],
    schema: &Arc<Schema>,
    name: &str,
    has_checkpoints: bool,
    cx: &Context<'_>,
) -> Result<Vec<SinkRoute>, PipelineError> {
    let at = |span: std::ops::Range<usize>, message: String| cx.at(span, message);
    let base = cx.base;
    let configs = match (sink, more.is_empty()) {
        (Some(sink), true) => vec![sink],
        (None, false) => more,
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
    let current = stages.last().map_or(schema, |s| s.output_schema());
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
            SinkSpec::Webhook(settings) => settings.id_prefix = name.to_string(),
            SinkSpec::Postgres(settings) => settings.id_prefix = name.to_string(),
            SinkSpec::Kafka(settings) => {
                settings.id_prefix = name.to_string();
                if settings.transactional_id.is_some() && !has_checkpoints {
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
    Ok(sinks)
}

/// Where `[checkpoint]` puts the files: an object store when `dir` is one's
/// URL, else a directory relative to the pipeline file.
fn checkpoint_location(
    config: &CheckpointConfig,
    name: &str,
    base: &Path,
) -> Result<CheckpointLocation, String> {
    let dir = config.dir.as_deref().and_then(Path::to_str).unwrap_or("");
    let options: Vec<(String, String)> = config
        .storage
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if crate::state::remote::is_object_store_url(dir) {
        let spec = RemoteSpec {
            url: dir.to_string(),
            options,
        };
        spec.check()?;
        return Ok(CheckpointLocation::ObjectStore(spec));
    }
    if !options.is_empty() {
        return Err(
            "`storage` settings are for an object store `dir` (s3://, gs://, az://)".into(),
        );
    }
    let dir = config
        .dir
        .clone()
        .unwrap_or_else(|| Path::new(".weir/checkpoints").join(name));
    Ok(CheckpointLocation::Dir(base.join(dir)))
}

/// The `[checkpoint]` table, for a source that can be read again.
fn checkpoint(
    spanned: Spanned<CheckpointConfig>,
    source: &SourceSpec,
    name: &str,
    cx: &Context<'_>,
) -> Result<CheckpointSettings, PipelineError> {
    let at = |span: std::ops::Range<usize>, message: String| cx.at(span, message);
    let span = spanned.span();
    let config = spanned.into_inner();
    if matches!(
        source,
        SourceSpec::Stdin { .. } | SourceSpec::Http(_) | SourceSpec::Datagen(_)
    ) {
        let which = match source {
            SourceSpec::Http(_) => "an http source",
            SourceSpec::Datagen(_) => "a datagen source",
            _ => "stdin",
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
    Ok(CheckpointSettings {
        location: checkpoint_location(&config, name, cx.base)
            .map_err(|message| at(span.clone(), message))?,
        interval: config
            .interval
            .map_or(std::time::Duration::from_secs(10), Millis::duration),
        keep: config.keep.unwrap_or(3),
    })
}
