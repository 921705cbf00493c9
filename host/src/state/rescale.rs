//! Stage state across operator instances. A checkpoint holds one state per
//! stage whatever the parallelism: the instances' states are merged when it
//! is taken and split by key when it is restored, so a checkpoint taken at
//! one parallelism restores at any other (Flink's rescaling by key group).

use std::collections::BTreeMap;

use super::checkpoint::{Encoded, OpenWindowState, SessionState, StageState, WindowState};
use super::keyed::KeyedState;
use crate::data::Key;

/// One stage's state from every instance (in instance order), as one.
/// Each instance's state is decoded once and the merged state encoded once.
pub fn merge(states: Vec<StageState>) -> Result<StageState, String> {
    let mut states = states.into_iter();
    let Some(first) = states.next() else {
        return Err("no instance state to merge".into());
    };
    let mismatch = || "the instances of a stage hold different kinds of state".to_string();
    Ok(match first {
        state @ StageState::Stateless { .. } => {
            if !states.all(|s| matches!(s, StageState::Stateless { .. })) {
                return Err(mismatch());
            }
            state
        }
        StageState::Window(first) => {
            let mut merged = first.decode()?;
            for state in states {
                let StageState::Window(window) = state else {
                    return Err(mismatch());
                };
                merged = merge_windows(merged, window.decode()?);
            }
            StageState::Window(Encoded::encode(&merged))
        }
        StageState::Sessions(first) => {
            let mut merged = first.decode()?;
            for state in states {
                let StageState::Sessions(sessions) = state else {
                    return Err(mismatch());
                };
                merged.sessions.extend(sessions.decode()?.sessions);
            }
            StageState::Sessions(Encoded::encode(&merged))
        }
        StageState::Plugin(mut first) => {
            let mut keyed = first.keyed.decode()?;
            for state in states {
                let StageState::Plugin(other) = state else {
                    return Err(mismatch());
                };
                keyed.absorb(other.keyed.decode()?);
            }
            first.keyed = Encoded::encode(&keyed);
            StageState::Plugin(first)
        }
    })
}

fn merge_windows(a: WindowState, b: WindowState) -> WindowState {
    let mut by_end: BTreeMap<i64, OpenWindowState> = BTreeMap::new();
    for window in a.open.into_iter().chain(b.open) {
        match by_end.get_mut(&window.end) {
            Some(held) => {
                held.keys.extend(window.keys);
                held.first = earliest(&held.first, &window.first);
            }
            None => {
                by_end.insert(window.end, window);
            }
        }
    }
    WindowState {
        open: by_end.into_values().collect(),
        // Every instance sees the same watermarks; one that never had a
        // row may not have set it.
        next_end: a.next_end.or(b.next_end),
    }
}

/// Per stream, the earlier of two first positions.
fn earliest(a: &[(u32, u64)], b: &[(u32, u64)]) -> Vec<(u32, u64)> {
    let mut merged: BTreeMap<u32, u64> = a.iter().copied().collect();
    for &(stream, first) in b {
        merged
            .entry(stream)
            .and_modify(|held| *held = (*held).min(first))
            .or_insert(first);
    }
    merged.into_iter().collect()
}

/// The part of `state` whose keys `keep` accepts: one instance's share.
pub fn split(state: &StageState, keep: impl Fn(&Key) -> bool) -> Result<StageState, String> {
    Ok(match state {
        StageState::Stateless { .. } => state.clone(),
        StageState::Window(window) => {
            let mut window = window.decode()?;
            for open in &mut window.open {
                open.keys.retain(|(key, _)| keep(key));
            }
            window.open.retain(|open| !open.keys.is_empty());
            StageState::Window(Encoded::encode(&window))
        }
        StageState::Sessions(sessions) => {
            let SessionState { mut sessions } = sessions.decode()?;
            sessions.retain(|session| keep(&session.key));
            StageState::Sessions(Encoded::encode(&SessionState { sessions }))
        }
        StageState::Plugin(plugin) => {
            let mut plugin = plugin.clone();
            let mut keyed: KeyedState = plugin.keyed.decode()?;
            keyed.retain(&keep);
            plugin.keyed = Encoded::encode(&keyed);
            StageState::Plugin(plugin)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{SessionRecord, Timer};

    fn window(end: i64, keys: &[&str], first: u64) -> OpenWindowState {
        OpenWindowState {
            end,
            keys: keys
                .iter()
                .map(|k| (Key::Str((*k).into()), vec![]))
                .collect(),
            first: vec![(0, first)],
        }
    }

    fn keys_of(state: &StageState) -> Vec<(i64, Vec<Key>)> {
        let StageState::Window(w) = state else {
            panic!()
        };
        w.decode()
            .unwrap()
            .open
            .into_iter()
            .map(|o| (o.end, o.keys.into_iter().map(|(k, _)| k).collect()))
            .collect()
    }

    #[test]
    fn windows_split_by_key_and_merge_back_to_the_same_windows() {
        let whole = StageState::Window(Encoded::encode(&WindowState {
            open: vec![window(10, &["a", "b", "c"], 3), window(20, &["b"], 7)],
            next_end: Some(10),
        }));
        let is_b = |k: &Key| *k == Key::Str("b".into());
        let b = split(&whole, is_b).unwrap();
        let rest = split(&whole, |k| !is_b(k)).unwrap();
        assert_eq!(
            keys_of(&rest),
            vec![(10, vec![Key::Str("a".into()), Key::Str("c".into())])]
        );
        let merged = merge(vec![rest, b]).unwrap();
        let mut keys = keys_of(&merged);
        keys[0].1.sort();
        assert_eq!(keys, keys_of(&whole));
    }

    #[test]
    fn keyed_state_and_timers_split_by_key_and_merge_back() {
        let mut keyed = KeyedState::default();
        for (key, at) in [("a", 5), ("b", 6)] {
            keyed.set(Key::Str(key.into()), Some(vec![1, 2]));
            keyed.set_timer(Timer {
                at,
                key: Key::Str(key.into()),
            });
        }
        let whole = StageState::Plugin(crate::state::PluginState {
            plugin: crate::state::PluginVersion {
                name: "p".into(),
                version: "1".into(),
                hash: "h".into(),
            },
            state_version: 1,
            keyed: Encoded::encode(&keyed),
        });
        let a = split(&whole, |k| *k == Key::Str("a".into())).unwrap();
        let StageState::Plugin(part) = &a else {
            panic!()
        };
        let part = part.keyed.decode().unwrap();
        assert_eq!((part.keys(), part.timers()), (1, 1));
        let b = split(&whole, |k| *k != Key::Str("a".into())).unwrap();
        let StageState::Plugin(merged) = merge(vec![a, b]).unwrap() else {
            panic!()
        };
        let merged = merged.keyed.decode().unwrap();
        assert_eq!((merged.keys(), merged.timers()), (2, 2));
    }

    #[test]
    fn sessions_split_by_key() {
        let session = |key: &str| SessionRecord {
            key: Key::Str(key.into()),
            start: 0,
            end: 1,
            accumulators: vec![],
            first: vec![],
        };
        let whole = StageState::Sessions(Encoded::encode(&SessionState {
            sessions: vec![session("a"), session("b")],
        }));
        let StageState::Sessions(a) = split(&whole, |k| *k == Key::Str("a".into())).unwrap() else {
            panic!()
        };
        assert_eq!(a.decode().unwrap().sessions.len(), 1);
    }
}
