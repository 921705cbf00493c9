//! Reference tables for lookup joins (enrichment): a CSV or NDJSON file, or
//! a PostgreSQL query, read into columns with an index by key, so that
//! joining a batch is one hash probe per row and one gather per added
//! field. The table is read again when it changes, without stopping the
//! stream.

mod changelog;
mod live;
mod load;
mod postgres;
mod table;

use std::path::PathBuf;

pub use changelog::KafkaTable;
pub use live::LiveTable;
pub use load::load;
pub use table::LookupTable;

use crate::data::{Field, FieldType};

/// Where the table comes from, which column is the key, and which columns
/// rows take from it.
#[derive(Debug, Clone)]
pub struct TableSpec {
    pub origin: TableOrigin,
    /// The table's column holding the key.
    pub key: String,
    /// The type of the rows' key field: the table's keys are read as it.
    pub key_type: FieldType,
    /// Columns added to each row, with their types.
    pub fields: Vec<Field>,
    /// Values an unmatched row takes, per field (`None`: the type's zero).
    pub defaults: Vec<Option<String>>,
}

#[derive(Debug, Clone)]
pub enum TableOrigin {
    File {
        path: PathBuf,
        format: TableFormat,
    },
    /// The rows of `query`, run on the server at `url`.
    Postgres {
        url: String,
        query: String,
    },
    /// A topic read as a changelog: the latest value per message key.
    Kafka(KafkaTable),
}

impl std::fmt::Display for TableOrigin {
    /// As errors and `weir explain` show it: a connection's password hidden.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TableOrigin::File { path, .. } => write!(f, "{}", path.display()),
            TableOrigin::Postgres { url, .. } => {
                write!(f, "PostgreSQL ({})", crate::redact::connection(url))
            }
            TableOrigin::Kafka(kafka) => write!(f, "Kafka topic `{}`", kafka.topic),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    /// A header line naming the columns, then one row per line.
    Csv,
    /// One JSON object per line.
    Json,
}

impl TableFormat {
    /// From the file's extension: `.csv` is CSV, `.json`, `.ndjson` and
    /// `.jsonl` are JSON lines.
    pub fn of(path: &std::path::Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "csv" => Some(Self::Csv),
            "json" | "ndjson" | "jsonl" => Some(Self::Json),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
