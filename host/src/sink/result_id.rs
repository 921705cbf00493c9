//! Deterministic result ids, for sinks that let consumers deduplicate or
//! upsert: a replay after a crash, or an update of a window result by a late
//! row, gives a result the same id.

use std::fmt::Write;

use sha2::{Digest, Sha256};

use crate::data::{Batch, Value};

/// The id of row `row` of `batch`, as 32 hex digits (128 bits of SHA-256),
/// written into `id`.
///
/// Rows whose schema names identity fields (window results: key and window
/// bounds) are identified by those fields, so an update replaces the result
/// it updates. Other rows are identified by where their input came from and
/// what they say (`json`, the row as the sink encodes it).
pub fn result_id(pipeline: &str, batch: &Batch, row: usize, json: &[u8], id: &mut String) {
    let mut hash = Sha256::new();
    hash.update(pipeline.as_bytes());
    hash.update([0]);
    let identity = batch.schema.identity();
    if identity.is_empty() {
        hash.update(batch.position[row].to_le_bytes());
        hash.update(json);
    } else {
        let mut text = String::new();
        for &field in identity {
            text.clear();
            let _ = match batch.columns[field].get(row) {
                Value::String(s) => write!(text, "s{s}"),
                Value::I64(v) | Value::Timestamp(v) => write!(text, "i{v}"),
                Value::Bool(v) => write!(text, "b{v}"),
                Value::F64(v) => write!(text, "f{}", v.to_bits()),
            };
            hash.update(text.len().to_le_bytes());
            hash.update(text.as_bytes());
        }
    }
    id.clear();
    for byte in &hash.finalize()[..16] {
        let _ = write!(id, "{byte:02x}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{BatchBuilder, Field, FieldType, Schema};

    fn id_of(schema: &std::sync::Arc<Schema>, values: [Value; 3], position: u64) -> String {
        let mut builder = BatchBuilder::new(schema.clone(), 1);
        builder.push(values, 0, 0, position);
        let batch = builder.take(0);
        let json = format!("{:?}", batch.row(0).collect::<Vec<_>>());
        let mut id = String::new();
        result_id("p", &batch, 0, json.as_bytes(), &mut id);
        id
    }

    #[test]
    fn identity_fields_alone_name_a_result() {
        let fields = vec![
            Field::new("k", FieldType::String),
            Field::new("window_end", FieldType::Timestamp),
            Field::new("count", FieldType::I64),
        ];
        let keyed = Schema::with_identity(fields.clone(), vec![0, 1]).unwrap();
        let first = id_of(
            &keyed,
            [Value::String("a"), Value::Timestamp(10), Value::I64(5)],
            0,
        );
        let update = id_of(
            &keyed,
            [Value::String("a"), Value::Timestamp(10), Value::I64(6)],
            0,
        );
        let other = id_of(
            &keyed,
            [Value::String("a"), Value::Timestamp(20), Value::I64(5)],
            0,
        );
        assert_eq!(first, update, "an update keeps the result's id");
        assert_ne!(first, other);
        assert_eq!(first.len(), 32);

        let plain = Schema::new(fields).unwrap();
        let at_1 = id_of(
            &plain,
            [Value::String("a"), Value::Timestamp(10), Value::I64(5)],
            1,
        );
        let at_2 = id_of(
            &plain,
            [Value::String("a"), Value::Timestamp(10), Value::I64(5)],
            2,
        );
        let changed = id_of(
            &plain,
            [Value::String("a"), Value::Timestamp(10), Value::I64(6)],
            1,
        );
        assert_ne!(
            at_1, at_2,
            "rows without identity are told apart by position"
        );
        assert_ne!(at_1, changed);
    }
}
