//! What `weir bench` prints: the seed query's figures as a Markdown table.

use std::fmt;

use super::baseline::BaselineReport;
use super::ingest::Rate;
use crate::generate::TimeFormat;

pub struct Report {
    pub events: u64,
    pub batch_size: usize,
    pub wasm_events_per_s: f64,
    pub native_events_per_s: f64,
    /// The seed query as SQL: native WHERE, window, HAVING, projection.
    pub sql_events_per_s: f64,
    pub sql_cpu_ns: f64,
    /// CPU time (all threads, user + system) per event.
    pub wasm_cpu_ns: f64,
    pub native_cpu_ns: f64,
    /// Read + decode + watermarks with no operators: the floor under both.
    pub ingest_events_per_s: f64,
    pub ingest_cpu_ns: f64,
    /// Ingest over the same readings with event times in each format.
    pub ingest_by_format: Vec<(TimeFormat, Rate)>,
    /// A typed parse of the input's lines on one thread, nothing else.
    pub bare_parse: Rate,
    /// The Wasm pipeline with one decoder and the bare parse, each with every
    /// thread on one core.
    pub one_core: (Rate, Rate),
    pub results: u64,
    pub filter_wasm_ns: f64,
    pub filter_native_ns: f64,
    /// `WHERE temperature > 100` as a native expression stage.
    pub filter_sql_ns: f64,
    pub peak_rss_mib: Option<f64>,
    pub baseline: Option<BaselineReport>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "seed query: NDJSON file → decode → over-threshold → 10 s tumbling count per sensor → spike-alert")?;
        writeln!(
            f,
            "input: event_time as the guide writes it, \"2023-12-31 23:59:58.890\""
        )?;
        writeln!(
            f,
            "events {}  batch {}  alerts {}",
            self.events, self.batch_size, self.results
        )?;
        writeln!(f, "| measure | value |")?;
        writeln!(f, "|---|---|")?;
        writeln!(
            f,
            "| pipeline with Wasm plugins | {:.2} M events/s |",
            self.wasm_events_per_s / 1e6
        )?;
        writeln!(
            f,
            "| same pipeline, logic native in the host | {:.2} M events/s |",
            self.native_events_per_s / 1e6
        )?;
        writeln!(
            f,
            "| same query as SQL (native WHERE and HAVING) | {:.2} M events/s |",
            self.sql_events_per_s / 1e6
        )?;
        writeln!(
            f,
            "| SQL / Wasm plugins, by throughput | {:.2} |",
            self.sql_events_per_s / self.wasm_events_per_s
        )?;
        writeln!(
            f,
            "| Wasm / native, by throughput | {:.2} |",
            self.wasm_events_per_s / self.native_events_per_s
        )?;
        writeln!(
            f,
            "| CPU per event (all threads), Wasm plugins | {:.0} ns |",
            self.wasm_cpu_ns
        )?;
        writeln!(
            f,
            "| CPU per event (all threads), native | {:.0} ns |",
            self.native_cpu_ns
        )?;
        writeln!(
            f,
            "| CPU per event (all threads), SQL | {:.0} ns |",
            self.sql_cpu_ns
        )?;
        writeln!(
            f,
            "| Wasm / native, by CPU cost (native ÷ Wasm) | {:.2} |",
            self.native_cpu_ns / self.wasm_cpu_ns
        )?;
        writeln!(
            f,
            "| ingest alone (read + decode + watermark, no operators) | {:.2} M events/s, {:.0} ns CPU/event |",
            self.ingest_events_per_s / 1e6,
            self.ingest_cpu_ns
        )?;
        for (format, rate) in &self.ingest_by_format {
            writeln!(
                f,
                "| ingest alone, event_time as {} | {:.2} M events/s, {:.0} ns CPU/event |",
                format.name(),
                rate.events_per_s / 1e6,
                rate.cpu_ns
            )?;
        }
        writeln!(
            f,
            "| bare typed parse of the same lines (serde_json, borrowed strings, one thread) | {:.2} M lines/s, {:.0} ns CPU/line |",
            self.bare_parse.events_per_s / 1e6,
            self.bare_parse.cpu_ns
        )?;
        let (pipeline, bare) = self.one_core;
        writeln!(
            f,
            "| on one core (pinned, 1 decoder): Wasm pipeline | {:.2} M events/s |",
            pipeline.events_per_s / 1e6
        )?;
        writeln!(
            f,
            "| on one core: bare parse | {:.2} M lines/s |",
            bare.events_per_s / 1e6
        )?;
        writeln!(
            f,
            "| on one core: Wasm pipeline / bare parse | {:.2} |",
            pipeline.events_per_s / bare.events_per_s
        )?;
        writeln!(
            f,
            "| filter stage, Wasm (encode + call + apply) | {:.1} ns/event |",
            self.filter_wasm_ns
        )?;
        writeln!(
            f,
            "| filter stage, native | {:.1} ns/event |",
            self.filter_native_ns
        )?;
        writeln!(
            f,
            "| filter stage, SQL expression `temperature > 100` | {:.1} ns/event |",
            self.filter_sql_ns
        )?;
        writeln!(
            f,
            "| SQL expression − hand-written native filter | {:.1} ns/event |",
            self.filter_sql_ns - self.filter_native_ns
        )?;
        writeln!(
            f,
            "| boundary cost (Wasm − native) | {:.1} ns/event |",
            self.filter_wasm_ns - self.filter_native_ns
        )?;
        if let Some(baseline) = &self.baseline {
            writeln!(
                f,
                "| `weir run`, Wasm plugins, baseline {} | {:.2} M events/s, {:.0} ns CPU/event |",
                baseline.baseline,
                baseline.before.events_per_s / 1e6,
                baseline.before.cpu_ns
            )?;
            writeln!(
                f,
                "| `weir run`, Wasm plugins, this build | {:.2} M events/s, {:.0} ns CPU/event |",
                baseline.after.events_per_s / 1e6,
                baseline.after.cpu_ns
            )?;
            writeln!(
                f,
                "| this build / baseline, by throughput | {:.2} |",
                baseline.after.events_per_s / baseline.before.events_per_s
            )?;
        }
        match self.peak_rss_mib {
            Some(rss) => write!(f, "| peak RSS of the bench process | {rss:.0} MiB |"),
            None => write!(f, "| peak RSS of the bench process | unavailable |"),
        }
    }
}
