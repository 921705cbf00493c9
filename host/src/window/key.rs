//! Grouping keys, owned in window state and borrowed from columns for lookups,
//! so that finding an existing key allocates nothing.

use std::hash::{Hash, Hasher};

use hashbrown::Equivalent;

use crate::data::Value;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub enum Key {
    /// No `key_by`: one global group.
    Unit,
    Str(Box<str>),
    Int(i64),
    Bool(bool),
}

impl Key {
    /// The key as a value of a column of type `ty` (the key field's type).
    pub fn value(&self, ty: crate::data::FieldType) -> Value<'_> {
        self.as_ref().value(ty)
    }

    /// The key borrowed, as a lookup takes it.
    pub fn as_ref(&self) -> KeyRef<'_> {
        match self {
            Key::Unit => KeyRef::Unit,
            Key::Str(s) => KeyRef::Str(s),
            Key::Int(v) => KeyRef::Int(*v),
            Key::Bool(v) => KeyRef::Bool(*v),
        }
    }

    /// The key as text, as keyed plugins see it.
    pub fn text(&self) -> String {
        match self {
            Key::Str(s) => s.to_string(),
            Key::Int(v) => v.to_string(),
            Key::Bool(v) => v.to_string(),
            Key::Unit => String::new(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub enum KeyRef<'a> {
    Unit,
    Str(&'a str),
    Int(i64),
    Bool(bool),
}

impl<'a> KeyRef<'a> {
    /// The key of a value. Floats are refused as window keys when the
    /// window is built; `count_distinct`, `first` and `last` hold them by their bits.
    pub fn of(value: Value<'a>) -> Self {
        match value {
            Value::String(s) => KeyRef::Str(s),
            Value::I64(v) | Value::Timestamp(v) => KeyRef::Int(v),
            Value::Bool(v) => KeyRef::Bool(v),
            Value::F64(v) => KeyRef::Int(v.to_bits() as i64),
        }
    }

    /// The key as a value of a column of type `ty` (the key field's type).
    pub fn value(self, ty: crate::data::FieldType) -> Value<'a> {
        use crate::data::FieldType;
        match self {
            KeyRef::Str(s) => Value::String(s),
            KeyRef::Int(v) if ty == FieldType::Timestamp => Value::Timestamp(v),
            KeyRef::Int(bits) if ty == FieldType::F64 => Value::F64(f64::from_bits(bits as u64)),
            KeyRef::Int(v) => Value::I64(v),
            KeyRef::Bool(v) => Value::Bool(v),
            KeyRef::Unit => Value::Bool(false),
        }
    }

    pub fn to_owned(self) -> Key {
        match self {
            KeyRef::Unit => Key::Unit,
            KeyRef::Str(s) => Key::Str(s.into()),
            KeyRef::Int(v) => Key::Int(v),
            KeyRef::Bool(v) => Key::Bool(v),
        }
    }
}

// `Key` and `KeyRef` must hash identically for `Equivalent` lookups to work.
impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_ref().hash(state)
    }
}

impl Hash for KeyRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            KeyRef::Unit => state.write_u8(0),
            KeyRef::Str(s) => {
                state.write_u8(1);
                s.hash(state);
            }
            KeyRef::Int(v) => {
                state.write_u8(2);
                v.hash(state);
            }
            KeyRef::Bool(v) => {
                state.write_u8(3);
                v.hash(state);
            }
        }
    }
}

impl Equivalent<Key> for KeyRef<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        match (self, key) {
            (KeyRef::Unit, Key::Unit) => true,
            (KeyRef::Str(a), Key::Str(b)) => *a == &**b,
            (KeyRef::Int(a), Key::Int(b)) => a == b,
            (KeyRef::Bool(a), Key::Bool(b)) => a == b,
            _ => false,
        }
    }
}
