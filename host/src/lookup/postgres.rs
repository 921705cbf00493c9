//! A lookup table from a PostgreSQL query. Each column is read as text
//! (timestamps in UTC) and parsed as a file's would be, so both kinds of
//! table hold the same values and give the same errors. The connection,
//! the query and the session are bounded in time.

use super::TableSpec;
use crate::data::FieldType;

/// How long the query may run, on the server.
const STATEMENT_TIMEOUT: &str = "60s";

/// `"name"`, quoted as an SQL identifier.
fn identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The query wrapped so that it gives the key and the fields as text.
fn wrapped(query: &str, spec: &TableSpec) -> String {
    let text = |name: &str, ty: FieldType| {
        let column = format!("t.{}", identifier(name));
        match ty {
            // ISO, in UTC, with a `+00` the parser does not take: cut below.
            FieldType::Timestamp => format!("CAST({column} AS timestamptz)::text"),
            _ => format!("CAST({column} AS text)"),
        }
    };
    let mut columns = vec![text(&spec.key, spec.key_type)];
    columns.extend(spec.fields.iter().map(|f| text(&f.name, f.ty)));
    format!(
        "SELECT {} FROM ({}) AS t",
        columns.join(", "),
        query.trim().trim_end_matches(';')
    )
}

/// Runs `query` at `url` and hands each row to `add` (row number, key,
/// values; `None` for NULL).
pub(super) fn read(
    url: &str,
    query: &str,
    spec: &TableSpec,
    mut add: impl FnMut(u64, &str, &[Option<&str>]) -> Result<(), String>,
) -> Result<(), String> {
    let shown = crate::redact::connection(url);
    let mut client = crate::postgres_connection::connect(url)
        .map_err(|e| format!("cannot connect to PostgreSQL ({shown}) for the table: {e}"))?;
    client
        .batch_execute(&format!(
            "SET statement_timeout = '{STATEMENT_TIMEOUT}'; SET TimeZone = 'UTC'; SET DateStyle = 'ISO'"
        ))
        .map_err(|e| format!("PostgreSQL ({shown}): {e}"))?;
    let rows = client
        .query(&wrapped(query, spec), &[])
        .map_err(|e| format!("the table's query on PostgreSQL ({shown}): {e}"))?;
    for (number, row) in rows.iter().enumerate() {
        let line = number as u64 + 1;
        let cell = |i: usize, ty: FieldType| -> Result<Option<String>, String> {
            let value: Option<String> = row
                .try_get(i)
                .map_err(|e| format!("table PostgreSQL ({shown}) row {line}: {e}"))?;
            Ok(match (value, ty) {
                (Some(v), FieldType::Timestamp) => {
                    Some(v.strip_suffix("+00").unwrap_or(&v).to_string())
                }
                (value, _) => value,
            })
        };
        let key = cell(0, spec.key_type)?.ok_or_else(|| {
            format!(
                "table PostgreSQL ({shown}) row {line}: the key `{}` is NULL",
                spec.key
            )
        })?;
        let values = spec
            .fields
            .iter()
            .enumerate()
            .map(|(i, field)| cell(i + 1, field.ty))
            .collect::<Result<Vec<_>, _>>()?;
        let values: Vec<Option<&str>> = values.iter().map(Option::as_deref).collect();
        add(line, &key, &values)?;
    }
    Ok(())
}
