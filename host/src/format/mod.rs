//! Decoding source records against the pipeline schema, and encoding results.

pub mod avro;
pub mod avro_read;
pub mod csv;
pub mod json;
pub mod timestamp;

/// One rule for numbers in every format: finite ones only. JSON cannot
/// write `NaN` or infinities and refuses overflow such as `1e999`; CSV
/// and Avro values that would be one of them are refused the same way,
/// rather than reaching aggregates as values no sink can write.
pub fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

/// The sensor readings schema the format tests decode into.
#[cfg(test)]
pub(crate) fn readings_schema() -> std::sync::Arc<crate::data::Schema> {
    use crate::data::{Field, FieldType, Schema};
    Schema::new(vec![
        Field::new("sensor_id", FieldType::String),
        Field::new("temperature", FieldType::F64),
        Field::new("event_time", FieldType::Timestamp),
    ])
    .unwrap()
}

/// An empty column per field of `schema`, for a format test to decode one row into.
#[cfg(test)]
pub(crate) fn columns_for(schema: &crate::data::Schema) -> Vec<crate::data::ColumnBuilder> {
    schema
        .fields()
        .iter()
        .map(|f| crate::data::ColumnBuilder::new(f.ty, 1))
        .collect()
}
