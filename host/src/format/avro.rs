//! Avro output: results as records of a schema derived from their fields,
//! in the Avro binary encoding, written as an Object Container File (a
//! header with the schema, then blocks of records) that any Avro reader
//! opens.
//!
//! Types map as `string` → `string`, `f64` → `double`, `i64` → `long`,
//! `bool` → `boolean`, `timestamp` → `long` with logical type
//! `timestamp-millis`. The file's sync marker is derived from the schema,
//! so runs that append to one file (with checkpoints) write blocks that
//! match its header.

use sha2::{Digest, Sha256};

use crate::data::{Batch, FieldType, Schema, Value};

/// The Avro record schema of rows of `schema`, named `name`.
#[derive(Debug, Clone)]
pub struct AvroSchema {
    json: String,
    sync: [u8; 16],
    /// CRC-64-AVRO (Rabin) of the schema's Parsing Canonical Form, little-endian.
    fingerprint: [u8; 8],
}

/// The Avro specification's 64-bit Rabin fingerprint.
fn rabin(bytes: &[u8]) -> u64 {
    const EMPTY: u64 = 0xc15d_213a_a4d7_a795;
    let mut table = [0u64; 256];
    for (i, entry) in table.iter_mut().enumerate() {
        let mut fp = i as u64;
        for _ in 0..8 {
            fp = (fp >> 1) ^ (EMPTY & (fp & 1).wrapping_neg());
        }
        *entry = fp;
    }
    bytes.iter().fold(EMPTY, |fp, &b| {
        (fp >> 8) ^ table[((fp ^ u64::from(b)) & 0xff) as usize]
    })
}

fn avro_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl AvroSchema {
    /// Fails when a field's name is not a valid Avro name.
    pub fn new(record: &str, schema: &Schema) -> Result<Self, String> {
        let record: String = record
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let record = if avro_name(&record) {
            record
        } else {
            format!("_{record}")
        };
        let mut fields = Vec::new();
        // Parsing Canonical Form: full name, primitive names, no logical types.
        let mut canonical = Vec::new();
        for field in schema.fields() {
            if !avro_name(&field.name) {
                return Err(format!(
                    "field `{}` cannot be an Avro field name (letters, digits and _, not starting with a digit)",
                    field.name
                ));
            }
            let ty = match field.ty {
                FieldType::String => serde_json::json!("string"),
                FieldType::F64 => serde_json::json!("double"),
                FieldType::I64 => serde_json::json!("long"),
                FieldType::Bool => serde_json::json!("boolean"),
                FieldType::Timestamp => {
                    serde_json::json!({"type": "long", "logicalType": "timestamp-millis"})
                }
            };
            let primitive = match field.ty {
                FieldType::String => "string",
                FieldType::F64 => "double",
                FieldType::I64 | FieldType::Timestamp => "long",
                FieldType::Bool => "boolean",
            };
            canonical.push(format!(
                r#"{{"name":"{}","type":"{primitive}"}}"#,
                field.name
            ));
            fields.push(serde_json::json!({"name": field.name, "type": ty}));
        }
        let canonical = format!(
            r#"{{"name":"weir.{record}","type":"record","fields":[{}]}}"#,
            canonical.join(",")
        );
        let json = serde_json::json!({
            "type": "record",
            "name": record,
            "namespace": "weir",
            "fields": fields,
        })
        .to_string();
        let digest = Sha256::digest(json.as_bytes());
        let mut sync = [0; 16];
        sync.copy_from_slice(&digest[..16]);
        Ok(Self {
            json,
            sync,
            fingerprint: rabin(canonical.as_bytes()).to_le_bytes(),
        })
    }

    /// Row `row` of `batch` in Avro's single-object encoding: `C3 01`, the
    /// schema's fingerprint, the datum — what a Kafka message value holds.
    pub fn single_object(&self, batch: &Batch, row: usize, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&[0xC3, 0x01]);
        out.extend_from_slice(&self.fingerprint);
        for (_, value) in batch.row(row) {
            write_value(out, value);
        }
    }

    /// The container file's header: magic, metadata (schema, codec), sync marker.
    pub fn file_header(&self) -> Vec<u8> {
        let mut out = b"Obj\x01".to_vec();
        write_long(&mut out, 2);
        write_bytes(&mut out, b"avro.schema");
        write_bytes(&mut out, self.json.as_bytes());
        write_bytes(&mut out, b"avro.codec");
        write_bytes(&mut out, b"null");
        write_long(&mut out, 0);
        out.extend_from_slice(&self.sync);
        out
    }

    /// The rows of `batch` as one container-file block.
    pub fn block(&self, batch: &Batch, out: &mut Vec<u8>) {
        let mut data = Vec::with_capacity(batch.len() * 32);
        for row in 0..batch.len() {
            for (_, value) in batch.row(row) {
                write_value(&mut data, value);
            }
        }
        write_long(out, batch.len() as i64);
        write_long(out, data.len() as i64);
        out.extend_from_slice(&data);
        out.extend_from_slice(&self.sync);
    }
}

/// Avro's `long`: zig-zag, then variable-length base 128.
fn write_long(out: &mut Vec<u8>, value: i64) {
    let mut n = ((value << 1) ^ (value >> 63)) as u64;
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn write_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    write_long(out, bytes.len() as i64);
    out.extend_from_slice(bytes);
}

fn write_value(out: &mut Vec<u8>, value: Value<'_>) {
    match value {
        Value::String(s) => write_bytes(out, s.as_bytes()),
        Value::F64(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::I64(v) | Value::Timestamp(v) => write_long(out, v),
        Value::Bool(v) => out.push(u8::from(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longs_are_zigzag_varints() {
        let encode = |v| {
            let mut out = Vec::new();
            write_long(&mut out, v);
            out
        };
        assert_eq!(encode(0), [0]);
        assert_eq!(encode(-1), [1]);
        assert_eq!(encode(1), [2]);
        assert_eq!(encode(-64), [0x7f]);
        assert_eq!(encode(64), [0x80, 0x01]);
        assert_eq!(
            encode(i64::MIN),
            [0xff; 9].into_iter().chain([1]).collect::<Vec<_>>()
        );
    }

    #[test]
    fn names_must_be_avro_names() {
        let schema =
            crate::data::Schema::new(vec![crate::data::Field::new("max-temp", FieldType::F64)])
                .unwrap();
        assert!(AvroSchema::new("p", &schema)
            .unwrap_err()
            .contains("`max-temp`"));
    }
}
