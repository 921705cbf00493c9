//! The source and sink of a pipeline, checked against its schema.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::config::{
    CsvConfig, Format, HttpSourceConfig, KafkaSinkConfig, KafkaSourceConfig, Millis, SinkConfig,
    SinkFormat, SourceConfig, WebhookSinkConfig,
};
use crate::data::{FieldType, Origin, Schema};
use crate::format::avro::AvroSchema;
use crate::format::avro_read::AvroRecordReader;
use crate::format::csv::{CsvLayout, CsvSettings};
use crate::sink::{KafkaSinkSettings, PostgresSettings, Template, WebhookSettings};
use crate::source::kafka::KafkaSourceSettings;
use crate::source::{DatagenSettings, HttpSourceSettings};

pub enum SourceSpec {
    File {
        path: PathBuf,
        follow: bool,
        max_line_bytes: usize,
        csv: Option<CsvSettings>,
    },
    Stdin {
        max_line_bytes: usize,
        csv: Option<CsvSettings>,
    },
    Kafka(KafkaSourceSettings),
    Http(HttpSourceSettings),
    Datagen(DatagenSettings),
}

impl SourceSpec {
    /// What dead letters and errors name as the place a row came from.
    pub fn origin(&self) -> Origin {
        match self {
            SourceSpec::File { path, .. } => Origin::Lines(path.display().to_string()),
            SourceSpec::Stdin { .. } => Origin::Lines("stdin".into()),
            SourceSpec::Kafka(settings) => settings.origin(),
            SourceSpec::Http(_) => Origin::Lines("http".into()),
            SourceSpec::Datagen(_) => Origin::Lines("datagen".into()),
        }
    }

    /// One line for `weir explain`; secrets are never part of it.
    pub fn describe(&self) -> String {
        let format = |csv: &Option<CsvSettings>| if csv.is_some() { "csv" } else { "json" };
        match self {
            SourceSpec::File {
                path, follow, csv, ..
            } => format!(
                "{} {} ({})",
                if *follow { "tail" } else { "file" },
                path.display(),
                format(csv)
            ),
            SourceSpec::Stdin { csv, .. } => format!("stdin ({})", format(csv)),
            SourceSpec::Kafka(settings) => format!(
                "kafka {} topics {} group {}",
                settings.bootstrap_servers,
                settings.topics.join(", "),
                settings.group_id
            ),
            SourceSpec::Http(settings) => {
                format!("http POST {}{}", settings.listen, settings.path)
            }
            SourceSpec::Datagen(settings) => format!(
                "datagen {}{}",
                match settings.rows_per_second {
                    0 => "unpaced".to_string(),
                    rate => format!("{rate} rows/s"),
                },
                settings
                    .rows
                    .map_or(String::new(), |rows| format!(", {rows} rows"))
            ),
        }
    }
}

impl SinkSpec {
    /// One line for `weir explain`; secrets are never part of it.
    pub fn describe(&self) -> String {
        match self {
            SinkSpec::Console => "console".into(),
            SinkSpec::File { path, avro } => format!(
                "file {} ({})",
                path.display(),
                if avro.is_some() { "avro" } else { "json" }
            ),
            SinkSpec::Kafka(settings) => format!("kafka topic {}", settings.topic),
            SinkSpec::Webhook(settings) => {
                format!("webhook {}", crate::redact::endpoint(&settings.url))
            }
            SinkSpec::Postgres(settings) => format!("postgres table {}", settings.table),
            SinkSpec::Null { .. } => "blackhole (counted, discarded)".into(),
        }
    }
}

pub enum SinkSpec {
    Console,
    File {
        path: PathBuf,
        /// Write an Avro container file of this schema instead of JSON lines.
        avro: Option<AvroSchema>,
    },
    Kafka(KafkaSinkSettings),
    Webhook(WebhookSettings),
    Postgres(PostgresSettings),
    /// Count and discard (`blackhole`, benchmarks); `digest` also digests
    /// the results.
    Null {
        digest: bool,
    },
}

const DEFAULT_COMMIT_INTERVAL: Duration = Duration::from_secs(1);
const DEFAULT_DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// CSV settings for a `format = "csv"` source; `None` for JSON.
fn csv_settings(
    format: Format,
    config: Option<CsvConfig>,
    schema: &Schema,
) -> Result<Option<CsvSettings>, String> {
    if format == Format::Avro {
        return Err(
            "format = \"avro\" is for Kafka messages; files and stdin are read as JSON or CSV"
                .into(),
        );
    }
    if format != Format::Csv {
        return match config {
            Some(_) => Err("a `csv` table needs format = \"csv\"".into()),
            None => Ok(None),
        };
    }
    let config = config.unwrap_or_default();
    let delimiter = match config.delimiter.as_deref().unwrap_or(",").as_bytes() {
        [byte] if byte.is_ascii() && *byte != b'"' && *byte != b'\n' => *byte,
        _ => return Err("csv delimiter must be one ASCII character other than a quote or newline, e.g. \";\" or \"\\t\"".into()),
    };
    let header = config.header.unwrap_or(true);
    if header && config.columns.is_some() {
        return Err(
            "csv columns are for files without a header line: set header = false, or drop columns"
                .into(),
        );
    }
    let settings = CsvSettings {
        header,
        delimiter,
        columns: config.columns,
    };
    if !header {
        // Checked now, so that a missing column is an error before any input.
        CsvLayout::declared(settings.columns.as_deref(), delimiter, schema)?;
    }
    Ok(Some(settings))
}

pub fn source(config: SourceConfig, base: &Path, schema: &Schema) -> Result<SourceSpec, String> {
    Ok(match config {
        SourceConfig::File {
            path,
            follow,
            max_line_bytes,
            format,
            csv,
        } => SourceSpec::File {
            path: base.join(path),
            follow,
            max_line_bytes,
            csv: csv_settings(format, csv, schema)?,
        },
        SourceConfig::Stdin {
            max_line_bytes,
            format,
            csv,
        } => SourceSpec::Stdin {
            max_line_bytes,
            csv: csv_settings(format, csv, schema)?,
        },
        SourceConfig::Kafka(kafka) => {
            if kafka.format == Format::Csv {
                return Err("format = \"csv\" is for file and stdin sources; Kafka values are read as JSON or Avro".into());
            }
            SourceSpec::Kafka(kafka_source(*kafka, base, schema)?)
        }
        SourceConfig::Http(http) => {
            if http.format != Format::Json {
                return Err("the http source takes JSON (format = \"json\")".into());
            }
            SourceSpec::Http(http_source(http)?)
        }
        SourceConfig::Datagen(datagen) => {
            SourceSpec::Datagen(DatagenSettings::new(datagen, schema)?)
        }
    })
}

fn http_source(config: HttpSourceConfig) -> Result<HttpSourceSettings, String> {
    let listen_text = config.listen.as_deref().unwrap_or("127.0.0.1:8080");
    let listen: SocketAddr = listen_text
        .parse()
        .map_err(|e| format!("http source listen `{listen_text}` is not an address:port ({e})"))?;
    if !listen.ip().is_loopback() && !config.allow_remote {
        return Err(format!(
            "http source listen `{listen}` is reachable from other machines; set allow_remote = true (and a secret) if that is meant"
        ));
    }
    let path = config.path.unwrap_or_else(|| "/events".into());
    if !path.starts_with('/') {
        return Err(format!("http source path `{path}` must start with /"));
    }
    let secret = match (config.secret, config.secret_env) {
        (Some(_), Some(_)) => return Err("http source: give secret or secret_env, not both".into()),
        (Some(secret), None) => Some(secret),
        (None, Some(name)) => Some(std::env::var(&name).map_err(|_| {
            format!("http source secret_env: the environment variable `{name}` is not set")
        })?),
        (None, None) => None,
    };
    if secret.as_ref().is_some_and(String::is_empty) {
        return Err("http source: the secret is empty".into());
    }
    Ok(HttpSourceSettings {
        listen,
        path,
        secret,
        secret_header: config
            .secret_header
            .unwrap_or_else(|| "x-weir-secret".into())
            .to_ascii_lowercase(),
        max_body_bytes: config.max_body_bytes.unwrap_or(1 << 20),
    })
}

fn kafka_source(
    config: KafkaSourceConfig,
    base: &Path,
    schema: &Schema,
) -> Result<KafkaSourceSettings, String> {
    let avro = match (config.format, &config.avro_schema) {
        (Format::Avro, Some(path)) => {
            let path = base.join(path);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read the Avro schema {}: {e}", path.display()))?;
            let reader = AvroRecordReader::parse(&text, schema)
                .map_err(|e| format!("Avro schema {}: {e}", path.display()))?;
            Some(std::sync::Arc::new(reader))
        }
        (Format::Avro, None) => {
            return Err(
                "format = \"avro\" needs avro_schema = \"….avsc\", the writer's record schema"
                    .into(),
            )
        }
        (_, Some(_)) => return Err("avro_schema is for format = \"avro\"".into()),
        _ => None,
    };
    let mut topics = config.topics;
    topics.extend(config.topic);
    if topics.is_empty() {
        return Err("a kafka source needs `topic = \"…\"` or `topics = [\"…\"]`".into());
    }
    if topics.len() > 256 {
        return Err(format!(
            "{} topics; a kafka source reads at most 256",
            topics.len()
        ));
    }
    if let Some(field) = &config.key_field {
        check_field(schema, "key_field", field, &[FieldType::String])?;
    }
    if let Some(field) = &config.timestamp_field {
        check_field(
            schema,
            "timestamp_field",
            field,
            &[FieldType::Timestamp, FieldType::I64],
        )?;
    }
    Ok(KafkaSourceSettings {
        bootstrap_servers: config.bootstrap_servers,
        topics,
        group_id: config.group_id,
        start_from: config.start_from,
        bounded: config.bounded,
        idle_timeout: config.idle_timeout.map(Millis::duration),
        commit_interval: config
            .commit_interval
            .map_or(DEFAULT_COMMIT_INTERVAL, Millis::duration),
        key_field: config.key_field.and_then(|f| schema.index_of(&f)),
        timestamp_field: config.timestamp_field.and_then(|f| schema.index_of(&f)),
        properties: crate::kafka_client::properties(config.properties, base)?,
        resume_from: Vec::new(),
        avro,
    })
}

fn check_field(
    schema: &Schema,
    setting: &str,
    name: &str,
    types: &[FieldType],
) -> Result<(), String> {
    match schema.field(name) {
        None => Err(format!(
            "{setting} `{name}` is not in the schema; available: {schema}"
        )),
        Some(field) if !types.contains(&field.ty) => Err(format!(
            "{setting} `{name}` is a {}; it must be a {}",
            field.ty,
            types
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" or ")
        )),
        Some(_) => Ok(()),
    }
}

/// `results` is the schema of what reaches the sink.
pub fn sink(config: SinkConfig, base: &Path, results: &Schema) -> Result<SinkSpec, String> {
    Ok(match config {
        SinkConfig::Console { .. } => SinkSpec::Console,
        SinkConfig::Blackhole { .. } => SinkSpec::Null { digest: false },
        SinkConfig::File { path, format, .. } => {
            let avro = match format {
                SinkFormat::Json => None,
                SinkFormat::Avro => {
                    let record = path
                        .file_stem()
                        .map_or("result".into(), |s| s.to_string_lossy().into_owned());
                    Some(
                        AvroSchema::new(&record, results)
                            .map_err(|e| format!("avro file sink: {e}"))?,
                    )
                }
            };
            SinkSpec::File {
                path: base.join(path),
                avro,
            }
        }
        SinkConfig::Kafka(kafka) => SinkSpec::Kafka(kafka_sink(kafka, base, results)?),
        SinkConfig::Webhook(webhook) => SinkSpec::Webhook(webhook_sink(webhook, base, results)?),
        SinkConfig::Postgres(postgres) => {
            if postgres.table.is_empty() || postgres.table.split('.').count() > 2 {
                return Err(format!(
                    "postgres table `{}` must be `table` or `schema.table`",
                    postgres.table
                ));
            }
            SinkSpec::Postgres(PostgresSettings {
                url: postgres.url,
                table: postgres.table,
                create_table: postgres.create_table.unwrap_or(true),
                statement_timeout: postgres
                    .statement_timeout
                    .map_or(Duration::from_secs(60), Millis::duration),
                id_prefix: String::new(),
            })
        }
    })
}

fn webhook_sink(
    config: WebhookSinkConfig,
    base: &Path,
    results: &Schema,
) -> Result<WebhookSettings, String> {
    let url = config.url;
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!(
            "webhook url `{url}` must start with http:// or https://"
        ));
    }
    let template = config
        .template
        .map(|text| Template::parse(&text, results).map_err(|e| format!("webhook sink: {e}")))
        .transpose()?;
    let batch_size = config.batch_size.unwrap_or(1);
    if batch_size == 0 {
        return Err("webhook batch_size must be at least 1".into());
    }
    if template.is_some() && batch_size > 1 {
        return Err(
            "webhook sink: a template makes one request per result; drop batch_size or the template"
                .into(),
        );
    }
    Ok(WebhookSettings {
        url,
        template,
        batch_size,
        timeout: config
            .timeout
            .map_or(Duration::from_secs(10), Millis::duration),
        max_retries: config.max_retries.unwrap_or(5),
        retry_backoff: config
            .retry_backoff
            .map_or(Duration::from_millis(200), Millis::duration),
        headers: config.headers.into_iter().collect(),
        roots: config
            .ca_file
            .map(|path| crate::sink::read_ca_file(&base.join(path)))
            .transpose()?,
        id_prefix: String::new(),
    })
}

fn kafka_sink(
    config: KafkaSinkConfig,
    base: &Path,
    results: &Schema,
) -> Result<KafkaSinkSettings, String> {
    let key_column = match &config.key_field {
        Some(name) => Some(results.index_of(name).ok_or_else(|| {
            format!("sink key_field `{name}` is not in the results; they have: {results}")
        })?),
        None => None,
    };
    let avro = match config.format {
        SinkFormat::Json => None,
        SinkFormat::Avro => {
            Some(AvroSchema::new(&config.topic, results).map_err(|e| format!("Kafka sink: {e}"))?)
        }
    };
    Ok(KafkaSinkSettings {
        bootstrap_servers: config.bootstrap_servers,
        topic: config.topic,
        key_column,
        delivery_timeout: config
            .delivery_timeout
            .map_or(DEFAULT_DELIVERY_TIMEOUT, Millis::duration),
        properties: crate::kafka_client::properties(config.properties, base)?,
        id_prefix: String::new(),
        transactional_id: config.transactional_id,
        avro,
    })
}
