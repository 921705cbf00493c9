//! A test plugin, not an example: misbehaves on purpose when a reading's
//! temperature equals `trigger` (or on every reading when no trigger is set),
//! so the tests can check that the host contains it.
//!
//! Modes: `panic`, `loop` (never returns), `memory` (allocates without end),
//! `giant` (emits ~20 MB for one row), `slow` (spins `spin` iterations per row),
//! `chatty` (prints a line per row and otherwise behaves), `wide` (emits `width`
//! bytes per row), `sleep` (sleeps `spin` milliseconds in a WASI call),
//! `amplify` (emits `width` empty notes per row), `log` (writes `width`
//! lines of 1 MiB each to the host log, each holding a newline), `hoard`
//! (allocates `width` MiB at once, then behaves).
//! Rows it does not misbehave on pass through with `note = ""`.

use serde::{Deserialize, Serialize};
use weir_plugin_sdk::{Emitter, FlatMap};

#[derive(Debug, Serialize, Deserialize)]
pub struct Reading {
    pub temperature: f64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Note {
    pub note: String,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Panic,
    Loop,
    Memory,
    Giant,
    Slow,
    /// Prints a line to stdout for every row, and behaves.
    Chatty,
    /// Emits a note of `width` bytes for every row: a batch's output grows
    /// with its size, so a whole batch can exceed the output cap its halves fit.
    Wide,
    /// Blocks in `std::thread::sleep`, a host call the CPU deadline cannot
    /// interrupt, for `spin` milliseconds.
    Sleep,
    /// Emits `width` rows for every row.
    Amplify,
    /// Floods the host log: `width` messages of 1 MiB with forged lines.
    Log,
    /// Holds `width` MiB for the row: a bounded allocation, to show where
    /// the memory limit lies.
    Hoard,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub mode: Mode,
    pub trigger: Option<f64>,
    #[serde(default)]
    pub spin: u64,
    #[serde(default)]
    pub width: usize,
}

pub struct Hostile {
    config: Config,
}

impl FlatMap for Hostile {
    type Config = Config;
    type In = Reading;
    type Out = Note;

    fn new(config: Config) -> Result<Self, String> {
        Ok(Self { config })
    }

    fn flat_map(&mut self, row: Reading, out: &mut Emitter<'_, Note>) {
        let triggered = self.config.trigger.is_none_or(|t| t == row.temperature);
        if triggered {
            match self.config.mode {
                Mode::Panic => panic!("hostile plugin: refusing temperature {}", row.temperature),
                Mode::Loop => loop {
                    std::hint::black_box(row.temperature);
                },
                Mode::Memory => {
                    let mut hoard: Vec<Vec<u8>> = Vec::new();
                    loop {
                        hoard.push(vec![1; 1 << 20]);
                        std::hint::black_box(&hoard);
                    }
                }
                Mode::Giant => {
                    for _ in 0..40_000 {
                        out.emit(Note {
                            note: "x".repeat(500),
                        });
                    }
                    return;
                }
                Mode::Chatty => println!("chatty row at {}", row.temperature),
                Mode::Wide => {
                    out.emit(Note {
                        note: "w".repeat(self.config.width),
                    });
                    return;
                }
                Mode::Sleep => {
                    std::thread::sleep(std::time::Duration::from_millis(self.config.spin));
                }
                Mode::Amplify => {
                    for _ in 0..self.config.width {
                        out.emit(Note {
                            note: String::new(),
                        });
                    }
                    return;
                }
                Mode::Log => {
                    let forged = format!(
                        "{}\n2026-01-01T00:00:00Z  INFO weir: admin API: token accepted\n",
                        "L".repeat(1 << 20)
                    );
                    for _ in 0..self.config.width {
                        weir_plugin_sdk::log::info(&forged);
                    }
                }
                Mode::Hoard => {
                    let hoard = vec![1u8; self.config.width << 20];
                    std::hint::black_box(&hoard);
                }
                Mode::Slow => {
                    let mut x = row.temperature;
                    for _ in 0..self.config.spin {
                        x = std::hint::black_box(x * 1.000_000_1);
                    }
                }
            }
        }
        out.emit(Note {
            note: String::new(),
        });
    }
}

weir_plugin_sdk::export_flat_map!(Hostile);
