//! A window aggregate: a quantile (the median, p95, p99…) of one numeric
//! field, within a relative error, in bounded memory.
//!
//! Exact quantiles need every value of the window; this keeps a DDSketch
//! (Masson, Rim and Lee, VLDB 2019) instead: values are counted in buckets
//! whose bounds grow geometrically, so any quantile it reports is within
//! `relative_accuracy` of the true value at that rank, whatever the
//! distribution. Two sketches merge by adding bucket counts, which is what
//! lets the host combine sliding-window panes and merge sessions.
//!
//! ```toml
//! [operators.aggregates]
//! p95 = { plugin = "../plugins/dist/percentile.wasm", field = "temperature", config = { quantile = 0.95 } }
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use weir_plugin_sdk::Aggregate;

/// The one field read; the pipeline's `field` says which input field it is.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Value {
    pub value: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quantile {
    pub quantile: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Which quantile, in [0, 1]: 0.5 is the median, 0.95 the p95.
    quantile: f64,
    /// Relative error bound, in (0, 1); 0.01 reports within 1 %.
    #[serde(default = "default_accuracy")]
    relative_accuracy: f64,
    /// Buckets kept per sign; beyond, the smallest magnitudes are merged
    /// (their accuracy is lost first, the tail's never).
    #[serde(default = "default_max_buckets")]
    max_buckets: usize,
}

fn default_accuracy() -> f64 {
    0.01
}

fn default_max_buckets() -> usize {
    2048
}

/// Values closer to zero than this count as zero; logarithms below it are not useful.
const MIN_MAGNITUDE: f64 = 1e-9;

/// Counts per bucket index: bucket `i` holds magnitudes in (γ^(i-1), γ^i].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sketch {
    positive: BTreeMap<i32, u64>,
    negative: BTreeMap<i32, u64>,
    zero: u64,
}

impl Sketch {
    fn count(&self) -> u64 {
        self.zero + self.positive.values().sum::<u64>() + self.negative.values().sum::<u64>()
    }
}

pub struct Percentile {
    quantile: f64,
    gamma: f64,
    ln_gamma: f64,
    max_buckets: usize,
}

impl Percentile {
    fn index(&self, magnitude: f64) -> i32 {
        // Infinite values land in the last bucket rather than overflowing.
        (magnitude.ln() / self.ln_gamma)
            .ceil()
            .clamp(i32::MIN as f64, i32::MAX as f64) as i32
    }

    /// The value reported for bucket `i`: equally far, relatively, from both bounds.
    fn representative(&self, index: i32) -> f64 {
        2.0 * self.gamma.powi(index) / (self.gamma + 1.0)
    }

    fn collapse(&self, store: &mut BTreeMap<i32, u64>) {
        while store.len() > self.max_buckets {
            let (_, lowest) = store.pop_first().expect("over the limit, so not empty");
            *store.first_entry().expect("over the limit").get_mut() += lowest;
        }
    }
}

impl Aggregate for Percentile {
    type Config = Config;
    type In = Value;
    type Accumulator = Sketch;
    type Out = Quantile;

    fn new(config: Config) -> Result<Self, String> {
        if !(0.0..=1.0).contains(&config.quantile) {
            return Err(format!(
                "quantile must be within [0, 1] (0.95 for the p95), not {}",
                config.quantile
            ));
        }
        let alpha = config.relative_accuracy;
        if !(alpha > 0.0 && alpha < 1.0) {
            return Err(format!(
                "relative_accuracy must be within (0, 1), not {alpha}"
            ));
        }
        if config.max_buckets == 0 {
            return Err("max_buckets must be at least 1".into());
        }
        let gamma = (1.0 + alpha) / (1.0 - alpha);
        Ok(Self {
            quantile: config.quantile,
            gamma,
            ln_gamma: gamma.ln(),
            max_buckets: config.max_buckets,
        })
    }

    fn create(&self) -> Sketch {
        Sketch::default()
    }

    fn add(&self, sketch: &mut Sketch, row: Value) {
        let v = row.value;
        if v.is_nan() {
            // Not a point on the number line: it has no rank to count toward.
            return;
        }
        if v.abs() < MIN_MAGNITUDE {
            sketch.zero += 1;
            return;
        }
        let store = if v > 0.0 {
            &mut sketch.positive
        } else {
            &mut sketch.negative
        };
        *store.entry(self.index(v.abs())).or_default() += 1;
        self.collapse(store);
    }

    fn merge(&self, sketch: &mut Sketch, other: Sketch) {
        sketch.zero += other.zero;
        for (index, count) in other.positive {
            *sketch.positive.entry(index).or_default() += count;
        }
        for (index, count) in other.negative {
            *sketch.negative.entry(index).or_default() += count;
        }
        self.collapse(&mut sketch.positive);
        self.collapse(&mut sketch.negative);
    }

    fn result(&self, sketch: &Sketch) -> Quantile {
        let count = sketch.count();
        if count == 0 {
            return Quantile { quantile: f64::NAN };
        }
        // The value of rank ⌊q·(n−1)⌋ (0-based) in ascending order.
        let rank = (self.quantile * (count - 1) as f64).floor() as u64;
        let mut seen = 0;
        for (&index, &n) in sketch.negative.iter().rev() {
            seen += n;
            if seen > rank {
                return Quantile {
                    quantile: -self.representative(index),
                };
            }
        }
        seen += sketch.zero;
        if seen > rank {
            return Quantile { quantile: 0.0 };
        }
        for (&index, &n) in &sketch.positive {
            seen += n;
            if seen > rank {
                return Quantile {
                    quantile: self.representative(index),
                };
            }
        }
        unreachable!("rank {rank} is below the count {count}")
    }
}

weir_plugin_sdk::export_aggregate!(Percentile);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use weir_plugin_sdk::testing;

    fn exact(values: &[f64], quantile: f64) -> f64 {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        sorted[(quantile * (sorted.len() - 1) as f64).floor() as usize]
    }

    fn rows(values: &[f64]) -> Vec<Value> {
        values.iter().map(|&value| Value { value }).collect()
    }

    #[test]
    fn the_median_of_a_known_set() {
        let mut p = testing::aggregate::<Percentile>(r#"{"quantile": 0.5}"#).unwrap();
        let got = p
            .over(&rows(&[1.0, 2.0, 3.0, 4.0, 100.0]))
            .unwrap()
            .quantile;
        assert!((got - 3.0).abs() <= 0.03, "{got}");
    }

    #[test]
    fn rejects_a_quantile_outside_zero_to_one() {
        let err = testing::aggregate::<Percentile>(r#"{"quantile": 95}"#)
            .err()
            .unwrap();
        assert!(err.contains("within [0, 1]"), "{err}");
    }

    #[test]
    fn collapsing_keeps_the_tail_accurate() {
        let mut p =
            testing::aggregate::<Percentile>(r#"{"quantile": 0.99, "max_buckets": 64}"#).unwrap();
        let values: Vec<f64> = (1..=10_000).map(|i| i as f64 * 0.37).collect();
        let got = p.over(&rows(&values)).unwrap().quantile;
        let want = exact(&values, 0.99);
        assert!((got - want).abs() <= 0.01 * want, "{got} vs {want}");
    }

    proptest! {
        #[test]
        fn within_the_relative_accuracy_of_the_exact_quantile(
            values in prop::collection::vec(
                prop_oneof![-1e6..1e6f64, 0.0..200.0f64, Just(0.0)], 1..400),
            quantile in 0.0..=1.0f64,
            cut in 0usize..400,
        ) {
            let config = format!(r#"{{"quantile": {quantile}}}"#);
            let mut p = testing::aggregate::<Percentile>(&config).unwrap();
            let want = exact(&values, quantile);
            let got = p.over(&rows(&values)).unwrap().quantile;
            prop_assert!((got - want).abs() <= 0.01 * want.abs() + 1e-9, "{} vs {}", got, want);
            // Merging two halves is the same sketch as adding all rows.
            let cut = cut.min(values.len());
            let merged = p.merged(&[&rows(&values[..cut]), &rows(&values[cut..])]).unwrap();
            prop_assert_eq!(merged.quantile.to_bits(), got.to_bits());
        }
    }
}
