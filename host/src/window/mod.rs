//! Keyed event-time windows with host-native aggregates: tumbling and
//! sliding windows over panes, and session windows.

mod aggregate;
mod layout;
#[cfg(test)]
mod model;
mod panes;
mod plugin_accumulator;
mod session;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use aggregate::{Accumulator, AggregateFn, AggregateSpec};

use crate::data::{Batch, Schema};
use crate::state::StageState;
use crate::time::ProcessingClock;
use layout::ResultLayout;
use panes::PaneWindows;
use session::SessionWindows;

/// Which windows a row belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowShape {
    Tumbling {
        size_ms: i64,
    },
    /// Windows of `size_ms`, one starting every `slide_ms` (a divisor of the size).
    Sliding {
        size_ms: i64,
        slide_ms: i64,
    },
    /// Per key, runs of rows at most `gap_ms` apart.
    Session {
        gap_ms: i64,
    },
}

/// Which clock places rows in windows and closes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WindowTime {
    /// The rows' event time; windows close as the watermark passes them.
    #[default]
    Event,
    /// The host's clock when a row reaches the window; windows close when
    /// the clock passes them, checked every [`PROCESSING_TICK`].
    Processing,
}

/// How often the pipeline checks processing-time windows while no rows come.
pub const PROCESSING_TICK: std::time::Duration = std::time::Duration::from_millis(100);

/// A window as the pipeline file describes it.
#[derive(Debug, Clone)]
pub struct WindowSpec {
    pub key_by: Option<String>,
    pub shape: WindowShape,
    pub time: WindowTime,
    /// Emit partial results of open windows this often, by the host's clock.
    pub early_fire_every_ms: Option<i64>,
    /// How long after a window fires it still takes late rows, emitting
    /// an updated result for each.
    pub allowed_lateness_ms: i64,
    pub aggregates: Vec<AggregateSpec>,
}

/// A row that arrived after its window fired (and its allowed lateness passed).
#[derive(Debug, Clone, PartialEq)]
pub struct LateRow {
    pub row: usize,
    pub window_start: i64,
    pub window_end: i64,
    pub allowed_lateness_ms: i64,
}

/// Partial results of open windows every `every_ms` of the host's clock
/// (Flink's continuous processing-time trigger), marked `partial`.
struct EarlyFiring {
    every_ms: i64,
    last_ms: i64,
    clock: ProcessingClock,
}

impl EarlyFiring {
    fn due(&mut self) -> bool {
        let now = self.clock.now_ms();
        let due = now - self.last_ms >= self.every_ms;
        if due {
            self.last_ms = now;
        }
        due
    }
}

enum Kind {
    Panes(PaneWindows),
    Sessions(SessionWindows),
}

/// A window stage: rows in, results of the windows the watermark closes out.
pub struct EventTimeWindows {
    kind: Kind,
    /// Processing-time windows: the clock rows are stamped with.
    clock: Option<ProcessingClock>,
    early: Option<EarlyFiring>,
    /// Partial results emitted by early firings.
    partials: u64,
    /// What this window computes, to match it with checkpointed state.
    fingerprint: String,
    description: String,
    spec: WindowSpec,
}

impl EventTimeWindows {
    /// Checks the spec against the rows the window will receive.
    pub fn new(spec: &WindowSpec, input: &Schema) -> Result<Self, String> {
        if spec.allowed_lateness_ms < 0 {
            return Err("allowed_lateness cannot be negative".into());
        }
        if spec.time == WindowTime::Processing && spec.allowed_lateness_ms > 0 {
            return Err("allowed_lateness has no meaning with time = \"processing\": by the host's clock no row is late".into());
        }
        let lateness = spec.allowed_lateness_ms;
        if spec.early_fire_every_ms.is_some_and(|every| every <= 0) {
            return Err("early_fire_every must be positive".into());
        }
        let layout = ResultLayout::new(
            spec.key_by.as_deref(),
            &spec.aggregates,
            input,
            lateness > 0,
            spec.early_fire_every_ms.is_some(),
        )?;
        let (kind, shape) = match spec.shape {
            WindowShape::Tumbling { size_ms } => (
                Kind::Panes(PaneWindows::new(size_ms, size_ms, lateness, layout)?),
                format!("tumbling size={size_ms}ms"),
            ),
            WindowShape::Sliding { size_ms, slide_ms } => (
                Kind::Panes(PaneWindows::new(size_ms, slide_ms, lateness, layout)?),
                if slide_ms == size_ms {
                    format!("tumbling size={size_ms}ms")
                } else {
                    format!("sliding slide={slide_ms}ms size={size_ms}ms")
                },
            ),
            WindowShape::Session { gap_ms } => {
                if lateness > 0 {
                    return Err("allowed_lateness is not supported on session windows yet: a late row can merge sessions whose results were already emitted under other bounds, and weir does not retract results".into());
                }
                (
                    Kind::Sessions(SessionWindows::new(gap_ms, layout)?),
                    format!("session gap={gap_ms}ms"),
                )
            }
        };
        let lateness = if lateness > 0 {
            format!(" allowed_lateness={lateness}ms")
        } else {
            String::new()
        };
        let time = match spec.time {
            WindowTime::Event => "",
            WindowTime::Processing => " processing-time",
        };
        let early = match spec.early_fire_every_ms {
            Some(every) => format!(" early_fire_every={every}ms"),
            None => String::new(),
        };
        let fingerprint = format!(
            "{shape}{time} key_by={:?} aggregates={:?}{lateness}{early}",
            spec.key_by, spec.aggregates
        );
        let description = describe(spec);
        let clock = (spec.time == WindowTime::Processing).then(ProcessingClock::new);
        let early = spec.early_fire_every_ms.map(|every_ms| {
            let clock = ProcessingClock::new();
            EarlyFiring {
                every_ms,
                last_ms: clock.now_ms(),
                clock,
            }
        });
        Ok(Self {
            kind,
            clock,
            early,
            partials: 0,
            fingerprint,
            description,
            spec: spec.clone(),
        })
    }

    /// A new, empty window computing the same: another parallel instance.
    pub fn replicate(&self, input: &Schema) -> Result<Self, String> {
        Self::new(&self.spec, input)
    }

    /// The field results are grouped by; `None` for one global group.
    pub fn key_by(&self) -> Option<&str> {
        self.spec.key_by.as_deref()
    }

    /// What it computes, for people: `tumbling 10s by sensor_id: count, …`.
    pub fn description(&self) -> &str {
        &self.description
    }

    pub fn output_schema(&self) -> &Arc<Schema> {
        self.layout().output()
    }

    fn layout(&self) -> &ResultLayout {
        match &self.kind {
            Kind::Panes(w) => w.layout(),
            Kind::Sessions(w) => w.layout(),
        }
    }

    /// Results emitted for the first time (one per key and window).
    pub fn fired_windows(&self) -> u64 {
        match &self.kind {
            Kind::Panes(w) => w.fired_windows(),
            Kind::Sessions(w) => w.fired_windows(),
        }
    }

    /// Results emitted again, updated by late rows.
    pub fn updates(&self) -> u64 {
        match &self.kind {
            Kind::Panes(w) => w.updates(),
            Kind::Sessions(_) => 0,
        }
    }

    /// Results emitted by early firings, marked partial.
    pub fn partials(&self) -> u64 {
        self.partials
    }

    /// (key, pane or session) pairs held.
    pub fn open_windows(&self) -> usize {
        match &self.kind {
            Kind::Panes(w) => w.open_windows(),
            Kind::Sessions(w) => w.open_windows(),
        }
    }

    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The window's contents, encoded for a checkpoint without copying them.
    pub fn checkpoint(&self) -> StageState {
        match &self.kind {
            Kind::Panes(w) => StageState::Window(w.checkpoint()),
            Kind::Sessions(w) => StageState::Sessions(w.checkpoint()),
        }
    }

    /// Puts back what [`checkpoint`](Self::checkpoint) took.
    pub fn restore(&mut self, state: StageState) -> Result<(), String> {
        match (&mut self.kind, state) {
            (Kind::Panes(w), StageState::Window(state)) => w.restore(state.decode()?),
            (Kind::Sessions(w), StageState::Sessions(state)) => w.restore(state.decode()?),
            _ => Err("the checkpoint holds another kind of window state".into()),
        }
    }

    /// Adds, per stream, the earliest sequence number the window holds
    /// (see [`crate::data::position`]).
    pub fn retained(&self, earliest: &mut BTreeMap<u32, u64>) {
        match &self.kind {
            Kind::Panes(w) => w.retained(earliest),
            Kind::Sessions(w) => w.retained(earliest),
        }
    }

    /// Whether the window needs calling while no rows come (processing time).
    pub fn needs_ticks(&self) -> bool {
        self.clock.is_some() || self.early.is_some()
    }

    /// Adds the batch's on-time rows, reports late ones in `late`, and
    /// returns the results the batch's watermarks produce. An error is an
    /// aggregate plugin's failure, which the window cannot contain.
    ///
    /// A processing-time window first stamps the batch with the clock: every
    /// row's time is now, and the watermark just before it, so no row is
    /// late and windows close as the clock passes their end. Its results
    /// carry that watermark on. The end of a bounded input still fires
    /// every window.
    pub fn process(&mut self, batch: &mut Batch, late: &mut Vec<LateRow>) -> Result<Batch, String> {
        if let Some(clock) = &self.clock {
            let now = clock.now_ms();
            batch.event_time.fill(now);
            batch.watermark.fill(now - 1);
            if batch.end_watermark != i64::MAX {
                batch.end_watermark = now - 1;
            }
        }
        let partials =
            batch.end_watermark != i64::MAX && self.early.as_mut().is_some_and(EarlyFiring::due);
        let mut out = match &mut self.kind {
            Kind::Panes(w) => w.process(batch, late, partials),
            Kind::Sessions(w) => w.process(batch, late, partials),
        };
        self.layout().finish(&mut out)?;
        if partials {
            // The partial mark is the last field; early firing adds it.
            let marks = out.columns.last().expect("a window result has fields");
            self.partials += (0..out.len())
                .filter(|&row| marks.get(row) == crate::data::Value::Bool(true))
                .count() as u64;
        }
        Ok(out)
    }
}

fn describe(spec: &WindowSpec) -> String {
    let ms =
        |ms: i64| humantime::format_duration(std::time::Duration::from_millis(ms.max(0) as u64));
    let mut out = match spec.shape {
        WindowShape::Tumbling { size_ms } => format!("tumbling {}", ms(size_ms)),
        WindowShape::Sliding { size_ms, slide_ms } => {
            format!("sliding {} every {}", ms(size_ms), ms(slide_ms))
        }
        WindowShape::Session { gap_ms } => format!("session gap {}", ms(gap_ms)),
    };
    if spec.time == WindowTime::Processing {
        out.push_str(" (processing time)");
    }
    if let Some(key) = &spec.key_by {
        out.push_str(&format!(" by {key}"));
    }
    let aggregates: Vec<String> = spec
        .aggregates
        .iter()
        .map(|a| match (&a.field, a.function) {
            (None, _) => a.name.clone(),
            (Some(field), AggregateFn::Plugin) => format!("{} = plugin({field})", a.name),
            (Some(field), function) => {
                format!(
                    "{} = {}({field})",
                    a.name,
                    snake_case(&format!("{function:?}"))
                )
            }
        })
        .collect();
    out.push_str(&format!(": {}", aggregates.join(", ")));
    if spec.allowed_lateness_ms > 0 {
        out.push_str(&format!(
            "; allowed lateness {}",
            ms(spec.allowed_lateness_ms)
        ));
    }
    if let Some(every) = spec.early_fire_every_ms {
        out.push_str(&format!("; early results every {}", ms(every)));
    }
    out
}

/// `CountDistinct` → `count_distinct`: the name the pipeline file uses.
fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}
