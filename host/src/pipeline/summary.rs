use std::fmt;
use std::time::Duration;

/// What a run did, printed when it ends.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub pipeline: String,
    /// Records read from the source (lines), valid or not.
    pub records_read: u64,
    /// Records decoded into events.
    pub events_in: u64,
    /// Rows dropped by filter plugins.
    pub filtered: u64,
    pub decode_failures: u64,
    pub late_events: u64,
    /// Rows dead-lettered because a plugin failed on them.
    pub plugin_failures: u64,
    /// Rows dead-lettered because an expression could not be computed on
    /// them (a division by zero, a failed CAST).
    pub expression_failures: u64,
    /// Rows dead-lettered because a lookup join's table had no row for their key.
    pub unmatched_failures: u64,
    /// Rows a lookup join found no table row for, kept or dead-lettered.
    pub lookup_unmatched: u64,
    /// Times a lookup table was read again after its file changed.
    pub lookup_reloads: u64,
    /// Rows dropped because a plugin failed on them (`on_failure = "skip"`).
    pub plugin_skipped: u64,
    /// Results the sink could not deliver (dead-lettered).
    pub sink_failures: u64,
    /// Of the sink failures: results dead-lettered untried because the
    /// shutdown timeout had passed.
    pub abandoned_at_shutdown: u64,
    /// Times the source paused because the pipeline was full (Kafka).
    pub source_pauses: u64,
    /// Source offsets committed (Kafka).
    pub offset_commits: u64,
    /// Plugin instances replaced after a trap, in every version that served.
    pub plugin_restarts: u64,
    /// Changes made while the run went on: (action, outcome, how many).
    pub plugin_changes: Vec<(&'static str, &'static str, u64)>,
    /// (stage, reason) of each quarantined plugin.
    pub quarantined: Vec<(String, String)>,
    pub windows_fired: u64,
    /// Window results emitted again, updated by rows within the allowed lateness.
    pub window_updates: u64,
    /// Results of open windows emitted by early firings.
    pub window_partials: u64,
    pub open_windows_discarded: u64,
    pub results_out: u64,
    /// See [`crate::sink::SinkStats::digest`]; 0 unless the sink is null.
    pub results_digest: u64,
    pub checkpoints: u64,
    /// Size of the last checkpoint, bytes.
    pub checkpoint_bytes: u64,
    pub checkpoint_time: Duration,
    /// The checkpoint this run continued from.
    pub resumed_from: Option<u64>,
    /// (stage, rows in, rows out).
    pub stages: Vec<(String, u64, u64)>,
    pub elapsed: Duration,
    /// False when stopped before the end of the input.
    pub completed: bool,
    /// Instances the operators ran as.
    pub parallelism: usize,
}

impl Summary {
    pub fn events_per_second(&self) -> f64 {
        self.events_in as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn dead_lettered(&self) -> u64 {
        self.decode_failures
            + self.late_events
            + self.plugin_failures
            + self.expression_failures
            + self.unmatched_failures
            + self.sink_failures
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.completed {
            "finished"
        } else {
            "stopped before the end of its input"
        };
        writeln!(
            f,
            "pipeline `{}` {state} in {:.3} s",
            self.pipeline,
            self.elapsed.as_secs_f64()
        )?;
        writeln!(f, "  records read       {:>12}", self.records_read)?;
        writeln!(
            f,
            "  events in          {:>12}  ({:.0} events/s)",
            self.events_in,
            self.events_per_second()
        )?;
        for (name, rows_in, rows_out) in &self.stages {
            writeln!(f, "  stage {name:<24} {rows_in:>10} in {rows_out:>10} out")?;
        }
        writeln!(f, "  filtered out       {:>12}", self.filtered)?;
        writeln!(f, "  windows fired      {:>12}", self.windows_fired)?;
        if self.window_updates > 0 {
            writeln!(f, "  window updates     {:>12}", self.window_updates)?;
        }
        if self.window_partials > 0 {
            writeln!(f, "  partial results    {:>12}", self.window_partials)?;
        }
        writeln!(f, "  results out        {:>12}", self.results_out)?;
        writeln!(
            f,
            "  dead-lettered      {:>12}  (undecodable {}, late {}, plugin failures {}, expression failures {}, undelivered {}{})",
            self.dead_lettered(),
            self.decode_failures,
            self.late_events,
            self.plugin_failures,
            self.expression_failures,
            self.sink_failures,
            if self.unmatched_failures > 0 {
                format!(", unmatched {}", self.unmatched_failures)
            } else {
                String::new()
            }
        )?;
        if self.lookup_unmatched > 0 || self.lookup_reloads > 0 {
            writeln!(
                f,
                "  lookups unmatched  {:>12}  (tables read again: {})",
                self.lookup_unmatched, self.lookup_reloads
            )?;
        }
        if self.abandoned_at_shutdown > 0 {
            writeln!(
                f,
                "  not tried at stop  {:>12}  (the sink was still busy after shutdown_timeout; dead-lettered)",
                self.abandoned_at_shutdown
            )?;
        }
        if self.source_pauses > 0 {
            writeln!(
                f,
                "  source paused      {:>12}  times (the pipeline was full)",
                self.source_pauses
            )?;
        }
        if self.parallelism > 1 {
            writeln!(f, "  operator instances {:>12}", self.parallelism)?;
        }
        if let Some(id) = self.resumed_from {
            writeln!(f, "  resumed from checkpoint {id}")?;
        }
        if self.checkpoints > 0 {
            writeln!(
                f,
                "  checkpoints        {:>12}  (last {} bytes; {:.3} s writing them)",
                self.checkpoints,
                self.checkpoint_bytes,
                self.checkpoint_time.as_secs_f64()
            )?;
        }
        if self.offset_commits > 0 {
            writeln!(f, "  offset commits     {:>12}", self.offset_commits)?;
        }
        if self.plugin_skipped > 0 || self.plugin_restarts > 0 {
            writeln!(
                f,
                "  plugin rows skipped {:>11}  (instances restarted after a trap: {})",
                self.plugin_skipped, self.plugin_restarts
            )?;
        }
        if !self.plugin_changes.is_empty() {
            let changes: Vec<String> = self
                .plugin_changes
                .iter()
                .map(|(action, outcome, n)| format!("{action} {outcome} {n}"))
                .collect();
            writeln!(f, "  plugin changes      {}", changes.join(", "))?;
        }
        for (stage, reason) in &self.quarantined {
            writeln!(f, "  QUARANTINED stage {stage}: {reason}")?;
        }
        if self.open_windows_discarded > 0 {
            writeln!(
                f,
                "  open windows not fired (stopped early): {}",
                self.open_windows_discarded
            )?;
        }
        Ok(())
    }
}
