//! An HTTP endpoint as a source (`kind = "http"`): clients POST events as one
//! JSON object, a JSON array of objects, or NDJSON.
//!
//! A request is answered 200 only once its events are in the pipeline's
//! input queue: accepted, not durable (the answer says `"durable": false`).
//! On a clean stop (Ctrl-C, SIGTERM) every accepted event is processed, and
//! results the sink cannot deliver within `shutdown_timeout` are
//! dead-lettered; a crash loses what was queued. When the queue is full (the pipeline is behind), the request
//! is answered 429 with `Retry-After` and nothing of it is taken, so weir
//! never buffers without bound and a client that retries loses nothing.
//! A body that is not JSON is answered 400 with the reason: none of its
//! records is taken, and those that are not JSON are dead-lettered (so the
//! client can fix and resend the body without duplicates). Records that are
//! JSON but do not fit the schema are taken and dead-lettered like a file's. Positions count records from 1
//! over the run (`http:17` is the 17th record received).

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use crossbeam_channel::{Sender, TrySendError};
use serde_json::json;

use super::{RawChunk, SourceStats};

#[derive(Debug, Clone)]
pub struct HttpSourceSettings {
    pub listen: SocketAddr,
    /// The URL path events are POSTed to.
    pub path: String,
    /// When set, requests must carry it in `secret_header`.
    pub secret: Option<String>,
    pub secret_header: String,
    pub max_body_bytes: usize,
}

/// The seconds a client is asked to wait when the pipeline is behind.
const RETRY_AFTER_SECONDS: u64 = 1;

/// The listening socket, bound when the pipeline starts so that a taken
/// port is an error before any event flows.
pub struct HttpSource {
    listener: TcpListener,
    settings: HttpSourceSettings,
}

impl HttpSource {
    pub fn bind(settings: HttpSourceSettings) -> std::io::Result<Self> {
        let listener = TcpListener::bind(settings.listen)?;
        listener.set_nonblocking(true)?;
        Ok(Self { listener, settings })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}

struct Intake {
    /// The next chunk's sequence number; under the lock, so that sequence
    /// numbers follow the order chunks enter the queue.
    next_seq: Mutex<(u64, Sender<RawChunk>)>,
    settings: HttpSourceSettings,
    /// Its `records`, counted under the lock, also number the records.
    stats: Arc<SourceStats>,
}

impl super::Source for HttpSource {
    fn run(self: Box<Self>, cx: super::SourceContext<'_>) -> Result<(), super::SourceError> {
        read_http(*self, cx.out, cx.stop, cx.stats.clone())
            .map_err(|error| super::SourceError::Read(super::ReadError::new("http", error)))
    }
}

/// Serves the endpoint until `stop` is set; events go to `out`.
fn read_http(
    source: HttpSource,
    out: Sender<RawChunk>,
    stop: &AtomicBool,
    stats: Arc<SourceStats>,
) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("weir-http")
        .enable_all()
        .build()?;
    let intake = Arc::new(Intake {
        next_seq: Mutex::new((0, out)),
        settings: source.settings.clone(),
        stats,
    });
    let app = Router::new()
        .route(&source.settings.path, post(accept))
        .layer(DefaultBodyLimit::max(source.settings.max_body_bytes))
        .with_state(intake);
    tracing::info!(addr = %source.local_addr()?, path = %source.settings.path, "http source listening");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::from_std(source.listener)?;
        let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        while !stop.load(Ordering::Relaxed) && !server.is_finished() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = stopping.send(());
        server.await.map_err(std::io::Error::other)?
    })
}

fn refuse(status: StatusCode, error: String) -> Response {
    (status, Json(json!({ "error": error }))).into_response()
}

/// Whether `given` equals `expected`, in time that does not depend on where
/// they differ.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

async fn accept(State(intake): State<Arc<Intake>>, headers: HeaderMap, body: Bytes) -> Response {
    let settings = &intake.settings;
    if let Some(secret) = &settings.secret {
        let given = headers
            .get(settings.secret_header.as_str())
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if !same_secret(given, secret.as_bytes()) {
            return refuse(
                StatusCode::UNAUTHORIZED,
                format!("missing or wrong `{}` header", settings.secret_header),
            );
        }
    }
    // A body that is not JSON: only its bad records go in, to be dead-lettered.
    let (records, malformed) = match split(&body) {
        (_, Some(bad)) => (bad.records, Some(bad.reason)),
        (records, None) => (records, None),
    };
    let count = records.len() as u64;
    let mut queue = intake.next_seq.lock().unwrap_or_else(|e| e.into_inner());
    let first = intake.stats.records.load(Ordering::Relaxed) + 1;
    let mut chunk = RawChunk::new(queue.0, records.len());
    for (i, record) in records.iter().enumerate() {
        chunk.push(first + i as u64, record);
    }
    match queue.1.try_send(chunk) {
        Ok(()) => {
            queue.0 += 1;
            intake.stats.records.fetch_add(count, Ordering::Relaxed);
        }
        Err(TrySendError::Full(_)) => {
            let mut response = refuse(
                StatusCode::TOO_MANY_REQUESTS,
                "the pipeline is behind; nothing of this request was taken, send it again".into(),
            );
            response
                .headers_mut()
                .insert("retry-after", RETRY_AFTER_SECONDS.into());
            return response;
        }
        Err(TrySendError::Disconnected(_)) => {
            return refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "the pipeline has stopped".into(),
            )
        }
    }
    drop(queue);
    match malformed {
        Some(reason) => refuse(
            StatusCode::BAD_REQUEST,
            format!(
                "{reason}; nothing of the body was taken, and its {count} record(s) that are not JSON were dead-lettered (from http:{first})"
            ),
        ),
        // Queued, not durable (this source has no checkpoints): say so.
        None => Json(json!({ "accepted": count, "first": first, "durable": false }))
            .into_response(),
    }
}

/// What is wrong with a body that is not JSON.
#[derive(Debug, PartialEq)]
struct Malformed {
    reason: String,
    /// The records that are not JSON, to be dead-lettered.
    records: Vec<Vec<u8>>,
}

/// The records of a body: the elements of a JSON array, or its lines; and
/// what is wrong with it when some are not JSON.
fn split(body: &[u8]) -> (Vec<Vec<u8>>, Option<Malformed>) {
    let trimmed = body.trim_ascii();
    if trimmed.starts_with(b"[") {
        return match serde_json::from_slice::<Vec<Box<serde_json::value::RawValue>>>(trimmed) {
            Ok(items) => (
                items
                    .into_iter()
                    .map(|raw| raw.get().as_bytes().to_vec())
                    .collect(),
                None,
            ),
            Err(e) => (
                Vec::new(),
                Some(Malformed {
                    reason: format!("the body is not a JSON array: {e}"),
                    records: vec![trimmed.to_vec()],
                }),
            ),
        };
    }
    let mut records = Vec::new();
    let mut malformed: Option<Malformed> = None;
    for (number, line) in trimmed.split(|&b| b == b'\n').enumerate() {
        let line = line.trim_ascii();
        if line.is_empty() {
            continue;
        }
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(line) {
            malformed
                .get_or_insert_with(|| Malformed {
                    reason: format!("line {} of the body is not JSON: {e}", number + 1),
                    records: Vec::new(),
                })
                .records
                .push(line.to_vec());
        }
        records.push(line.to_vec());
    }
    (records, malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_objects_arrays_and_ndjson() {
        let (records, bad) = split(br#" {"a": 1} "#);
        assert_eq!((records, bad), (vec![br#"{"a": 1}"#.to_vec()], None));
        let (records, bad) = split(br#"[{"a": 1}, {"a": [2, 3]}]"#);
        assert_eq!(
            records,
            vec![br#"{"a": 1}"#.to_vec(), br#"{"a": [2, 3]}"#.to_vec()]
        );
        assert!(bad.is_none());
        let (records, bad) = split(b"{\"a\": 1}\n\n{\"a\": 2}\n");
        assert_eq!((records.len(), bad), (2, None));
        let (_, bad) = split(b"{\"a\": 1}\n{\"a\": \n{\"a\": 3}");
        let bad = bad.unwrap();
        assert!(bad.reason.starts_with("line 2 of the body is not JSON"));
        assert_eq!(bad.records, vec![b"{\"a\":".to_vec()]);
        let (_, bad) = split(b"[{\"a\": 1},");
        assert!(bad
            .unwrap()
            .reason
            .starts_with("the body is not a JSON array"));
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abd", b"abc"));
        assert!(!same_secret(b"ab", b"abc"));
    }
}
