//! A test plugin, not an example: a keyed plugin that abuses timers, so the
//! tests can check that the host bounds them.
//!
//! Modes: `flood` (sets `count` new timers for every row, none set before),
//! `at` (sets one timer at `at` for every row, e.g. `i64::MIN`), both
//! emitting nothing; `fragile` (sets one timer at `at` per row, emits a row
//! when it fires, and panics when the timer of the key `key` fires).

use serde::{Deserialize, Serialize};
use weir_plugin_sdk::{Context, Keyed, Timestamp};

#[derive(Debug, Serialize, Deserialize)]
pub struct Reading {
    pub temperature: f64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Nothing {
    pub fired: bool,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Flood,
    At,
    Fragile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub mode: Mode,
    #[serde(default)]
    pub count: i64,
    #[serde(default)]
    pub at: i64,
    #[serde(default)]
    pub key: String,
}

pub struct HostileKeyed {
    config: Config,
    /// Rows seen, so every flood sets timers never set before.
    rows: i64,
}

impl Keyed for HostileKeyed {
    type Config = Config;
    type In = Reading;
    type State = u8;
    type Out = Nothing;

    fn new(config: Config) -> Result<Self, String> {
        Ok(Self { config, rows: 0 })
    }

    fn process(&mut self, _row: Reading, ctx: &mut Context<'_, u8, Nothing>) {
        self.rows += 1;
        match self.config.mode {
            Mode::Flood => {
                let first = 4_000_000_000_000 + self.rows * self.config.count;
                for i in 0..self.config.count {
                    ctx.set_timer(Timestamp(first + i));
                }
            }
            Mode::At | Mode::Fragile => ctx.set_timer(Timestamp(self.config.at)),
        }
    }

    fn on_timer(&mut self, _at: Timestamp, ctx: &mut Context<'_, u8, Nothing>) {
        if self.config.mode == Mode::Fragile {
            assert!(
                ctx.key() != self.config.key,
                "the timer of {} fired",
                ctx.key()
            );
            ctx.emit(Nothing { fired: true });
        }
    }
}

weir_plugin_sdk::export_keyed!(HostileKeyed);
