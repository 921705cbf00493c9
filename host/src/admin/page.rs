//! The live page: one static HTML file (inline script, no build step), fed
//! by a server-sent event stream with a message per sample: the counters'
//! rates, the stages and their plugin versions, dead letters, and the results
//! that came out since the last message.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::stream::Stream;
use serde::Serialize;
use serde_json::Value;

use super::live::{Live, Sample};
use crate::pipeline::{Controller, PipelineView};
use crate::sink::DeadLetterKind;
use crate::sink::RecentRows;

const PAGE: &str = include_str!("page/index.html");

struct PageState {
    controller: Controller,
    live: Arc<Live>,
}

pub fn router(controller: Controller, live: Arc<Live>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/v1/live", get(stream))
        .with_state(Arc::new(PageState { controller, live }))
}

async fn page() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        PAGE,
    )
        .into_response()
}

/// One message of the stream.
#[derive(Serialize)]
struct Update {
    pipeline: String,
    state: &'static str,
    started_at: String,
    sink: Option<String>,
    stages: Vec<StageUpdate>,
    dead_letters: HashMap<&'static str, u64>,
    checkpoints: Option<u64>,
    /// Every kept sample in the first message, the new ones after.
    samples: Vec<Sample>,
    /// Results into the sink since the last message, oldest first.
    results: Vec<Value>,
}

#[derive(Serialize)]
struct StageUpdate {
    name: String,
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    plugin: Option<PluginUpdate>,
    rows_in: u64,
    rows_out: u64,
    rows_failed: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    state_keys: Option<u64>,
    /// A window's results since the last message.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    results: Vec<Value>,
}

#[derive(Serialize)]
struct PluginUpdate {
    name: String,
    version: String,
    content_hash: String,
    restarts: u64,
    quarantined: bool,
    on_trial: bool,
}

/// Where one page's stream is: what it has been sent so far.
struct Cursor {
    state: Arc<PageState>,
    samples_sent: Option<u64>,
    sink_rows: u64,
    stage_rows: HashMap<String, u64>,
    /// The last update has been sent.
    ended: bool,
}

async fn stream(
    State(state): State<Arc<PageState>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let cursor = Cursor {
        state,
        samples_sent: None,
        sink_rows: 0,
        stage_rows: HashMap::new(),
        ended: false,
    };
    let updates = futures_util::stream::unfold(cursor, |mut cursor| async move {
        if cursor.ended {
            return None;
        }
        if let Some(sent) = cursor.samples_sent {
            cursor.state.live.wait_past(sent).await;
        }
        // The host is shutting down: one last update (the pipeline's final
        // state), then the stream ends, so that an open page does not hold
        // the server's graceful shutdown, and with it the process, forever.
        cursor.ended = cursor.state.live.is_closed();
        let update = cursor.next_update();
        let event = Event::default()
            .event("update")
            .json_data(&update)
            .unwrap_or_else(|e| Event::default().event("error").data(e.to_string()));
        Some((Ok(event), cursor))
    });
    Sse::new(updates).keep_alive(KeepAlive::default())
}

impl Cursor {
    fn next_update(&mut self) -> Update {
        let (samples, taken) = self.state.live.since(self.samples_sent);
        self.samples_sent = Some(taken);
        let view = self.state.controller.view();
        let results = match &view.sink {
            Some(sink) => take_new(&sink.recent, &mut self.sink_rows),
            None => Vec::new(),
        };
        let stages = view
            .stages
            .iter()
            .map(|stage| {
                let results = match stage.kind {
                    "window" => {
                        let seen = self.stage_rows.entry(stage.name.clone()).or_default();
                        take_new(&stage.stats.recent, seen)
                    }
                    _ => Vec::new(),
                };
                let plugin = stage.plugin.as_ref();
                StageUpdate {
                    name: stage.name.clone(),
                    kind: stage.kind,
                    plugin: plugin.map(|p| PluginUpdate {
                        name: p.name.clone(),
                        version: p.version.clone(),
                        content_hash: p.content_hash.chars().take(12).collect(),
                        restarts: p.restarts,
                        quarantined: p.quarantined.is_some(),
                        on_trial: p.on_trial.is_some(),
                    }),
                    rows_in: stage.rows_in,
                    rows_out: stage.rows_out,
                    rows_failed: stage.rows_failed,
                    state_keys: plugin
                        .filter(|p| p.settings.key_by.is_some())
                        .map(|_| stage.stats.state_keys.load(Ordering::Relaxed)),
                    results,
                }
            })
            .collect();
        Update {
            pipeline: view.pipeline.clone(),
            state: view.state,
            started_at: view.started_at.clone(),
            sink: view.sink.as_ref().and_then(|s| s.name.get().cloned()),
            stages,
            dead_letters: dead_letters(&view),
            checkpoints: view
                .checkpoints
                .as_ref()
                .map(|c| c.written.load(Ordering::Relaxed)),
            samples,
            results,
        }
    }
}

fn take_new(recent: &RecentRows, seen: &mut u64) -> Vec<Value> {
    let (rows, next) = recent.since(*seen);
    *seen = next;
    rows.iter()
        .filter_map(|row| serde_json::from_str(row).ok())
        .collect()
}

fn dead_letters(view: &PipelineView) -> HashMap<&'static str, u64> {
    let Some(counts) = &view.dead_letters else {
        return HashMap::new();
    };
    DeadLetterKind::ALL
        .iter()
        .map(|&kind| (kind.name(), counts[kind as usize].load(Ordering::Relaxed)))
        .collect()
}
