//! The live page's data: once a second the admin thread samples the
//! pipeline's counters into rates, busy shares and queue fills, judges which
//! part holds the rest back, and keeps the last minutes for charts.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::pipeline::{Controller, PipelineView};
use crate::source::QUEUES;

/// How often the counters are sampled; also the live page's refresh.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// Samples kept: five minutes of charts for a page opened late.
const HISTORY: usize = 300;
/// A queue this full, or a thread this busy, marks a bottleneck.
const SATURATED: f64 = 0.8;

#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    /// Wall clock, epoch ms.
    pub at_ms: i64,
    pub records: u64,
    pub records_per_second: f64,
    pub results: u64,
    pub results_per_second: f64,
    pub dead_letters: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watermark_lag_ms: Option<i64>,
    /// [`QUEUES`] in order, 0–1.
    pub queue_fill: [f64; 3],
    pub stages: Vec<StageSample>,
    /// Share of the last interval the sink spent in its calls.
    pub sink_busy: f64,
    /// Share of the last interval the decoder threads spent decoding (1: all
    /// of them all the time).
    pub decode_busy: f64,
    pub bottleneck: Bottleneck,
}

#[derive(Debug, Clone, Serialize)]
pub struct StageSample {
    pub name: String,
    /// Share of the last interval spent in this stage (of the one operator thread).
    pub busy: f64,
    pub rows_out_per_second: f64,
    /// Mean time per batch over the last interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ms_per_batch: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Bottleneck {
    /// A stage's name, `sink`, `decoders`, or `none`.
    pub part: String,
    pub reason: String,
}

/// Raw counters at one instant, to difference with the next.
struct Counters {
    at: Instant,
    records: u64,
    results: u64,
    sink_busy_ns: u64,
    decode_busy_ns: u64,
    /// Per stage, by name: (busy ns, batches, rows out).
    stages: Vec<(String, u64, u64, u64)>,
}

#[derive(Default)]
pub struct Live {
    samples: Mutex<VecDeque<Sample>>,
    /// Samples taken so far; the live streams wait for it to move.
    taken: AtomicU64,
    changed: tokio::sync::Notify,
    /// The host is shutting down: streams send a last update and end.
    closed: std::sync::atomic::AtomicBool,
}

fn load(n: &AtomicU64) -> u64 {
    n.load(Ordering::Relaxed)
}

impl Live {
    pub fn latest(&self) -> Option<Sample> {
        self.lock().back().cloned()
    }

    /// The samples taken after the first `sent` (all kept ones for
    /// `None`), and how many have been taken in all: read under one lock, so
    /// that a sample pushed meanwhile is neither skipped nor sent twice.
    pub fn since(&self, sent: Option<u64>) -> (Vec<Sample>, u64) {
        let samples = self.lock();
        let taken = self.taken();
        let new = sent.map_or(samples.len(), |sent| taken.saturating_sub(sent) as usize);
        let skip = samples.len().saturating_sub(new);
        (samples.iter().skip(skip).cloned().collect(), taken)
    }

    pub fn taken(&self) -> u64 {
        self.taken.load(Ordering::Acquire)
    }

    /// Waits until a sample newer than number `seen` is taken, or the host
    /// is closing.
    pub async fn wait_past(&self, seen: u64) {
        loop {
            let notified = self.changed.notified();
            if self.taken() > seen || self.is_closed() {
                return;
            }
            notified.await;
        }
    }

    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.changed.notify_waiters();
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Sample>> {
        self.samples.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, sample: Sample) {
        let mut samples = self.lock();
        if samples.len() == HISTORY {
            samples.pop_front();
        }
        samples.push_back(sample);
        // Counted under the lock, so [`Self::since`] sees the two agree.
        self.taken.fetch_add(1, Ordering::Release);
        drop(samples);
        self.changed.notify_waiters();
    }
}

/// Samples `controller` every [`SAMPLE_EVERY`] into `live`, forever; run it
/// on the admin thread's runtime.
pub async fn sample(live: Arc<Live>, controller: Controller) {
    let mut ticks = tokio::time::interval(SAMPLE_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut previous: Option<Counters> = None;
    loop {
        ticks.tick().await;
        let view = controller.view();
        let now = counters(&view);
        if let Some(before) = &previous {
            live.push(sample_between(&view, before, &now));
        }
        previous = Some(now);
    }
}

fn counters(view: &PipelineView) -> Counters {
    Counters {
        at: Instant::now(),
        records: view.source.as_ref().map_or(0, |s| load(&s.records)),
        results: view.sink.as_ref().map_or(0, |s| load(&s.results)),
        sink_busy_ns: view.sink.as_ref().map_or(0, |s| s.busy_ns_now()),
        decode_busy_ns: view.source.as_ref().map_or(0, |s| load(&s.decode_busy_ns)),
        stages: view
            .stages
            .iter()
            .map(|s| {
                let stats = &s.stats;
                let busy = load(&stats.busy_ns);
                (s.name.clone(), busy, load(&stats.batches), s.rows_out)
            })
            .collect(),
    }
}

fn sample_between(view: &PipelineView, before: &Counters, now: &Counters) -> Sample {
    let seconds = now.at.duration_since(before.at).as_secs_f64().max(1e-3);
    let rate = |now: u64, before: u64| now.saturating_sub(before) as f64 / seconds;
    let stages: Vec<StageSample> = now
        .stages
        .iter()
        .map(|(name, busy, batches, rows_out)| {
            // A stage added since the last sample starts from zero.
            let (busy_0, batches_0, rows_0) = before
                .stages
                .iter()
                .find(|s| &s.0 == name)
                .map_or((0, 0, 0), |s| (s.1, s.2, s.3));
            let batches = batches.saturating_sub(batches_0);
            let busy_ns = busy.saturating_sub(busy_0);
            StageSample {
                name: name.clone(),
                busy: (busy_ns as f64 * 1e-9 / seconds).min(1.0),
                rows_out_per_second: rate(*rows_out, rows_0),
                ms_per_batch: (batches > 0).then(|| busy_ns as f64 * 1e-6 / batches as f64),
            }
        })
        .collect();
    let queue_fill = view.source.as_ref().map_or([0.0; 3], |s| {
        std::array::from_fn(|i| load(&s.queue_fill_permille[i]) as f64 / 1000.0)
    });
    let sink_busy = (rate(now.sink_busy_ns, before.sink_busy_ns) * 1e-9).min(1.0);
    let decoders = view.source.as_ref().map_or(1, |s| load(&s.decoders).max(1));
    let decode_busy =
        (rate(now.decode_busy_ns, before.decode_busy_ns) * 1e-9 / decoders as f64).min(1.0);
    let watermark_lag_ms = view.source.as_ref().and_then(|s| {
        let watermark = s.watermark_ms.load(Ordering::Relaxed);
        (watermark != i64::MIN).then(|| crate::format::timestamp::now_ms() - watermark)
    });
    let sink_name = view
        .sink
        .as_ref()
        .and_then(|s| s.name.get().cloned())
        .unwrap_or_else(|| "sink".into());
    let bottleneck = match view.state {
        "running" => judge(
            &queue_fill,
            &stages,
            Busy {
                sink: sink_busy,
                decoders: decode_busy,
            },
            &sink_name,
        ),
        _ => Bottleneck {
            part: "none".into(),
            reason: "the pipeline has finished".into(),
        },
    };
    Sample {
        at_ms: crate::format::timestamp::now_ms(),
        records: now.records,
        records_per_second: rate(now.records, before.records),
        results: now.results,
        results_per_second: rate(now.results, before.results),
        dead_letters: view
            .dead_letters
            .as_ref()
            .map_or(0, |counts| counts.iter().map(load).sum()),
        watermark_lag_ms,
        queue_fill,
        stages,
        sink_busy,
        decode_busy,
        bottleneck,
    }
}

/// Shares of the last interval the sink and the decoders were busy.
struct Busy {
    sink: f64,
    decoders: f64,
}

/// The part in front of which work piles up. Queues fill from the back: a
/// slow sink fills the sink queue, then the operators block and fill theirs,
/// so the queue nearest the sink that is full points at the culprit.
fn judge(queue_fill: &[f64; 3], stages: &[StageSample], busy: Busy, sink: &str) -> Bottleneck {
    let sink_busy = busy.sink;
    let percent = |share: f64| format!("{:.0}%", share * 100.0);
    let [decode, operators, sink_queue] = *queue_fill;
    let operator_busy: f64 = stages.iter().map(|s| s.busy).sum();
    let (part, reason) = if sink_queue >= SATURATED || sink_busy >= SATURATED {
        (
            "sink".to_string(),
            format!(
                "the sink queue is {} full and `{sink}` was busy {} of the last second",
                percent(sink_queue),
                percent(sink_busy)
            ),
        )
    } else if let (true, Some(slowest)) = (
        operators >= SATURATED || operator_busy >= SATURATED,
        stages.iter().max_by(|a, b| a.busy.total_cmp(&b.busy)),
    ) {
        (
            slowest.name.clone(),
            format!(
                "the operator queue is {} full and stage `{}` took {} of the operator thread (all stages {})",
                percent(operators),
                slowest.name,
                percent(slowest.busy),
                percent(operator_busy.min(1.0))
            ),
        )
    } else if decode >= SATURATED || busy.decoders >= SATURATED {
        (
            "decoders".to_string(),
            format!(
                "the decode queue is {} full and the decoders were busy {}: decoding the input is the slowest step (more --decoders may help)",
                percent(decode),
                percent(busy.decoders)
            ),
        )
    } else {
        (
            "none".to_string(),
            format!(
                "no queue is full ({} decode, {} operators, {} sink): the pipeline keeps up with its source",
                percent(decode),
                percent(operators),
                percent(sink_queue)
            ),
        )
    };
    debug_assert!(QUEUES.len() == queue_fill.len());
    Bottleneck { part, reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stage(name: &str, busy: f64) -> StageSample {
        StageSample {
            name: name.into(),
            busy,
            rows_out_per_second: 0.0,
            ms_per_batch: None,
        }
    }

    #[test]
    fn names_the_part_in_front_of_the_fullest_queue_nearest_the_sink() {
        let stages = [stage("filter", 0.1), stage("alert", 0.85)];
        let busy = |sink, decoders| Busy { sink, decoders };
        let part = |fill: [f64; 3], sink| judge(&fill, &stages, busy(sink, 0.5), "file:out").part;
        assert_eq!(part([1.0, 1.0, 1.0], 0.95), "sink");
        assert_eq!(part([1.0, 1.0, 0.1], 0.01), "alert");
        assert_eq!(part([1.0, 0.0, 0.0], 0.01), "alert", "operators busy");
        let idle = [stage("filter", 0.1), stage("alert", 0.2)];
        assert_eq!(
            judge(&[1.0, 0.1, 0.0], &idle, busy(0.0, 0.5), "x").part,
            "decoders"
        );
        assert_eq!(
            judge(&[0.2, 0.1, 0.0], &idle, busy(0.0, 0.9), "x").part,
            "decoders"
        );
        let calm = judge(&[0.0, 0.1, 0.0], &idle, busy(0.0, 0.1), "x");
        assert_eq!(calm.part, "none");
        assert!(calm.reason.contains("keeps up"), "{}", calm.reason);
    }
}
