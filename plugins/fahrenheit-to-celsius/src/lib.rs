//! Adds `temperature_c`, the reading's `temperature` converted from °F to °C,
//! rounded to a configurable number of decimals.
//!
//! ```toml
//! [[operators]]
//! type = "plugin"
//! path = "../plugins/dist/fahrenheit_to_celsius.wasm"
//! config = { decimals = 1 }
//! ```

use serde::{Deserialize, Serialize};
use weir_plugin_sdk::Map;

#[derive(Debug, Serialize, Deserialize)]
pub struct Fahrenheit {
    pub temperature: f64,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct Celsius {
    pub temperature_c: f64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default = "default_decimals")]
    pub decimals: u32,
}

fn default_decimals() -> u32 {
    2
}

pub struct FahrenheitToCelsius {
    scale: f64,
}

impl Map for FahrenheitToCelsius {
    type Config = Config;
    type In = Fahrenheit;
    type Out = Celsius;

    fn new(config: Config) -> Result<Self, String> {
        if config.decimals > 9 {
            return Err(format!("decimals must be 0 to 9, got {}", config.decimals));
        }
        Ok(Self {
            scale: 10f64.powi(config.decimals as i32),
        })
    }

    fn map(&mut self, row: Fahrenheit) -> Celsius {
        let celsius = (row.temperature - 32.0) * 5.0 / 9.0;
        Celsius {
            temperature_c: (celsius * self.scale).round() / self.scale,
        }
    }
}

weir_plugin_sdk::export_map!(FahrenheitToCelsius);

#[cfg(test)]
mod tests {
    use super::*;
    use weir_plugin_sdk::testing;

    #[test]
    fn converts_and_rounds() {
        let mut plugin = testing::map::<FahrenheitToCelsius>(r#"{"decimals": 1}"#).unwrap();
        let out = plugin
            .run(&[
                Fahrenheit { temperature: 212.0 },
                Fahrenheit { temperature: 100.0 },
            ])
            .unwrap();
        assert_eq!(
            out,
            vec![
                (
                    0,
                    Celsius {
                        temperature_c: 100.0
                    }
                ),
                (
                    1,
                    Celsius {
                        temperature_c: 37.8
                    }
                )
            ]
        );
    }

    #[test]
    fn uses_two_decimals_by_default() {
        let mut plugin = testing::map::<FahrenheitToCelsius>("{}").unwrap();
        let out = plugin.run(&[Fahrenheit { temperature: 100.0 }]).unwrap();
        assert_eq!(out[0].1.temperature_c, 37.78);
    }
}
