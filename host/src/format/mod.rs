//! Decoding source records against the pipeline schema, and encoding results.

pub mod avro;
pub mod avro_read;
pub mod csv;
pub mod json;
pub mod timestamp;

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
