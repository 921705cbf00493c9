//! Per-key state and event-time timers of a keyed plugin. The host owns them:
//! a plugin is handed the state of the keys in its batch and returns the new
//! state, so checkpoints and swaps never have to look inside a plugin.
//! Both are kept in structures a snapshot shares copy-on-write (see
//! [`CowMap`]), so a checkpoint does not pause the plugin's stage.

use imbl::OrdSet;
use serde::{Deserialize, Serialize};

use super::{CowMap, MapSnapshot};
use crate::data::{Key, KeyRef};

/// A timer: fires for `key` once the watermark reaches `at`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timer {
    pub at: i64,
    pub key: Key,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(from = "Saved")]
pub struct KeyedState {
    /// The plugin's encoded state per key (its bincode, opaque to the host).
    values: CowMap<Key, Vec<u8>>,
    /// Ordered by time, so the due ones are a prefix; a persistent B-tree,
    /// which a snapshot shares copy-on-write as it does the values.
    timers: OrdSet<Timer>,
    /// Bytes of the keys and values, for the state-size gauge; counted
    /// again by [`Self::recount`] after deserializing.
    #[serde(skip)]
    bytes: usize,
}

/// What a checkpoint holds of a [`KeyedState`].
#[derive(Deserialize)]
struct Saved {
    values: CowMap<Key, Vec<u8>>,
    timers: Vec<Timer>,
}

impl From<Saved> for KeyedState {
    fn from(saved: Saved) -> Self {
        let mut state = Self {
            values: saved.values,
            ..Self::default()
        };
        for timer in saved.timers {
            state.set_timer(timer);
        }
        state.recount();
        state
    }
}

fn key_bytes(key: KeyRef<'_>) -> usize {
    match key {
        KeyRef::Str(s) => s.len(),
        _ => 8,
    }
}

impl KeyedState {
    pub fn get(&self, key: &KeyRef<'_>) -> Option<&[u8]> {
        self.values.get(key).map(Vec::as_slice)
    }

    /// The hash `key` is stored under, for the `*_hashed` methods: a batch
    /// hashes each key once for its dedup, its lookup and its update.
    pub fn hash(&self, key: &KeyRef<'_>) -> u64 {
        self.values.hash(key)
    }

    /// [`get`](Self::get) with `hash` = [`hash`](Self::hash)`(key)`.
    pub fn get_hashed(&self, hash: u64, key: &KeyRef<'_>) -> Option<&[u8]> {
        self.values.get_hashed(hash, key).map(Vec::as_slice)
    }

    /// Stores `value` for `key`; `None` forgets the key.
    pub fn set(&mut self, key: Key, value: Option<Vec<u8>>) {
        let Some(value) = value else {
            return self.forget(key.as_ref());
        };
        let key_len = key_bytes(key.as_ref());
        self.bytes += key_len + value.len();
        if let Some(old) = self.values.insert(key, value) {
            self.bytes -= key_len + old.len();
        }
    }

    /// Stores `value` for `key`, in place when the key has a state: the
    /// plugin's new states are copied into the buffers they replace.
    pub fn update(&mut self, key: KeyRef<'_>, value: &[u8]) {
        self.update_hashed(self.hash(&key), key, value);
    }

    /// [`update`](Self::update) with `hash` = [`hash`](Self::hash)`(key)`.
    pub fn update_hashed(&mut self, hash: u64, key: KeyRef<'_>, value: &[u8]) {
        let Some(old) = self.values.get_mut_hashed(hash, &key) else {
            return self.set(key.to_owned(), Some(value.to_vec()));
        };
        self.bytes = self.bytes + value.len() - old.len();
        old.clear();
        old.extend_from_slice(value);
    }

    /// Forgets `key`'s state.
    pub fn forget(&mut self, key: KeyRef<'_>) {
        if let Some(old) = self.values.remove(&key) {
            self.bytes -= key_bytes(key) + old.len();
        }
    }

    pub fn set_timer(&mut self, timer: Timer) {
        self.timers.insert(timer);
    }

    /// Removes and returns the timers at or before `watermark`, earliest first.
    pub fn take_due(&mut self, watermark: i64) -> Vec<Timer> {
        let mut due = Vec::new();
        while self
            .timers
            .get_min()
            .is_some_and(|first| first.at <= watermark)
        {
            due.extend(self.timers.remove_min());
        }
        due
    }

    /// Keys with state.
    pub fn keys(&self) -> usize {
        self.values.len()
    }

    /// Bytes of state held: keys and the plugin's encoded values.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Counts [`Self::bytes`] again, after the values were deserialized or
    /// rewritten in place.
    pub fn recount(&mut self) {
        self.bytes = self
            .values
            .iter()
            .map(|(k, v)| key_bytes(k.as_ref()) + v.len())
            .sum();
    }

    pub fn timers(&self) -> usize {
        self.timers.len()
    }

    /// Takes in another instance's keys and timers (their keys are disjoint).
    pub fn absorb(&mut self, other: KeyedState) {
        self.values.extend(other.values.into_entries());
        self.timers.extend(other.timers);
        self.recount();
    }

    /// Keeps the keys, and the timers of the keys, that `keep` accepts.
    pub fn retain(&mut self, keep: impl Fn(&Key) -> bool) {
        self.values.retain(|key, _| keep(key));
        self.timers = self
            .timers
            .iter()
            .filter(|timer| keep(&timer.key))
            .cloned()
            .collect();
        self.recount();
    }

    /// The state as it stands, to be encoded on another thread while this
    /// one goes on changing it.
    pub fn snapshot(&self) -> KeyedSnapshot {
        KeyedSnapshot {
            values: self.values.snapshot(),
            timers: self.timers.clone(),
        }
    }

    /// Every stored value, to be rewritten by a state migration.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Vec<u8>> {
        self.values.values_mut()
    }
}

/// A [`KeyedState`] at one moment: encodes exactly as one does.
#[derive(Serialize)]
pub struct KeyedSnapshot {
    values: MapSnapshot<Key, Vec<u8>>,
    timers: OrdSet<Timer>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restored_state_and_a_snapshot_hold_the_same_timers_and_values() {
        let mut state = KeyedState::default();
        for (at, key) in [(30, "b"), (10, "a"), (20, "b")] {
            let key = Key::Str(key.into());
            state.set(key.clone(), Some(vec![at as u8]));
            state.set_timer(Timer { at, key });
        }
        let snapshot = bincode::serialize(&state.snapshot()).unwrap();
        // Changes after the snapshot are not in it.
        state.set_timer(Timer {
            at: 5,
            key: Key::Str("c".into()),
        });
        state.take_due(10);
        assert_eq!(
            bincode::serialize(&KeyedState::default()).unwrap().len(),
            16
        );
        let mut back: KeyedState = bincode::deserialize(&snapshot).unwrap();
        assert_eq!((back.keys(), back.timers()), (2, 3));
        let due: Vec<i64> = back.take_due(i64::MAX).iter().map(|t| t.at).collect();
        assert_eq!(
            due,
            vec![10, 20, 30],
            "the due index is rebuilt in time order"
        );
        assert_eq!(back.timers(), 0);
        assert_eq!(state.timers(), 2, "c at 5 and a at 10 were due");
    }

    #[test]
    fn updates_in_place_and_forgets_by_borrowed_key() {
        let mut state = KeyedState::default();
        state.update(KeyRef::Str("abc"), &[1; 10]);
        state.update(KeyRef::Int(7), &[2; 4]);
        assert_eq!((state.keys(), state.bytes()), (2, 3 + 10 + 8 + 4));
        state.update(KeyRef::Str("abc"), &[3; 2]);
        assert_eq!(state.get(&KeyRef::Str("abc")), Some(&[3u8, 3][..]));
        assert_eq!(state.bytes(), 3 + 2 + 8 + 4);
        state.forget(KeyRef::Int(7));
        state.forget(KeyRef::Int(8));
        assert_eq!((state.keys(), state.bytes()), (1, 5));
    }

    #[test]
    fn due_timers_come_out_in_time_order_once() {
        let mut state = KeyedState::default();
        for (at, key) in [(30, "b"), (10, "a"), (20, "b"), (10, "a")] {
            state.set_timer(Timer {
                at,
                key: Key::Str(key.into()),
            });
        }
        assert_eq!(state.timers(), 3, "a repeated timer is set once");
        let due: Vec<i64> = state.take_due(20).iter().map(|t| t.at).collect();
        assert_eq!(due, vec![10, 20]);
        assert!(state.take_due(29).is_empty());
        assert_eq!(state.take_due(i64::MAX).len(), 1);
    }

    #[test]
    fn bytes_follow_sets_replacements_and_removals() {
        let mut state = KeyedState::default();
        state.set(Key::Str("abc".into()), Some(vec![0; 10]));
        state.set(Key::Int(7), Some(vec![0; 4]));
        assert_eq!(state.bytes(), 3 + 10 + 8 + 4);
        state.set(Key::Str("abc".into()), Some(vec![0; 2]));
        assert_eq!(state.bytes(), 3 + 2 + 8 + 4);
        state.set(Key::Int(7), None);
        state.set(Key::Int(8), None);
        assert_eq!(state.bytes(), 5);
        let copy: KeyedState = bincode::deserialize(&bincode::serialize(&state).unwrap()).unwrap();
        assert_eq!(copy.bytes(), 5, "counted again on restore");
    }
}
