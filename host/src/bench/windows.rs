//! `weir bench windows`: clicks per page over a 60 s tumbling window against
//! a 60 s window sliding every second, the tumbling window with allowed
//! lateness, and sessions per user, on the same input in the same run.
//! Sliding windows aggregate each click once, into a 1 s pane, and combine
//! 60 panes per result, so their cost should not grow 60-fold.

use super::{alternate, scratch_dir, write_workload};
use crate::generate::{write_clicks, ClickWorkload};
use std::fmt;

#[derive(Debug, Clone, clap::Args)]
pub struct WindowBenchOptions {
    /// Clicks to generate and process (1 ms apart in event time).
    #[arg(long, default_value_t = 5_000_000)]
    pub events: u64,
    /// Pages (the window key).
    #[arg(long, default_value_t = 200)]
    pub pages: u32,
    /// Runs of each variant; the median is reported.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
}

pub struct WindowReport {
    pub events: u64,
    pub pages: u32,
    /// (variant, events/s, results)
    pub variants: Vec<(&'static str, f64, u64)>,
}

impl fmt::Display for WindowReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "clicks per page: {} clicks over {} pages, NDJSON file → window → null sink",
            self.events, self.pages
        )?;
        writeln!(f, "| window | throughput | results | vs tumbling |")?;
        writeln!(f, "|---|---|---|---|")?;
        let tumbling = self.variants[0].1;
        for (name, rate, results) in &self.variants {
            writeln!(
                f,
                "| {name} | {:.2} M events/s | {results} | {:.2} |",
                rate / 1e6,
                rate / tumbling
            )?;
        }
        Ok(())
    }
}

pub fn run_windows(options: &WindowBenchOptions) -> anyhow::Result<WindowReport> {
    anyhow::ensure!(options.runs > 0, "--runs must be at least 1");
    let dir = scratch_dir("windows")?;
    let data = dir.join("clicks.ndjson");
    let workload = ClickWorkload {
        events: options.events,
        pages: options.pages,
        ..Default::default()
    };
    write_workload(&data, |out| write_clicks(&workload, out))?;
    let variants = [
        (
            "tumbling 60 s",
            r#"kind = "tumbling"
size = "60s"
key_by = "page""#,
        ),
        (
            "sliding 60 s every 1 s",
            r#"kind = "sliding"
size = "60s"
slide = "1s"
key_by = "page""#,
        ),
        (
            "tumbling 60 s, lateness 30 s",
            r#"kind = "tumbling"
size = "60s"
allowed_lateness = "30s"
key_by = "page""#,
        ),
        // Another key (users, not pages): many short sessions, each merged
        // as it grows and fired on its own.
        (
            "session per user, gap 10 s",
            r#"kind = "session"
gap = "10s"
key_by = "user_id""#,
        ),
    ];
    let variants = variants.map(|(name, kind)| (name, kind.to_string()));
    let measured = alternate(&variants, options.runs, &dir, options.events, |kind| {
        format!(
            r#"
name = "bench-windows"
source = {{ kind = "file", path = "{data}" }}
schema = {{ user_id = "string", page = "string", event_time = "timestamp" }}
event_time = {{ field = "event_time", max_out_of_orderness = "5s" }}
sink = {{ kind = "console" }}

[[operators]]
type = "window"
{kind}
aggregates = {{ clicks = "count" }}
"#,
            data = data.display()
        )
    })?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(WindowReport {
        events: options.events,
        pages: options.pages,
        variants: measured,
    })
}
