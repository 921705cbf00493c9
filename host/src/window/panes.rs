//! Tumbling and sliding event-time windows per key.
//!
//! Windows are `[start, start + size)` with `start` a multiple of `slide`
//! (tumbling: `slide = size`). Rows are aggregated once, into the
//! slide-long *pane* holding their event time; a window's result combines
//! its `size / slide` panes when it fires, so the work per row does not grow
//! with `size / slide` (the pane approach, as Arroyo does, rather than adding
//! each row to every window that holds it). A window fires when the watermark
//! reaches `end - 1` (Flink's `window.maxTimestamp() <= watermark`). A row is
//! late when the last window holding it has reached that point by the
//! watermark as it stood right after the row was read; a row some of whose
//! windows fired already counts in the others, as in Flink. As every row
//! carries that watermark, results and late rows do not depend on batching.
//!
//! With allowed lateness `L`, a window's panes are kept until the watermark
//! passes `end - 1 + L`; a row arriving for a fired window in that time is
//! added and the window's new result for its key is emitted at once, marked
//! as an update (Flink's `allowedLateness` with its default trigger).

use std::collections::BTreeMap;

use hashbrown::HashMap;

use super::aggregate::Accumulator;
use super::layout::{hold_position, merge_into, retain_positions, Mark, ResultLayout};
use super::LateRow;
use crate::data::{Batch, BatchBuilder};
use crate::data::{Key, KeyRef};
use crate::state::{CowMap, Encoded, MapSnapshot, WindowState};

/// [`WindowState`] at one moment, sharing the live panes' shards
/// copy-on-write: serializes exactly as a `WindowState` does.
#[derive(serde::Serialize)]
struct WindowSnapshot {
    open: Vec<PaneSnapshot>,
    next_end: Option<i64>,
}

#[derive(serde::Serialize)]
struct PaneSnapshot {
    end: i64,
    keys: MapSnapshot<Key, Box<[Accumulator]>>,
    first: Vec<(u32, u64)>,
}

/// The totals of the window ending at `end`, per key with the number of its
/// panes that hold the key.
struct RunningWindow {
    end: i64,
    keys: HashMap<Key, (u32, Box<[Accumulator]>)>,
}

#[derive(Default)]
struct Pane {
    keys: CowMap<Key, Box<[Accumulator]>>,
    /// The first position per stream of the rows this pane holds: input
    /// from there on must be read again if the pane is lost.
    first: Vec<(u32, u64)>,
}

pub struct PaneWindows {
    size_ms: i64,
    slide_ms: i64,
    lateness_ms: i64,
    /// The end of the next window to fire: windows before it have fired.
    next_end: Option<i64>,
    layout: ResultLayout,
    /// Panes by end time: those of windows still open, and of fired windows
    /// still within their allowed lateness.
    open: BTreeMap<i64, Pane>,
    fired_windows: u64,
    updates: u64,
    /// Sliding windows whose aggregates can be taken back out (counts,
    /// integer sums) keep the last window's totals and move them on by a
    /// pane: add the pane that enters, subtract the one that leaves.
    running: Option<RunningWindow>,
    invertible: bool,
}

impl PaneWindows {
    pub(super) fn new(
        size_ms: i64,
        slide_ms: i64,
        lateness_ms: i64,
        layout: ResultLayout,
    ) -> Result<Self, String> {
        if size_ms <= 0 {
            return Err("window size must be positive".into());
        }
        if slide_ms <= 0 || slide_ms > size_ms || size_ms % slide_ms != 0 {
            return Err(format!(
                "a sliding window's slide must divide its size: size {size_ms} ms, slide {slide_ms} ms"
            ));
        }
        Ok(Self {
            running: None,
            invertible: layout.invertible() && slide_ms != size_ms,
            size_ms,
            slide_ms,
            lateness_ms,
            next_end: None,
            layout,
            open: BTreeMap::new(),
            fired_windows: 0,
            updates: 0,
        })
    }

    pub(super) fn layout(&self) -> &ResultLayout {
        &self.layout
    }

    pub fn fired_windows(&self) -> u64 {
        self.fired_windows
    }

    pub fn updates(&self) -> u64 {
        self.updates
    }

    /// (key, pane) pairs held.
    pub fn open_windows(&self) -> usize {
        self.open.values().map(|w| w.keys.len()).sum()
    }

    /// The panes' contents for a checkpoint, encoded later by the sink
    /// thread: taking it costs a pointer per few dozen keys.
    pub fn checkpoint(&self) -> Encoded<WindowState> {
        Encoded::later(WindowSnapshot {
            open: self
                .open
                .iter()
                .map(|(&end, pane)| PaneSnapshot {
                    end,
                    keys: pane.keys.snapshot(),
                    first: pane.first.clone(),
                })
                .collect(),
            next_end: self.next_end,
        })
    }

    /// Puts back the contents [`checkpoint`](Self::checkpoint) took.
    pub fn restore(&mut self, state: WindowState) -> Result<(), String> {
        self.open.clear();
        for pane in state.open {
            let mut keys = CowMap::default();
            for (key, mut accumulators) in pane.keys {
                if accumulators.len() != self.layout.width() {
                    return Err(format!(
                        "the checkpoint holds {} aggregates per window, this window computes {}",
                        accumulators.len(),
                        self.layout.width()
                    ));
                }
                self.layout.attach(&mut accumulators);
                keys.insert(key, accumulators.into_boxed_slice());
            }
            let first = pane.first;
            self.open.insert(pane.end, Pane { keys, first });
        }
        self.next_end = state.next_end;
        self.running = None;
        Ok(())
    }

    pub fn retained(&self, earliest: &mut BTreeMap<u32, u64>) {
        for pane in self.open.values() {
            retain_positions(&pane.first, earliest);
        }
    }

    /// Adds the batch's rows, reports late ones in `late`, and returns the
    /// results: windows closed by the watermark, and updates of fired windows.
    pub fn process(&mut self, batch: &Batch, late: &mut Vec<LateRow>, partials: bool) -> Batch {
        let key_column = self.layout.key_column(batch);
        let inputs = self.layout.inputs(batch);
        let mut out = BatchBuilder::new(self.layout.output().clone(), 0);
        let mut updated = Vec::new();
        for row in 0..batch.len() {
            // Windows the watermark closed before this row fire first, so a
            // row never lands in a window that had closed when it was read
            // unless that window still takes late rows.
            let watermark = batch.watermark[row];
            if watermark >= self.next_due() {
                self.fire(&mut out, watermark);
            }
            // Windows the watermark closed while they held nothing are closed
            // too: a row must not reopen them through a pane they share.
            if watermark > i64::MIN / 2 {
                let closed = watermark + 1;
                let open_from = closed - closed.rem_euclid(self.slide_ms) + self.slide_ms;
                if self.next_end.is_none_or(|n| n < open_from) {
                    self.next_end = Some(open_from);
                }
            }
            let event_time = batch.event_time[row];
            let start = event_time - event_time.rem_euclid(self.slide_ms);
            // The last window holding the row starts with its pane.
            let last_end = start.saturating_add(self.size_ms);
            if (last_end - 1).saturating_add(self.lateness_ms) <= watermark {
                late.push(LateRow {
                    row,
                    window_start: start,
                    window_end: last_end,
                    allowed_lateness_ms: self.lateness_ms,
                });
                continue;
            }
            let pane_end = start.saturating_add(self.slide_ms);
            // A row behind the running totals' window: recompute them.
            if self.running.as_ref().is_some_and(|r| pane_end <= r.end) {
                self.running = None;
            }
            let key = ResultLayout::key_of(key_column, row);
            updated.clear();
            if self.lateness_ms > 0 {
                self.fired_windows_taking(pane_end, last_end, watermark, key, &mut updated);
            }
            // Few panes are open at once (size, disorder and lateness bound
            // it to a handful), so this lookup is a couple of comparisons.
            let pane = self.open.entry(pane_end).or_default();
            hold_position(&mut pane.first, batch.position[row]);
            let accumulators = match pane.keys.get_mut(&key) {
                Some(accumulators) => accumulators,
                None => pane.keys.get_or_insert_with(
                    &key,
                    || key.to_owned(),
                    || self.layout.new_accumulators(),
                ),
            };
            ResultLayout::add_row(accumulators, &inputs, row, event_time);
            for &(end, was_emitted) in &updated {
                let merged = self.merged_for(end, key);
                self.layout.emit_row(
                    &mut out,
                    key,
                    &merged,
                    end - self.size_ms,
                    end,
                    watermark,
                    Mark::update_if(was_emitted),
                );
                if was_emitted {
                    self.updates += 1;
                } else {
                    self.fired_windows += 1;
                }
            }
        }
        self.fire(&mut out, batch.end_watermark);
        if partials {
            self.emit_partials(&mut out, batch.end_watermark);
        }
        out.take(batch.end_watermark)
    }

    /// Emits each window that has not fired, as it stands, marked partial.
    fn emit_partials(&self, out: &mut BatchBuilder, watermark: i64) {
        let mut ends = std::collections::BTreeSet::new();
        for &pane_end in self.open.keys() {
            let mut end = pane_end;
            while end < pane_end + self.size_ms {
                if self.next_end.is_none_or(|next| end >= next) {
                    ends.insert(end);
                }
                end += self.slide_ms;
            }
        }
        for end in ends {
            let mut keys: Vec<_> = self.panes_of(end).flat_map(|p| p.keys.keys()).collect();
            keys.sort_unstable();
            keys.dedup();
            for key in keys {
                let merged = self.merged_for(end, key.as_ref());
                let start = end - self.size_ms;
                let key = key.as_ref();
                self.layout
                    .emit_row(out, key, &merged, start, end, watermark, Mark::Partial);
            }
        }
    }

    /// The fired windows holding the pane ending at `pane_end` that still
    /// take late rows at `watermark`, each with whether it emitted a result
    /// for `key` already.
    fn fired_windows_taking(
        &self,
        pane_end: i64,
        last_end: i64,
        watermark: i64,
        key: KeyRef<'_>,
        into: &mut Vec<(i64, bool)>,
    ) {
        let Some(next_end) = self.next_end else {
            return;
        };
        let mut end = pane_end;
        while end <= last_end && end < next_end {
            if (end - 1).saturating_add(self.lateness_ms) > watermark {
                let emitted = self.panes_of(end).any(|pane| pane.keys.contains_key(&key));
                into.push((end, emitted));
            }
            end += self.slide_ms;
        }
    }

    /// The accumulators of `key` over the window ending at `end`.
    fn merged_for(&self, end: i64, key: KeyRef<'_>) -> Box<[Accumulator]> {
        let mut merged: Option<Box<[Accumulator]>> = None;
        for pane in self.panes_of(end) {
            if let Some(accumulators) = pane.keys.get(&key) {
                match &mut merged {
                    Some(into) => merge_into(into, accumulators),
                    None => merged = Some(accumulators.clone()),
                }
            }
        }
        merged.expect("the row was just added to a pane of the window")
    }

    /// The end of the next window to fire: the first not fired yet that
    /// holds a pane.
    fn next_window_end(&self) -> Option<i64> {
        match self.next_end {
            None => self.open.first_key_value().map(|(&end, _)| end),
            Some(next) => self
                .open
                .range(next.saturating_sub(self.size_ms) + 1..)
                .next()
                .map(|(&pane_end, _)| pane_end.max(next)),
        }
    }

    /// The watermark at which the next window fires.
    fn next_due(&self) -> i64 {
        self.next_window_end().map_or(i64::MAX, |end| end - 1)
    }

    /// Emits, in (window end, key) order, every window the watermark has
    /// closed, then drops the panes no window needs any more.
    fn fire(&mut self, out: &mut BatchBuilder, watermark: i64) {
        while let Some(end) = self.next_window_end() {
            if end - 1 > watermark {
                break;
            }
            self.next_end = Some(end.saturating_add(self.slide_ms));
            self.fired_windows += if self.slide_ms == self.size_ms {
                // Tumbling: the window is its one pane.
                self.emit_pane(out, end, watermark)
            } else if self.invertible {
                self.emit_running(out, end, watermark)
            } else {
                self.emit_combined(out, end, watermark)
            };
        }
        self.drop_expired_panes(watermark);
    }

    /// Drops the panes whose windows have all fired and are past their
    /// allowed lateness.
    fn drop_expired_panes(&mut self, watermark: i64) {
        let Some(next_end) = self.next_end else {
            return;
        };
        // A pane ending at `p` is in the windows ending at `p` up to
        // `p + size - slide`; those before `next_end` have fired.
        let mut through = next_end - self.size_ms;
        if self.invertible {
            // The running totals take the pane leaving the next window out.
            through -= self.slide_ms;
        }
        if self.lateness_ms > 0 {
            let late_until = watermark
                .saturating_add(1)
                .saturating_sub(self.lateness_ms)
                .saturating_sub(self.size_ms - self.slide_ms);
            through = through.min(late_until);
        }
        while self
            .open
            .first_key_value()
            .is_some_and(|(&end, _)| end <= through)
        {
            self.open.pop_first();
        }
    }

    /// Emits the tumbling window ending at `end`. Returns the number of keys.
    fn emit_pane(&self, out: &mut BatchBuilder, end: i64, watermark: i64) -> u64 {
        let Some(pane) = self.open.get(&end) else {
            return 0;
        };
        let mut keys: Vec<_> = pane.keys.iter().collect();
        keys.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (key, accumulators) in &keys {
            self.layout.emit_row(
                out,
                key.as_ref(),
                accumulators,
                end - self.size_ms,
                end,
                watermark,
                Mark::First,
            );
        }
        keys.len() as u64
    }

    /// Emits the window ending at `end` from the running totals, moved on from
    /// the previous window by one pane, or rebuilt from the panes after a gap.
    /// Returns the number of keys.
    fn emit_running(&mut self, out: &mut BatchBuilder, end: i64, watermark: i64) -> u64 {
        let running = match self.running.take() {
            Some(mut running) if running.end + self.slide_ms == end => {
                if let Some(entering) = self.open.get(&end) {
                    add_pane(&mut running.keys, entering);
                }
                if let Some(leaving) = self.open.get(&(end - self.size_ms)) {
                    for (key, accumulators) in leaving.keys.iter() {
                        if let Some((panes, into)) = running.keys.get_mut(key) {
                            *panes -= 1;
                            if *panes == 0 {
                                running.keys.remove(key);
                                continue;
                            }
                            for (into, from) in into.iter_mut().zip(accumulators.iter()) {
                                into.unmerge(from);
                            }
                        }
                    }
                }
                running.end = end;
                running
            }
            _ => {
                let mut keys = HashMap::new();
                for pane in self.panes_of(end) {
                    add_pane(&mut keys, pane);
                }
                RunningWindow { end, keys }
            }
        };
        let mut keys: Vec<_> = running.keys.iter().collect();
        keys.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (key, (_, accumulators)) in &keys {
            let start = end - self.size_ms;
            self.layout.emit_row(
                out,
                key.as_ref(),
                accumulators,
                start,
                end,
                watermark,
                Mark::First,
            );
        }
        let fired = keys.len() as u64;
        self.running = Some(running);
        fired
    }

    /// Emits the window ending at `end`: its panes' accumulators merged per
    /// key, in key order. Returns the number of keys.
    fn emit_combined(&self, out: &mut BatchBuilder, end: i64, watermark: i64) -> u64 {
        let width = self.layout.width();
        // Keys borrowed from the panes and accumulators in one arena: merging
        // a window allocates per window, not per key.
        let mut index: HashMap<&Key, usize> = HashMap::new();
        let mut arena: Vec<Accumulator> = Vec::new();
        for pane in self.panes_of(end) {
            for (key, accumulators) in pane.keys.iter() {
                match index.get(key) {
                    Some(&at) => merge_into(&mut arena[at..at + width], accumulators),
                    None => {
                        index.insert(key, arena.len());
                        arena.extend_from_slice(accumulators);
                    }
                }
            }
        }
        let mut keys: Vec<(&Key, usize)> = index.into_iter().collect();
        keys.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for &(key, at) in &keys {
            let start = end - self.size_ms;
            self.layout.emit_row(
                out,
                key.as_ref(),
                &arena[at..at + width],
                start,
                end,
                watermark,
                Mark::First,
            );
        }
        keys.len() as u64
    }

    /// The panes of the window ending at `end`, in time order.
    fn panes_of(&self, end: i64) -> impl Iterator<Item = &Pane> {
        self.open
            .range(end - self.size_ms + 1..=end)
            .map(|(_, pane)| pane)
    }
}

fn add_pane(keys: &mut HashMap<Key, (u32, Box<[Accumulator]>)>, pane: &Pane) {
    for (key, accumulators) in pane.keys.iter() {
        match keys.get_mut(key) {
            Some((panes, into)) => {
                *panes += 1;
                merge_into(into, accumulators);
            }
            None => {
                keys.insert(key.clone(), (1, accumulators.clone()));
            }
        }
    }
}
