//! A plugin's stdout and stderr, forwarded line by line to the host log under
//! the plugin's name. Writes never fail — a plugin's `println!` panics when its
//! stdout errors — and at most [`LINES_PER_BATCH`] lines per batch are logged,
//! the rest counted. The last stderr lines are kept so that a panic's message
//! can be reported with the trap.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

pub const LINES_PER_BATCH: u32 = 20;
const MAX_LINE: usize = 4096;
const RECENT_LINES: usize = 6;

#[derive(Default)]
struct State {
    plugin: Arc<str>,
    partial: Vec<u8>,
    logged_this_batch: u32,
    suppressed_this_batch: u64,
    recent: VecDeque<String>,
}

impl State {
    /// Takes one line from this batch's budget; false, and the line counted
    /// as suppressed, once it is spent.
    fn within_budget(&mut self) -> bool {
        if self.logged_this_batch < LINES_PER_BATCH {
            self.logged_this_batch += 1;
            true
        } else {
            self.suppressed_this_batch += 1;
            false
        }
    }
}

/// One of a plugin's output streams. Clones share their state.
#[derive(Clone)]
pub struct PluginOutput {
    stream: &'static str,
    state: Arc<Mutex<State>>,
}

impl PluginOutput {
    pub fn new(stream: &'static str, plugin: &str) -> Self {
        let state = State {
            plugin: plugin.into(),
            ..State::default()
        };
        Self {
            stream,
            state: Arc::new(Mutex::new(state)),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn set_plugin(&self, plugin: &str) {
        self.state().plugin = plugin.into();
    }

    /// Starts a batch: clears the per-batch line budget and the recent lines.
    pub fn begin_batch(&self) {
        let mut state = self.state();
        state.logged_this_batch = 0;
        state.suppressed_this_batch = 0;
        state.recent.clear();
    }

    /// Ends a batch: flushes a pending partial line and reports suppressed lines.
    pub fn end_batch(&self) {
        let mut state = self.state();
        if !state.partial.is_empty() {
            let line = String::from_utf8_lossy(&std::mem::take(&mut state.partial)).into_owned();
            self.emit(&mut state, line);
        }
        if state.suppressed_this_batch > 0 {
            tracing::warn!(
                plugin = &*state.plugin,
                stream = self.stream,
                "{} more lines of plugin output in this batch were not logged",
                state.suppressed_this_batch
            );
        }
    }

    /// The last lines written since the batch began, oldest first.
    pub fn recent(&self) -> Vec<String> {
        let mut state = self.state();
        if !state.partial.is_empty() {
            let line = String::from_utf8_lossy(&std::mem::take(&mut state.partial)).into_owned();
            state.recent.push_back(line);
        }
        state.recent.iter().cloned().collect()
    }

    fn write_bytes(&self, bytes: &[u8]) {
        let mut state = self.state();
        for chunk in bytes.split_inclusive(|&b| b == b'\n') {
            let complete = chunk.ends_with(b"\n");
            let content = chunk.strip_suffix(b"\n").unwrap_or(chunk);
            let room = MAX_LINE.saturating_sub(state.partial.len());
            state
                .partial
                .extend_from_slice(&content[..content.len().min(room)]);
            if complete {
                let line =
                    String::from_utf8_lossy(&std::mem::take(&mut state.partial)).into_owned();
                self.emit(&mut state, line);
            }
        }
    }

    /// A message from the plugin's `host.log` import: held to the same
    /// length and per-batch budget as its output lines, so it cannot flood
    /// the host's log or forge lines of it.
    pub fn log(&self, level: tracing::Level, message: &str) {
        let mut state = self.state();
        if !state.within_budget() {
            return;
        }
        let line = printable(&message.as_bytes()[..message.len().min(MAX_LINE)]);
        let plugin = &*state.plugin;
        match level {
            tracing::Level::TRACE => tracing::trace!(plugin, "{line}"),
            tracing::Level::DEBUG => tracing::debug!(plugin, "{line}"),
            tracing::Level::INFO => tracing::info!(plugin, "{line}"),
            tracing::Level::WARN => tracing::warn!(plugin, "{line}"),
            tracing::Level::ERROR => tracing::error!(plugin, "{line}"),
        }
    }

    fn emit(&self, state: &mut State, line: String) {
        if line.trim().is_empty() {
            return;
        }
        if state.within_budget() {
            let shown = printable(line.as_bytes());
            tracing::info!(plugin = &*state.plugin, stream = self.stream, "{shown}");
        }
        if state.recent.len() == RECENT_LINES {
            state.recent.pop_front();
        }
        state.recent.push_back(line);
    }
}

/// Plugin text as one line of the host's log: invalid UTF-8 replaced, and
/// control characters (newlines, carriage returns, terminal escapes)
/// escaped, so a plugin can neither start a forged log line nor repaint the
/// operator's terminal.
fn printable(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if !text.chars().any(|c| c.is_control() && c != '\t') {
        return text.into_owned();
    }
    text.chars()
        .map(|c| match c {
            '\t' => c.to_string(),
            c if c.is_control() => c.escape_default().to_string(),
            c => c.to_string(),
        })
        .collect()
}

impl IsTerminal for PluginOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for PluginOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for PluginOutput {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.write_bytes(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for PluginOutput {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for PluginOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.write_bytes(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_lines_and_joins_partial_writes() {
        let out = PluginOutput::new("stderr", "p");
        out.begin_batch();
        out.write_bytes(b"thread panicked at src/lib.rs:1:1:\nrefusing ");
        out.write_bytes(b"666\nnote: run with RUST_BACKTRACE=1\n");
        assert_eq!(
            out.recent(),
            vec![
                "thread panicked at src/lib.rs:1:1:",
                "refusing 666",
                "note: run with RUST_BACKTRACE=1"
            ]
        );
        out.begin_batch();
        assert!(out.recent().is_empty());
    }

    #[test]
    fn log_messages_share_the_budget_and_cannot_forge_lines() {
        let out = PluginOutput::new("stderr", "p");
        out.begin_batch();
        for _ in 0..(LINES_PER_BATCH + 7) {
            out.log(tracing::Level::INFO, &"x".repeat(10 << 20));
        }
        assert_eq!(out.state().suppressed_this_batch, 7);
        assert_eq!(
            printable(b"ok\n2026-01-01 INFO admin API: token accepted\r\x1b[2J"),
            "ok\\n2026-01-01 INFO admin API: token accepted\\r\\u{1b}[2J"
        );
    }

    #[test]
    fn counts_lines_past_the_budget_instead_of_logging_them() {
        let out = PluginOutput::new("stdout", "p");
        out.begin_batch();
        for i in 0..(LINES_PER_BATCH + 5) {
            out.write_bytes(format!("{i}\n").as_bytes());
        }
        assert_eq!(out.state().suppressed_this_batch, 5);
    }
}
