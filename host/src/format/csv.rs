//! CSV records (one per line) decoded against the pipeline schema, by the
//! column names of a header line or by declared columns.
//!
//! A record ends at a newline outside quotes (see `source::QuotedRecords`);
//! a quote never closed is an error. Columns the
//! schema does not name are ignored; every schema field must have a column.
//! Values are parsed by the field's type: `f64` (finite: no `NaN`, `inf` or
//! overflow such as `1e999`, as in JSON) and `i64` as numbers, `bool`
//! as `true`/`false`, `timestamp` as epoch milliseconds or text (RFC 3339,
//! `YYYY-MM-DD HH:MM:SS[.fff]`); an empty value is an error except for strings.

use csv_core::{ReadRecordResult, Reader, ReaderBuilder};

use super::timestamp;
use crate::data::{ColumnBuilder, FieldType, Schema, Value};

/// A source's CSV settings, as the pipeline file gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvSettings {
    /// The first line names the columns.
    pub header: bool,
    pub delimiter: u8,
    /// Without a header: column names in record order (default: the schema's).
    pub columns: Option<Vec<String>>,
}

/// Where each schema field is in a record.
#[derive(Debug, Clone)]
pub struct CsvLayout {
    delimiter: u8,
    /// For each schema field, its column.
    columns: Vec<usize>,
    /// The column names, for error messages.
    names: Vec<String>,
}

impl CsvLayout {
    /// From a header line; `source` names it in errors.
    pub fn from_header(
        header: &[u8],
        delimiter: u8,
        schema: &Schema,
        source: &str,
    ) -> Result<Self, String> {
        let names = split(&mut reader(delimiter), header)
            .map_err(|e| format!("the CSV header of {source}: {e}"))?;
        let names: Vec<String> = names.into_iter().map(|n| n.trim().to_string()).collect();
        Self::with_names(names, delimiter, schema)
            .map_err(|e| format!("the CSV header of {source}: {e}"))
    }

    /// From declared column names in record order; none: the schema's order.
    pub fn declared(
        columns: Option<&[String]>,
        delimiter: u8,
        schema: &Schema,
    ) -> Result<Self, String> {
        let names = match columns {
            Some(columns) => columns.to_vec(),
            None => schema.fields().iter().map(|f| f.name.clone()).collect(),
        };
        Self::with_names(names, delimiter, schema)
            .map_err(|e| format!("the declared CSV columns: {e}"))
    }

    fn with_names(names: Vec<String>, delimiter: u8, schema: &Schema) -> Result<Self, String> {
        let columns = schema
            .fields()
            .iter()
            .map(|field| {
                names.iter().position(|n| *n == field.name).ok_or_else(|| {
                    format!(
                        "no column for the schema field `{}` (columns: {})",
                        field.name,
                        names.join(", ")
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            delimiter,
            columns,
            names,
        })
    }
}

fn reader(delimiter: u8) -> Reader {
    ReaderBuilder::new().delimiter(delimiter).build()
}

/// The fields of one line.
fn split(reader: &mut Reader, line: &[u8]) -> Result<Vec<String>, String> {
    let mut decoder = CsvFields::default();
    decoder.read(reader, line)?;
    (0..decoder.len())
        .map(|i| decoder.field(i).map(str::to_string))
        .collect()
}

/// One record's unescaped fields, in buffers reused from record to record.
#[derive(Default)]
struct CsvFields {
    out: Vec<u8>,
    ends: Vec<usize>,
    count: usize,
}

impl CsvFields {
    fn read(&mut self, reader: &mut Reader, line: &[u8]) -> Result<(), String> {
        reader.reset();
        if self.out.len() < line.len() + 1 {
            self.out.resize(line.len() + 1, 0);
        }
        if self.ends.is_empty() {
            self.ends.resize(16, 0);
        }
        let (mut input, mut written, mut count) = (line, 0, 0);
        loop {
            let (result, read, wrote, ended) =
                reader.read_record(input, &mut self.out[written..], &mut self.ends[count..]);
            input = &input[read..];
            written += wrote;
            count += ended;
            match result {
                // The line is all there is: an empty input ends the record.
                ReadRecordResult::InputEmpty => input = &[],
                ReadRecordResult::OutputFull => self.out.resize(self.out.len() * 2, 0),
                ReadRecordResult::OutputEndsFull => self.ends.resize(self.ends.len() * 2, 0),
                ReadRecordResult::Record | ReadRecordResult::End => break,
            }
        }
        self.count = count;
        Ok(())
    }

    fn len(&self) -> usize {
        self.count
    }

    fn field(&self, index: usize) -> Result<&str, String> {
        let start = if index == 0 { 0 } else { self.ends[index - 1] };
        std::str::from_utf8(&self.out[start..self.ends[index]])
            .map_err(|e| format!("column {} is not valid UTF-8 ({e})", index + 1))
    }
}

/// Decodes CSV lines with one layout; one per decoder thread.
pub struct CsvDecoder {
    layout: std::sync::Arc<CsvLayout>,
    reader: Reader,
    fields: CsvFields,
}

impl CsvDecoder {
    pub fn new(layout: std::sync::Arc<CsvLayout>) -> Self {
        Self {
            reader: reader(layout.delimiter),
            layout,
            fields: CsvFields::default(),
        }
    }

    /// Appends one row to `columns`; on error nothing is appended.
    pub fn decode(
        &mut self,
        schema: &Schema,
        columns: &mut [ColumnBuilder],
        line: &[u8],
    ) -> Result<(), String> {
        if memchr::memchr_iter(b'"', line).count() % 2 == 1 {
            return Err(
                "a quoted field is never closed (the record has an odd number of `\"`)".into(),
            );
        }
        self.fields.read(&mut self.reader, line)?;
        let width = self.layout.names.len();
        if self.fields.len() != width {
            return Err(format!(
                "the record has {} columns, the header {width}",
                self.fields.len()
            ));
        }
        let mut values = Vec::with_capacity(schema.len());
        for (field, &column) in schema.fields().iter().zip(&self.layout.columns) {
            let text = self.fields.field(column)?;
            let bad = |what: &str| {
                format!(
                    "column {} (`{}`): `{text}` is not {what}",
                    column + 1,
                    field.name
                )
            };
            values.push(match field.ty {
                FieldType::String => Value::String(text),
                FieldType::F64 => Value::F64(
                    super::finite(text.trim().parse().map_err(|_| bad("a number"))?)
                        .ok_or_else(|| bad("a finite number"))?,
                ),
                FieldType::I64 => Value::I64(text.trim().parse().map_err(|_| bad("an integer"))?),
                FieldType::Bool => Value::Bool(match text.trim() {
                    "true" => true,
                    "false" => false,
                    _ => return Err(bad("true or false")),
                }),
                FieldType::Timestamp => {
                    let text = text.trim();
                    Value::Timestamp(match text.parse::<i64>() {
                        Ok(ms) => ms,
                        Err(_) => timestamp::parse(text).ok_or_else(|| {
                            bad("a timestamp (epoch ms, RFC 3339 or YYYY-MM-DD HH:MM:SS)")
                        })?,
                    })
                }
            });
        }
        for (column, value) in columns.iter_mut().zip(values) {
            column.push(value);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::readings_schema as schema;

    fn decode(layout: CsvLayout, line: &str) -> Result<Vec<String>, String> {
        let schema = schema();
        let mut columns = crate::format::columns_for(&schema);
        CsvDecoder::new(layout.into()).decode(&schema, &mut columns, line.as_bytes())?;
        Ok(columns
            .into_iter()
            .map(|c| format!("{:?}", c.finish().get(0)))
            .collect())
    }

    #[test]
    fn maps_columns_by_header_and_ignores_others() {
        let layout = CsvLayout::from_header(
            b"event_time,site,sensor_id,temperature",
            b',',
            &schema(),
            "f",
        )
        .unwrap();
        assert_eq!(
            decode(
                layout,
                r#"2026-01-15T08:00:00Z,"Oslo, north","s ""1""",101.5"#
            )
            .unwrap(),
            [
                r#"String("s \"1\"")"#,
                "F64(101.5)",
                "Timestamp(1768464000000)"
            ]
        );
    }

    #[test]
    fn names_the_column_and_field_of_a_bad_value() {
        let layout = CsvLayout::declared(None, b';', &schema()).unwrap();
        assert_eq!(
            decode(layout.clone(), "s1;hot;5").unwrap_err(),
            "column 2 (`temperature`): `hot` is not a number"
        );
        assert_eq!(
            decode(layout, "s1;5").unwrap_err(),
            "the record has 2 columns, the header 3"
        );
        let err = CsvLayout::from_header(b"id,temperature", b',', &schema(), "in.csv").unwrap_err();
        assert_eq!(
            err,
            "the CSV header of in.csv: no column for the schema field `sensor_id` (columns: id, temperature)"
        );
    }
}
