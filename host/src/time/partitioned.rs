//! Watermarks for a source split into partitions (Kafka), combined as Flink
//! combines the watermarks of a source's splits: each partition has its own
//! bounded-out-of-orderness watermark; the source's watermark is the minimum
//! over its active partitions, so a partition that is behind holds the others
//! back instead of having its events declared late; and a partition that has
//! sent nothing for `idle_after` is set aside until it sends again, so one
//! quiet partition does not stall every window (`withIdleness`). The combined
//! watermark never goes back.
//!
//! Idleness is judged on the host's clock, so unlike the rest of event-time
//! handling it depends on timing — as it does in Flink.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::BoundedOutOfOrderness;

#[derive(Debug, Clone)]
pub struct PartitionedWatermarks {
    bound_ms: i64,
    idle_after: Option<Duration>,
    partitions: BTreeMap<u32, Partition>,
    emitted: i64,
    /// Largest event times from a checkpoint, taken up by a partition when
    /// it is assigned again.
    resumed: BTreeMap<u32, Option<i64>>,
}

#[derive(Debug, Clone)]
struct Partition {
    watermark: BoundedOutOfOrderness,
    /// When it last sent an event, or was assigned.
    last_heard: Instant,
}

impl PartitionedWatermarks {
    /// `idle_after: None` waits for every partition forever.
    pub fn new(bound_ms: i64, idle_after: Option<Duration>) -> Self {
        Self {
            bound_ms,
            idle_after,
            partitions: BTreeMap::new(),
            emitted: i64::MIN,
            resumed: BTreeMap::new(),
        }
    }

    /// A partition starts being read. Until it sends its first event it holds
    /// the watermark where it is (it may hold old data), unless it stays idle.
    pub fn assign(&mut self, partition: u32, now: Instant) {
        let (bound_ms, resumed) = (self.bound_ms, &mut self.resumed);
        self.partitions.entry(partition).or_insert_with(|| {
            let mut watermark = BoundedOutOfOrderness::new(bound_ms);
            if let Some(max) = resumed.remove(&partition) {
                watermark.resume(max);
            }
            Partition {
                watermark,
                last_heard: now,
            }
        });
    }

    /// The combined watermark and each partition's largest event time.
    pub fn checkpoint(&self) -> (i64, Vec<(u32, Option<i64>)>) {
        let mut streams: BTreeMap<u32, Option<i64>> = self.resumed.clone();
        for (&id, partition) in &self.partitions {
            streams.insert(id, partition.watermark.max_event_time());
        }
        (self.emitted, streams.into_iter().collect())
    }

    /// Continues from [`checkpoint`](Self::checkpoint)'s values; partitions
    /// take theirs up when they are assigned.
    pub fn resume(&mut self, emitted: i64, streams: Vec<(u32, Option<i64>)>) {
        self.emitted = emitted;
        self.resumed = streams.into_iter().collect();
    }

    /// A partition is no longer read here (a rebalance gave it away); the
    /// others decide alone from now on.
    pub fn revoke(&mut self, partition: u32, now: Instant) -> i64 {
        self.partitions.remove(&partition);
        self.current(now)
    }

    /// Records an event of `partition` and returns the source's watermark
    /// right after it.
    pub fn observe(&mut self, partition: u32, event_time: i64, now: Instant) -> i64 {
        self.assign(partition, now);
        let state = self
            .partitions
            .get_mut(&partition)
            .expect("assigned just above");
        state.watermark.observe(event_time);
        state.last_heard = now;
        self.current(now)
    }

    /// The source's watermark at `now`: idle partitions may have stopped
    /// holding it back since the last event.
    pub fn current(&mut self, now: Instant) -> i64 {
        let active = self.partitions.values().filter(|p| match self.idle_after {
            Some(idle) => now.saturating_duration_since(p.last_heard) < idle,
            None => true,
        });
        // With every partition idle there is nothing to go by: hold.
        if let Some(min) = active.map(|p| p.watermark.current()).min() {
            self.emitted = self.emitted.max(min);
        }
        self.emitted
    }

    /// Partitions holding the watermark back at `now`, for metrics and logs.
    pub fn idle_partitions(&self, now: Instant) -> Vec<u32> {
        self.partition_watermarks(now)
            .into_iter()
            .filter(|&(_, _, idle)| idle)
            .map(|(id, _, _)| id)
            .collect()
    }

    /// Each partition's own watermark (`i64::MIN` before its first event)
    /// and whether it is idle, so no longer holding the combined one back.
    pub fn partition_watermarks(&self, now: Instant) -> Vec<(u32, i64, bool)> {
        self.partitions
            .iter()
            .map(|(&id, p)| {
                let idle = self
                    .idle_after
                    .is_some_and(|idle| now.saturating_duration_since(p.last_heard) >= idle);
                (id, p.watermark.current(), idle)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const BOUND: i64 = 5_000;

    #[test]
    fn the_slowest_partition_decides() {
        let t = Instant::now();
        let mut w = PartitionedWatermarks::new(BOUND, None);
        assert_eq!(w.observe(0, 100_000, t), 94_999);
        assert_eq!(w.observe(1, 20_000, t), 94_999, "never goes back");
        assert_eq!(w.observe(0, 200_000, t), 94_999, "partition 1 holds it");
        assert_eq!(w.observe(1, 150_000, t), 144_999);
    }

    #[test]
    fn an_assigned_partition_holds_the_watermark_until_it_speaks() {
        let t = Instant::now();
        let mut w = PartitionedWatermarks::new(BOUND, None);
        w.assign(3, t);
        assert_eq!(w.observe(0, 100_000, t), i64::MIN);
        assert_eq!(w.observe(3, 50_000, t), 44_999);
    }

    #[test]
    fn a_quiet_partition_is_set_aside_after_the_idle_timeout_and_counts_again_when_it_speaks() {
        let t = Instant::now();
        let idle = Duration::from_secs(10);
        let mut w = PartitionedWatermarks::new(BOUND, Some(idle));
        w.assign(0, t);
        w.assign(1, t);
        w.observe(0, 100_000, t);
        w.observe(1, 50_000, t);
        assert_eq!(w.current(t + Duration::from_secs(9)), 44_999);
        w.observe(0, 120_000, t + Duration::from_secs(9));
        assert_eq!(w.idle_partitions(t + idle), vec![1]);
        assert_eq!(
            w.current(t + idle),
            114_999,
            "partition 1 is idle: partition 0 alone"
        );
        let back = t + Duration::from_secs(12);
        assert_eq!(w.observe(1, 60_000, back), 114_999, "it never goes back");
        assert_eq!(
            w.observe(0, 300_000, back),
            114_999,
            "partition 1 holds it again"
        );
    }

    #[test]
    fn with_every_partition_idle_the_watermark_holds() {
        let t = Instant::now();
        let mut w = PartitionedWatermarks::new(BOUND, Some(Duration::from_secs(1)));
        w.observe(0, 100_000, t);
        assert_eq!(w.current(t + Duration::from_secs(60)), 94_999);
    }

    #[test]
    fn a_revoked_partition_no_longer_holds_it_back() {
        let t = Instant::now();
        let mut w = PartitionedWatermarks::new(BOUND, None);
        w.assign(0, t);
        w.assign(1, t);
        w.observe(0, 100_000, t);
        assert_eq!(w.observe(1, 10_000, t), 4_999);
        assert_eq!(w.revoke(1, t), 94_999);
    }

    proptest! {
        /// Without idleness the watermark is the running maximum of the
        /// minimum over partitions of each one's own watermark.
        #[test]
        fn matches_the_per_partition_model(events in prop::collection::vec((0u32..4, 0i64..1_000_000), 1..200)) {
            let t = Instant::now();
            let mut w = PartitionedWatermarks::new(BOUND, None);
            let mut max_seen: BTreeMap<u32, i64> = BTreeMap::new();
            let mut expected = i64::MIN;
            for (partition, time) in events {
                let got = w.observe(partition, time, t);
                let seen = max_seen.entry(partition).or_insert(time);
                *seen = (*seen).max(time);
                let min = max_seen.values().map(|m| m - BOUND - 1).min().unwrap();
                expected = expected.max(min);
                prop_assert_eq!(got, expected);
            }
        }
    }
}
