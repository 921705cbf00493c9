//! Raises an alert for each window whose count exceeds a minimum: the seed's
//! `HAVING COUNT(*) > 5`, as an operator placed after a window.
//!
//! ```toml
//! [[operators]]
//! type = "plugin"
//! path = "../plugins/dist/spike_alert.wasm"
//! config = { min_count = 5, key_field = "sensor_id" }
//! ```
//!
//! Windows at or under the minimum are dropped; each alert row keeps the window's
//! fields (key, `window_start`, `window_end`, aggregates) and adds `alert`.

use serde::{Deserialize, Serialize};
use weir_plugin_sdk::{Emitter, FlatMap, Timestamp};

/// The fields it reads from a window result keyed by `sensor_id` with
/// `aggregates = { count = "count" }`. `window_end` is read so that the plugin
/// refuses to load anywhere but after a window.
#[derive(Debug, Serialize, Deserialize)]
pub struct WindowCount {
    pub sensor_id: String,
    pub window_end: Timestamp,
    pub count: i64,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Alert {
    pub alert: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Alert when a window's count is strictly greater than this.
    pub min_count: i64,
}

pub struct SpikeAlert {
    min_count: i64,
}

impl FlatMap for SpikeAlert {
    type Config = Config;
    type In = WindowCount;
    type Out = Alert;

    fn new(config: Config) -> Result<Self, String> {
        if config.min_count < 0 {
            return Err(format!(
                "min_count must be zero or more, got {}",
                config.min_count
            ));
        }
        Ok(Self {
            min_count: config.min_count,
        })
    }

    fn flat_map(&mut self, window: WindowCount, out: &mut Emitter<'_, Alert>) {
        if window.count > self.min_count {
            out.emit(Alert {
                alert: format!(
                    "{}: {} readings in one window, more than {}",
                    window.sensor_id, window.count, self.min_count
                ),
            });
        }
    }
}

weir_plugin_sdk::export_flat_map!(SpikeAlert);

#[cfg(test)]
mod tests {
    use super::*;
    use weir_plugin_sdk::testing;

    fn window(sensor: &str, count: i64) -> WindowCount {
        WindowCount {
            sensor_id: sensor.into(),
            window_end: Timestamp(10_000),
            count,
        }
    }

    #[test]
    fn alerts_only_on_counts_above_the_minimum() {
        let mut plugin = testing::flat_map::<SpikeAlert>(r#"{"min_count": 5}"#).unwrap();
        let out = plugin
            .run(&[window("a", 5), window("b", 6), window("c", 1)])
            .unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, 1);
        assert_eq!(out[0].1.alert, "b: 6 readings in one window, more than 5");
    }

    #[test]
    fn rejects_a_negative_minimum() {
        let err = testing::flat_map::<SpikeAlert>(r#"{"min_count": -1}"#)
            .err()
            .unwrap();
        assert!(err.contains("min_count"), "{err}");
    }
}
