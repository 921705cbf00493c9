//! Session windows per key: a session is a run of rows of one key whose
//! event times are at most `gap` apart, and ends `gap` after its last row.
//!
//! Each row opens `[t, t + gap)` and merges with every session of its key
//! that window touches (Flink's `EventTimeSessionWindows`: windows merge
//! when they intersect, ends included), so a row arriving out of order can
//! bridge two sessions into one. A session fires when the watermark reaches
//! `end - 1`; a row is late when it touches no open session and its own
//! window has reached that point. As every row carries the watermark it was
//! read under, results do not depend on batching.

use std::collections::{BTreeMap, BTreeSet};

use super::aggregate::Accumulator;
use super::layout::{
    hold_position, merge_into, merge_positions, retain_positions, Held, Mark, ResultLayout,
};
use super::LateRow;
use crate::data::Key;
use crate::data::{Batch, BatchBuilder};
use crate::state::{CowMap, Encoded, MapSnapshot, SessionRecord, SessionState};

#[derive(Clone)]
struct Session {
    start: i64,
    /// The last row's event time plus the gap.
    end: i64,
    /// Inline for up to two aggregates: one allocation fewer per session.
    accumulators: smallvec::SmallVec<[Accumulator; 2]>,
    first: Held,
}

/// A key's open sessions, by start (almost always one, kept inline), and
/// the slot that names the key in `due` once it has one.
#[derive(Clone)]
struct KeySessions {
    slot: u32,
    list: smallvec::SmallVec<[Session; 1]>,
}

const NO_SLOT: u32 = u32::MAX;

impl KeySessions {
    fn new() -> Self {
        Self {
            slot: NO_SLOT,
            list: smallvec::SmallVec::new(),
        }
    }

    /// The key's slot, taken (for `key()`) when its first session opens.
    fn slot(&mut self, slots: &mut Slots, key: impl FnOnce() -> Key) -> u32 {
        if self.slot == NO_SLOT {
            self.slot = slots.take(key());
        }
        self.slot
    }
}

/// The keys with open sessions, by slot: an entry of `due` names its key
/// by slot, so it costs no copy of the key and compares as two integers.
/// A key keeps its slot while it has sessions; freed slots are reused.
#[derive(Default)]
struct Slots {
    keys: Vec<Key>,
    free: Vec<u32>,
}

impl Slots {
    fn take(&mut self, key: Key) -> u32 {
        match self.free.pop() {
            Some(slot) => {
                self.keys[slot as usize] = key;
                slot
            }
            None => {
                self.keys.push(key);
                (self.keys.len() - 1) as u32
            }
        }
    }

    fn release(&mut self, slot: u32) {
        self.free.push(slot);
    }

    fn clear(&mut self) {
        self.keys.clear();
        self.free.clear();
    }
}

pub struct SessionWindows {
    gap_ms: i64,
    layout: ResultLayout,
    /// Each key's open sessions, by start; they never touch one another.
    sessions: CowMap<Key, KeySessions>,
    /// (time, key's slot): a session of the key may end at `time`. Every session
    /// has an entry at or before its end. Extending a session leaves its entry
    /// where it was, so the common case (a row that extends the key's
    /// session) touches no tree: when an entry comes due and the session
    /// ends later, the entry moves to the session's end.
    due: BTreeSet<(i64, u32)>,
    slots: Slots,
    fired_windows: u64,
    /// Sessions held, counted as they change: the metrics read it after
    /// every batch, and a sum over the keys would cost a pass over them.
    open: usize,
}

impl SessionWindows {
    pub(super) fn new(gap_ms: i64, layout: ResultLayout) -> Result<Self, String> {
        if gap_ms <= 0 {
            return Err("a session window's gap must be positive".into());
        }
        Ok(Self {
            gap_ms,
            layout,
            sessions: CowMap::default(),
            due: BTreeSet::new(),
            slots: Slots::default(),
            fired_windows: 0,
            open: 0,
        })
    }

    pub(super) fn layout(&self) -> &ResultLayout {
        &self.layout
    }

    pub fn fired_windows(&self) -> u64 {
        self.fired_windows
    }

    pub fn open_windows(&self) -> usize {
        self.open
    }

    /// The open sessions for a checkpoint, encoded later by the sink thread:
    /// taking it costs a pointer per few dozen keys.
    pub fn checkpoint(&self) -> Encoded<SessionState> {
        /// Serializes exactly as a [`SessionState`] does.
        #[derive(serde::Serialize)]
        struct Snapshot {
            sessions: Sessions,
        }
        struct Sessions {
            keys: MapSnapshot<Key, KeySessions>,
            count: usize,
        }
        impl serde::Serialize for Sessions {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeSeq;
                // bincode needs the length up front, which a flattened
                // iterator does not give `collect_seq`.
                let mut seq = serializer.serialize_seq(Some(self.count))?;
                for (key, sessions) in self.keys.iter() {
                    for s in &sessions.list {
                        let record = (key, s.start, s.end, &*s.accumulators, s.first.as_slice());
                        seq.serialize_element(&record)?;
                    }
                }
                seq.end()
            }
        }
        Encoded::later(Snapshot {
            sessions: Sessions {
                keys: self.sessions.snapshot(),
                count: self.open,
            },
        })
    }

    pub fn restore(&mut self, state: SessionState) -> Result<(), String> {
        self.sessions.clear();
        self.due.clear();
        self.slots.clear();
        self.open = 0;
        for SessionRecord {
            key,
            start,
            end,
            mut accumulators,
            first,
        } in state.sessions
        {
            self.layout.attach(&mut accumulators);
            if accumulators.len() != self.layout.width() {
                return Err(format!(
                    "the checkpoint holds {} aggregates per session, this window computes {}",
                    accumulators.len(),
                    self.layout.width()
                ));
            }
            let sessions = self
                .sessions
                .get_or_insert_with(&key, || key.clone(), KeySessions::new);
            let slot = sessions.slot(&mut self.slots, || key.clone());
            self.due.insert((end, slot));
            sessions.list.push(Session {
                start,
                end,
                accumulators: accumulators.into(),
                first: Held::from_vec(first),
            });
            sessions.list.sort_unstable_by_key(|s| s.start);
            self.open += 1;
        }
        Ok(())
    }

    pub fn retained(&self, earliest: &mut BTreeMap<u32, u64>) {
        for session in self.sessions.values().flat_map(|s| &s.list) {
            retain_positions(&session.first, earliest);
        }
    }

    pub fn process(&mut self, batch: &Batch, late: &mut Vec<LateRow>, partials: bool) -> Batch {
        let key_column = self.layout.key_column(batch);
        let inputs = self.layout.inputs(batch);
        let mut out = BatchBuilder::new(self.layout.output().clone(), 0);
        for row in 0..batch.len() {
            let watermark = batch.watermark[row];
            if self.due.first().is_some_and(|(at, _)| at - 1 <= watermark) {
                self.fire(&mut out, watermark);
            }
            let time = batch.event_time[row];
            let end = time.saturating_add(self.gap_ms);
            let key = ResultLayout::key_of(key_column, row);
            // One lookup whether or not the key has sessions: a late row of
            // a new key takes its empty entry out again (rare).
            let sessions =
                self.sessions
                    .get_or_insert_with(&key, || key.to_owned(), KeySessions::new);
            // The sessions the row's window touches: a run of the list.
            let from = sessions.list.partition_point(|s| s.end < time);
            let to = from + sessions.list[from..].partition_point(|s| s.start <= end);
            if from == to {
                if end - 1 <= watermark {
                    late.push(late_row(row, time, end));
                    if sessions.list.is_empty() {
                        self.sessions.remove(&key);
                    }
                    continue;
                }
                let mut session = Session {
                    start: time,
                    end,
                    accumulators: self.layout.new_accumulators(),
                    first: Held::new(),
                };
                ResultLayout::add_row(&mut session.accumulators, &inputs, row, time);
                hold_position(&mut session.first, batch.position[row]);
                sessions.list.insert(from, session);
                self.open += 1;
                let slot = sessions.slot(&mut self.slots, || key.to_owned());
                self.due.insert((end, slot));
                continue;
            }
            // Merge the run into its first session (most rows extend one
            // session: nothing to merge); their entries in `due` stay, each
            // at or before the merged end.
            if to > from + 1 {
                let merged: Vec<Session> = sessions.list.drain(from + 1..to).collect();
                self.open -= merged.len();
                let session = &mut sessions.list[from];
                for other in merged {
                    session.end = session.end.max(other.end);
                    merge_into(&mut session.accumulators, &other.accumulators);
                    merge_positions(&mut session.first, &other.first);
                }
            }
            let session = &mut sessions.list[from];
            session.start = session.start.min(time);
            session.end = session.end.max(end);
            ResultLayout::add_row(&mut session.accumulators, &inputs, row, time);
            hold_position(&mut session.first, batch.position[row]);
        }
        self.fire(&mut out, batch.end_watermark);
        #[cfg(test)]
        assert_eq!(
            self.open,
            self.sessions.values().map(|s| s.list.len()).sum::<usize>()
        );
        if partials {
            self.emit_partials(&mut out, batch.end_watermark);
        }
        out.take(batch.end_watermark)
    }

    /// Emits every open session as it stands, marked partial. Its bounds are
    /// the session's so far, so a session that grows gets a new result id.
    fn emit_partials(&self, out: &mut BatchBuilder, watermark: i64) {
        let mut keys: Vec<_> = self.sessions.iter().collect();
        keys.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (key, sessions) in keys {
            for s in &sessions.list {
                let key = key.as_ref();
                self.layout.emit_row(
                    out,
                    key,
                    &s.accumulators,
                    s.start,
                    s.end,
                    watermark,
                    Mark::Partial,
                );
            }
        }
    }

    /// Emits, in (end, key) order, every session the watermark has closed.
    fn fire(&mut self, out: &mut BatchBuilder, watermark: i64) {
        let mut ended = Vec::new();
        while let Some(&(at, _)) = self.due.first().filter(|(at, _)| at - 1 <= watermark) {
            // `due` orders a time's entries by slot; results go out by key.
            while let Some(&(_, slot)) = self.due.first().filter(|(t, _)| *t == at) {
                self.due.pop_first();
                if let Some(session) = self.end_session(at, slot) {
                    ended.push((slot, session));
                }
            }
            let keys = &self.slots.keys;
            ended.sort_unstable_by(|a, b| keys[a.0 as usize].cmp(&keys[b.0 as usize]));
            for (slot, session) in ended.drain(..) {
                self.layout.emit_row(
                    out,
                    self.slots.keys[slot as usize].as_ref(),
                    &session.accumulators,
                    session.start,
                    session.end,
                    watermark,
                    Mark::First,
                );
                self.fired_windows += 1;
            }
        }
    }

    /// Takes out the session of the key in `slot` that ends at `at`, if
    /// any; its sessions that end later get an entry at their end. A key
    /// left with no session leaves the map and frees its slot (its name
    /// stays readable until the slot is taken again).
    fn end_session(&mut self, at: i64, slot: u32) -> Option<Session> {
        let key = &self.slots.keys[slot as usize];
        // An entry outlives its key only if the key left and came back;
        // then its slot may name another key, whose own entries rule.
        let sessions = self.sessions.get_mut(key).filter(|s| s.slot == slot)?;
        for session in sessions.list.iter().filter(|s| s.end > at) {
            self.due.insert((session.end, slot));
        }
        let index = sessions.list.iter().position(|s| s.end == at)?;
        let session = sessions.list.remove(index);
        self.open -= 1;
        if sessions.list.is_empty() {
            self.sessions.remove(key);
            self.slots.release(slot);
        }
        Some(session)
    }
}

fn late_row(row: usize, time: i64, end: i64) -> LateRow {
    LateRow {
        row,
        window_start: time,
        window_end: end,
        allowed_lateness_ms: 0,
    }
}
