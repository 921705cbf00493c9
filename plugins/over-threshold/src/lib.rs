//! Keeps sensor readings whose temperature is strictly above a threshold.
//!
//! ```toml
//! [[operators]]
//! type = "plugin"
//! path = "../plugins/dist/over_threshold.wasm"
//! config = { threshold = 100.0 }
//! ```

use serde::{Deserialize, Serialize};
use weir_plugin_sdk::Filter;

/// The one field this filter reads.
#[derive(Debug, Serialize, Deserialize)]
pub struct Reading {
    pub temperature: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub threshold: f64,
}

pub struct OverThreshold {
    threshold: f64,
}

impl Filter for OverThreshold {
    type Config = Config;
    type Row = Reading;

    fn new(config: Config) -> Result<Self, String> {
        if !config.threshold.is_finite() {
            return Err(format!(
                "threshold must be a finite number, got {}",
                config.threshold
            ));
        }
        Ok(Self {
            threshold: config.threshold,
        })
    }

    fn keep(&mut self, row: &Reading) -> bool {
        row.temperature > self.threshold
    }
}

weir_plugin_sdk::export_filter!(OverThreshold);

#[cfg(test)]
mod tests {
    use super::*;
    use weir_plugin_sdk::testing;

    #[test]
    fn keeps_only_readings_strictly_above_the_threshold() {
        let mut plugin = testing::filter::<OverThreshold>(r#"{"threshold": 100.0}"#).unwrap();
        let rows = [99.9, 100.0, 100.1, 120.0, -5.0].map(|temperature| Reading { temperature });
        assert_eq!(plugin.run(&rows).unwrap(), vec![2, 3]);
    }

    #[test]
    fn rejects_a_missing_threshold() {
        let err = testing::filter::<OverThreshold>("{}").err().unwrap();
        assert!(err.contains("threshold"), "{err}");
    }

    #[test]
    fn rejects_unknown_keys() {
        let err = testing::filter::<OverThreshold>(r#"{"threshold": 1, "treshold": 2}"#)
            .err()
            .unwrap();
        assert!(err.contains("treshold"), "{err}");
    }
}
