//! The values that flow through a pipeline: schemas, typed columns and batches.

mod batch;
mod column;
mod key;
pub mod position;
mod schema;

pub use batch::{Batch, BatchBuilder};
pub use column::{Column, ColumnBuilder, StrColumn, Value};
pub use key::{instance_of_group, Key, KeyRef, KEY_GROUPS};
pub use position::Origin;
pub use schema::{Field, FieldType, Schema, SchemaError};
