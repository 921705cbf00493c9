//! Grouping keys, owned in window state and borrowed from columns for lookups,
//! so that finding an existing key allocates nothing.

use std::hash::{Hash, Hasher};

use hashbrown::Equivalent;

use super::Value;

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// Keyed state is placed by key group, as Flink does with its max
/// parallelism: a key hashes to one of `KEY_GROUPS` groups, and each
/// instance of a keyed operator owns a contiguous range of groups. A
/// checkpoint is therefore valid at any parallelism up to this number.
pub const KEY_GROUPS: usize = 128;

impl KeyRef<'_> {
    /// The key's group: CRC-32 (IEEE) of a type tag byte followed by the
    /// key's bytes (UTF-8 for strings, little-endian for integers, one byte
    /// for booleans), modulo [`KEY_GROUPS`]. Stable across versions and
    /// machines: checkpoints depend on it.
    pub fn key_group(&self) -> usize {
        let mut hash = crc32fast::Hasher::new();
        match self {
            KeyRef::Unit => hash.update(&[0]),
            KeyRef::Str(s) => {
                hash.update(&[1]);
                hash.update(s.as_bytes());
            }
            KeyRef::Int(v) => {
                hash.update(&[2]);
                hash.update(&v.to_le_bytes());
            }
            KeyRef::Bool(v) => hash.update(&[3, u8::from(*v)]),
        }
        hash.finalize() as usize % KEY_GROUPS
    }
}

/// The instance, of `parallelism`, that owns key group `group`.
pub fn instance_of_group(group: usize, parallelism: usize) -> usize {
    group * parallelism / KEY_GROUPS
}

#[cfg(test)]
mod key_group_tests {
    use super::*;

    #[test]
    fn key_groups_are_stable_and_spread() {
        // Pinned (computed independently, with Python's zlib.crc32): a
        // change here would misplace every checkpointed key.
        let groups: Vec<usize> = [
            KeyRef::Str("sensor-1"),
            KeyRef::Str("sensor-2"),
            KeyRef::Str(""),
            KeyRef::Int(7),
        ]
        .iter()
        .map(KeyRef::key_group)
        .collect();
        assert_eq!(groups, [87, 109, 27, 49]);
        let mut per_instance = [0usize; 4];
        for i in 0..10_000 {
            let key = format!("sensor-{i}");
            per_instance[instance_of_group(KeyRef::Str(&key).key_group(), 4)] += 1;
        }
        assert!(
            per_instance.iter().all(|&n| (2_000..3_000).contains(&n)),
            "{per_instance:?}"
        );
        for parallelism in 1..=KEY_GROUPS {
            let owners: Vec<usize> = (0..KEY_GROUPS)
                .map(|g| instance_of_group(g, parallelism))
                .collect();
            assert!(owners.windows(2).all(|w| w[0] <= w[1]));
            assert_eq!(owners.last(), Some(&(parallelism - 1)));
        }
    }
}
