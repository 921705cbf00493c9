//! The pipeline file, as serde reads it. Everything a user can write is here.

use std::path::PathBuf;

use indexmap::IndexMap;
use serde::{Deserialize, Deserializer};
use toml::Spanned;

use crate::data::FieldType;
use crate::pipeline::{OnFailure, Unload};
use crate::source::kafka::StartFrom;
use crate::time::range::DURATION_MAX_MS;

mod lookup;
pub use lookup::{KafkaTableConfig, LookupConfig, PostgresTableConfig, UnmatchedRows};

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PipelineFile {
    /// Shown in logs and the summary; defaults to the file's stem.
    pub name: Option<String>,
    /// Rows per batch: the unit of work and of Wasm calls.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    #[schemars(with = "SourceConfig")]
    pub source: Spanned<SourceConfig>,
    /// Field name → type, in the order rows are laid out.
    #[schemars(with = "IndexMap<String, FieldType>")]
    pub schema: Spanned<IndexMap<String, FieldType>>,
    pub event_time: EventTimeConfig,
    #[serde(default)]
    #[schemars(with = "Vec<OperatorConfig>")]
    pub operators: Vec<Spanned<OperatorConfig>>,
    /// Where results go. For several, use `[[sinks]]` instead.
    #[schemars(with = "Option<SinkConfig>")]
    pub sink: Option<Spanned<SinkConfig>>,
    /// Several sinks, each with `from` naming the stage whose results it
    /// receives (default: the last stage's).
    #[serde(default)]
    #[schemars(with = "Vec<SinkConfig>")]
    pub sinks: Vec<Spanned<SinkConfig>>,
    pub dead_letter: Option<DeadLetterConfig>,
    #[schemars(with = "Option<CheckpointConfig>")]
    pub checkpoint: Option<Spanned<CheckpointConfig>>,
    /// After a stop is asked for (Ctrl-C, SIGTERM), how long the sink may
    /// keep trying to deliver; what it has not delivered by then is
    /// dead-lettered. Default 30 s.
    pub shutdown_timeout: Option<Millis>,
    /// Instances of the operators, each on its own thread with its own
    /// state (1 to 128; default 1). Rows are divided by the key the stages
    /// hold state by; results are the same at any parallelism.
    #[schemars(with = "Option<usize>")]
    pub parallelism: Option<Spanned<usize>>,
}

/// Periodic checkpoints, from which `weir run` resumes after a stop or crash.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckpointConfig {
    /// Where checkpoint files go: a directory, relative to the pipeline
    /// file (default `.weir/checkpoints/<pipeline name>` beside it), or an
    /// object store every machine can reach: `s3://bucket/prefix`,
    /// `gs://bucket/prefix`, `az://container/prefix` (also `abfss://…`).
    pub dir: Option<PathBuf>,
    /// The object store's settings, by `object_store`'s names: e.g.
    /// `aws_endpoint = "http://127.0.0.1:9000"`, `aws_region`. Credentials
    /// are best left in the environment (`AWS_ACCESS_KEY_ID`, …).
    pub storage: Option<indexmap::IndexMap<String, String>>,
    /// How often one is taken (default 10 s); one is always taken at the end.
    pub interval: Option<Millis>,
    /// How many of the newest are kept (default 3).
    pub keep: Option<usize>,
}

fn default_batch_size() -> usize {
    1024
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum SourceConfig {
    /// A newline-delimited file, read as a stream.
    File {
        path: PathBuf,
        /// Keep reading as the file grows, like `tail -F` (through rotation
        /// and truncation), until stopped.
        #[serde(default)]
        follow: bool,
        #[serde(default)]
        format: Format,
        csv: Option<CsvConfig>,
        /// Longer lines are dead-lettered rather than buffered.
        #[serde(default = "default_max_line_bytes")]
        max_line_bytes: usize,
    },
    /// Newline-delimited records on standard input.
    Stdin {
        #[serde(default)]
        format: Format,
        csv: Option<CsvConfig>,
        #[serde(default = "default_max_line_bytes")]
        max_line_bytes: usize,
    },
    /// Records from Kafka topics, read in a consumer group.
    Kafka(Box<KafkaSourceConfig>),
    /// Events POSTed to an HTTP endpoint the host serves (a webhook).
    Http(HttpSourceConfig),
    /// Rows made up from the schema, random or in sequence, at a steady
    /// rate (Flink's `datagen`): to try a pipeline without data.
    Datagen(DatagenSourceConfig),
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatagenSourceConfig {
    /// Rows per second (default 10,000; 0: as fast as the pipeline takes them).
    pub rows_per_second: Option<u64>,
    /// Rows in all, then the source ends (default: no end, or a sequence's end).
    pub number_of_rows: Option<u64>,
    /// Seed of the random values (default 0): the same seed gives the same
    /// rows, but for timestamps taken from the clock.
    pub seed: Option<u64>,
    /// How each field's values are made; a field not named here is random.
    #[serde(default)]
    pub fields: IndexMap<String, DatagenFieldConfig>,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatagenFieldConfig {
    #[serde(default)]
    pub kind: DatagenKind,
    /// Bounds of random numbers (default 0 to 100).
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// First and last value of a sequence (default 1, no end); the source
    /// ends after the last.
    pub start: Option<i64>,
    pub end: Option<i64>,
    /// Length of random strings (default 10).
    pub length: Option<usize>,
    /// Random timestamps fall between now and this long ago (default 0: now).
    pub max_past: Option<Millis>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DatagenKind {
    #[default]
    Random,
    /// Consecutive integers (numbers, strings of digits, or epoch millis).
    Sequence,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpSourceConfig {
    /// `address:port` to listen on (default `127.0.0.1:8080`).
    pub listen: Option<String>,
    /// Listening on a non-loopback address must be asked for.
    #[serde(default)]
    pub allow_remote: bool,
    /// The path events are POSTed to (default `/events`).
    pub path: Option<String>,
    /// A shared secret requests must carry in `secret_header`…
    pub secret: Option<String>,
    /// …or the environment variable holding it.
    pub secret_env: Option<String>,
    /// Default `x-weir-secret`.
    pub secret_header: Option<String>,
    /// Larger bodies are refused with 413 (default 1 MiB).
    pub max_body_bytes: Option<usize>,
    #[serde(default)]
    pub format: Format,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KafkaSourceConfig {
    /// `host:port[,host:port…]`
    pub bootstrap_servers: String,
    /// One topic, or several.
    pub topic: Option<String>,
    #[serde(default)]
    pub topics: Vec<String>,
    /// The consumer group: members split the partitions, and offsets are
    /// committed under it.
    pub group_id: String,
    /// Where a partition starts the first time this process is given it.
    #[serde(default)]
    pub start_from: StartFrom,
    #[serde(default)]
    pub format: Format,
    /// With `format = "avro"`: the writer's record schema (`.avsc`),
    /// relative to the pipeline file.
    pub avro_schema: Option<PathBuf>,
    /// A string field filled from the message key when the value lacks it.
    pub key_field: Option<String>,
    /// A timestamp field filled from the message timestamp when the value lacks it.
    pub timestamp_field: Option<String>,
    /// A partition that sends nothing for this long stops holding the
    /// watermark back (Flink's `withIdleness`); unset: wait for every partition.
    pub idle_timeout: Option<Millis>,
    /// Stop at the end offsets each partition had when it was assigned, then
    /// fire every window, like a file's end (Flink's bounded Kafka source).
    #[serde(default)]
    pub bounded: bool,
    /// How often offsets of fully processed input are committed.
    pub commit_interval: Option<Millis>,
    /// Passed to librdkafka as they are (e.g. `"fetch.max.bytes" = "1048576"`).
    #[serde(default)]
    pub properties: IndexMap<String, String>,
}

fn default_max_line_bytes() -> usize {
    1 << 20
}

#[derive(Debug, Default, Clone, Copy, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One JSON object per line.
    #[default]
    Json,
    /// One CSV record per line (see `csv`).
    Csv,
    /// Kafka only: each message value an Avro datum of `avro_schema`.
    Avro,
}

/// How a file sink writes results.
#[derive(Debug, Default, Clone, Copy, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SinkFormat {
    /// One JSON object per line.
    #[default]
    Json,
    /// An Avro object container file, its schema derived from the results.
    Avro,
}

/// How CSV records are laid out.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CsvConfig {
    /// Whether the first line names the columns (default true).
    pub header: Option<bool>,
    /// One character (default `,`).
    pub delimiter: Option<String>,
    /// Without a header: the column names in record order (default: the
    /// schema's fields in order).
    pub columns: Option<Vec<String>>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EventTimeConfig {
    /// A `timestamp` or `i64` (epoch millis) field of the schema.
    #[schemars(with = "String")]
    pub field: Spanned<String>,
    /// How far behind the newest event an event may arrive and still be on time.
    #[schemars(with = "Millis")]
    pub max_out_of_orderness: Spanned<Millis>,
    /// Events stamped further than this ahead of the host's clock are
    /// dead-lettered instead of advancing the watermark (default one day).
    pub max_future: Option<Millis>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum OperatorConfig {
    /// A WebAssembly component built with the plugin SDK.
    Plugin {
        /// Defaults to the plugin's own name.
        name: Option<String>,
        /// The stage whose results this one takes, or `"source"` for the
        /// source's rows (a branch of its own); default: the operator above.
        from: Option<String>,
        /// Path to the `.wasm` component, relative to the pipeline file.
        path: PathBuf,
        /// Passed to the plugin's `init`, as JSON.
        #[serde(default)]
        #[schemars(with = "serde_json::Map<String, serde_json::Value>")]
        config: toml::Table,
        /// For keyed plugins: the field whose value is the key their state is kept by.
        key_by: Option<String>,
        /// Linear memory cap for this plugin, in MiB.
        memory_mib: Option<usize>,
        /// CPU budget for one batch.
        batch_deadline: Option<Millis>,
        /// Cap on what one batch may emit, in MiB.
        max_output_mib: Option<usize>,
        /// Cap on rows a flat-map or keyed plugin emits per input row.
        max_fan_out: Option<usize>,
        /// Cap on timers a keyed plugin holds pending.
        max_timers: Option<usize>,
        /// What happens to rows the plugin fails on.
        #[serde(default)]
        on_failure: OnFailure,
        /// Consecutive failing batches before the plugin is quarantined; 0 never.
        quarantine_after: Option<u32>,
        /// Whether the admin API may unload this stage while the pipeline runs.
        #[serde(default)]
        unload: Unload,
    },
    /// Keeps the rows for which a SQL expression is true, e.g.
    /// `where = "temperature > 100 AND sensor_id LIKE 'lab-%'"`; computed
    /// natively over whole batches.
    Filter {
        name: Option<String>,
        /// The stage whose results this one takes, or `"source"` for the
        /// source's rows (a branch of its own); default: the operator above.
        from: Option<String>,
        #[serde(rename = "where")]
        #[schemars(rename = "where")]
        condition: String,
    },
    /// Computes each output field from a SQL expression over the input
    /// row, e.g. `fields = { sensor = "sensor_id", fahrenheit = "temperature * 9 / 5 + 32" }`;
    /// the output has exactly these fields, in this order.
    Select {
        name: Option<String>,
        /// The stage whose results this one takes, or `"source"` for the
        /// source's rows (a branch of its own); default: the operator above.
        from: Option<String>,
        fields: IndexMap<String, String>,
    },
    /// Adds fields from a reference table to each row, by key
    /// (enrichment; Flink's lookup join).
    Lookup(LookupConfig),
    /// A keyed event-time window with host-native aggregates.
    Window {
        name: Option<String>,
        /// The stage whose results this one takes, or `"source"` for the
        /// source's rows (a branch of its own); default: the operator above.
        from: Option<String>,
        #[serde(default)]
        kind: WindowKind,
        /// Tumbling and sliding windows: how long each window is.
        size: Option<Millis>,
        /// Sliding windows: how often a window starts (a divisor of `size`).
        slide: Option<Millis>,
        /// Session windows: the silence that ends a key's session.
        gap: Option<Millis>,
        /// Which clock windows follow: the rows' event time (default) or
        /// the host's clock when rows arrive.
        #[serde(default)]
        time: WindowTime,
        /// Also emit each open window's result so far this often (host
        /// clock), marked `partial = true`, for live dashboards.
        early_fire_every: Option<Millis>,
        /// How long after a window fires late rows still update it (each
        /// update is emitted again, marked `update = true`).
        allowed_lateness: Option<Millis>,
        /// Group by this field; omit for one global group.
        key_by: Option<String>,
        /// Output field → `count`, `sum(f)`, `min(f)`, `max(f)`, `avg(f)`,
        /// `count_distinct(f)`, `first(f)` or `last(f)`, or an aggregate plugin.
        aggregates: IndexMap<String, AggregateConfig>,
        /// Emit only the results for which this SQL expression over the
        /// result's fields is true, e.g. `having = "count > 5"`.
        having: Option<String>,
    },
}

/// One window aggregate: an expression the host computes, or a plugin.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(
    untagged,
    expecting = "an aggregate expression such as \"count\" or \"max(temperature)\", or a plugin table such as { plugin = \"p95.wasm\", field = \"temperature\", config = { quantile = 0.95 } } (keys: plugin, field, config, memory_mib, batch_deadline)"
)]
pub enum AggregateConfig {
    Expression(String),
    Plugin(PluginAggregateConfig),
}

#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginAggregateConfig {
    /// Path to the aggregate's `.wasm` component, relative to the pipeline file.
    pub plugin: PathBuf,
    /// The input field the plugin's one read field is bound to; omit to
    /// match the fields it reads by name.
    pub field: Option<String>,
    /// Passed to the plugin's `init`, as JSON.
    #[serde(default)]
    #[schemars(with = "serde_json::Map<String, serde_json::Value>")]
    pub config: toml::Table,
    /// Linear memory cap for this plugin, in MiB.
    pub memory_mib: Option<usize>,
    /// CPU budget for one call.
    pub batch_deadline: Option<Millis>,
}

#[derive(Debug, Default, Clone, Copy, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WindowTime {
    #[default]
    Event,
    Processing,
}

#[derive(Debug, Default, Clone, Copy, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WindowKind {
    #[default]
    Tumbling,
    /// Overlapping windows of `size`, one starting every `slide`.
    Sliding,
    /// Per key, runs of rows with no silence longer than `gap`.
    Session,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum SinkConfig {
    /// Human-readable lines on standard output. (A struct variant: serde
    /// lets unknown keys past a unit variant of a tagged enum.)
    Console {
        /// The stage whose results this sink receives (default: the last).
        from: Option<String>,
    },
    /// JSON lines (or an Avro container file) written to a file, replaced at
    /// the start of each run (its directory is created if missing).
    File {
        path: PathBuf,
        #[serde(default)]
        format: SinkFormat,
        /// The stage whose results this sink receives (default: the last).
        from: Option<String>,
    },
    /// One JSON message per result, produced with the idempotent producer.
    Kafka(KafkaSinkConfig),
    /// Each result POSTed as JSON (or a template) to a URL, with retries.
    Webhook(WebhookSinkConfig),
    /// Results upserted into a PostgreSQL table by their deterministic id.
    Postgres(PostgresSinkConfig),
    /// Results counted and discarded (Flink's `blackhole`): to measure a
    /// pipeline without a sink's cost, or to run one for its side effects.
    Blackhole {
        /// The stage whose results this sink receives (default: the last).
        from: Option<String>,
    },
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostgresSinkConfig {
    /// The stage whose results this sink receives (default: the last).
    pub from: Option<String>,
    /// `host=… port=… user=… password=… dbname=…` or `postgres://…`.
    pub url: String,
    /// `table` or `schema.table`.
    pub table: String,
    /// Create the table from the results' fields when missing (default true).
    pub create_table: Option<bool>,
    /// How long one statement may run, waiting for locks included, before
    /// the run stops with PostgreSQL's error (default 60 s).
    pub statement_timeout: Option<Millis>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookSinkConfig {
    /// The stage whose results this sink receives (default: the last).
    pub from: Option<String>,
    /// `http://` or `https://`.
    pub url: String,
    /// The request body, with `{field}` replaced by the result's value
    /// (JSON-escaped); without it, the result as a JSON object.
    pub template: Option<String>,
    /// Results per request, sent as a JSON array (default 1; not with a template).
    pub batch_size: Option<usize>,
    /// How long one request may take (default 10 s).
    pub timeout: Option<Millis>,
    /// Retries of a request that failed with 5xx, 408, 429, a timeout or a
    /// connection error, before its results are dead-lettered (default 5).
    pub max_retries: Option<u32>,
    /// The wait before the first retry, doubling after each (default 200 ms).
    pub retry_backoff: Option<Millis>,
    /// Extra request headers, e.g. `{ Authorization = "Bearer …" }`.
    #[serde(default)]
    pub headers: IndexMap<String, String>,
    /// A PEM file of the root certificates an `https://` endpoint's
    /// certificate must chain to (a private CA), instead of the public
    /// roots (Mozilla's) trusted by default.
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KafkaSinkConfig {
    /// The stage whose results this sink receives (default: the last).
    pub from: Option<String>,
    pub bootstrap_servers: String,
    pub topic: String,
    /// A result field whose value is the message key (so results of one key
    /// land in one partition, in order).
    pub key_field: Option<String>,
    /// How long a result may take to be acknowledged, retries included,
    /// before it is dead-lettered.
    pub delivery_timeout: Option<Millis>,
    /// Produce in transactions under this id, one per checkpoint (needs a
    /// `[checkpoint]` table and a broker with transactions).
    pub transactional_id: Option<String>,
    /// Passed to librdkafka as they are.
    #[serde(default)]
    pub properties: IndexMap<String, String>,
    /// Message values as JSON (default) or Avro single-object datums.
    #[serde(default)]
    pub format: SinkFormat,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeadLetterConfig {
    /// JSON lines with the reason and source position of every record that
    /// could not be processed. Without it, dead letters go to standard error.
    pub path: PathBuf,
}

/// The pipeline file's JSON Schema, derived from the types the parser uses,
/// so the two cannot drift apart (`weir schema`; docs/pipeline.schema.json).
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(PipelineFile);
    serde_json::to_string_pretty(&schema).expect("a schema is JSON")
}

/// A duration: `"5s"`, `"250ms"`, `"1m 30s"`, or a number of milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Millis(pub i64);

impl Millis {
    /// Never negative: deserializing refuses negative durations.
    pub fn duration(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.0.max(0) as u64)
    }
}

/// A duration as the pipeline file takes it: text such as `"5s"`, or a
/// whole number of milliseconds.
impl schemars::JsonSchema for Millis {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A duration: text such as \"5s\", \"250ms\" or \"1m 30s\", or a number of milliseconds; at most 100 years.",
            "anyOf": [
                { "type": "string" },
                { "type": "integer", "minimum": 0, "maximum": DURATION_MAX_MS }
            ]
        })
    }
}

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(i64),
            Text(String),
        }
        let ms = match Raw::deserialize(deserializer)? {
            Raw::Number(ms) if ms >= 0 => ms,
            Raw::Number(ms) => {
                return Err(serde::de::Error::custom(format!(
                    "a duration cannot be negative ({ms})"
                )))
            }
            Raw::Text(text) => humantime::parse_duration(&text)
                .map(|d| d.as_millis().min(i64::MAX as u128) as i64)
                .map_err(|e| {
                    serde::de::Error::custom(format!(
                        "`{text}` is not a duration ({e}); write e.g. \"5s\" or \"250ms\""
                    ))
                })?,
        };
        // Window bounds add durations to event times: bounded, they cannot wrap.
        if ms > DURATION_MAX_MS {
            return Err(serde::de::Error::custom(format!(
                "a duration of {ms} ms is over the limit of 100 years ({DURATION_MAX_MS} ms)"
            )));
        }
        Ok(Millis(ms))
    }
}

impl OperatorConfig {
    /// What `from` names: the stage (or `"source"`) this one reads.
    pub fn from(&self) -> Option<&str> {
        match self {
            OperatorConfig::Plugin { from, .. }
            | OperatorConfig::Filter { from, .. }
            | OperatorConfig::Select { from, .. }
            | OperatorConfig::Window { from, .. } => from.as_deref(),
            OperatorConfig::Lookup(lookup) => lookup.from.as_deref(),
        }
    }

    /// The `name` and `from` settings, for scripts that compile to several
    /// branches.
    pub fn name_and_from_mut(&mut self) -> (&mut Option<String>, &mut Option<String>) {
        match self {
            OperatorConfig::Plugin { name, from, .. }
            | OperatorConfig::Filter { name, from, .. }
            | OperatorConfig::Select { name, from, .. }
            | OperatorConfig::Window { name, from, .. } => (name, from),
            OperatorConfig::Lookup(lookup) => (&mut lookup.name, &mut lookup.from),
        }
    }
}

impl SinkConfig {
    /// The stage whose results the sink receives; `None`: the last stage's.
    pub fn from(&self) -> Option<&str> {
        match self {
            SinkConfig::Console { from }
            | SinkConfig::File { from, .. }
            | SinkConfig::Blackhole { from } => from.as_deref(),
            SinkConfig::Kafka(c) => c.from.as_deref(),
            SinkConfig::Webhook(c) => c.from.as_deref(),
            SinkConfig::Postgres(c) => c.from.as_deref(),
        }
    }

    /// Makes the sink take the results of stage `stage`.
    pub fn set_from(&mut self, stage: String) {
        let from = match self {
            SinkConfig::Console { from }
            | SinkConfig::File { from, .. }
            | SinkConfig::Blackhole { from } => from,
            SinkConfig::Kafka(c) => &mut c.from,
            SinkConfig::Webhook(c) => &mut c.from,
            SinkConfig::Postgres(c) => &mut c.from,
        };
        *from = Some(stage);
    }
}
