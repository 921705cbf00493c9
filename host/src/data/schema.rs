use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// The value type of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    String,
    F64,
    I64,
    Bool,
    /// Milliseconds since the Unix epoch, UTC. Decoded from epoch millis,
    /// `YYYY-MM-DD HH:MM:SS[.fff]` (UTC) or RFC 3339.
    Timestamp,
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FieldType::String => "string",
            FieldType::F64 => "f64",
            FieldType::I64 => "i64",
            FieldType::Bool => "bool",
            FieldType::Timestamp => "timestamp",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    pub name: String,
    pub ty: FieldType,
}

impl Field {
    pub fn new(name: impl Into<String>, ty: FieldType) -> Self {
        Self {
            name: name.into(),
            ty,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SchemaError {
    #[error("field `{0}` is declared twice")]
    Duplicate(String),
}

/// An ordered list of uniquely named fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    fields: Vec<Field>,
    /// The fields that name a result, like a table's primary key (a window
    /// result's key and bounds): an update to a result repeats them, so sinks
    /// derive the result's id from them. Empty: rows have no such identity.
    identity: Vec<usize>,
}

impl Schema {
    pub fn new(fields: Vec<Field>) -> Result<Arc<Self>, SchemaError> {
        let mut seen = std::collections::HashSet::with_capacity(fields.len());
        if let Some(field) = fields.iter().find(|f| !seen.insert(f.name.as_str())) {
            return Err(SchemaError::Duplicate(field.name.clone()));
        }
        Ok(Arc::new(Self {
            fields,
            identity: Vec::new(),
        }))
    }

    /// A schema whose rows are identified by the fields at `identity`.
    pub fn with_identity(
        fields: Vec<Field>,
        identity: Vec<usize>,
    ) -> Result<Arc<Self>, SchemaError> {
        let mut schema = Arc::unwrap_or_clone(Self::new(fields)?);
        debug_assert!(identity.iter().all(|&i| i < schema.fields.len()));
        schema.identity = identity;
        Ok(Arc::new(schema))
    }

    /// The indices of the fields that identify a row (see [`Schema::with_identity`]).
    pub fn identity(&self) -> &[usize] {
        &self.identity
    }

    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name)
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// This schema with `added` fields appended, or replacing same-named
    /// fields in place. Rows keep their identity unless a field of it is replaced.
    pub fn merged_with(&self, added: &[Field]) -> Arc<Self> {
        let mut fields = self.fields.clone();
        let mut identity = self.identity.clone();
        // By name, so a plugin declaring many fields costs linear time.
        let mut positions: std::collections::HashMap<String, usize> = fields
            .iter()
            .enumerate()
            .map(|(i, f)| (f.name.clone(), i))
            .collect();
        for field in added {
            match positions.get(&field.name).copied() {
                Some(existing) => {
                    fields[existing].ty = field.ty;
                    if identity.contains(&existing) {
                        identity.clear();
                    }
                }
                None => {
                    positions.insert(field.name.clone(), fields.len());
                    fields.push(field.clone());
                }
            }
        }
        Arc::new(Self { fields, identity })
    }
}

impl fmt::Display for Schema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, field) in self.fields.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{} ({})", field.name, field.ty)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_duplicate_fields() {
        let err = Schema::new(vec![
            Field::new("a", FieldType::I64),
            Field::new("a", FieldType::F64),
        ]);
        assert_eq!(err.unwrap_err(), SchemaError::Duplicate("a".into()));
    }

    #[test]
    fn merge_replaces_in_place_and_appends() {
        let schema = Schema::new(vec![
            Field::new("a", FieldType::I64),
            Field::new("b", FieldType::F64),
        ])
        .unwrap();
        let merged = schema.merged_with(&[
            Field::new("b", FieldType::String),
            Field::new("c", FieldType::Bool),
        ]);
        assert_eq!(merged.to_string(), "a (i64), b (string), c (bool)");
    }
}
