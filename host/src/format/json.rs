//! NDJSON records decoded straight into typed columns, without building a
//! `serde_json::Value` per record.

use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Unexpected, Visitor};
use serde::ser::{SerializeMap, Serializer};

use crate::data::{ColumnBuilder, FieldType, Schema, Value};
use crate::format::timestamp;

/// Decodes one JSON object into one new row of `columns` (schema order).
///
/// On error the columns may hold a partial row; the caller truncates them.
pub fn decode_record(
    schema: &Schema,
    columns: &mut [ColumnBuilder],
    line: &[u8],
) -> Result<(), String> {
    decode_record_filling(schema, columns, line, &mut |_, _| false)
}

/// [`decode_record`], where `fill(field, column)` may supply a field the
/// record lacks (a Kafka key or timestamp) and returns whether it did.
pub fn decode_record_filling(
    schema: &Schema,
    columns: &mut [ColumnBuilder],
    line: &[u8],
    fill: &mut dyn FnMut(usize, &mut ColumnBuilder) -> bool,
) -> Result<(), String> {
    // Schemas are small; keep the per-record bookkeeping off the heap.
    let mut seen_inline = [false; 32];
    let mut seen_heap = Vec::new();
    let seen: &mut [bool] = if schema.len() <= seen_inline.len() {
        &mut seen_inline[..schema.len()]
    } else {
        seen_heap.resize(schema.len(), false);
        &mut seen_heap
    };
    // One UTF-8 check per line: parsing from `&str` spares serde_json a check
    // per string and key, which costs more than the whole line's (measured with
    // callgrind: ~15% of all ingest instructions).
    let line = std::str::from_utf8(line).map_err(|e| {
        format!(
            "the line is not valid UTF-8 (invalid byte at offset {})",
            e.valid_up_to()
        )
    })?;
    // Editors on Windows start a UTF-8 file with a byte-order mark; it is no
    // part of the record.
    let line = line.strip_prefix('\u{feff}').unwrap_or(line);
    let mut de = serde_json::Deserializer::from_str(line);
    RecordSeed {
        schema,
        columns,
        seen: &mut *seen,
    }
    .deserialize(&mut de)
    .and_then(|()| de.end())
    .map_err(|e| e.to_string())?;
    for (index, _) in seen.iter().enumerate().filter(|(_, seen)| !**seen) {
        if !fill(index, &mut columns[index]) {
            return Err(format!("missing field `{}`", schema.fields()[index].name));
        }
    }
    Ok(())
}

struct RecordSeed<'a> {
    schema: &'a Schema,
    columns: &'a mut [ColumnBuilder],
    seen: &'a mut [bool],
}

impl<'de> DeserializeSeed<'de> for RecordSeed<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RecordSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(index) = map.next_key_seed(KeySeed(self.schema))? {
            let Some(index) = index else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let field = &self.schema.fields()[index];
            if std::mem::replace(&mut self.seen[index], true) {
                return Err(de::Error::custom(format_args!(
                    "field `{}` appears twice",
                    field.name
                )));
            }
            map.next_value_seed(ValueSeed {
                name: &field.name,
                ty: field.ty,
                column: &mut self.columns[index],
            })?;
        }
        Ok(())
    }
}

/// Resolves a key to its schema index; `None` for fields the schema does not name.
struct KeySeed<'a>(&'a Schema);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Option<usize>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Option<usize>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Option<usize>, E> {
        Ok(self.0.index_of(key))
    }
}

struct ValueSeed<'a> {
    name: &'a str,
    ty: FieldType,
    column: &'a mut ColumnBuilder,
}

impl ValueSeed<'_> {
    fn invalid<E: de::Error>(&self, unexpected: Unexpected) -> E {
        E::custom(format_args!(
            "field `{}`: expected {}, found {unexpected}",
            self.name,
            expected(self.ty)
        ))
    }
}

fn expected(ty: FieldType) -> &'static str {
    match ty {
        FieldType::String => "a string",
        FieldType::F64 => "a number",
        FieldType::I64 => "an integer",
        FieldType::Bool => "true or false",
        FieldType::Timestamp => "a timestamp (epoch millis, YYYY-MM-DD HH:MM:SS[.fff] or RFC 3339)",
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{} for field `{}`", expected(self.ty), self.name)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        match self.ty {
            FieldType::String => self.column.push(Value::String(v)),
            FieldType::Timestamp => match timestamp::parse(v) {
                Some(t) => self.column.push(Value::Timestamp(t)),
                None => return Err(self.invalid(Unexpected::Str(v))),
            },
            _ => return Err(self.invalid(Unexpected::Str(v))),
        }
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        match self.ty {
            FieldType::I64 => self.column.push(Value::I64(v)),
            FieldType::Timestamp => self.column.push(Value::Timestamp(v)),
            FieldType::F64 => self.column.push(Value::F64(v as f64)),
            _ => return Err(self.invalid(Unexpected::Signed(v))),
        }
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        match i64::try_from(v) {
            Ok(v) => self.visit_i64(v),
            Err(_) if self.ty == FieldType::F64 => {
                self.column.push(Value::F64(v as f64));
                Ok(())
            }
            Err(_) => Err(self.invalid(Unexpected::Unsigned(v))),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        match self.ty {
            FieldType::F64 => self.column.push(Value::F64(v)),
            _ => return Err(self.invalid(Unexpected::Float(v))),
        }
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        match self.ty {
            FieldType::Bool => self.column.push(Value::Bool(v)),
            _ => return Err(self.invalid(Unexpected::Bool(v))),
        }
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(self.invalid(Unexpected::Other("null")))
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(self.invalid(Unexpected::Map))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(self.invalid(Unexpected::Seq))
    }
}

/// Serializes one row as a JSON object, timestamps as RFC 3339 strings.
pub struct JsonRow<'a, I>(
    pub std::cell::Cell<Option<I>>,
    pub std::marker::PhantomData<&'a ()>,
);

impl<'a, I> JsonRow<'a, I> {
    pub fn new(fields: I) -> Self {
        Self(std::cell::Cell::new(Some(fields)), std::marker::PhantomData)
    }
}

impl<'a, I: Iterator<Item = (&'a str, Value<'a>)>> serde::Serialize for JsonRow<'a, I> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let fields = self
            .0
            .take()
            .ok_or_else(|| serde::ser::Error::custom("row serialized twice"))?;
        let mut map = serializer.serialize_map(None)?;
        for (name, value) in fields {
            match value {
                Value::String(v) => map.serialize_entry(name, v)?,
                Value::F64(v) => map.serialize_entry(name, &v)?,
                Value::I64(v) => map.serialize_entry(name, &v)?,
                Value::Bool(v) => map.serialize_entry(name, &v)?,
                Value::Timestamp(v) => map.serialize_entry(name, &timestamp::format(v))?,
            }
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::BatchBuilder;
    use crate::format::readings_schema as schema;

    fn decode(line: &str) -> Result<Vec<String>, String> {
        let schema = schema();
        let mut columns = crate::format::columns_for(&schema);
        decode_record(&schema, &mut columns, line.as_bytes())?;
        Ok(columns
            .into_iter()
            .map(|c| format!("{:?}", c.finish().get(0)))
            .collect())
    }

    #[test]
    fn a_byte_order_mark_before_the_first_record_is_skipped() {
        let schema = crate::format::readings_schema();
        let mut columns = crate::format::columns_for(&schema);
        let line = "\u{feff}{\"sensor_id\":\"s\",\"temperature\":1.5,\"event_time\":1000}";
        decode_record_filling(&schema, &mut columns, line.as_bytes(), &mut |_, _| false).unwrap();
    }

    /// A number is the double nearest its decimal text, as Rust's own parser
    /// gives it: serde_json's default "best effort" parse was off by one ulp
    /// for some 17-digit numbers (what a writer printing shortest round-trip
    /// doubles produces), which moved a rounded result (45.9 °C, not 46.0).
    #[test]
    fn numbers_are_read_exactly() {
        let schema = schema();
        let mut columns = crate::format::columns_for(&schema);
        let texts: Vec<String> = (0..200_000u64)
            .map(|i| {
                format!(
                    "{}",
                    90.0 + (i * 7919 % 4000) as f64 / 100.0 + i as f64 * 1e-9
                )
            })
            .chain(["0.1", "1e-7", "123456.789e3", "2.2250738585072014e-308"].map(String::from))
            .collect();
        for text in &texts {
            let line = format!(r#"{{"sensor_id":"s","temperature":{text},"event_time":1}}"#);
            decode_record(&schema, &mut columns, line.as_bytes()).unwrap();
        }
        let temperatures = columns.swap_remove(1).finish();
        for (row, text) in texts.iter().enumerate() {
            let crate::data::Value::F64(read) = temperatures.get(row) else {
                panic!("row {row}: no f64");
            };
            let exact: f64 = text.parse().unwrap();
            assert_eq!(read.to_bits(), exact.to_bits(), "{text}");
        }
    }

    #[test]
    fn decodes_in_any_key_order_and_ignores_unknown_fields() {
        let row = decode(r#"{"event_time": 1000, "extra": [1, {"x": 2}], "temperature": 101, "sensor_id": "s\"1"}"#).unwrap();
        assert_eq!(
            row,
            vec![r#"String("s\"1")"#, "F64(101.0)", "Timestamp(1000)"]
        );
    }

    #[test]
    fn names_the_field_and_the_problem() {
        let err =
            decode(r#"{"sensor_id": "a", "temperature": "hot", "event_time": 1}"#).unwrap_err();
        assert!(
            err.contains("field `temperature`: expected a number, found string \"hot\""),
            "{err}"
        );
        let err = decode(r#"{"sensor_id": "a", "temperature": 1}"#).unwrap_err();
        assert_eq!(err, "missing field `event_time`");
        let err =
            decode(r#"{"sensor_id": "a", "temperature": 1, "event_time": "soon"}"#).unwrap_err();
        assert!(
            err.contains("field `event_time`: expected a timestamp"),
            "{err}"
        );
        let err = decode(r#"{"sensor_id": null, "temperature": 1, "event_time": 1}"#).unwrap_err();
        assert!(err.contains("found null"), "{err}");
        let err =
            decode(r#"{"sensor_id": "a", "sensor_id": "b", "temperature": 1, "event_time": 1}"#)
                .unwrap_err();
        assert!(err.contains("appears twice"), "{err}");
    }

    #[test]
    fn refuses_non_objects_and_trailing_garbage() {
        assert!(decode("[1, 2]")
            .unwrap_err()
            .contains("expected a JSON object"));
        assert!(decode(r#"{"sensor_id": "a", "temperature": 1, "event_time": 1} x"#).is_err());
        assert!(decode(r#"{"sensor_id": "a", "temp"#)
            .unwrap_err()
            .contains("EOF"));
    }

    #[test]
    fn row_encodes_timestamps_as_rfc3339() {
        let schema = schema();
        let mut builder = BatchBuilder::new(schema.clone(), 1);
        builder.push(
            [
                Value::String("s1"),
                Value::F64(1.5),
                Value::Timestamp(10_000),
            ],
            10_000,
            0,
            1,
        );
        let batch = builder.take(0);
        let json = serde_json::to_string(&JsonRow::new(batch.row(0))).unwrap();
        assert_eq!(
            json,
            r#"{"sensor_id":"s1","temperature":1.5,"event_time":"1970-01-01T00:00:10.000Z"}"#
        );
    }
}
