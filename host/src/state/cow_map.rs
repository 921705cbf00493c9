//! A hash map whose snapshot costs a pointer per few dozen keys, so a
//! checkpoint of a million keys does not stop the pipeline.
//!
//! The map is cut into small shards, each behind an `Arc`. A snapshot clones
//! the shard pointers; the operator thread goes on writing, and the first
//! write to a shard the snapshot still holds copies that one shard (a few
//! dozen entries) — copy-on-write at the grain of a shard, as Flink's
//! `CopyOnWriteStateMap` does at the grain of an entry. The sink thread
//! encodes the snapshot meanwhile and drops it, after which writes copy
//! nothing. Shards split one at a time as the map grows (linear hashing), so
//! growing never rehashes the whole map at once either.

use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

use hashbrown::hash_table::Entry;
use hashbrown::{DefaultHashBuilder, Equivalent, HashTable};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};

/// Entries per shard on average before the next shard splits: small enough
/// that a write after a snapshot copies little, large enough that the
/// pointers a snapshot clones stay few (one per this many keys).
const SPLIT_ABOVE: usize = 16;

type Shard<K, V> = HashTable<(K, V)>;

// Cloning shares every shard: a deep copy happens shard by shard, on write.
#[derive(Clone)]
pub struct CowMap<K, V> {
    shards: Vec<Arc<Shard<K, V>>>,
    /// Shards below `split` have split at this level (they address with
    /// `level + 1` bits), the rest not yet.
    level: u32,
    split: usize,
    len: usize,
    hasher: DefaultHashBuilder,
}

/// A point-in-time view of a [`CowMap`], sharing its unchanged shards.
pub struct MapSnapshot<K, V> {
    shards: Vec<Arc<Shard<K, V>>>,
    len: usize,
}

/// The bits that pick a shard: above those hashbrown uses to place an
/// entry inside one (the low bits) and below its 7-bit tag (the top ones).
fn shard_bits(hash: u64) -> usize {
    (hash >> 24) as usize
}

impl<K, V> Default for CowMap<K, V> {
    fn default() -> Self {
        Self {
            shards: vec![Arc::new(HashTable::new())],
            level: 0,
            split: 0,
            len: 0,
            hasher: DefaultHashBuilder::default(),
        }
    }
}

impl<K: Hash + Eq + Clone, V: Clone> CowMap<K, V> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The hash the map files `key` under: computed once by a caller that
    /// looks the same key up several times (`*_hashed`).
    pub fn hash<Q: Hash + ?Sized>(&self, key: &Q) -> u64 {
        self.hasher.hash_one(key)
    }

    fn shard_of(&self, hash: u64) -> usize {
        let bits = shard_bits(hash);
        let index = bits & ((1 << self.level) - 1);
        if index < self.split {
            bits & ((1 << (self.level + 1)) - 1)
        } else {
            index
        }
    }

    /// The shard to write to, copied first if a snapshot holds it.
    fn shard_mut(&mut self, index: usize) -> &mut Shard<K, V> {
        Arc::make_mut(&mut self.shards[index])
    }

    pub fn get<Q: Hash + Equivalent<K> + ?Sized>(&self, key: &Q) -> Option<&V> {
        self.get_hashed(self.hash(key), key)
    }

    /// [`get`](Self::get) with `hash` = [`hash`](Self::hash)`(key)`.
    pub fn get_hashed<Q: Equivalent<K> + ?Sized>(&self, hash: u64, key: &Q) -> Option<&V> {
        self.shards[self.shard_of(hash)]
            .find(hash, |(k, _)| key.equivalent(k))
            .map(|(_, v)| v)
    }

    pub fn contains_key<Q: Hash + Equivalent<K> + ?Sized>(&self, key: &Q) -> bool {
        self.get(key).is_some()
    }

    /// The shard `key` (hashed to `hash`) belongs to, to write to; `None`
    /// when a snapshot shares it and `key` is not in it, as a miss must not
    /// copy a shard.
    fn writable_shard<Q: Equivalent<K> + ?Sized>(
        &mut self,
        hash: u64,
        key: &Q,
    ) -> Option<&mut Shard<K, V>> {
        let index = self.shard_of(hash);
        if Arc::get_mut(&mut self.shards[index]).is_none() {
            self.shards[index].find(hash, |(k, _)| key.equivalent(k))?;
        }
        Some(self.shard_mut(index))
    }

    pub fn get_mut<Q: Hash + Equivalent<K> + ?Sized>(&mut self, key: &Q) -> Option<&mut V> {
        self.get_mut_hashed(self.hash(key), key)
    }

    /// [`get_mut`](Self::get_mut) with `hash` = [`hash`](Self::hash)`(key)`.
    pub fn get_mut_hashed<Q: Equivalent<K> + ?Sized>(
        &mut self,
        hash: u64,
        key: &Q,
    ) -> Option<&mut V> {
        self.writable_shard(hash, key)?
            .find_mut(hash, |(k, _)| key.equivalent(k))
            .map(|(_, v)| v)
    }

    /// The value of `key`, inserted first (as `owned()`, `value()`) if absent.
    pub fn get_or_insert_with<Q: Hash + Equivalent<K> + ?Sized>(
        &mut self,
        key: &Q,
        owned: impl FnOnce() -> K,
        value: impl FnOnce() -> V,
    ) -> &mut V {
        self.make_room();
        let hash = self.hash(key);
        let index = self.shard_of(hash);
        let hasher = &self.hasher;
        let shard = Arc::make_mut(&mut self.shards[index]);
        match shard.entry(
            hash,
            |(k, _)| key.equivalent(k),
            |(k, _)| hasher.hash_one(k),
        ) {
            Entry::Occupied(entry) => &mut entry.into_mut().1,
            Entry::Vacant(entry) => {
                self.len += 1;
                &mut entry.insert((owned(), value())).into_mut().1
            }
        }
    }

    /// Stores `value` for `key`, returning the value it replaces.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.make_room();
        let hash = self.hash(&key);
        let index = self.shard_of(hash);
        let hasher = &self.hasher;
        let shard = Arc::make_mut(&mut self.shards[index]);
        match shard.entry(hash, |(k, _)| *k == key, |(k, _)| hasher.hash_one(k)) {
            Entry::Occupied(mut entry) => Some(std::mem::replace(&mut entry.get_mut().1, value)),
            Entry::Vacant(entry) => {
                entry.insert((key, value));
                self.len += 1;
                None
            }
        }
    }

    /// Splits a shard if the map has grown past its shards' share, before
    /// an insert (so that the insert itself never moves entries).
    fn make_room(&mut self) {
        if self.len >= self.shards.len() * SPLIT_ABOVE {
            self.split_next();
        }
    }

    pub fn remove<Q: Hash + Equivalent<K> + ?Sized>(&mut self, key: &Q) -> Option<V> {
        let hash = self.hash(key);
        let ((_, value), _) = self
            .writable_shard(hash, key)?
            .find_entry(hash, |(k, _)| key.equivalent(k))
            .ok()?
            .remove();
        self.len -= 1;
        Some(value)
    }

    /// Splits the next shard in turn: its entries whose next address bit is
    /// set move to a new shard at the end.
    fn split_next(&mut self) {
        let bit = 1usize << self.level;
        let hasher = self.hasher.clone();
        let rehash = |(k, _): &(K, V)| hasher.hash_one(k);
        let from = Arc::make_mut(&mut self.shards[self.split]);
        let mut moved = HashTable::with_capacity(from.len() / 2 + 1);
        let mut stay = HashTable::with_capacity(from.len() / 2 + 1);
        for entry in from.drain() {
            let hash = rehash(&entry);
            let target = if shard_bits(hash) & bit != 0 {
                &mut moved
            } else {
                &mut stay
            };
            target.insert_unique(hash, entry, rehash);
        }
        *from = stay;
        self.shards.push(Arc::new(moved));
        self.split += 1;
        if self.split == bit {
            self.level += 1;
            self.split = 0;
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> + Clone {
        entries(&self.shards)
    }

    /// Every entry, taken out (shards a snapshot holds are copied).
    pub fn into_entries(self) -> impl Iterator<Item = (K, V)> {
        self.shards
            .into_iter()
            .flat_map(|shard| Arc::try_unwrap(shard).unwrap_or_else(|shared| (*shared).clone()))
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> {
        self.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.iter().map(|(_, v)| v)
    }

    /// Every value, to change in place (copying the shards a snapshot holds).
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.shards
            .iter_mut()
            .flat_map(|shard| Arc::make_mut(shard).iter_mut().map(|(_, v)| v))
    }

    /// Keeps the entries `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &V) -> bool) {
        let mut removed = 0;
        for shard in &mut self.shards {
            if shard.iter().all(|(k, v)| keep(k, v)) {
                continue;
            }
            let shard = Arc::make_mut(shard);
            let before = shard.len();
            shard.retain(|(k, v)| keep(k, v));
            removed += before - shard.len();
        }
        self.len -= removed;
    }

    pub fn clear(&mut self) {
        *self = Self::default();
    }

    /// The map as it stands, for another thread to read while this one
    /// goes on writing.
    pub fn snapshot(&self) -> MapSnapshot<K, V> {
        MapSnapshot {
            shards: self.shards.clone(),
            len: self.len,
        }
    }
}

impl<K: Hash + Eq + Clone, V: Clone> Extend<(K, V)> for CowMap<K, V> {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, entries: I) {
        for (k, v) in entries {
            self.insert(k, v);
        }
    }
}

impl<K: Hash + Eq + Clone, V: Clone> FromIterator<(K, V)> for CowMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(entries: I) -> Self {
        let mut map = Self::default();
        map.extend(entries);
        map
    }
}

impl<K: std::fmt::Debug, V: std::fmt::Debug> std::fmt::Debug for CowMap<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(entries(&self.shards)).finish()
    }
}

impl<K, V> MapSnapshot<K, V> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> + Clone {
        entries(&self.shards)
    }
}

/// Every entry of `shards`, shard by shard.
fn entries<K, V>(shards: &[Arc<Shard<K, V>>]) -> impl Iterator<Item = (&K, &V)> + Clone {
    shards
        .iter()
        .flat_map(|shard| shard.iter().map(|(k, v)| (k, v)))
}

/// Serializes as a map — to bincode, the same bytes as a `HashMap` or a
/// sequence of pairs, so checkpoints read back into either.
fn serialize_entries<'a, K, V, S>(
    len: usize,
    entries: impl Iterator<Item = (&'a K, &'a V)>,
    serializer: S,
) -> Result<S::Ok, S::Error>
where
    K: Serialize + 'a,
    V: Serialize + 'a,
    S: Serializer,
{
    let mut map = serializer.serialize_map(Some(len))?;
    for (k, v) in entries {
        map.serialize_entry(k, v)?;
    }
    map.end()
}

impl<K: Serialize, V: Serialize> Serialize for MapSnapshot<K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_entries(self.len, self.iter(), serializer)
    }
}

impl<K: Serialize, V: Serialize> Serialize for CowMap<K, V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize_entries(self.len, entries(&self.shards), serializer)
    }
}

impl<'de, K, V> Deserialize<'de> for CowMap<K, V>
where
    K: Deserialize<'de> + Hash + Eq + Clone,
    V: Deserialize<'de> + Clone,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entries<K, V>(std::marker::PhantomData<(K, V)>);
        impl<'de, K, V> Visitor<'de> for Entries<K, V>
        where
            K: Deserialize<'de> + Hash + Eq + Clone,
            V: Deserialize<'de> + Clone,
        {
            type Value = CowMap<K, V>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut map = CowMap::default();
                while let Some((k, v)) = access.next_entry()? {
                    map.insert(k, v);
                }
                Ok(map)
            }
        }
        deserializer.deserialize_map(Entries(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u16, u32),
        Remove(u16),
        Bump(u16),
        Snapshot,
        DropSnapshots,
        Retain(u16),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (any::<u16>(), any::<u32>()).prop_map(|(k, v)| Op::Insert(k % 3000, v)),
            2 => any::<u16>().prop_map(|k| Op::Remove(k % 3000)),
            3 => any::<u16>().prop_map(|k| Op::Bump(k % 3000)),
            1 => Just(Op::Snapshot),
            1 => Just(Op::DropSnapshots),
            1 => any::<u16>().prop_map(|m| Op::Retain(m % 7 + 2)),
        ]
    }

    type Entries = Vec<(u16, u32)>;

    fn sorted<'a>(entries: impl Iterator<Item = (&'a u16, &'a u32)>) -> Entries {
        let mut v: Vec<_> = entries.map(|(k, v)| (*k, *v)).collect();
        v.sort_unstable();
        v
    }

    proptest! {
        /// Against a `HashMap`: every read agrees, and every snapshot still
        /// holds exactly what the map held when it was taken.
        #[test]
        fn behaves_as_a_hash_map_and_snapshots_stay_frozen(
            ops in prop::collection::vec(op(), 1..4000)
        ) {
            let mut map = CowMap::default();
            let mut model = HashMap::new();
            // Each snapshot with what the model held when it was taken.
            let mut snapshots: Vec<(MapSnapshot<u16, u32>, Entries)> = Vec::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => prop_assert_eq!(map.insert(k, v), model.insert(k, v)),
                    Op::Remove(k) => prop_assert_eq!(map.remove(&k), model.remove(&k)),
                    Op::Bump(k) => {
                        let v = map.get_or_insert_with(&k, || k, || 0);
                        *v = v.wrapping_add(1);
                        let m = model.entry(k).or_insert(0);
                        *m = m.wrapping_add(1);
                    }
                    Op::Snapshot => {
                        let frozen = sorted(model.iter());
                        snapshots.push((map.snapshot(), frozen));
                    }
                    Op::DropSnapshots => snapshots.clear(),
                    Op::Retain(m) => {
                        map.retain(|k, _| k % m != 0);
                        model.retain(|k, _| k % m != 0);
                    }
                }
                prop_assert_eq!(map.len(), model.len());
            }
            prop_assert_eq!(sorted(map.iter()), sorted(model.iter()));
            for k in 0..3000u16 {
                prop_assert_eq!(map.get(&k), model.get(&k));
            }
            for (snapshot, frozen) in &snapshots {
                prop_assert_eq!(snapshot.len(), frozen.len());
                prop_assert_eq!(&sorted(snapshot.iter()), frozen);
            }
        }
    }

    #[test]
    fn encodes_as_a_hash_map_does() {
        let map: CowMap<String, Vec<u8>> =
            (0..500).map(|i| (format!("k{i}"), vec![i as u8])).collect();
        let bytes = bincode::serialize(&map.snapshot()).unwrap();
        let back: HashMap<String, Vec<u8>> = bincode::deserialize(&bytes).unwrap();
        assert_eq!(back.len(), 500);
        assert_eq!(back["k7"], vec![7]);
        let again: CowMap<String, Vec<u8>> = bincode::deserialize(&bytes).unwrap();
        assert_eq!(again.get("k499"), Some(&vec![243]));
        assert_eq!(bincode::serialize(&again).unwrap().len(), bytes.len());
    }

    #[test]
    fn a_write_after_a_snapshot_copies_one_shard() {
        let mut map: CowMap<u32, u32> = (0..100_000).map(|i| (i, i)).collect();
        assert!(map.shards.len() >= 100_000 / SPLIT_ABOVE / 2);
        let snapshot = map.snapshot();
        *map.get_mut(&5).unwrap() = 0;
        let shared = map
            .shards
            .iter()
            .zip(&snapshot.shards)
            .filter(|(a, b)| Arc::ptr_eq(a, b))
            .count();
        assert_eq!(shared, map.shards.len() - 1, "one shard copied");
        assert_eq!(snapshot.iter().find(|(k, _)| **k == 5), Some((&5, &5)));
    }
}
