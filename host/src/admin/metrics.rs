//! `GET /metrics`: the pipeline's counters in the Prometheus (OpenMetrics)
//! text format, built from a snapshot at each scrape.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::live::Bottleneck;
use crate::pipeline::{HistogramSnapshot, PipelineView, StageView};
use crate::sink::DeadLetterKind;
use crate::source::QUEUES;

type Labels = Vec<(&'static str, String)>;
type StageValue = fn(&StageView) -> u64;

fn load(counter: &std::sync::atomic::AtomicU64) -> u64 {
    counter.load(std::sync::atomic::Ordering::Relaxed)
}

pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// One histogram metric with a series per stage; `scale` turns the stored
/// integers into the metric's unit.
#[derive(Debug)]
struct StageHistograms {
    name: &'static str,
    help: &'static str,
    scale: f64,
    series: Vec<(Labels, HistogramSnapshot)>,
}

impl Collector for StageHistograms {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut metric = encoder.encode_descriptor(
            self.name,
            self.help,
            None,
            prometheus_client::metrics::MetricType::Histogram,
        )?;
        for (labels, snapshot) in &self.series {
            let buckets: Vec<(f64, u64)> = snapshot
                .bounds
                .iter()
                .map(|&b| b as f64 * self.scale)
                .chain([f64::INFINITY])
                .zip(snapshot.counts.iter().copied())
                .collect();
            metric
                .encode_family(labels)?
                .encode_histogram::<NoLabelSet>(
                    snapshot.sum as f64 * self.scale,
                    snapshot.count,
                    &buckets,
                    None,
                )?;
        }
        Ok(())
    }
}

/// `bottleneck`: the live sampler's last judgement, if it has made one.
pub fn render(view: &PipelineView, bottleneck: Option<&Bottleneck>) -> String {
    let mut registry = Registry::with_prefix("weir");
    let pipeline = || ("pipeline", view.pipeline.clone());

    let running = Family::<Labels, Gauge>::default();
    running
        .get_or_create(&vec![pipeline()])
        .set(i64::from(view.state == "running"));
    registry.register("pipeline_running", "1 while the pipeline runs", running);

    let counter = |name: &str, help: &str, values: Vec<(Labels, u64)>, registry: &mut Registry| {
        let family = Family::<Labels, Counter>::default();
        for (labels, value) in values {
            family.get_or_create(&labels).inc_by(value);
        }
        registry.register(name, help, family);
    };
    let counter_f64 =
        |name: &str, help: &str, values: Vec<(Labels, f64)>, registry: &mut Registry| {
            let family = Family::<Labels, Counter<f64, std::sync::atomic::AtomicU64>>::default();
            for (labels, value) in values {
                family.get_or_create(&labels).inc_by(value);
            }
            registry.register(name, help, family);
        };
    let stage_labels = |s: &StageView| {
        vec![
            pipeline(),
            ("stage", s.name.clone()),
            ("kind", s.kind.into()),
        ]
    };
    let per_stage = |value: fn(&StageView) -> u64| {
        view.stages
            .iter()
            .map(|s| (stage_labels(s), value(s)))
            .collect()
    };
    let stage_counters: [(&str, &str, StageValue); 4] = [
        ("stage_batches", "Batches a stage has processed", |s| {
            s.batches
        }),
        ("stage_rows_in", "Rows into a stage", |s| s.rows_in),
        ("stage_rows_out", "Rows out of a stage", |s| s.rows_out),
        (
            "stage_rows_failed",
            "Rows a stage dead-lettered or skipped (plugin failures, late events at a window)",
            |s| s.rows_failed,
        ),
    ];
    for (name, help, value) in stage_counters {
        counter(name, help, per_stage(value), &mut registry);
    }
    counter_f64(
        "stage_busy_seconds",
        "Time a stage spent processing: its share of the operator thread (rate() of it near 1 marks the bottleneck)",
        view.stages
            .iter()
            .map(|s| (stage_labels(s), load(&s.stats.busy_ns) as f64 * 1e-9))
            .collect(),
        &mut registry,
    );
    for (name, help, scale, histogram) in [
        (
            "stage_batch_duration_seconds",
            "Time a stage took per non-empty batch; for a plugin, the call into the sandbox with encoding and decoding",
            1e-9,
            (|s| &s.stats.batch_duration_ns) as fn(&StageView) -> &crate::pipeline::Histogram,
        ),
        (
            "stage_batch_rows",
            "Rows per non-empty batch into a stage",
            1.0,
            |s| &s.stats.batch_rows,
        ),
    ] {
        registry.register_collector(Box::new(StageHistograms {
            name,
            help,
            scale,
            series: view
                .stages
                .iter()
                .map(|s| (stage_labels(s), histogram(s).snapshot()))
                .collect(),
        }));
    }
    let keyed: Vec<_> = view
        .stages
        .iter()
        .filter(|s| {
            s.plugin
                .as_ref()
                .is_some_and(|p| p.settings.key_by.is_some())
        })
        .collect();
    for (name, help, value) in [
        (
            "keyed_state_keys",
            "Keys with state in a keyed plugin stage",
            (|s| &s.stats.state_keys) as fn(&StageView) -> &std::sync::atomic::AtomicU64,
        ),
        (
            "keyed_state_bytes",
            "Bytes of a keyed plugin stage's state: keys and the plugin's encoded values",
            |s| &s.stats.state_bytes,
        ),
        (
            "keyed_state_timers",
            "Event-time timers pending in a keyed plugin stage",
            |s| &s.stats.state_timers,
        ),
    ] {
        let family = Family::<Labels, Gauge>::default();
        for stage in &keyed {
            family
                .get_or_create(&vec![pipeline(), ("stage", stage.name.clone())])
                .set(load(value(stage)) as i64);
        }
        registry.register(name, help, family);
    }
    if let Some(sink) = &view.sink {
        let name = || ("sink", sink.name.get().cloned().unwrap_or_default());
        counter(
            "sink_results",
            "Results handed to the sink",
            vec![(vec![pipeline(), name()], load(&sink.results))],
            &mut registry,
        );
        counter_f64(
            "sink_busy_seconds",
            "Time in the sink's calls: writes, flushes, checkpoint commits",
            vec![(vec![pipeline(), name()], load(&sink.busy_ns) as f64 * 1e-9)],
            &mut registry,
        );
    }
    if let Some(reading) = bottleneck {
        let info = Family::<Labels, Gauge>::default();
        info.get_or_create(&vec![pipeline(), ("part", reading.part.clone())])
            .set(1);
        registry.register(
            "bottleneck_info",
            "The part of the pipeline holding the rest back over the last second: a stage, `sink`, `decoders`, or `none` when the pipeline keeps up with its source (the reason, in words, is on the live page and in /v1/live)",
            info,
        );
    }
    let windows = || view.stages.iter().filter(|s| s.kind == "window");
    let window_labels = |s: &StageView| vec![pipeline(), ("stage", s.name.clone())];
    let results = Family::<Labels, Counter>::default();
    for stage in windows() {
        for (kind, value) in [
            ("first", &stage.stats.window_results),
            ("update", &stage.stats.window_updates),
            ("partial", &stage.stats.window_partials),
        ] {
            let mut labels = window_labels(stage);
            labels.push(("result", kind.into()));
            results.get_or_create(&labels).inc_by(load(value));
        }
    }
    registry.register(
        "window_results",
        "Results a window emitted: a key's first result for a window, an update by a row within the allowed lateness, or a partial result of an early firing",
        results,
    );
    let open = Family::<Labels, Gauge>::default();
    for stage in windows() {
        open.get_or_create(&window_labels(stage))
            .set(load(&stage.stats.window_open) as i64);
    }
    registry.register(
        "window_open",
        "(key, pane or session) pairs a window holds, fired panes kept for allowed lateness included",
        open,
    );

    let plugins: Vec<_> = view
        .stages
        .iter()
        .filter_map(|s| s.plugin.as_ref().map(|p| (s, p)))
        .collect();
    let info = Family::<Labels, Gauge>::default();
    let quarantined = Family::<Labels, Gauge>::default();
    for (stage, plugin) in &plugins {
        let labels = vec![
            pipeline(),
            ("stage", stage.name.clone()),
            ("plugin", plugin.name.clone()),
            ("version", plugin.version.clone()),
            ("content_hash", plugin.content_hash.clone()),
        ];
        info.get_or_create(&labels).set(1);
        quarantined
            .get_or_create(&vec![pipeline(), ("stage", stage.name.clone())])
            .set(i64::from(plugin.quarantined.is_some()));
    }
    registry.register("plugin_info", "The plugin version serving each stage", info);
    registry.register(
        "plugin_quarantined",
        "1 when a stage's plugin is quarantined",
        quarantined,
    );
    counter(
        "plugin_restarts",
        "Plugin instances replaced after a trap (current version)",
        plugins
            .iter()
            .map(|(s, p)| (vec![pipeline(), ("stage", s.name.clone())], p.restarts))
            .collect(),
        &mut registry,
    );
    counter(
        "plugin_changes",
        "Swaps, loads and unloads by outcome",
        view.change_counts
            .iter()
            .map(|(&(action, outcome), &n)| {
                let labels = vec![
                    pipeline(),
                    ("action", action.into()),
                    ("outcome", outcome.into()),
                ];
                (labels, n)
            })
            .collect(),
        &mut registry,
    );
    if let Some(counts) = &view.dead_letters {
        counter(
            "dead_letters",
            "Records sent to the dead-letter output, by kind",
            DeadLetterKind::ALL
                .iter()
                .map(|&kind| {
                    let n = load(&counts[kind as usize]);
                    (vec![pipeline(), ("kind", kind.name().into())], n)
                })
                .collect(),
            &mut registry,
        );
    }

    if let Some(source) = &view.source {
        let source_counters = [
            (
                "source_records",
                "Records read from the source, valid or not",
                load(&source.records),
            ),
            (
                "source_pauses",
                "Times the Kafka consumer paused because the pipeline stayed full",
                load(&source.pauses),
            ),
            (
                "offset_commits",
                "Kafka offset commits of fully processed input",
                load(&source.offset_commits),
            ),
        ];
        counter_f64(
            "decode_busy_seconds",
            "Time the decoder threads spent decoding, all of them together; rate() over weir_decoders near 1 marks decoding as the bottleneck",
            vec![(vec![pipeline()], load(&source.decode_busy_ns) as f64 * 1e-9)],
            &mut registry,
        );
        let decoders = Family::<Labels, Gauge>::default();
        decoders
            .get_or_create(&vec![pipeline()])
            .set(load(&source.decoders) as i64);
        registry.register("decoders", "Decoder threads", decoders);
        for (name, help, value) in source_counters {
            counter(name, help, vec![(vec![pipeline()], value)], &mut registry);
        }
        let lag = Family::<Labels, Gauge>::default();
        for ((topic, partition), messages) in
            source.lag.lock().unwrap_or_else(|p| p.into_inner()).iter()
        {
            let labels = vec![
                pipeline(),
                ("topic", topic.clone()),
                ("partition", partition.to_string()),
            ];
            lag.get_or_create(&labels).set(*messages);
        }
        let watermark = source
            .watermark_ms
            .load(std::sync::atomic::Ordering::Relaxed);
        if watermark != i64::MIN {
            let now = crate::format::timestamp::now_ms();
            for (name, help, value) in [
                (
                    "watermark_timestamp_milliseconds",
                    "The event-time watermark: no earlier event is still expected (epoch ms)",
                    watermark,
                ),
                (
                    "watermark_lag_milliseconds",
                    "How far the watermark is behind the host's clock",
                    now.saturating_sub(watermark),
                ),
            ] {
                let family = Family::<Labels, Gauge>::default();
                family.get_or_create(&vec![pipeline()]).set(value);
                registry.register(name, help, family);
            }
        }
        let partitions = source
            .partition_watermarks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if !partitions.is_empty() {
            let watermarks = Family::<Labels, Gauge>::default();
            let idle = Family::<Labels, Gauge>::default();
            for ((topic, partition), (watermark, is_idle)) in partitions {
                let labels = vec![
                    pipeline(),
                    ("topic", topic),
                    ("partition", partition.to_string()),
                ];
                if watermark != i64::MIN {
                    watermarks.get_or_create(&labels).set(watermark);
                }
                idle.get_or_create(&labels).set(i64::from(is_idle));
            }
            registry.register(
                "partition_watermark_timestamp_milliseconds",
                "A Kafka partition's own watermark (epoch ms); the pipeline's is the least of the partitions not idle",
                watermarks,
            );
            registry.register(
                "partition_idle",
                "1 when a Kafka partition has been silent past idle_timeout and no longer holds the watermark back",
                idle,
            );
        }
        let fill = Family::<Labels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        for (queue, permille) in QUEUES.iter().zip(&source.queue_fill_permille) {
            fill.get_or_create(&vec![pipeline(), ("queue", (*queue).into())])
                .set(load(permille) as f64 / 1000.0);
        }
        registry.register(
            "queue_fill_ratio",
            "How full each queue between the pipeline's threads is (0–1): a full queue sits in front of the bottleneck (decode: the decoders, operators: the operator thread, sink: the sink)",
            fill,
        );
        registry.register(
            "kafka_consumer_lag",
            "Messages past the group's committed offset (librdkafka's consumer_lag, every 5 s)",
            lag,
        );
    }

    if let Some(checkpoints) = &view.checkpoints {
        counter(
            "checkpoints",
            "Checkpoints written by this run",
            vec![(vec![pipeline()], load(&checkpoints.written))],
            &mut registry,
        );
        let gauges = [
            (
                "checkpoint_last_id",
                "Id of the last checkpoint written",
                load(&checkpoints.last_id),
            ),
            (
                "checkpoint_last_bytes",
                "Size of the last checkpoint written",
                load(&checkpoints.last_bytes),
            ),
            (
                "checkpoint_last_write_microseconds",
                "Results made durable, checkpoint written, results published: the last one's time",
                load(&checkpoints.last_write_us),
            ),
        ];
        for (name, help, value) in gauges {
            let family = Family::<Labels, Gauge>::default();
            family
                .get_or_create(&vec![pipeline()])
                .set(i64::try_from(value).unwrap_or(i64::MAX));
            registry.register(name, help, family);
        }
    }

    let mut text = String::new();
    encode(&mut text, &registry).expect("writing to a String cannot fail");
    text
}
