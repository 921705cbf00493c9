//! The seed's fraud example: flags a user whose small purchase is followed,
//! within a few minutes, by a large one from an address that user has never
//! bought from. Keyed by user: it remembers the user's recent addresses and
//! the last small purchase; a timer forgets that purchase once the window has
//! passed, so state stays small.
//!
//! ```toml
//! [[operators]]
//! type = "plugin"
//! path = "../plugins/dist/fraud_detector.wasm"
//! key_by = "user_id"
//! config = { small_max = 5.0, large_min = 500.0, within_ms = 300000 }
//! ```

use serde::{Deserialize, Serialize};
use weir_plugin_sdk::{Context, Keyed, Timestamp};

#[derive(Debug, Serialize, Deserialize)]
pub struct Purchase {
    pub amount: f64,
    pub ip: String,
    pub event_time: Timestamp,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
pub struct FraudAlert {
    pub small_amount: f64,
    pub small_at: Timestamp,
    pub large_amount: f64,
    pub new_ip: String,
    pub gap_ms: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// A purchase at or under this is "small".
    pub small_max: f64,
    /// A purchase at or over this is "large".
    pub large_min: f64,
    /// How soon after the small purchase the large one must come.
    pub within_ms: i64,
}

/// Addresses remembered per user.
const KNOWN_IPS: usize = 8;

#[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct History {
    /// Most recent last.
    pub ips: Vec<String>,
    /// (amount, time) of the last small purchase still within the window.
    pub small: Option<(f64, i64)>,
}

pub struct FraudDetector {
    config: Config,
}

impl Keyed for FraudDetector {
    type Config = Config;
    type In = Purchase;
    type Out = FraudAlert;
    type State = History;

    fn new(config: Config) -> Result<Self, String> {
        if config.within_ms <= 0 || config.small_max >= config.large_min {
            return Err("within_ms must be positive and small_max below large_min".into());
        }
        Ok(Self { config })
    }

    fn process(&mut self, row: Purchase, ctx: &mut Context<'_, History, FraudAlert>) {
        let t = row.event_time.millis();
        let within = self.config.within_ms;
        let history = ctx.state_mut().get_or_insert_with(History::default);
        let known = history.ips.contains(&row.ip);
        let mut alert = None;
        if row.amount >= self.config.large_min && !known {
            if let Some((small_amount, small_at)) = history.small {
                if (0..=within).contains(&(t - small_at)) {
                    alert = Some(FraudAlert {
                        small_amount,
                        small_at: Timestamp(small_at),
                        large_amount: row.amount,
                        new_ip: row.ip.clone(),
                        gap_ms: t - small_at,
                    });
                    history.small = None;
                }
            }
        }
        let mut expire = None;
        if row.amount <= self.config.small_max {
            history.small = Some((row.amount, t));
            expire = Some(t + within);
        }
        history.ips.retain(|ip| *ip != row.ip);
        history.ips.push(row.ip);
        if history.ips.len() > KNOWN_IPS {
            history.ips.remove(0);
        }
        if let Some(alert) = alert {
            ctx.emit(alert);
        }
        if let Some(at) = expire {
            ctx.set_timer(Timestamp(at));
        }
    }

    fn on_timer(&mut self, at: Timestamp, ctx: &mut Context<'_, History, FraudAlert>) {
        let within = self.config.within_ms;
        if let Some(history) = ctx.state_mut() {
            if history
                .small
                .is_some_and(|(_, t)| t + within <= at.millis())
            {
                history.small = None;
            }
        }
    }
}

weir_plugin_sdk::export_keyed!(FraudDetector);

#[cfg(test)]
mod tests {
    use super::*;
    use weir_plugin_sdk::testing;

    fn buy(amount: f64, ip: &str, at: i64) -> Purchase {
        Purchase {
            amount,
            ip: ip.into(),
            event_time: Timestamp(at),
        }
    }

    fn detector() -> testing::KeyedHarness<FraudDetector> {
        testing::keyed(r#"{"small_max": 5, "large_min": 500, "within_ms": 300000}"#).unwrap()
    }

    #[test]
    fn a_small_then_a_large_purchase_from_a_new_address_is_flagged() {
        let mut d = detector();
        let out = d
            .run(&[
                ("u1", buy(40.0, "10.0.0.1", 0)),
                ("u1", buy(1.0, "10.0.0.1", 1_000)),
                ("u2", buy(900.0, "10.9.9.9", 2_000)), // no small purchase first
                ("u1", buy(950.0, "203.0.113.7", 61_000)),
            ])
            .unwrap();
        assert_eq!(
            out,
            vec![(
                "u1".to_string(),
                FraudAlert {
                    small_amount: 1.0,
                    small_at: Timestamp(1_000),
                    large_amount: 950.0,
                    new_ip: "203.0.113.7".into(),
                    gap_ms: 60_000
                }
            )]
        );
    }

    #[test]
    fn a_known_address_or_a_late_large_purchase_is_not_flagged() {
        let mut d = detector();
        let out = d
            .run(&[
                ("u1", buy(1.0, "10.0.0.1", 0)),
                ("u1", buy(950.0, "10.0.0.1", 10_000)), // known address
            ])
            .unwrap();
        assert!(out.is_empty());
        d.run(&[("u2", buy(1.0, "10.0.0.2", 0))]).unwrap();
        d.advance_watermark(300_000).unwrap();
        assert_eq!(d.state("u2").unwrap().small, None, "the timer forgot it");
        let out = d
            .run(&[("u2", buy(950.0, "203.0.113.9", 400_000))])
            .unwrap();
        assert!(out.is_empty());
    }
}
