//! A `type = "lookup"` entry to a stage: the table read and checked
//! against the rows it joins.

use std::path::Path;
use std::time::Duration;

use crate::data::{Field, FieldType, Schema};
use crate::lookup::{KafkaTable, LiveTable, TableFormat, TableOrigin, TableSpec};
use crate::pipeline::config::{KafkaTableConfig, LookupConfig, PostgresTableConfig, UnmatchedRows};
use crate::pipeline::operator::{LookupStage, Unmatched};

/// How often a table file is looked at when the pipeline does not say.
const RELOAD_EVERY: Duration = Duration::from_secs(10);

/// The operator for `config`, receiving rows of `input`; paths are
/// relative to `base`.
pub(super) fn lookup_operator(
    config: LookupConfig,
    input: &Schema,
    base: &Path,
) -> Result<LookupStage, String> {
    let key = input.index_of(&config.key).ok_or_else(|| {
        let names: Vec<&str> = input.fields().iter().map(|f| f.name.as_str()).collect();
        format!(
            "`key = \"{}\"` is not a field of the rows (they have {})",
            config.key,
            names.join(", ")
        )
    })?;
    let key_type = input.fields()[key].ty;
    if key_type == FieldType::F64 {
        return Err(format!(
            "`{}` is an f64 field; a float cannot be looked up (cast it to i64 or string first)",
            config.key
        ));
    }
    let origin = table_origin(config.table, config.postgres, config.kafka, base)?;
    if config.fields.is_empty() {
        return Err("`fields` is empty: name the table columns to add, with their types".into());
    }
    if let Some(unknown) = config
        .defaults
        .keys()
        .find(|name| !config.fields.contains_key(*name))
    {
        return Err(format!(
            "`defaults` names `{unknown}`, which is not in `fields`"
        ));
    }
    let defaults = config
        .fields
        .keys()
        .map(|name| config.defaults.get(name).map(default_text))
        .collect();
    let spec = TableSpec {
        origin,
        key: config.table_key.unwrap_or_else(|| config.key.clone()),
        key_type,
        fields: config
            .fields
            .into_iter()
            .map(|(name, ty)| Field::new(name, ty))
            .collect(),
        defaults,
    };
    let check_every = match config.reload_every {
        Some(every) if every.0 == 0 => None,
        Some(every) => Some(every.duration()),
        None => Some(RELOAD_EVERY),
    };
    let live = LiveTable::open(spec, check_every)?;
    let unmatched = match config.unmatched {
        UnmatchedRows::Keep => Unmatched::Keep,
        UnmatchedRows::DeadLetter => Unmatched::DeadLetter,
    };
    LookupStage::new(live, input, key, unmatched)
}

/// A default as the table's text would hold it.
fn default_text(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Where the table is: exactly one of a file (relative to `base`), a
/// PostgreSQL query or a Kafka topic.
fn table_origin(
    table: Option<std::path::PathBuf>,
    postgres: Option<PostgresTableConfig>,
    kafka: Option<KafkaTableConfig>,
    base: &Path,
) -> Result<TableOrigin, String> {
    Ok(match (table, postgres, kafka) {
        (Some(table), None, None) => {
            let path = base.join(table);
            let format = TableFormat::of(&path).ok_or_else(|| {
                format!(
                    "table {}: give a .csv file (with a header line) or JSON lines (.json, .ndjson, .jsonl)",
                    path.display()
                )
            })?;
            TableOrigin::File { path, format }
        }
        (None, Some(postgres), None) => TableOrigin::Postgres {
            url: postgres.url,
            query: postgres.query,
        },
        (None, None, Some(kafka)) => TableOrigin::Kafka(KafkaTable {
            bootstrap_servers: kafka.bootstrap_servers,
            topic: kafka.topic,
            properties: crate::kafka_client::properties(kafka.properties, base)?,
        }),
        _ => return Err("give the table as one of `table = \"file.csv\"`, `postgres = { url, query }` or `kafka = { bootstrap_servers, topic }`".into()),
    })
}
