//! Rows made up from the schema (Flink's `datagen` connector): each field
//! random within bounds or a sequence, at a steady rate, written as JSON
//! lines so they take the same decoding, event-time and dead-letter path as
//! any other input.

use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{RawChunk, Source, SourceContext, SourceError};
use crate::data::{FieldType, Schema};
use crate::format::timestamp;
use crate::pipeline::config::{DatagenFieldConfig, DatagenKind, DatagenSourceConfig};

/// How one field's values are made, in schema order.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldGen {
    RandomF64 {
        min: f64,
        max: f64,
    },
    RandomI64 {
        min: i64,
        max: i64,
    },
    RandomString {
        length: usize,
    },
    RandomBool,
    /// Now, minus up to this many milliseconds.
    RandomTime {
        max_past_ms: i64,
    },
    /// `start`, `start + 1`, … as the field's type (a timestamp: epoch millis).
    Sequence {
        start: i64,
        end: Option<i64>,
        text: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct DatagenSettings {
    /// 0: unpaced.
    pub rows_per_second: u64,
    /// Rows in all (the least of `number_of_rows` and the sequences' lengths).
    pub rows: Option<u64>,
    pub seed: u64,
    /// (field name, how its values are made), in schema order.
    pub fields: Vec<(String, FieldGen)>,
}

impl DatagenSettings {
    /// The settings of a `datagen` source over `schema`, each option checked.
    pub fn new(config: DatagenSourceConfig, schema: &Schema) -> Result<Self, String> {
        if let Some(name) = config.fields.keys().find(|n| schema.index_of(n).is_none()) {
            return Err(format!(
                "datagen field `{name}` is not in the schema; the fields are: {}",
                schema
                    .fields()
                    .iter()
                    .map(|f| f.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let mut rows = config.number_of_rows;
        let mut fields = Vec::new();
        for field in schema.fields() {
            let default = DatagenFieldConfig::default();
            let options = config.fields.get(&field.name).unwrap_or(&default);
            let generate = field_gen(options, field.ty)
                .map_err(|e| format!("datagen field `{}`: {e}", field.name))?;
            if let FieldGen::Sequence {
                start,
                end: Some(end),
                ..
            } = generate
            {
                let length = u64::try_from(end - start).map_or(u64::MAX, |n| n.saturating_add(1));
                rows = Some(rows.map_or(length, |r| r.min(length)));
            }
            fields.push((field.name.clone(), generate));
        }
        Ok(Self {
            rows_per_second: config.rows_per_second.unwrap_or(10_000),
            rows,
            seed: config.seed.unwrap_or(0),
            fields,
        })
    }
}

/// One field's generator from its options, for its type.
fn field_gen(options: &DatagenFieldConfig, ty: FieldType) -> Result<FieldGen, String> {
    let DatagenFieldConfig {
        kind,
        min,
        max,
        start,
        end,
        length,
        max_past,
    } = options;
    let not_for = |option: &str, what: &str| Err(format!("`{option}` is not an option of {what}"));
    match kind {
        DatagenKind::Sequence => {
            if min.is_some() || max.is_some() || length.is_some() || max_past.is_some() {
                return not_for(
                    "min, max, length, max_past",
                    "a sequence (it takes start and end)",
                );
            }
            if ty == FieldType::Bool {
                return Err("a boolean cannot be a sequence".into());
            }
            let start = start.unwrap_or(1);
            if end.is_some_and(|end| end < start) {
                return Err(format!(
                    "the sequence ends ({}) before it starts ({start})",
                    end.unwrap_or(0)
                ));
            }
            Ok(FieldGen::Sequence {
                start,
                end: *end,
                text: ty == FieldType::String,
            })
        }
        DatagenKind::Random => {
            if start.is_some() || end.is_some() {
                return not_for(
                    "start, end",
                    "a random field (they are for kind = \"sequence\")",
                );
            }
            let numeric = matches!(ty, FieldType::F64 | FieldType::I64);
            if !numeric && (min.is_some() || max.is_some()) {
                return not_for("min, max", &format!("a random {ty}"));
            }
            if ty != FieldType::String && length.is_some() {
                return not_for("length", &format!("a random {ty}"));
            }
            if ty != FieldType::Timestamp && max_past.is_some() {
                return not_for("max_past", &format!("a random {ty}"));
            }
            let (min, max) = (min.unwrap_or(0.0), max.unwrap_or(100.0));
            if !(min.is_finite() && max.is_finite() && min <= max) {
                return Err(format!(
                    "min ({min}) and max ({max}) must be numbers with min ≤ max"
                ));
            }
            Ok(match ty {
                FieldType::F64 => FieldGen::RandomF64 { min, max },
                FieldType::I64 => {
                    let whole = |v: f64| (v.fract() == 0.0 && v.abs() < 9.0e15).then_some(v as i64);
                    match (whole(min), whole(max)) {
                        (Some(min), Some(max)) => FieldGen::RandomI64 { min, max },
                        _ => {
                            return Err(
                                "min and max of an integer field are whole numbers within ±9e15"
                                    .into(),
                            )
                        }
                    }
                }
                FieldType::String => match length.unwrap_or(10) {
                    length @ 0..=65_536 => FieldGen::RandomString { length },
                    length => return Err(format!("length {length} is above 65,536")),
                },
                FieldType::Bool => FieldGen::RandomBool,
                FieldType::Timestamp => FieldGen::RandomTime {
                    max_past_ms: max_past.map_or(0, |m| m.0),
                },
            })
        }
    }
}

pub struct DatagenSource {
    pub settings: DatagenSettings,
}

impl Source for DatagenSource {
    fn run(self: Box<Self>, cx: SourceContext<'_>) -> Result<(), SourceError> {
        let settings = self.settings;
        let mut rng = ChaCha8Rng::seed_from_u64(settings.seed);
        let started = Instant::now();
        let mut chunk = RawChunk::new(0, cx.chunk_records);
        let mut line = Vec::with_capacity(256);
        let mut row = 0u64;
        while !cx.stop.load(Ordering::Relaxed) {
            if settings.rows.is_some_and(|rows| row >= rows) {
                cx.complete.store(true, Ordering::Relaxed);
                break;
            }
            if let Some(wait) = pacing_wait(settings.rows_per_second, row, started.elapsed()) {
                // Rows made so far go on before the pause, so a slow stream
                // is not held back a chunk at a time.
                if !chunk.records.is_empty() && !send(&cx, &mut chunk) {
                    return Ok(());
                }
                std::thread::sleep(wait.min(Duration::from_millis(50)));
                continue;
            }
            line.clear();
            write_row(&mut line, &settings.fields, row, &mut rng);
            chunk.push(row + 1, &line);
            cx.stats.records.fetch_add(1, Ordering::Relaxed);
            row += 1;
            if chunk.records.len() >= cx.chunk_records && !send(&cx, &mut chunk) {
                return Ok(());
            }
        }
        if !chunk.records.is_empty() {
            send(&cx, &mut chunk);
        }
        Ok(())
    }
}

/// How long before row `row` is due at `rate` rows per second.
fn pacing_wait(rate: u64, row: u64, elapsed: Duration) -> Option<Duration> {
    if rate == 0 {
        return None;
    }
    let due = Duration::from_secs_f64(row as f64 / rate as f64);
    due.checked_sub(elapsed).filter(|wait| !wait.is_zero())
}

/// Hands the chunk on; false when the pipeline has stopped.
fn send(cx: &SourceContext<'_>, chunk: &mut RawChunk) -> bool {
    let next = chunk.next();
    cx.out.send(std::mem::replace(chunk, next)).is_ok()
}

/// One row as a JSON object.
fn write_row(out: &mut Vec<u8>, fields: &[(String, FieldGen)], row: u64, rng: &mut ChaCha8Rng) {
    out.push(b'{');
    for (index, (name, generate)) in fields.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, name).expect("a Vec takes any write");
        out.push(b':');
        let written = match generate {
            FieldGen::RandomF64 { min, max } => write!(out, "{}", rng.random_range(*min..=*max)),
            FieldGen::RandomI64 { min, max } => write!(out, "{}", rng.random_range(*min..=*max)),
            FieldGen::RandomBool => write!(out, "{}", rng.random_bool(0.5)),
            FieldGen::RandomString { length } => {
                let text: String = (0..*length)
                    .map(|_| char::from(rng.random_range(b'a'..=b'z')))
                    .collect();
                write!(out, "\"{text}\"")
            }
            FieldGen::RandomTime { max_past_ms } => {
                let past = rng.random_range(0..=*max_past_ms);
                write!(out, "\"{}\"", timestamp::format(timestamp::now_ms() - past))
            }
            FieldGen::Sequence { start, text, .. } => {
                let value = start.saturating_add(row as i64);
                if *text {
                    write!(out, "\"{value}\"")
                } else {
                    write!(out, "{value}")
                }
            }
        };
        written.expect("a Vec takes any write");
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_follow_their_fields_settings() {
        let fields = vec![
            (
                "id".to_string(),
                FieldGen::Sequence {
                    start: 7,
                    end: None,
                    text: true,
                },
            ),
            (
                "t".to_string(),
                FieldGen::RandomF64 {
                    min: 60.0,
                    max: 61.0,
                },
            ),
            ("n".to_string(), FieldGen::RandomI64 { min: -2, max: 2 }),
            ("s".to_string(), FieldGen::RandomString { length: 4 }),
        ];
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for row in 0..500 {
            let mut line = Vec::new();
            write_row(&mut line, &fields, row, &mut rng);
            let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
            assert_eq!(v["id"], serde_json::json!((7 + row).to_string()));
            assert!((60.0..=61.0).contains(&v["t"].as_f64().unwrap()), "{v}");
            assert!((-2..=2).contains(&v["n"].as_i64().unwrap()), "{v}");
            assert_eq!(v["s"].as_str().unwrap().len(), 4);
        }
    }

    #[test]
    fn pacing_spreads_rows_over_the_second() {
        assert_eq!(pacing_wait(0, 1_000, Duration::ZERO), None);
        assert_eq!(pacing_wait(100, 0, Duration::ZERO), None);
        assert_eq!(
            pacing_wait(100, 50, Duration::from_millis(200)),
            Some(Duration::from_millis(300))
        );
        assert_eq!(pacing_wait(100, 50, Duration::from_millis(600)), None);
    }
}
