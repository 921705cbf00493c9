//! The `weir plugin …` commands: a client of the admin API.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde_json::{json, Value};

use super::token;

pub struct Client {
    base: String,
    agent: ureq::Agent,
    token_file: PathBuf,
}

/// A refused or failed change, with the host's reason.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Refused {
    pub message: String,
}

impl Client {
    pub fn new(addr: SocketAddr, token_file: Option<PathBuf>) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            // A swap answers once the new version has passed its trial.
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        Self {
            base: format!("http://{addr}"),
            agent,
            token_file: token_file.unwrap_or_else(|| token::default_token_file(addr)),
        }
    }

    pub fn status(&self) -> anyhow::Result<Value> {
        self.get("/v1/status")
    }

    pub fn list(&self) -> anyhow::Result<Value> {
        self.get("/v1/plugins")
    }

    /// Swaps `stage` to the component at `path`, sent as a path the host
    /// reads from its plugin directory or, with `upload`, as bytes.
    pub fn swap(
        &self,
        stage: &str,
        path: &Path,
        upload: bool,
        config: Option<&str>,
    ) -> anyhow::Result<Value> {
        let config = config.map(parse_config).transpose()?;
        anyhow::ensure!(
            !(upload && config.is_some()),
            "--config goes with a path, not --upload"
        );
        let url = format!("{}/v1/plugins/{stage}/swap", self.base);
        let request = self
            .agent
            .post(&url)
            .header("Authorization", self.bearer()?);
        let response = if upload {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            request
                .header("Content-Type", "application/wasm")
                .send(&bytes[..])
        } else {
            request.send_json(json!({ "path": absolute(path)?, "config": config }))
        };
        self.answer(&url, response)
    }

    pub fn load(
        &self,
        path: &Path,
        name: Option<&str>,
        after: Option<&str>,
        config: Option<&str>,
    ) -> anyhow::Result<Value> {
        let config = config.map(parse_config).transpose()?.unwrap_or(json!({}));
        let url = format!("{}/v1/plugins", self.base);
        let response = self
            .agent
            .post(&url)
            .header("Authorization", self.bearer()?)
            .send_json(json!({
                "path": absolute(path)?, "name": name, "after": after, "config": config,
            }));
        self.answer(&url, response)
    }

    pub fn unload(&self, stage: &str) -> anyhow::Result<Value> {
        let url = format!("{}/v1/plugins/{stage}", self.base);
        let response = self
            .agent
            .delete(&url)
            .header("Authorization", self.bearer()?)
            .call();
        self.answer(&url, response)
    }

    fn get(&self, path: &str) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let response = self.agent.get(&url).call();
        self.answer(&url, response)
    }

    fn bearer(&self) -> anyhow::Result<String> {
        Ok(format!("Bearer {}", token::read(&self.token_file)?))
    }

    fn answer(
        &self,
        url: &str,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> anyhow::Result<Value> {
        let mut response = response.with_context(|| {
            format!("cannot reach the weir admin API at {url} (is `weir run … --admin` running?)")
        })?;
        let status = response.status();
        let body: Value = response
            .body_mut()
            .read_json()
            .with_context(|| format!("{url} answered {status} without JSON"))?;
        if status.is_success() {
            Ok(body)
        } else {
            let message = body["error"].as_str().unwrap_or("no reason given");
            Err(Refused {
                message: format!("{message} (HTTP {})", status.as_u16()),
            }
            .into())
        }
    }
}

fn parse_config(text: &str) -> anyhow::Result<Value> {
    let value: Value = serde_json::from_str(text)
        .context("--config must be a JSON object, e.g. '{\"threshold\": 90}'")?;
    anyhow::ensure!(
        value.is_object(),
        "--config must be a JSON object, got {value}"
    );
    Ok(value)
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))
}

/// `weir plugin list` as a table.
pub fn format_list(list: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<18} {:<18} {:<8} {:<8} {:<14} {:>10} {:>10} {:>8}  loaded at",
        "STAGE", "PLUGIN", "VERSION", "KIND", "HASH", "BATCHES", "ROWS IN", "FAILED"
    );
    for stage in list["plugins"].as_array().into_iter().flatten() {
        let plugin = &stage["plugin"];
        let hash = plugin["content_hash"].as_str().unwrap_or("");
        let _ = write!(
            out,
            "{:<18} {:<18} {:<8} {:<8} {:<14} {:>10} {:>10} {:>8}  {}",
            stage["name"].as_str().unwrap_or(""),
            plugin["name"].as_str().unwrap_or(""),
            plugin["version"].as_str().unwrap_or(""),
            plugin["kind"].as_str().unwrap_or(""),
            &hash[..hash.len().min(12)],
            stage["batches"].as_u64().unwrap_or(0),
            stage["rows_in"].as_u64().unwrap_or(0),
            stage["rows_failed"].as_u64().unwrap_or(0),
            plugin["loaded_at"].as_str().unwrap_or(""),
        );
        if let Some(reason) = plugin["quarantined"].as_str() {
            let _ = write!(out, "\n    QUARANTINED: {reason}");
        }
        if plugin["on_trial"].is_object() {
            let _ = write!(
                out,
                "\n    on trial, {} batches left (replaced version {})",
                plugin["on_trial"]["batches_left"],
                plugin["on_trial"]["previous_version"]
                    .as_str()
                    .unwrap_or("")
            );
        }
        out.push('\n');
    }
    let changes = list["recent_changes"].as_array().into_iter().flatten();
    for (i, change) in changes.enumerate() {
        if i == 0 {
            out.push_str("\nrecent changes:\n");
        }
        let _ = writeln!(
            out,
            "  {} {} `{}`: {}{}",
            change["at"].as_str().unwrap_or(""),
            change["action"].as_str().unwrap_or(""),
            change["stage"].as_str().unwrap_or(""),
            change["outcome"].as_str().unwrap_or(""),
            change["detail"]
                .as_str()
                .map(|d| format!(" — {d}"))
                .unwrap_or_default()
        );
    }
    out
}

/// One line for the result of a change.
pub fn format_change(report: &Value) -> String {
    let mut line = format!(
        "{} `{}`",
        report["outcome"].as_str().unwrap_or("done"),
        report["stage"].as_str().unwrap_or("")
    );
    if let Some(version) = report["version"].as_str() {
        let hash = report["content_hash"].as_str().unwrap_or("");
        let _ = write!(
            line,
            " → version {version} ({})",
            &hash[..hash.len().min(12)]
        );
    }
    if let Some(pause) = report["pause_us"].as_u64() {
        let _ = write!(line, "; pipeline paused {pause} µs");
    }
    if let Some(message) = report["message"].as_str() {
        let _ = write!(line, "; {message}");
    }
    line
}
