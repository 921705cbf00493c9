//! Results POSTed to an HTTP endpoint as JSON: one request per result (or
//! per `batch_size` results, as a JSON array), or a body made from a
//! template, such as a Slack message.
//!
//! Delivery is at-least-once and never silent: a request that fails with a
//! 5xx, 408 or 429 status, a timeout or a connection error is retried with
//! exponential backoff (honouring `Retry-After`), and a result whose
//! request still fails after `max_retries` retries, or is refused with
//! another 4xx, is dead-lettered with the reason at once. Once the run is
//! asked to stop, retries end at `shutdown_timeout` and what is left is
//! dead-lettered, so a dead endpoint cannot hold a stop. Each request carries the
//! results' deterministic ids (`Idempotency-Key` for one result, `weir-ids`
//! for a batch; see [`super::result_id`]), so the receiver can drop the
//! repeats a replay after a crash sends.

mod template;

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::{Sink, SinkContext, SinkFailure};
use crate::data::Batch;
use crate::format::json::JsonRow;
pub use template::Template;

/// The longest wait between two attempts, whatever the backoff or `Retry-After` say.
const MAX_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct WebhookSettings {
    pub url: String,
    pub template: Option<Template>,
    /// Results per request, sent as a JSON array when above 1 (no template).
    pub batch_size: usize,
    pub timeout: Duration,
    pub max_retries: u32,
    /// The first wait before a retry; it doubles with each one.
    pub retry_backoff: Duration,
    pub headers: Vec<(String, String)>,
    /// The roots an `https://` endpoint must chain to, when not the public ones.
    pub roots: Option<Arc<Vec<ureq::tls::Certificate<'static>>>>,
    /// Part of every result id: the pipeline's name.
    pub id_prefix: String,
}

pub struct WebhookSink {
    agent: ureq::Agent,
    settings: WebhookSettings,
    /// The URL as printed (see [`crate::redact::endpoint`]).
    shown_url: String,
}

/// Why a request did not succeed, and whether trying again may help.
struct Failed {
    reason: String,
    retry: bool,
    retry_after: Option<Duration>,
}

/// The certificates of the PEM file at `path`, for `ca_file`.
pub fn read_ca_file(path: &Path) -> Result<Arc<Vec<ureq::tls::Certificate<'static>>>, String> {
    let shown = path.display();
    let pem = std::fs::read(path).map_err(|e| format!("webhook ca_file {shown}: {e}"))?;
    let mut roots = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(ureq::tls::PemItem::Certificate(cert)) => roots.push(cert),
            Ok(_) => {}
            Err(e) => return Err(format!("webhook ca_file {shown}: {e}")),
        }
    }
    if roots.is_empty() {
        return Err(format!("webhook ca_file {shown}: no certificate in it"));
    }
    Ok(Arc::new(roots))
}

impl WebhookSink {
    pub fn new(settings: WebhookSettings) -> Self {
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(settings.timeout));
        if let Some(roots) = &settings.roots {
            let tls = ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::Specific(roots.clone()))
                .build();
            config = config.tls_config(tls);
        }
        let agent = config.build().into();
        Self {
            agent,
            shown_url: crate::redact::endpoint(&settings.url),
            settings,
        }
    }

    /// POSTs `body`, retrying as the module says, until the shutdown
    /// deadline at the latest; the error is the reason for the dead letter.
    fn post(
        &self,
        body: &str,
        ids: &[String],
        context: &mut SinkContext<'_>,
    ) -> Result<(), String> {
        let mut backoff = self.settings.retry_backoff;
        let mut attempts = 0;
        loop {
            if context.past_deadline() {
                return Err(context.abandon_reason());
            }
            attempts += 1;
            let failed = match self.attempt(body, ids) {
                Ok(()) => return Ok(()),
                Err(failed) => failed,
            };
            if !failed.retry || attempts > self.settings.max_retries {
                let tries = if attempts == 1 {
                    "not retried".to_string()
                } else {
                    format!("{attempts} attempts")
                };
                return Err(format!(
                    "webhook POST {}: {} ({tries})",
                    self.shown_url, failed.reason
                ));
            }
            tracing::warn!(url = %self.shown_url, attempt = attempts, "webhook request failed, retrying: {}", failed.reason);
            context.sleep(failed.retry_after.unwrap_or(backoff).min(MAX_WAIT));
            backoff = (backoff * 2).min(MAX_WAIT);
        }
    }

    fn attempt(&self, body: &str, ids: &[String]) -> Result<(), Failed> {
        let mut request = self
            .agent
            .post(&self.settings.url)
            .header("content-type", "application/json");
        match ids {
            [id] => request = request.header("idempotency-key", id),
            ids => request = request.header("weir-ids", ids.join(",")),
        }
        for (name, value) in &self.settings.headers {
            request = request.header(name, value);
        }
        let mut response = request.send(body).map_err(|e| Failed {
            reason: e.to_string().replace(&self.settings.url, &self.shown_url),
            retry: true,
            retry_after: None,
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let said = response
            .body_mut()
            .with_config()
            .limit(512)
            .read_to_string()
            .unwrap_or_default();
        let code = status.as_u16();
        Err(Failed {
            reason: format!(
                "HTTP {status}{}",
                if said.is_empty() {
                    String::new()
                } else {
                    format!(": {}", said.trim())
                }
            ),
            retry: code >= 500 || code == 408 || code == 429,
            retry_after,
        })
    }
}

impl Sink for WebhookSink {
    fn write(&mut self, batch: &Batch, context: &mut SinkContext<'_>) -> io::Result<()> {
        let per_request = if self.settings.template.is_some() {
            1
        } else {
            self.settings.batch_size.max(1)
        };
        let mut ids = Vec::new();
        let mut results: Vec<String> = Vec::new();
        for first in (0..batch.len()).step_by(per_request) {
            let rows = first..(first + per_request).min(batch.len());
            ids.clear();
            results.clear();
            for row in rows {
                let json = serde_json::to_string(&JsonRow::new(batch.row(row)))?;
                let mut id = String::new();
                super::result_id(
                    &self.settings.id_prefix,
                    batch,
                    row,
                    json.as_bytes(),
                    &mut id,
                );
                ids.push(id);
                results.push(json);
            }
            let body = match &self.settings.template {
                Some(template) => template.render(|field| batch.columns[field].get(first)),
                None if per_request == 1 => results[0].clone(),
                None => format!("[{}]", results.join(",")),
            };
            if let Err(reason) = self.post(&body, &ids, context) {
                for json in &results {
                    context.failed(SinkFailure {
                        reason: reason.clone(),
                        record: serde_json::from_str(json)?,
                    })?;
                }
            }
            context.done(results.len() as u64);
        }
        Ok(())
    }

    /// Every request has been answered when `write` returns.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
