//! Alerts when a sensor stays above a temperature for longer than a duration
//! — the seed's "alert when a sensor stays above 100 °F for more than 5
//! seconds". Keyed by sensor: it remembers, per sensor, since when the sensor
//! has been hot, and sets an event-time timer for the moment the heat has
//! lasted long enough, so the alert fires even if the sensor then goes quiet.
//!
//! ```toml
//! [[operators]]
//! type = "plugin"
//! path = "../plugins/dist/sustained_heat.wasm"
//! key_by = "sensor_id"
//! config = { threshold = 100.0, duration_ms = 5000 }
//! ```
//!
//! A streak is broken only by a reading at or below the threshold; one alert
//! per streak. A cold reading older than the streak's start (out of order) does
//! not break it.

use serde::{Deserialize, Serialize};
use weir_plugin_sdk::{Context, Keyed, Timestamp};

#[derive(Debug, Serialize, Deserialize)]
pub struct Reading {
    pub temperature: f64,
    pub event_time: Timestamp,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct HeatAlert {
    /// When the streak began.
    pub hot_since: Timestamp,
    /// How long it had lasted when the alert fired.
    pub hot_for_ms: i64,
    pub max_temperature: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Hot means strictly above this.
    pub threshold: f64,
    /// Alert once a streak has lasted this long (event time).
    pub duration_ms: i64,
}

/// A hot streak of one sensor.
#[cfg(not(feature = "v2"))]
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Streak {
    pub since: i64,
    pub max: f64,
    pub alerted: bool,
}

/// Version 2 also counts the streak's readings.
#[cfg(feature = "v2")]
#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Streak {
    pub since: i64,
    pub max: f64,
    pub alerted: bool,
    pub readings: u64,
}

pub struct SustainedHeat {
    threshold: f64,
    duration_ms: i64,
}

impl SustainedHeat {
    fn alert_if_long_enough(&self, now: i64, ctx: &mut Context<'_, Streak, HeatAlert>) {
        let duration = self.duration_ms;
        let Some(streak) = ctx.state_mut().as_mut() else {
            return;
        };
        if streak.alerted || now - streak.since < duration {
            return;
        }
        streak.alerted = true;
        let alert = HeatAlert {
            hot_since: Timestamp(streak.since),
            hot_for_ms: now - streak.since,
            max_temperature: streak.max,
        };
        ctx.emit(alert);
    }
}

impl Keyed for SustainedHeat {
    type Config = Config;
    type In = Reading;
    type Out = HeatAlert;
    type State = Streak;

    #[cfg(not(feature = "v2"))]
    const STATE_VERSION: u32 = 1;
    #[cfg(feature = "v2")]
    const STATE_VERSION: u32 = 2;
    #[cfg(feature = "v2")]
    const MIGRATES_FROM: &'static [u32] = &[1];

    fn new(config: Config) -> Result<Self, String> {
        if config.duration_ms <= 0 {
            return Err("duration_ms must be positive".into());
        }
        if !config.threshold.is_finite() {
            return Err("threshold must be a number".into());
        }
        Ok(Self {
            threshold: config.threshold,
            duration_ms: config.duration_ms,
        })
    }

    fn process(&mut self, row: Reading, ctx: &mut Context<'_, Streak, HeatAlert>) {
        let t = row.event_time.millis();
        if row.temperature > self.threshold {
            match ctx.state_mut() {
                Some(streak) => {
                    streak.max = streak.max.max(row.temperature);
                    #[cfg(feature = "v2")]
                    {
                        streak.readings += 1;
                    }
                    if t < streak.since && !streak.alerted {
                        // An earlier hot reading arrived late: the streak began then.
                        streak.since = t;
                        ctx.set_timer(Timestamp(t + self.duration_ms));
                    }
                }
                state => {
                    *state = Some(Streak {
                        since: t,
                        max: row.temperature,
                        alerted: false,
                        #[cfg(feature = "v2")]
                        readings: 1,
                    });
                    ctx.set_timer(Timestamp(t + self.duration_ms));
                }
            }
            self.alert_if_long_enough(t, ctx);
        } else if ctx.state().is_some_and(|s| t >= s.since) {
            // The streak lasted at least until this reading, which ends it.
            self.alert_if_long_enough(t, ctx);
            ctx.clear_state();
        }
    }

    fn on_timer(&mut self, at: Timestamp, ctx: &mut Context<'_, Streak, HeatAlert>) {
        self.alert_if_long_enough(at.millis(), ctx);
    }

    #[cfg(feature = "v2")]
    fn migrate(from_version: u32, state: &[u8]) -> Result<Streak, String> {
        #[derive(Deserialize)]
        struct StreakV1 {
            since: i64,
            max: f64,
            alerted: bool,
        }
        match from_version {
            1 => {
                let old: StreakV1 = weir_plugin_sdk::decode_state(state)?;
                Ok(Streak {
                    since: old.since,
                    max: old.max,
                    alerted: old.alerted,
                    readings: 0,
                })
            }
            other => Err(format!("unknown state version {other}")),
        }
    }
}

weir_plugin_sdk::export_keyed!(SustainedHeat);

#[cfg(test)]
mod tests {
    use super::*;
    use weir_plugin_sdk::testing;

    fn reading(temperature: f64, at: i64) -> Reading {
        Reading {
            temperature,
            event_time: Timestamp(at),
        }
    }

    fn plugin() -> testing::KeyedHarness<SustainedHeat> {
        testing::keyed(r#"{"threshold": 100, "duration_ms": 5000}"#).unwrap()
    }

    #[test]
    fn a_sensor_that_goes_quiet_while_hot_alerts_by_timer() {
        let mut p = plugin();
        let out = p
            .run(&[("a", reading(101.0, 1_000)), ("a", reading(105.0, 2_000))])
            .unwrap();
        assert!(out.is_empty());
        assert!(p.advance_watermark(5_999).unwrap().is_empty());
        let fired = p.advance_watermark(6_000).unwrap();
        assert_eq!(
            fired,
            vec![(
                "a".to_string(),
                HeatAlert {
                    hot_since: Timestamp(1_000),
                    hot_for_ms: 5_000,
                    max_temperature: 105.0
                }
            )]
        );
    }

    #[test]
    fn a_cold_reading_breaks_the_streak_before_its_time() {
        let mut p = plugin();
        p.run(&[("a", reading(101.0, 1_000)), ("a", reading(99.0, 3_000))])
            .unwrap();
        assert!(p.state("a").is_none());
        assert!(p.advance_watermark(10_000).unwrap().is_empty());
    }

    #[test]
    fn a_long_streak_alerts_once_even_when_its_end_arrives_before_the_timer() {
        let mut p = plugin();
        let out = p
            .run(&[
                ("a", reading(101.0, 1_000)),
                ("b", reading(120.0, 1_500)),
                ("a", reading(99.0, 7_000)),
            ])
            .unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, "a");
        assert_eq!(out[0].1.hot_for_ms, 6_000);
        // a's timer finds no streak; b's fires.
        let fired = p.advance_watermark(7_000).unwrap();
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].0, "b");
    }
}
