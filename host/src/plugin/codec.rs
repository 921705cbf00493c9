//! Rows across the boundary: the fields a plugin reads, bincode-encoded back to
//! back in one buffer per batch; emitted rows decoded the same way.

use bincode::Options;
use serde::Deserialize;

use crate::data::{Batch, Column, ColumnBuilder, Field, FieldType, Value};

/// bincode as the SDK decodes it: fixed-width integers, little-endian.
fn codec() -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .allow_trailing_bytes()
}

/// Encodes `columns` (indices into the batch) of every row into `out`.
pub fn encode_rows(batch: &Batch, columns: &[usize], out: &mut Vec<u8>) {
    encode_rows_with_ends(batch, columns, out, |_| {});
}

/// As [`encode_rows`], calling `row_end` with the length of `out` after each row.
pub fn encode_rows_with_ends(
    batch: &Batch,
    columns: &[usize],
    out: &mut Vec<u8>,
    mut row_end: impl FnMut(usize),
) {
    out.clear();
    let columns: Vec<&Column> = columns.iter().map(|&i| &batch.columns[i]).collect();
    for row in 0..batch.len() {
        for column in &columns {
            // Writing into a Vec cannot fail and these types always serialize.
            let written = match column.get(row) {
                Value::String(v) => codec().serialize_into(&mut *out, v),
                Value::F64(v) => codec().serialize_into(&mut *out, &v),
                Value::I64(v) | Value::Timestamp(v) => codec().serialize_into(&mut *out, &v),
                Value::Bool(v) => codec().serialize_into(&mut *out, &v),
            };
            debug_assert!(written.is_ok());
        }
        row_end(out.len());
    }
}

/// Decodes `count` rows of `fields` into one column per field.
pub fn decode_rows(fields: &[Field], count: usize, bytes: &[u8]) -> Result<Vec<Column>, String> {
    let mut columns: Vec<ColumnBuilder> = fields
        .iter()
        .map(|f| ColumnBuilder::new(f.ty, count))
        .collect();
    let mut de = bincode::Deserializer::from_slice(bytes, codec());
    let mut consumed = 0;
    for row in 0..count {
        for (field, column) in fields.iter().zip(&mut columns) {
            let bad = |e: bincode::Error| {
                let what = match *e {
                    // bincode's message for a short buffer is "io error: " alone.
                    bincode::ErrorKind::Io(_) => format!(
                        "the rows end early ({} bytes for {count} rows)",
                        bytes.len()
                    ),
                    other => other.to_string(),
                };
                format!("emitted row {row}, field `{}`: {what}", field.name)
            };
            // Fixint encoding: bytes read are known from the value.
            consumed += match field.ty {
                FieldType::String => {
                    let text = <&str>::deserialize(&mut de).map_err(bad)?;
                    column.push(Value::String(text));
                    8 + text.len()
                }
                FieldType::F64 => {
                    column.push(Value::F64(f64::deserialize(&mut de).map_err(bad)?));
                    8
                }
                FieldType::I64 => {
                    column.push(Value::I64(i64::deserialize(&mut de).map_err(bad)?));
                    8
                }
                FieldType::Timestamp => {
                    column.push(Value::Timestamp(i64::deserialize(&mut de).map_err(bad)?));
                    8
                }
                FieldType::Bool => {
                    column.push(Value::Bool(bool::deserialize(&mut de).map_err(bad)?));
                    1
                }
            };
        }
    }
    let rest = bytes.len() - consumed;
    if rest > 0 {
        return Err(format!(
            "{rest} bytes follow the {count} emitted rows; the rows and their count disagree"
        ));
    }
    Ok(columns.into_iter().map(ColumnBuilder::finish).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{BatchBuilder, Schema};

    #[test]
    fn encoded_rows_decode_back_to_the_same_columns() {
        let fields = vec![
            Field::new("s", FieldType::String),
            Field::new("f", FieldType::F64),
            Field::new("i", FieldType::I64),
            Field::new("b", FieldType::Bool),
            Field::new("t", FieldType::Timestamp),
        ];
        let schema = Schema::new(fields.clone()).unwrap();
        let mut builder = BatchBuilder::new(schema, 2);
        builder.push(
            [
                Value::String("é"),
                Value::F64(1.5),
                Value::I64(-3),
                Value::Bool(true),
                Value::Timestamp(7),
            ],
            0,
            0,
            1,
        );
        builder.push(
            [
                Value::String(""),
                Value::F64(-0.0),
                Value::I64(9),
                Value::Bool(false),
                Value::Timestamp(-1),
            ],
            0,
            0,
            2,
        );
        let batch = builder.take(0);
        let mut buf = Vec::new();
        encode_rows(&batch, &[0, 1, 2, 3, 4], &mut buf);
        assert_eq!(decode_rows(&fields, 2, &buf).unwrap(), batch.columns);
    }

    #[test]
    fn truncated_output_is_an_error_naming_the_row_and_field() {
        let fields = vec![Field::new("n", FieldType::I64)];
        let err = decode_rows(&fields, 2, &7i64.to_le_bytes()).unwrap_err();
        assert_eq!(
            err,
            "emitted row 1, field `n`: the rows end early (8 bytes for 2 rows)"
        );
    }

    #[test]
    fn bytes_after_the_last_row_are_an_error() {
        let fields = vec![Field::new("s", FieldType::String)];
        let mut bytes = 2u64.to_le_bytes().to_vec();
        bytes.extend_from_slice(b"hiXYZ");
        let err = decode_rows(&fields, 1, &bytes).unwrap_err();
        assert!(
            err.starts_with("3 bytes follow the 1 emitted rows"),
            "{err}"
        );
        bytes.truncate(10);
        assert_eq!(decode_rows(&fields, 1, &bytes).unwrap().len(), 1);
    }
}
