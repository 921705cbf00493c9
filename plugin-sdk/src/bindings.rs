//! Generated guest bindings for the `weir:plugin/operator` world. Plugin authors do
//! not use these directly; the export macros do.

wit_bindgen::generate!({
    world: "operator",
    path: "../wit",
    pub_export_macro: true,
    export_macro_name: "export",
    default_bindings_module: "weir_plugin_sdk::bindings",
    runtime_path: "wit_bindgen::rt",
});

use crate::schema::{Field, FieldType};
use weir::plugin::types;

impl From<FieldType> for types::FieldType {
    fn from(ty: FieldType) -> Self {
        match ty {
            FieldType::String => types::FieldType::String,
            FieldType::F64 => types::FieldType::F64,
            FieldType::I64 => types::FieldType::I64,
            FieldType::Bool => types::FieldType::Bool,
            FieldType::Timestamp => types::FieldType::Timestamp,
        }
    }
}

impl From<Field> for types::Field {
    fn from(field: Field) -> Self {
        types::Field {
            name: field.name,
            type_: field.ty.into(),
        }
    }
}

impl From<crate::adapter::Descriptor> for types::Descriptor {
    fn from(d: crate::adapter::Descriptor) -> Self {
        types::Descriptor {
            name: d.name,
            version: d.version,
            kind: match d.kind {
                crate::adapter::Kind::Filter => types::OperatorKind::Filter,
                crate::adapter::Kind::Map => types::OperatorKind::Map,
                crate::adapter::Kind::FlatMap => types::OperatorKind::FlatMap,
                crate::adapter::Kind::Keyed => types::OperatorKind::Keyed,
                crate::adapter::Kind::Aggregate => types::OperatorKind::Aggregate,
            },
            reads: d.reads.into_iter().map(Into::into).collect(),
            emits: d.emits.into_iter().map(Into::into).collect(),
            state_version: d.state_version,
            migrates_from: d.migrates_from,
        }
    }
}
