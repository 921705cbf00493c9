//! Per-key state and event-time timers of a keyed plugin. The host owns them:
//! a plugin is handed the state of the keys in its batch and returns the new
//! state, so checkpoints and swaps never have to look inside a plugin.

use std::collections::BTreeSet;

use hashbrown::HashMap;
use serde::{Deserialize, Serialize};

use crate::window::{Key, KeyRef};

/// A timer: fires for `key` once the watermark reaches `at`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timer {
    pub at: i64,
    pub key: Key,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct KeyedState {
    /// The plugin's encoded state per key (its bincode, opaque to the host).
    values: HashMap<Key, Vec<u8>>,
    /// Ordered by time, so the due ones are a prefix.
    timers: BTreeSet<Timer>,
}

impl KeyedState {
    pub fn get(&self, key: &KeyRef<'_>) -> Option<&[u8]> {
        self.values.get(key).map(Vec::as_slice)
    }

    /// Stores `value` for `key`; `None` forgets the key.
    pub fn set(&mut self, key: Key, value: Option<Vec<u8>>) {
        match value {
            Some(value) => {
                self.values.insert(key, value);
            }
            None => {
                self.values.remove(&key);
            }
        }
    }

    pub fn set_timer(&mut self, timer: Timer) {
        self.timers.insert(timer);
    }

    /// Removes and returns the timers at or before `watermark`, earliest first.
    pub fn take_due(&mut self, watermark: i64) -> Vec<Timer> {
        let mut due = Vec::new();
        while let Some(first) = self.timers.first() {
            if first.at > watermark {
                break;
            }
            due.extend(self.timers.pop_first());
        }
        due
    }

    /// Keys with state.
    pub fn keys(&self) -> usize {
        self.values.len()
    }

    pub fn timers(&self) -> usize {
        self.timers.len()
    }

    /// Every stored value, to be rewritten by a state migration.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Vec<u8>> {
        self.values.values_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
