//! A loaded table, laid out for probing at random: each row is one record
//! — its key, then its fields — in one byte arena, and the index holds a
//! record's offset. A lookup touches the index's slot and one record (a
//! cache line or two), where a column per field cost a miss per field and
//! a boxed key another: over a table larger than the caches, the misses
//! are the cost (see docs/benchmarks.md, Joins).

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

use crate::data::{Column, ColumnBuilder, Field, FieldType, Key, KeyRef, Value};

/// Rows are addressed by their record's offset: the arena stays under 4 GiB.
/// As a record holds at least 5 bytes (a key's tag and length), this also
/// bounds the rows below `u32::MAX`.
const MAX_ARENA: usize = u32::MAX as usize;

#[derive(Debug)]
pub struct LookupTable {
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
    records: Vec<u8>,
    fields: Vec<FieldType>,
    /// The record unmatched rows take when they are kept.
    defaults: u32,
    rows: u32,
    /// Of every key and value as read: a table read again unchanged is
    /// not taken up.
    digest: u64,
}

/// Reads values back out of a record, in the order they were written.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let (head, rest) = self.bytes.split_at(N);
        self.bytes = rest;
        head.try_into().expect("split at N")
    }

    fn str(&mut self) -> &'a str {
        let len = u32::from_le_bytes(self.take()) as usize;
        let (text, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        // SAFETY: every string in the arena was copied whole from a `&str`
        // by `put`, and readers start only at the record offsets `record`
        // returned, reading fields in the order they were written; checking
        // the bytes again cost a tenth of a join's instructions.
        unsafe { std::str::from_utf8_unchecked(text) }
    }

    fn value(&mut self, ty: FieldType) -> Value<'a> {
        match ty {
            FieldType::String => Value::String(self.str()),
            FieldType::F64 => Value::F64(f64::from_le_bytes(self.take())),
            FieldType::I64 => Value::I64(i64::from_le_bytes(self.take())),
            FieldType::Timestamp => Value::Timestamp(i64::from_le_bytes(self.take())),
            FieldType::Bool => Value::Bool(self.take::<1>()[0] != 0),
        }
    }

    fn key(&mut self) -> KeyRef<'a> {
        match self.take::<1>()[0] {
            0 => KeyRef::Str(self.str()),
            1 => KeyRef::Int(i64::from_le_bytes(self.take())),
            2 => KeyRef::Bool(self.take::<1>()[0] != 0),
            _ => KeyRef::Unit,
        }
    }
}

fn put(out: &mut Vec<u8>, value: Value<'_>) {
    match value {
        Value::String(s) => {
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        Value::F64(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::I64(v) | Value::Timestamp(v) => out.extend_from_slice(&v.to_le_bytes()),
        Value::Bool(v) => out.push(u8::from(v)),
    }
}

fn put_key(out: &mut Vec<u8>, key: KeyRef<'_>) {
    match key {
        KeyRef::Str(s) => {
            out.push(0);
            put(out, Value::String(s));
        }
        KeyRef::Int(v) => {
            out.push(1);
            put(out, Value::I64(v));
        }
        KeyRef::Bool(v) => {
            out.push(2);
            put(out, Value::Bool(v));
        }
        KeyRef::Unit => out.push(3),
    }
}

impl LookupTable {
    fn key_at(&self, record: u32) -> KeyRef<'_> {
        Reader {
            bytes: &self.records[record as usize..],
        }
        .key()
    }

    /// The record holding `key`'s values.
    pub fn find(&self, key: KeyRef<'_>) -> Option<u32> {
        let hash = self.hasher.hash_one(key);
        self.index
            .find(hash, |&record| self.key_at(record) == key)
            .copied()
    }

    /// The record of defaults, for unmatched rows kept.
    pub fn defaults_row(&self) -> u32 {
        self.defaults
    }

    /// Rows read (without the defaults).
    pub fn len(&self) -> usize {
        self.rows as usize
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// The added fields' values of `records`, one column per field.
    pub fn gather(&self, records: &[u32]) -> impl Iterator<Item = Column> {
        let mut columns: Vec<ColumnBuilder> = self
            .fields
            .iter()
            .map(|&ty| ColumnBuilder::new(ty, records.len()))
            .collect();
        for &record in records {
            let mut reader = Reader {
                bytes: &self.records[record as usize..],
            };
            reader.key();
            for (column, &ty) in columns.iter_mut().zip(&self.fields) {
                column.push(reader.value(ty));
            }
        }
        columns.into_iter().map(ColumnBuilder::finish)
    }
}

/// A table being read: rows added one by one, a duplicate key refused.
pub(super) struct TableBuilder {
    table: LookupTable,
}

impl TableBuilder {
    pub fn new(fields: &[Field]) -> Self {
        Self {
            table: LookupTable {
                index: HashTable::new(),
                hasher: DefaultHashBuilder::default(),
                records: Vec::new(),
                fields: fields.iter().map(|f| f.ty).collect(),
                defaults: 0,
                rows: 0,
                digest: 0,
            },
        }
    }

    /// The record of `key`, if a row with it was added.
    pub fn find(&self, key: &Key) -> Option<u32> {
        self.table.find(key.as_ref())
    }

    /// Appends a record of `key` (if any) and `values`; its offset.
    fn record(&mut self, key: KeyRef<'_>, values: &[Value<'_>]) -> Result<u32, String> {
        let at = self.table.records.len();
        put_key(&mut self.table.records, key);
        for &value in values {
            put(&mut self.table.records, value);
        }
        if self.table.records.len() > MAX_ARENA {
            return Err("the table is over 4 GiB".into());
        }
        Ok(at as u32)
    }

    /// Adds a row whose key is not in the table yet; its record.
    pub fn insert(&mut self, key: &Key, values: &[Value<'_>]) -> Result<u32, String> {
        let key = key.as_ref();
        debug_assert!(self.table.find(key).is_none(), "checked by the caller");
        let record = self.record(key, values)?;
        let hash = self.table.hasher.hash_one(key);
        let LookupTable {
            index,
            hasher,
            records,
            ..
        } = &mut self.table;
        index.insert_unique(hash, record, |&r| {
            hasher.hash_one(
                Reader {
                    bytes: &records[r as usize..],
                }
                .key(),
            )
        });
        self.table.rows += 1;
        Ok(record)
    }

    pub fn finish(mut self, defaults: &[Value<'_>], digest: u64) -> Result<LookupTable, String> {
        self.table.defaults = self.record(KeyRef::Unit, defaults)?;
        self.table.digest = digest;
        Ok(self.table)
    }
}
