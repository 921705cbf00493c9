//! `type = "lookup"`: a lookup join's table and how it joins.

use std::path::PathBuf;

use indexmap::IndexMap;
use serde::Deserialize;

use super::Millis;
use crate::data::FieldType;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LookupConfig {
    pub name: Option<String>,
    /// The stage whose results this one takes, or `"source"` for the
    /// source's rows (a branch of its own); default: the operator above.
    pub from: Option<String>,
    /// The table's file, relative to the pipeline file: `.csv` with a
    /// header line, or JSON lines (`.json`, `.ndjson`, `.jsonl`). Give
    /// this or `postgres`.
    pub table: Option<PathBuf>,
    /// The table as the rows of a PostgreSQL query, e.g. `{ url =
    /// "host=db user=weir dbname=ref", query = "SELECT id, name FROM
    /// products" }`; run again every `reload_every`.
    pub postgres: Option<PostgresTableConfig>,
    /// The table as a Kafka topic read as a changelog: the message key is
    /// the key, the value a JSON object with the fields, the latest value
    /// per key kept, a null value deleting it, e.g. `{ bootstrap_servers
    /// = "127.0.0.1:19092", topic = "sites" }`.
    pub kafka: Option<KafkaTableConfig>,
    /// The rows' field whose value is looked up.
    pub key: String,
    /// The table's column holding the key (default: the same name as `key`).
    pub table_key: Option<String>,
    /// The table's columns added to each row, with their types, e.g.
    /// `{ building = "string", floor = "i64" }`.
    pub fields: IndexMap<String, FieldType>,
    /// A row whose key is not in the table: `"keep"` it with the fields'
    /// defaults (a left join; the default) or `"dead-letter"` it.
    #[serde(default)]
    pub unmatched: UnmatchedRows,
    /// What unmatched rows kept get, per field (default: `""`, 0, false).
    #[serde(default)]
    #[schemars(with = "serde_json::Map<String, serde_json::Value>")]
    pub defaults: toml::Table,
    /// How often the file is checked for changes and read again if it
    /// changed (default 10 s; `"0s"`: never).
    pub reload_every: Option<Millis>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KafkaTableConfig {
    pub bootstrap_servers: String,
    pub topic: String,
    /// Passed to librdkafka (TLS, SASL, …).
    #[serde(default)]
    pub properties: IndexMap<String, String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostgresTableConfig {
    /// A connection string: `postgresql://user:password@host:port/db` or
    /// `host=… user=… dbname=…`. Its password is never printed.
    pub url: String,
    /// Gives the key column and the added fields, by name.
    pub query: String,
}

#[derive(Debug, Default, Clone, Copy, Deserialize, PartialEq, Eq, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum UnmatchedRows {
    #[default]
    Keep,
    DeadLetter,
}
