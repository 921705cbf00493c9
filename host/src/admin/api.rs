//! The admin HTTP API. Reads are open to whoever can reach the address
//! (loopback by default); changes need the bearer token.
//!
//! | method and path                 | does                                   |
//! |---------------------------------|----------------------------------------|
//! | `GET /`                         | the live page (see `page.rs`)          |
//! | `GET /v1/live`                  | the live page's server-sent events     |
//! | `GET /healthz`                  | liveness: 200 while the process serves |
//! | `GET /readyz`                   | readiness: 200 once the pipeline runs  |
//! | `GET /metrics`                  | Prometheus / OpenMetrics text          |
//! | `GET /v1/status`                | the pipeline, its stages and counters  |
//! | `GET /v1/plugins`               | the plugin stages                      |
//! | `POST /v1/plugins`              | load: add a stage (JSON body)          |
//! | `POST /v1/plugins/{stage}/swap` | swap: JSON `{"path"}` or wasm bytes    |
//! | `DELETE /v1/plugins/{stage}`    | unload                                 |

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::changes::{Admin, ChangeError, ChangeReport, Component, LoadRequest};
use super::live::Live;
use super::token;
use crate::pipeline::OnFailure;

/// Largest component accepted as an upload.
const MAX_UPLOAD_BYTES: usize = 64 << 20;

struct ApiState {
    admin: Arc<Admin>,
    live: Arc<Live>,
    token_digest: [u8; 32],
}

pub fn router(admin: Arc<Admin>, live: Arc<Live>, token: &str) -> Router {
    let state = Arc::new(ApiState {
        admin,
        live,
        token_digest: token::digest(token),
    });
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/status", get(status))
        .route("/v1/plugins", get(list).post(load))
        .route("/v1/plugins/{stage}/swap", post(swap))
        .route("/v1/plugins/{stage}", axum::routing::delete(unload))
        .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_token,
        ))
        .with_state(state)
}

async fn require_token(
    State(state): State<Arc<ApiState>>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() == Method::GET || request.method() == Method::HEAD {
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let reason = match presented {
        None => "this call changes the pipeline and needs `Authorization: Bearer <token>`",
        Some(token) if token::matches(&state.token_digest, token) => {
            return next.run(request).await
        }
        Some(_) => "the bearer token is wrong",
    };
    tracing::warn!(method = %request.method(), path = %request.uri().path(), "admin API: refused, {reason}");
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        Json(json!({ "error": reason })),
    )
        .into_response()
}

async fn metrics(State(state): State<Arc<ApiState>>) -> Response {
    let latest = state.live.latest();
    let bottleneck = latest.as_ref().map(|sample| &sample.bottleneck);
    let text = super::metrics::render(&state.admin.controller().view(), bottleneck);
    ([(header::CONTENT_TYPE, super::metrics::CONTENT_TYPE)], text).into_response()
}

/// Liveness for an orchestrator: the process answers. A run that failed
/// has exited, so there is nothing else to report here.
async fn healthz(State(state): State<Arc<ApiState>>) -> Response {
    let view = state.admin.controller().view();
    Json(json!({ "status": "ok", "pipeline": view.pipeline, "state": view.state })).into_response()
}

/// Readiness: the pipeline's threads run (its plugins are compiled, its
/// checkpoint restored, its source open) and it has not finished. For a
/// Kafka source, the partitions this member reads.
async fn readyz(State(state): State<Arc<ApiState>>) -> Response {
    let view = state.admin.controller().view();
    let (ready, reason) = match (view.state, &view.source) {
        ("running", Some(_)) => (true, None),
        ("running", None) => (false, Some("the pipeline is starting")),
        _ => (false, Some("the pipeline has finished")),
    };
    let partitions: Vec<String> = view
        .source
        .as_ref()
        .map(|source| {
            source
                .partition_watermarks
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .keys()
                .map(|(topic, partition)| format!("{topic} [{partition}]"))
                .collect()
        })
        .unwrap_or_default();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut body = json!({ "ready": ready, "pipeline": view.pipeline, "partitions": partitions });
    if let Some(reason) = reason {
        body["reason"] = json!(reason);
    }
    (status, Json(body)).into_response()
}

async fn status(State(state): State<Arc<ApiState>>) -> Response {
    Json(state.admin.controller().view()).into_response()
}

async fn list(State(state): State<Arc<ApiState>>) -> Response {
    let view = state.admin.controller().view();
    let plugins: Vec<_> = view
        .stages
        .into_iter()
        .filter(|s| s.plugin.is_some())
        .collect();
    Json(json!({ "plugins": plugins, "recent_changes": view.recent_changes })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SwapBody {
    path: std::path::PathBuf,
    /// Replaces the stage's config (a JSON object).
    config: Option<serde_json::Map<String, serde_json::Value>>,
}

async fn swap(
    State(state): State<Arc<ApiState>>,
    Path(stage): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let is_wasm = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/wasm"));
    let (component, config) = if is_wasm {
        let component = Component::Bytes {
            bytes: body.to_vec(),
            label: format!("upload:{stage}"),
        };
        (component, None)
    } else {
        match serde_json::from_slice::<SwapBody>(&body) {
            Ok(body) => (
                Component::Path(body.path),
                body.config
                    .map(|c| serde_json::Value::Object(c).to_string()),
            ),
            Err(e) => {
                return bad_request(format!(
                    "send `{{\"path\": \"…\"}}` as JSON, or the component with Content-Type: application/wasm ({e})"
                ))
            }
        }
    };
    let admin = state.admin.clone();
    respond(tokio::task::spawn_blocking(move || admin.swap(&stage, component, config)).await)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoadBody {
    path: std::path::PathBuf,
    name: Option<String>,
    after: Option<String>,
    #[serde(default)]
    config: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    on_failure: OnFailure,
}

async fn load(State(state): State<Arc<ApiState>>, body: Bytes) -> Response {
    let body: LoadBody = match serde_json::from_slice(&body) {
        Ok(body) => body,
        Err(e) => {
            return bad_request(format!(
            "expected JSON {{\"path\", \"name\"?, \"after\"?, \"config\"?, \"on_failure\"?}}: {e}"
        ))
        }
    };
    let request = LoadRequest {
        component: Component::Path(body.path),
        name: body.name,
        after: body.after,
        config_json: serde_json::Value::Object(body.config).to_string(),
        on_failure: body.on_failure,
    };
    let admin = state.admin.clone();
    respond(tokio::task::spawn_blocking(move || admin.load(request)).await)
}

async fn unload(State(state): State<Arc<ApiState>>, Path(stage): Path<String>) -> Response {
    let admin = state.admin.clone();
    respond(tokio::task::spawn_blocking(move || admin.unload(&stage)).await)
}

fn bad_request(message: String) -> Response {
    (StatusCode::BAD_REQUEST, Json(json!({ "error": message }))).into_response()
}

fn respond(result: Result<Result<ChangeReport, ChangeError>, tokio::task::JoinError>) -> Response {
    let error = match result {
        Ok(Ok(report)) => return Json(report).into_response(),
        Ok(Err(error)) => error,
        Err(join) => {
            tracing::error!("admin change panicked: {join}");
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({ "error": "the change failed inside the host; see its log" })),
            )
                .into_response();
        }
    };
    let (status, outcome) = match &error {
        ChangeError::NoStage(_) => (StatusCode::NOT_FOUND, "refused"),
        ChangeError::NotPlugin(..) | ChangeError::Refused(_) => (StatusCode::CONFLICT, "refused"),
        ChangeError::OutsideDirectories { .. } => (StatusCode::FORBIDDEN, "refused"),
        ChangeError::Unreadable { .. } => (StatusCode::BAD_REQUEST, "refused"),
        ChangeError::Plugin(_) | ChangeError::Incompatible(_) => {
            (StatusCode::UNPROCESSABLE_ENTITY, "rejected")
        }
        ChangeError::RolledBack(_) => (StatusCode::UNPROCESSABLE_ENTITY, "rolled-back"),
        ChangeError::Stopped(_) => (StatusCode::SERVICE_UNAVAILABLE, "refused"),
        ChangeError::Busy(_) => (StatusCode::SERVICE_UNAVAILABLE, "busy"),
    };
    tracing::warn!(%status, "admin change {outcome}: {error}");
    (
        status,
        Json(json!({ "error": error.to_string(), "outcome": outcome })),
    )
        .into_response()
}
