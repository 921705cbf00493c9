use serde::{Deserialize, Serialize};
use serde_reflection::{ContainerFormat, Format, Tracer, TracerConfig};

/// The serde name [`Timestamp`] is recognised by when the schema is derived.
/// Namespaced so that an author's own `Timestamp` type is not mistaken for it.
const TIMESTAMP_NAME: &str = "weir::Timestamp";

/// An event-time instant: milliseconds since the Unix epoch, UTC.
///
/// Use it for fields the pipeline declares as `timestamp`, such as a window's
/// `window_start` and `window_end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename = "weir::Timestamp")]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Milliseconds since the Unix epoch.
    pub fn millis(self) -> i64 {
        self.0
    }
}

/// The value type of a field, as the pipeline schema declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// UTF-8 text (`String`).
    String,
    /// 64-bit float (`f64`).
    F64,
    /// 64-bit signed integer (`i64`).
    I64,
    /// `bool`.
    Bool,
    /// [`Timestamp`].
    Timestamp,
}

/// A named, typed field of a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// The field's name, as in the pipeline schema.
    pub name: String,
    /// The field's type.
    pub ty: FieldType,
}

/// Derives the fields of a row struct from its serde `Deserialize` implementation,
/// in declaration order (which is also the order bincode encodes them in).
///
/// Fails with a message naming the offending field when the struct uses a type the
/// pipeline cannot carry.
///
/// ```
/// use serde::Deserialize;
/// use weir_plugin_sdk::{fields_of, FieldType, Timestamp};
///
/// #[derive(Deserialize)]
/// struct Row { sensor_id: String, count: i64, window_end: Timestamp }
///
/// let fields = fields_of::<Row>().unwrap();
/// assert_eq!(fields[2].name, "window_end");
/// assert_eq!(fields[2].ty, FieldType::Timestamp);
/// ```
pub fn fields_of<T>() -> Result<Vec<Field>, String>
where
    T: for<'de> Deserialize<'de>,
{
    let mut tracer = Tracer::new(TracerConfig::default());
    let (format, _) = tracer
        .trace_simple_type::<T>()
        .map_err(|e| format!("cannot derive the row schema: {e}"))?;
    let registry = tracer
        .registry()
        .map_err(|e| format!("cannot derive the row schema: {e}"))?;
    let Format::TypeName(name) = format else {
        return Err("a row type must be a struct with named fields".into());
    };
    let Some(ContainerFormat::Struct(fields)) = registry.get(&name) else {
        return Err(format!(
            "row type `{name}` must be a struct with named fields"
        ));
    };
    fields
        .iter()
        .map(|field| {
            let ty = field_type(&field.value).ok_or_else(|| {
                format!(
                    "field `{}` of `{name}` has a type weir rows cannot carry ({:?}); \
                     use String, f64, i64, bool or weir_plugin_sdk::Timestamp",
                    field.name, field.value
                )
            })?;
            Ok(Field {
                name: field.name.clone(),
                ty,
            })
        })
        .collect()
}

fn field_type(format: &Format) -> Option<FieldType> {
    match format {
        Format::Str => Some(FieldType::String),
        Format::F64 => Some(FieldType::F64),
        Format::I64 => Some(FieldType::I64),
        Format::Bool => Some(FieldType::Bool),
        Format::TypeName(name) if name == TIMESTAMP_NAME => Some(FieldType::Timestamp),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Good {
        a: String,
        b: f64,
        c: i64,
        d: bool,
        e: Timestamp,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Bad {
        a: u8,
    }

    #[test]
    fn derives_every_supported_type_in_order() {
        let fields = fields_of::<Good>().unwrap();
        let types: Vec<_> = fields.iter().map(|f| (f.name.as_str(), f.ty)).collect();
        assert_eq!(
            types,
            vec![
                ("a", FieldType::String),
                ("b", FieldType::F64),
                ("c", FieldType::I64),
                ("d", FieldType::Bool),
                ("e", FieldType::Timestamp),
            ]
        );
    }

    #[test]
    fn names_the_unsupported_field() {
        let err = fields_of::<Bad>().unwrap_err();
        assert!(err.contains("field `a`"), "{err}");
    }
}
