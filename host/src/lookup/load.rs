//! Reading a table file into a [`LookupTable`]. Every error names the file,
//! the line and the column, and a table with an error is not used: the
//! pipeline refuses to start, or a reload keeps the table it had.

use std::hash::Hasher;
use std::io::{BufRead, BufReader};

use super::table::TableBuilder;
use super::{LookupTable, TableFormat, TableOrigin, TableSpec};
use crate::data::{FieldType, Key, Value};
use crate::format::timestamp;

/// Reads `spec`'s table. Keys must be unique: a key on two lines is an
/// error naming both.
pub fn load(spec: &TableSpec) -> Result<LookupTable, String> {
    let mut table = Loading::new(spec)?;
    match &spec.origin {
        TableOrigin::File { path, format } => {
            let file = std::fs::File::open(path)
                .map_err(|e| format!("cannot read the table {}: {e}", path.display()))?;
            match format {
                TableFormat::Csv => table.read_csv(file)?,
                TableFormat::Json => table.read_json(file)?,
            }
        }
        TableOrigin::Kafka(kafka) => {
            return super::changelog::Changelog::open(kafka, spec)?.table(spec);
        }
        TableOrigin::Postgres { url, query } => {
            super::postgres::read(url, query, spec, |row, key, values| {
                table.add_text(row, key, values)
            })?
        }
    }
    table.finish()
}

pub(super) struct Loading<'a> {
    spec: &'a TableSpec,
    /// Per field, what a missing value (a NULL) and the defaults' row take.
    defaults: Vec<Parsed>,
    digest: std::hash::DefaultHasher,
    table: TableBuilder,
    /// Per row, its record and the line it was read from, for a
    /// duplicate's message.
    records: Vec<u32>,
    lines: Vec<u64>,
}

impl<'a> Loading<'a> {
    /// Fails if a default is not a value of its field's type.
    pub(super) fn new(spec: &'a TableSpec) -> Result<Self, String> {
        let defaults = spec
            .fields
            .iter()
            .zip(&spec.defaults)
            .map(|(field, default)| match default {
                Some(text) => parse_value(text, field.ty)
                    .map_err(|e| format!("the default of `{}`: {e}", field.name)),
                None => Ok(Parsed::zero(field.ty)),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            spec,
            defaults,
            digest: std::hash::DefaultHasher::new(),
            table: TableBuilder::new(&spec.fields),
            records: Vec::new(),
            lines: Vec::new(),
        })
    }

    fn at(&self, line: u64) -> String {
        match &self.spec.origin {
            TableOrigin::File { path, .. } => format!("table {} line {line}", path.display()),
            origin @ TableOrigin::Postgres { .. } => format!("table {origin} row {line}"),
            // Rows in key order: there are no lines to point at.
            origin @ TableOrigin::Kafka(_) => format!("table {origin} row {line}"),
        }
    }

    fn read_csv(&mut self, file: std::fs::File) -> Result<(), String> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .from_reader(BufReader::new(file));
        let headers = reader
            .headers()
            .map_err(|e| format!("{}: {e}", self.at(1)))?
            .clone();
        let column = |name: &str| {
            headers
                .iter()
                .position(|h| h.trim() == name)
                .ok_or_else(|| {
                    let names: Vec<&str> = headers.iter().collect();
                    format!(
                        "table {} has no column `{name}` (its header: {})",
                        self.spec.origin,
                        names.join(", ")
                    )
                })
        };
        let key_at = column(&self.spec.key)?;
        let field_at = self
            .spec
            .fields
            .iter()
            .map(|f| column(&f.name))
            .collect::<Result<Vec<_>, _>>()?;
        let mut record = csv::StringRecord::new();
        loop {
            match reader.read_record(&mut record) {
                Ok(false) => return Ok(()),
                Ok(true) => {}
                Err(e) => {
                    let line = e.position().map_or(0, |p| p.line());
                    return Err(format!("{}: {e}", self.at(line)));
                }
            }
            let line = record.position().map_or(0, |p| p.line());
            let cell = |at: usize| record.get(at).unwrap_or("");
            let values: Vec<Option<&str>> = field_at.iter().map(|&at| Some(cell(at))).collect();
            self.add_text(line, cell(key_at), &values)?;
        }
    }

    fn read_json(&mut self, file: std::fs::File) -> Result<(), String> {
        for (number, line) in BufReader::new(file).lines().enumerate() {
            let line_number = number as u64 + 1;
            let line = line.map_err(|e| format!("{}: {e}", self.at(line_number)))?;
            if line.trim().is_empty() {
                continue;
            }
            let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&line)
                .map_err(|e| format!("{}: not a JSON object: {e}", self.at(line_number)))?;
            let text = |name: &str| -> Result<String, String> {
                match object.get(name) {
                    Some(serde_json::Value::String(s)) => Ok(s.clone()),
                    Some(value @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => {
                        Ok(value.to_string())
                    }
                    Some(other) => Err(format!(
                        "{}: `{name}` is {other}, not a string, number or boolean",
                        self.at(line_number)
                    )),
                    None => Err(format!("{}: no field `{name}`", self.at(line_number))),
                }
            };
            let key = text(&self.spec.key)?;
            let values = self
                .spec
                .fields
                .iter()
                .map(|f| text(&f.name))
                .collect::<Result<Vec<_>, _>>()?;
            let values: Vec<Option<&str>> = values.iter().map(|v| Some(v.as_str())).collect();
            self.add_text(line_number, &key, &values)?;
        }
        Ok(())
    }

    /// One row, from its key and its fields' values as text (`None`: the
    /// field's default, for a database's NULL).
    pub(super) fn add_text(
        &mut self,
        line: u64,
        key: &str,
        values: &[Option<&str>],
    ) -> Result<(), String> {
        self.digest.write(key.as_bytes());
        for value in values {
            self.digest.write_u8(0xff);
            self.digest.write(value.unwrap_or_default().as_bytes());
            self.digest.write_u8(u8::from(value.is_some()));
        }
        let key = parse_key(key, self.spec.key_type)
            .map_err(|e| format!("{}, key `{}`: {e}", self.at(line), self.spec.key))?;
        if let Some(first) = self.table.find(&key) {
            let row = self.records.binary_search(&first).unwrap_or_default();
            return Err(format!(
                "{}: key {} is already on line {}; a lookup table holds one row per key",
                self.at(line),
                key.text(),
                self.lines[row]
            ));
        }
        // All parsed before any is pushed: a bad value leaves no half row.
        let parsed = self
            .spec
            .fields
            .iter()
            .zip(values)
            .map(|(field, text)| {
                text.map(|text| {
                    parse_value(text, field.ty)
                        .map_err(|e| format!("{}, column `{}`: {e}", self.at(line), field.name))
                })
                .transpose()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let values: Vec<Value<'_>> = parsed
            .iter()
            .zip(&self.defaults)
            .map(|(value, default)| value.as_ref().unwrap_or(default).as_value())
            .collect();
        let record = self
            .table
            .insert(&key, &values)
            .map_err(|e| format!("table {}: {e}", self.spec.origin))?;
        self.records.push(record);
        self.lines.push(line);
        Ok(())
    }

    /// Appends the defaults' row.
    pub(super) fn finish(self) -> Result<LookupTable, String> {
        let defaults: Vec<Value<'_>> = self.defaults.iter().map(Parsed::as_value).collect();
        self.table
            .finish(&defaults, self.digest.finish())
            .map_err(|e| format!("table {}: {e}", self.spec.origin))
    }
}

/// A value read from text, owning its string.
pub(super) enum Parsed {
    String(String),
    F64(f64),
    I64(i64),
    Bool(bool),
    Timestamp(i64),
}

impl Parsed {
    pub(super) fn zero(ty: FieldType) -> Self {
        match ty {
            FieldType::String => Self::String(String::new()),
            FieldType::F64 => Self::F64(0.0),
            FieldType::I64 => Self::I64(0),
            FieldType::Bool => Self::Bool(false),
            FieldType::Timestamp => Self::Timestamp(0),
        }
    }

    fn as_value(&self) -> Value<'_> {
        match self {
            Self::String(s) => Value::String(s),
            Self::F64(v) => Value::F64(*v),
            Self::I64(v) => Value::I64(*v),
            Self::Bool(v) => Value::Bool(*v),
            Self::Timestamp(v) => Value::Timestamp(*v),
        }
    }
}

/// `text` as a value of type `ty`.
pub(super) fn parse_value(text: &str, ty: FieldType) -> Result<Parsed, String> {
    let trimmed = text.trim();
    Ok(match ty {
        FieldType::String => Parsed::String(text.to_string()),
        FieldType::I64 => Parsed::I64(
            trimmed
                .parse()
                .map_err(|_| format!("{text:?} is not an integer (i64)"))?,
        ),
        FieldType::F64 => Parsed::F64(
            trimmed
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| format!("{text:?} is not a finite number (f64)"))?,
        ),
        FieldType::Bool => Parsed::Bool(match trimmed.to_ascii_lowercase().as_str() {
            "true" => true,
            "false" => false,
            _ => return Err(format!("{text:?} is not true or false")),
        }),
        FieldType::Timestamp => Parsed::Timestamp(
            trimmed
                .parse::<i64>()
                .ok()
                .or_else(|| timestamp::parse(trimmed))
                .ok_or_else(|| {
                    format!(
                        "{text:?} is not a timestamp (epoch millis, 2023-12-31 23:59:58.890 or RFC 3339)"
                    )
                })?,
        ),
    })
}

/// `text` as a key of a field of type `ty`.
pub(super) fn parse_key(text: &str, ty: FieldType) -> Result<Key, String> {
    Ok(match parse_value(text, ty)? {
        Parsed::String(s) => Key::Str(s.into()),
        Parsed::I64(v) | Parsed::Timestamp(v) => Key::Int(v),
        Parsed::Bool(v) => Key::Bool(v),
        Parsed::F64(_) => return Err("a float cannot be a key".into()),
    })
}
