//! Avro input: Kafka message values that are Avro binary datums of a record
//! schema given as an `.avsc` file (the writer's schema), with or without
//! the single-object header (`C3 01` and an 8-byte schema fingerprint, which
//! is skipped, not checked). Fields are matched to the pipeline schema by
//! name; record fields the pipeline does not name are skipped.
//!
//! Supported field types: `string`, `boolean`, `int`, `long`, `float`,
//! `double`, `long` with logical type `timestamp-millis` or
//! `timestamp-micros`, and unions of those with `null` (a null value is an
//! error naming the field: the pipeline schema has no nulls).

use serde_json::Value as Json;

use crate::data::{ColumnBuilder, FieldType, Schema, Value};

#[derive(Debug, Clone, PartialEq)]
enum AvroType {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    String,
    TimestampMillis,
    TimestampMicros,
    Union(Vec<AvroType>),
}

fn parse_type(json: &Json, field: &str) -> Result<AvroType, String> {
    let unsupported = || {
        format!("field `{field}`: Avro type {json} is not supported (use string, boolean, int, long, float, double, timestamp-millis/micros, or a union of those with null)")
    };
    Ok(match json {
        Json::String(name) => match name.as_str() {
            "null" => AvroType::Null,
            "boolean" => AvroType::Boolean,
            "int" => AvroType::Int,
            "long" => AvroType::Long,
            "float" => AvroType::Float,
            "double" => AvroType::Double,
            "string" => AvroType::String,
            _ => return Err(unsupported()),
        },
        Json::Array(branches) => AvroType::Union(
            branches
                .iter()
                .map(|b| parse_type(b, field))
                .collect::<Result<_, _>>()?,
        ),
        Json::Object(object) => match (
            object.get("type").and_then(Json::as_str),
            object.get("logicalType").and_then(Json::as_str),
        ) {
            (Some("long"), Some("timestamp-millis")) => AvroType::TimestampMillis,
            (Some("long"), Some("timestamp-micros")) => AvroType::TimestampMicros,
            (Some(_), _) => parse_type(&object["type"], field)?,
            _ => return Err(unsupported()),
        },
        _ => return Err(unsupported()),
    })
}

/// Whether values of `avro` can fill a field of `ty`.
fn fits(avro: &AvroType, ty: FieldType) -> bool {
    use AvroType as A;
    match avro {
        A::Union(branches) => branches.iter().any(|b| *b != A::Null && fits(b, ty)),
        A::String => ty == FieldType::String,
        A::Boolean => ty == FieldType::Bool,
        A::Int | A::Long => matches!(ty, FieldType::I64 | FieldType::F64 | FieldType::Timestamp),
        A::Float | A::Double => ty == FieldType::F64,
        A::TimestampMillis | A::TimestampMicros => {
            matches!(ty, FieldType::Timestamp | FieldType::I64)
        }
        A::Null => false,
    }
}

/// Reads datums of one record schema into pipeline rows.
#[derive(Debug)]
pub struct AvroRecordReader {
    /// Each record field: its type, and the pipeline column it fills.
    fields: Vec<(String, AvroType, Option<usize>)>,
}

impl AvroRecordReader {
    /// From the text of an `.avsc` record schema, for rows of `schema`.
    pub fn parse(avsc: &str, schema: &Schema) -> Result<Self, String> {
        let json: Json =
            serde_json::from_str(avsc).map_err(|e| format!("not a JSON Avro schema: {e}"))?;
        if json.get("type").and_then(Json::as_str) != Some("record") {
            return Err("the Avro schema must be a record".into());
        }
        let mut fields = Vec::new();
        for field in json["fields"]
            .as_array()
            .ok_or("the Avro record has no fields")?
        {
            let name = field["name"].as_str().ok_or("an Avro field has no name")?;
            let ty = parse_type(&field["type"], name)?;
            let column = schema.index_of(name);
            if let Some(column) = column {
                let want = schema.fields()[column].ty;
                if !fits(&ty, want) {
                    return Err(format!(
                        "field `{name}` is {} in the Avro schema but {want} in the pipeline schema",
                        field["type"]
                    ));
                }
            }
            fields.push((name.to_string(), ty, column));
        }
        for field in schema.fields() {
            if !fields.iter().any(|(name, _, _)| *name == field.name) {
                return Err(format!(
                    "the Avro schema has no field `{}`, which the pipeline schema needs",
                    field.name
                ));
            }
        }
        Ok(Self { fields })
    }

    /// Appends one row from `datum`; on error nothing is appended.
    pub fn decode(
        &self,
        schema: &Schema,
        columns: &mut [ColumnBuilder],
        datum: &[u8],
    ) -> Result<(), String> {
        let mut input = match datum {
            [0xC3, 0x01, rest @ ..] if rest.len() >= 8 => &rest[8..],
            _ => datum,
        };
        let mut values: Vec<Option<Value<'_>>> = vec![None; schema.len()];
        for (name, ty, column) in &self.fields {
            let value = read(&mut input, ty)
                .map_err(|e| format!("field `{name}`: {e}"))?
                .ok_or_else(|| format!("field `{name}` is null"))?;
            if let Some(column) = column {
                values[*column] = Some(convert(value, schema.fields()[*column].ty));
            }
        }
        if !input.is_empty() {
            return Err(format!(
                "{} bytes after the record: the datum does not match the Avro schema",
                input.len()
            ));
        }
        for (column, value) in columns.iter_mut().zip(values) {
            column.push(value.expect("every pipeline field is in the Avro record"));
        }
        Ok(())
    }
}

/// A value as read, before it takes the pipeline field's type.
enum Read<'a> {
    Bool(bool),
    Long(i64),
    Double(f64),
    Str(&'a str),
    Millis(i64),
}

fn convert(value: Read<'_>, ty: FieldType) -> Value<'_> {
    match (value, ty) {
        (Read::Str(s), _) => Value::String(s),
        (Read::Bool(b), _) => Value::Bool(b),
        (Read::Long(v), FieldType::F64) => Value::F64(v as f64),
        (Read::Long(v) | Read::Millis(v), FieldType::Timestamp) => Value::Timestamp(v),
        (Read::Long(v) | Read::Millis(v), _) => Value::I64(v),
        (Read::Double(v), _) => Value::F64(v),
    }
}

fn read_long(input: &mut &[u8]) -> Result<i64, String> {
    let mut n: u64 = 0;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = input
            .split_first()
            .ok_or("the datum ends inside a number")?;
        *input = rest;
        n |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(((n >> 1) as i64) ^ -((n & 1) as i64));
        }
    }
    Err("a number longer than 10 bytes".into())
}

fn take<'a>(input: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
    if input.len() < n {
        return Err("the datum ends early".into());
    }
    let (head, rest) = input.split_at(n);
    *input = rest;
    Ok(head)
}

fn finite_or_error(v: f64) -> Result<f64, String> {
    super::finite(v).ok_or_else(|| format!("{v} is not a finite number"))
}

/// Reads one value of `ty`; `None` for null.
fn read<'a>(input: &mut &'a [u8], ty: &AvroType) -> Result<Option<Read<'a>>, String> {
    Ok(Some(match ty {
        AvroType::Null => return Ok(None),
        AvroType::Boolean => Read::Bool(take(input, 1)?[0] != 0),
        AvroType::Int | AvroType::Long => Read::Long(read_long(input)?),
        AvroType::TimestampMillis => Read::Millis(read_long(input)?),
        AvroType::TimestampMicros => Read::Millis(read_long(input)?.div_euclid(1000)),
        AvroType::Float => Read::Double(finite_or_error(f32::from_le_bytes(
            take(input, 4)?.try_into().unwrap(),
        ) as f64)?),
        AvroType::Double => Read::Double(finite_or_error(f64::from_le_bytes(
            take(input, 8)?.try_into().unwrap(),
        ))?),
        AvroType::String => {
            let len = read_long(input)?;
            let len = usize::try_from(len).map_err(|_| format!("a string of length {len}"))?;
            let bytes = take(input, len)?;
            Read::Str(std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8: {e}"))?)
        }
        AvroType::Union(branches) => {
            let index = read_long(input)?;
            let branch = usize::try_from(index)
                .ok()
                .and_then(|i| branches.get(i))
                .ok_or_else(|| format!("union branch {index} does not exist"))?;
            return read(input, branch);
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::{columns_for, readings_schema};

    const AVSC: &str = r#"{"type": "record", "name": "Reading", "fields": [
        {"name": "site", "type": ["null", "string"]},
        {"name": "sensor_id", "type": "string"},
        {"name": "temperature", "type": "float"},
        {"name": "event_time", "type": {"type": "long", "logicalType": "timestamp-micros"}}
    ]}"#;

    fn datum(temperature: f32) -> Vec<u8> {
        let mut out = vec![0xC3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8]; // single-object header
        out.extend([2, 2, b'N']); // site: union branch 1, "N"
        out.extend([4, b's', b'1']); // sensor_id "s1"
        out.extend(temperature.to_le_bytes());
        out.extend([0x80, 0x89, 0x7a]); // 1_000_000 µs, zig-zag
        out
    }

    #[test]
    fn reads_fields_by_name_skipping_others() {
        let schema = readings_schema();
        let reader = AvroRecordReader::parse(AVSC, &schema).unwrap();
        let mut columns = columns_for(&schema);
        reader.decode(&schema, &mut columns, &datum(101.5)).unwrap();
        let got: Vec<String> = columns
            .into_iter()
            .map(|c| format!("{:?}", c.finish().get(0)))
            .collect();
        assert_eq!(got, [r#"String("s1")"#, "F64(101.5)", "Timestamp(1000)"]);
    }

    #[test]
    fn explains_what_does_not_fit() {
        let schema = readings_schema();
        let err = AvroRecordReader::parse(&AVSC.replace(r#""float""#, r#""string""#), &schema)
            .unwrap_err();
        assert!(
            err.contains("field `temperature` is \"string\" in the Avro schema but f64"),
            "{err}"
        );
        let reader = AvroRecordReader::parse(AVSC, &schema).unwrap();
        let mut columns = columns_for(&schema);
        let short = &datum(1.0)[..14];
        assert!(reader
            .decode(&schema, &mut columns, short)
            .unwrap_err()
            .contains("ends"));
    }
}
