//! The values that flow through a pipeline: schemas, typed columns and batches.

mod batch;
mod column;
mod schema;

pub use batch::{Batch, BatchBuilder};
pub use column::{Column, ColumnBuilder, StrColumn, Value};
pub use schema::{Field, FieldType, Schema, SchemaError};
