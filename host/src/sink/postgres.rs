//! Results upserted into a PostgreSQL table, keyed by their deterministic id
//! (see [`super::result_id`]): `INSERT … ON CONFLICT (id) DO UPDATE`, so a
//! replay after a crash or an update of a window result by a late row
//! leaves exactly one row per result, holding its latest value.
//!
//! Rows go in multi-row statements, one transaction per batch. The table is
//! created from the results' schema when missing. A failed statement fails
//! the run with PostgreSQL's message (the input since the last checkpoint is
//! replayed on restart, which the upsert makes harmless).

use std::fmt::Write as _;
use std::io;
use std::time::Duration;

use postgres::types::ToSql;
use postgres::Client;

use super::Sink;
use crate::data::{Batch, FieldType, Schema, Value};
use crate::format::json::JsonRow;

/// PostgreSQL allows 65,535 parameters per statement.
const MAX_PARAMETERS: usize = 65_535;

#[derive(Debug, Clone)]
pub struct PostgresSettings {
    /// libpq-style (`host=… user=… dbname=…`) or a `postgres://` URL.
    pub url: String,
    pub table: String,
    pub create_table: bool,
    /// For every statement the sink runs (PostgreSQL's `statement_timeout`):
    /// a lock held elsewhere must not hold the pipeline for ever.
    pub statement_timeout: Duration,
    /// Part of every result id: the pipeline's name.
    pub id_prefix: String,
}

pub struct PostgresSink {
    client: Client,
    settings: PostgresSettings,
    /// `INSERT INTO t (id, a, b) VALUES ` and ` ON CONFLICT …`, around the rows.
    insert: String,
    conflict: String,
    columns: Vec<FieldType>,
}

fn sql_type(ty: FieldType) -> &'static str {
    match ty {
        FieldType::String => "text",
        FieldType::F64 => "double precision",
        FieldType::I64 => "bigint",
        FieldType::Bool => "boolean",
        FieldType::Timestamp => "timestamptz",
    }
}

/// A quoted SQL identifier.
fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `schema.table` or `table`, each part quoted.
fn table_name(table: &str) -> String {
    table.split('.').map(ident).collect::<Vec<_>>().join(".")
}

fn sql_error(context: &str, error: postgres::Error) -> io::Error {
    let detail = crate::postgres_connection::describe(&error);
    io::Error::other(format!("{context}: {detail}"))
}

impl PostgresSink {
    pub fn connect(settings: PostgresSettings, results: &Schema) -> io::Result<Self> {
        let mut client = crate::postgres_connection::connect(&settings.url).map_err(|e| {
            io::Error::other(format!(
                "cannot connect to PostgreSQL ({}): {e}",
                crate::redact::connection(&settings.url)
            ))
        })?;
        let timeout_ms = settings.statement_timeout.as_millis().max(1);
        client
            .batch_execute(&format!("SET statement_timeout = {timeout_ms}"))
            .map_err(|e| sql_error("setting statement_timeout", e))?;
        let table = table_name(&settings.table);
        if settings.create_table {
            let mut ddl = format!("CREATE TABLE IF NOT EXISTS {table} (id text PRIMARY KEY");
            for field in results.fields() {
                let _ = write!(ddl, ", {} {}", ident(&field.name), sql_type(field.ty));
            }
            ddl.push(')');
            client
                .batch_execute(&ddl)
                .map_err(|e| sql_error(&format!("creating table {}", settings.table), e))?;
        }
        let names: Vec<String> = results.fields().iter().map(|f| ident(&f.name)).collect();
        let insert = format!("INSERT INTO {table} (id, {}) VALUES ", names.join(", "));
        let conflict = format!(
            " ON CONFLICT (id) DO UPDATE SET {}",
            names
                .iter()
                .map(|n| format!("{n} = EXCLUDED.{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        Ok(Self {
            client,
            settings,
            insert,
            conflict,
            columns: results.fields().iter().map(|f| f.ty).collect(),
        })
    }

    /// One `INSERT … ON CONFLICT` for `rows` (at most one row per id).
    fn upsert(
        client: &mut postgres::Transaction<'_>,
        statement: &str,
        params: &[Box<dyn ToSql + Sync>],
    ) -> Result<(), postgres::Error> {
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref()).collect();
        client.execute(statement, &refs).map(drop)
    }
}

impl Sink for PostgresSink {
    fn write(&mut self, batch: &Batch, _: &mut super::SinkContext<'_>) -> io::Result<()> {
        // The last row of each id wins: a statement cannot update a row twice.
        // (Where an id first appeared does not matter: ids are unique per statement.)
        let mut json = Vec::new();
        let mut id = String::new();
        let mut last_of: indexmap::IndexMap<String, usize> = indexmap::IndexMap::new();
        for row in 0..batch.len() {
            json.clear();
            serde_json::to_writer(&mut json, &JsonRow::new(batch.row(row)))?;
            super::result_id(&self.settings.id_prefix, batch, row, &json, &mut id);
            last_of.insert(id.clone(), row);
        }
        let width = self.columns.len() + 1;
        let per_statement = (MAX_PARAMETERS / width).max(1);
        let rows: Vec<(String, usize)> = last_of.into_iter().collect();
        let mut transaction = self
            .client
            .transaction()
            .map_err(|e| sql_error("starting a transaction", e))?;
        for chunk in rows.chunks(per_statement) {
            let mut statement = self.insert.clone();
            let mut params: Vec<Box<dyn ToSql + Sync>> = Vec::with_capacity(chunk.len() * width);
            for (i, (id, row)) in chunk.iter().enumerate() {
                statement.push_str(if i == 0 { "(" } else { ", (" });
                params.push(Box::new(id.clone()));
                let _ = write!(statement, "${}", params.len());
                for (column, ty) in self.columns.iter().enumerate() {
                    let value = batch.columns[column].get(*row);
                    params.push(match value {
                        Value::String(s) => Box::new(s.to_string()),
                        Value::F64(v) => Box::new(v),
                        Value::I64(v) => Box::new(v),
                        Value::Bool(v) => Box::new(v),
                        Value::Timestamp(v) => Box::new(v),
                    });
                    let n = params.len();
                    if *ty == FieldType::Timestamp {
                        let _ = write!(statement, ", to_timestamp(${n}::bigint / 1000.0)");
                    } else {
                        let _ = write!(statement, ", ${n}");
                    }
                }
                statement.push(')');
            }
            statement.push_str(&self.conflict);
            Self::upsert(&mut transaction, &statement, &params)
                .map_err(|e| sql_error(&format!("upserting into {}", self.settings.table), e))?;
        }
        transaction.commit().map_err(|e| sql_error("committing", e))
    }

    /// Every batch is committed when `write` returns.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
