//! `CREATE TABLE … WITH ('connector' = …)`: a table's columns, its
//! watermark, and what it reads from or writes to, with Flink's option
//! names where Flink has the connector.

use std::path::PathBuf;

use indexmap::IndexMap;
use sqlparser::ast::{self, CreateTableOptions, SqlOption, Value};

use super::watermark::Watermark;
use super::SqlError;
use crate::data::FieldType;
use crate::expr::field_type;
use crate::pipeline::config::{
    CsvConfig, DatagenKind, DatagenSourceConfig, Format, HttpSourceConfig, KafkaSinkConfig,
    KafkaSourceConfig, Millis, PostgresSinkConfig, SinkConfig, SinkFormat, SourceConfig,
    WebhookSinkConfig,
};
use crate::source::kafka::StartFrom;

/// A table the script declared.
#[derive(Clone)]
pub struct Table {
    pub name: String,
    pub columns: IndexMap<String, FieldType>,
    pub watermark: Option<Watermark>,
    pub connector: String,
    options: IndexMap<String, String>,
    /// Where the statement is, for errors about the table as a whole.
    pub span: std::ops::Range<usize>,
}

impl Table {
    pub fn new(
        create: &ast::CreateTable,
        watermark: Option<Watermark>,
        span: std::ops::Range<usize>,
        text: &str,
    ) -> Result<Table, SqlError> {
        let name = create.name.to_string();
        let at = |node: &dyn ast::Spanned, message: String| {
            SqlError::at(text, node.span().start, message)
        };
        let mut columns = IndexMap::new();
        for column in &create.columns {
            let ty = field_type(&column.data_type)
                .map_err(|m| at(column, format!("column `{}`: {m}", column.name.value)))?;
            if columns.insert(column.name.value.clone(), ty).is_some() {
                return Err(at(
                    column,
                    format!("column `{}` is declared twice", column.name.value),
                ));
            }
        }
        if let Some(watermark) = &watermark {
            match columns.get(&watermark.column) {
                Some(FieldType::Timestamp | FieldType::I64) => {}
                Some(other) => return Err(SqlError { message: format!("the watermark's column `{}` is a {other}; it must be a TIMESTAMP(3) (or BIGINT epoch millis)", watermark.column), span: Some(watermark.span.clone()) }),
                None => return Err(SqlError { message: format!("the watermark's column `{}` is not a column of `{name}`", watermark.column), span: Some(watermark.span.clone()) }),
            }
        }
        let options = match &create.table_options {
            CreateTableOptions::With(options) => options,
            CreateTableOptions::None => return Err(SqlError { message: format!("table `{name}` needs a WITH ('connector' = …) clause saying where its rows come from or go to"), span: Some(span) }),
            _ => return Err(SqlError { message: "table options go in WITH ('key' = 'value', …)".into(), span: Some(span) }),
        };
        let mut read = IndexMap::new();
        for option in options {
            let SqlOption::KeyValue { key, value } = option else {
                return Err(SqlError {
                    message: format!("`{option}` is not a 'key' = 'value' option"),
                    span: Some(span),
                });
            };
            let key_text = key
                .0
                .iter()
                .filter_map(|p| p.as_ident())
                .map(|i| i.value.clone())
                .collect::<Vec<_>>()
                .join(".");
            let value_text = match value {
                ast::Expr::Value(v) => match &v.value {
                    Value::SingleQuotedString(s) | Value::Number(s, _) => s.clone(),
                    Value::Boolean(b) => b.to_string(),
                    other => {
                        return Err(at(
                            value,
                            format!("option '{key_text}': `{other}` is not a quoted value"),
                        ))
                    }
                },
                other => {
                    return Err(at(
                        other,
                        format!("option '{key_text}': `{other}` is not a quoted value"),
                    ))
                }
            };
            read.insert(key_text, value_text);
        }
        let connector = read.shift_remove("connector").ok_or_else(|| SqlError { message: format!("table `{name}` has no 'connector' option; use 'filesystem', 'kafka', 'tail', 'stdin', 'print', 'webhook' or 'postgres'"), span: Some(span.clone()) })?;
        Ok(Table {
            name,
            columns,
            watermark,
            connector,
            options: read,
            span,
        })
    }

    /// The names of the options not read yet.
    pub(super) fn option_keys(&self) -> impl Iterator<Item = String> + '_ {
        self.options.keys().cloned()
    }

    pub(super) fn take(&mut self, key: &str) -> Option<String> {
        self.options.shift_remove(key)
    }

    pub(super) fn required(&mut self, key: &str) -> Result<String, SqlError> {
        self.take(key).ok_or_else(|| {
            self.error(format!(
                "the '{}' connector needs the option '{key}'",
                self.connector
            ))
        })
    }

    /// An option read as a number, a boolean or a duration.
    pub(super) fn parsed<T>(&mut self, key: &str) -> Result<Option<T>, SqlError>
    where
        T: serde::de::DeserializeOwned,
    {
        let Some(text) = self.take(key) else {
            return Ok(None);
        };
        T::deserialize(super::functions::option_value(&text))
            .map(Some)
            .map_err(|e| self.error(format!("'{key}' = '{text}': {}", e.message())))
    }

    /// Flink's `csv.field-delimiter`, and weir's `csv.header` (default true).
    fn csv(&mut self) -> Result<Option<CsvConfig>, SqlError> {
        let header = self.parsed("csv.header")?;
        let delimiter = self.take("csv.field-delimiter");
        Ok(
            (header.is_some() || delimiter.is_some()).then_some(CsvConfig {
                header,
                delimiter,
                columns: None,
            }),
        )
    }

    pub(super) fn error(&self, message: String) -> SqlError {
        SqlError {
            message: format!("table `{}`: {message}", self.name),
            span: Some(self.span.clone()),
        }
    }

    /// Options nobody read are mistakes, not defaults: refused by name.
    pub(super) fn no_more_options(&self) -> Result<(), SqlError> {
        match self.options.keys().next() {
            None => Ok(()),
            Some(key) => Err(self.error(format!(
                "the '{}' connector has no option '{key}'",
                self.connector
            ))),
        }
    }

    fn format(&mut self) -> Result<Format, SqlError> {
        match self.take("format").as_deref() {
            None | Some("json") => Ok(Format::Json),
            Some("csv") => Ok(Format::Csv),
            Some("avro") => Ok(Format::Avro),
            Some(other) => Err(self.error(format!(
                "'format' = '{other}' is not supported; use 'json', 'csv' or 'avro'"
            ))),
        }
    }

    /// The table as a source of rows.
    pub fn source(&mut self, script: &str) -> Result<SourceConfig, SqlError> {
        let source = match self.connector.as_str() {
            "filesystem" | "tail" => {
                let path = PathBuf::from(self.required("path")?);
                let format = self.format()?;
                if format == Format::Avro {
                    return Err(self
                        .error("Avro files are read from Kafka only; use 'json' or 'csv'".into()));
                }
                SourceConfig::File {
                    path,
                    follow: self.connector == "tail",
                    format,
                    csv: self.csv()?,
                    max_line_bytes: 1 << 20,
                }
            }
            "kafka" => SourceConfig::Kafka(Box::new(self.kafka_source(script)?)),
            "stdin" => SourceConfig::Stdin {
                format: self.format()?,
                csv: self.csv()?,
                max_line_bytes: 1 << 20,
            },
            "datagen" => SourceConfig::Datagen(self.datagen()?),
            "http" => SourceConfig::Http(HttpSourceConfig {
                listen: self.take("listen"),
                allow_remote: self.parsed("allow-remote")?.unwrap_or(false),
                path: self.take("path"),
                secret: None,
                secret_env: self.take("secret-env"),
                secret_header: self.take("secret-header"),
                max_body_bytes: self.parsed("max-body-bytes")?,
                format: self.format()?,
            }),
            "print" | "blackhole" | "webhook" | "postgres" => {
                return Err(self.error(format!(
                    "a '{}' table can only be written to (INSERT INTO)",
                    self.connector
                )))
            }
            other => {
                return Err(self.error(format!(
                    "no connector '{other}'; a source is 'filesystem', 'kafka', 'tail', 'stdin', 'http' or 'datagen'"
                )))
            }
        };
        self.no_more_options()?;
        Ok(source)
    }

    /// Flink's `datagen` options: `rows-per-second`, `number-of-rows`,
    /// `fields.<column>.kind|min|max|start|end|length|max-past`, and weir's `seed`.
    fn datagen(&mut self) -> Result<DatagenSourceConfig, SqlError> {
        let number = |table: &Self, key: &str, text: String| {
            text.trim()
                .parse::<f64>()
                .map_err(|_| table.error(format!("'{key}' = '{text}' is not a number")))
        };
        let count = |table: &Self, key: &str, text: String| {
            text.trim()
                .parse::<u64>()
                .map_err(|_| table.error(format!("'{key}' = '{text}' is not a whole number")))
        };
        let mut config = DatagenSourceConfig {
            rows_per_second: None,
            number_of_rows: None,
            seed: None,
            fields: IndexMap::new(),
        };
        if let Some(text) = self.take("rows-per-second") {
            config.rows_per_second = Some(count(self, "rows-per-second", text)?);
        }
        if let Some(text) = self.take("number-of-rows") {
            config.number_of_rows = Some(count(self, "number-of-rows", text)?);
        }
        if let Some(text) = self.take("seed") {
            config.seed = Some(count(self, "seed", text)?);
        }
        let keys: Vec<String> = self
            .options
            .keys()
            .filter(|k| k.starts_with("fields."))
            .cloned()
            .collect();
        for key in keys {
            let value = self.options.shift_remove(&key).expect("listed above");
            let Some((column, option)) = key["fields.".len()..].rsplit_once('.') else {
                return Err(self.error(format!("'{key}': write 'fields.<column>.<option>'")));
            };
            let field = config.fields.entry(column.to_string()).or_default();
            match option {
                "kind" => {
                    field.kind = match value.as_str() {
                        "random" => DatagenKind::Random,
                        "sequence" => DatagenKind::Sequence,
                        other => return Err(self.error(format!("'{key}' = '{other}': the kinds are 'random' and 'sequence'"))),
                    }
                }
                "min" => field.min = Some(number(self, &key, value)?),
                "max" => field.max = Some(number(self, &key, value)?),
                "start" | "end" => {
                    let whole = value.trim().parse::<i64>().map_err(|_| self.error(format!("'{key}' = '{value}' is not a whole number")))?;
                    if option == "start" { field.start = Some(whole) } else { field.end = Some(whole) }
                }
                "length" => field.length = Some(count(self, &key, value)? as usize),
                "max-past" => {
                    let past = humantime::parse_duration(&value).map_err(|e| self.error(format!("'{key}' = '{value}' is not a duration ({e}); write e.g. '5s'")))?;
                    field.max_past = Some(Millis(past.as_millis().min(i64::MAX as u128) as i64));
                }
                other => return Err(self.error(format!("'{key}': datagen fields have no option '{other}'; they take kind, min, max, start, end, length, max-past"))),
            }
        }
        Ok(config)
    }

    fn kafka_source(&mut self, script: &str) -> Result<KafkaSourceConfig, SqlError> {
        let topics: Vec<String> = self
            .required("topic")?
            .split(';')
            .map(|t| t.trim().to_string())
            .collect();
        let start_from = match self.take("scan.startup.mode").as_deref() {
            None | Some("group-offsets") => StartFrom::Committed,
            Some("earliest-offset") => StartFrom::Earliest,
            Some("latest-offset") => StartFrom::Latest,
            Some(other) => return Err(self.error(format!("'scan.startup.mode' = '{other}' is not supported; use 'group-offsets', 'earliest-offset' or 'latest-offset'"))),
        };
        let bounded = match self.take("scan.bounded.mode").as_deref() {
            None | Some("unbounded") => false,
            Some("latest-offset") => true,
            Some(other) => return Err(self.error(format!("'scan.bounded.mode' = '{other}' is not supported; use 'latest-offset' or 'unbounded'"))),
        };
        let format = self.format()?;
        let avro_schema = self.take("avro.schema-file").map(PathBuf::from);
        Ok(KafkaSourceConfig {
            bootstrap_servers: self.required("properties.bootstrap.servers")?,
            topic: None,
            topics,
            group_id: self
                .take("properties.group.id")
                .unwrap_or_else(|| format!("weir-{script}")),
            start_from,
            format,
            avro_schema,
            key_field: None,
            timestamp_field: None,
            idle_timeout: None,
            bounded,
            commit_interval: None,
            properties: self.librdkafka_properties(),
        })
    }

    /// Flink passes `properties.*` to the Kafka client; so does weir.
    fn librdkafka_properties(&mut self) -> IndexMap<String, String> {
        let keys: Vec<String> = self
            .options
            .keys()
            .filter(|k| k.starts_with("properties."))
            .cloned()
            .collect();
        keys.into_iter()
            .filter_map(|key| {
                let value = self.options.shift_remove(&key)?;
                Some((key["properties.".len()..].to_string(), value))
            })
            .collect()
    }

    /// The `format` of a sink: what `what` (e.g. "results are written") as.
    fn sink_format(&mut self, what: &str) -> Result<SinkFormat, SqlError> {
        match self.format()? {
            Format::Json => Ok(SinkFormat::Json),
            Format::Avro => Ok(SinkFormat::Avro),
            Format::Csv => Err(self.error(format!("{what} as 'json' or 'avro'"))),
        }
    }

    /// The table as where results go.
    pub fn sink(&mut self) -> Result<SinkConfig, SqlError> {
        let sink = match self.connector.as_str() {
            "print" => SinkConfig::Console { from: None },
            "blackhole" => SinkConfig::Blackhole { from: None },
            "filesystem" => {
                let path = PathBuf::from(self.required("path")?);
                let format = self.sink_format("results are written")?;
                SinkConfig::File { path, format, from: None }
            }
            "kafka" => {
                let format = self.sink_format("Kafka messages are written")?;
                SinkConfig::Kafka(KafkaSinkConfig {
                    from: None,
                    bootstrap_servers: self.required("properties.bootstrap.servers")?,
                    topic: self.required("topic")?,
                    key_field: self.take("key.fields"),
                    delivery_timeout: None,
                    transactional_id: self.take("properties.transactional.id"),
                    properties: self.librdkafka_properties(),
                    format,
                })
            }
            "webhook" => SinkConfig::Webhook(WebhookSinkConfig {
                from: None,
                url: self.required("url")?,
                template: self.take("template"),
                batch_size: self.parsed("batch-size")?,
                timeout: self.parsed("timeout")?,
                max_retries: self.parsed("max-retries")?,
                retry_backoff: self.parsed("retry-backoff")?,
                headers: IndexMap::new(),
                ca_file: self.take("ca-file").map(PathBuf::from),
            }),
            "postgres" | "jdbc" => SinkConfig::Postgres(PostgresSinkConfig {
                from: None,
                url: self.required("url")?,
                table: self.required("table-name")?,
                create_table: None,
                statement_timeout: self.parsed("statement-timeout")?,
            }),
            "tail" | "stdin" | "http" | "datagen" => {
                return Err(self.error(format!("a '{}' table can only be read from", self.connector)))
            }
            other => return Err(self.error(format!("no sink connector '{other}'; use 'print', 'blackhole', 'filesystem', 'kafka', 'webhook' or 'postgres'"))),
        };
        self.no_more_options()?;
        Ok(sink)
    }
}
