//! A real HTTP endpoint for the webhook tests: it answers each POST as the
//! test's script says (a status, maybe a `Retry-After`) and keeps every
//! request it was sent.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

/// One request as the endpoint saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub body: String,
    pub idempotency_key: Option<String>,
    pub weir_ids: Option<String>,
    pub authorization: Option<String>,
    /// What the endpoint answered.
    pub status: u16,
}

/// The answer to the `n`th request (from 0) with this body: a status and
/// the seconds of `Retry-After`, if any.
pub type Script = dyn Fn(usize, &str) -> (u16, Option<u64>) + Send + Sync;

pub struct Receiver {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
    _runtime: tokio::runtime::Runtime,
}

impl Receiver {
    pub fn start(
        script: impl Fn(usize, &str) -> (u16, Option<u64>) + Send + Sync + 'static,
    ) -> Self {
        Self::start_at("/hook", script)
    }

    /// As [`Receiver::start`], serving at `path` (e.g. one holding a secret).
    pub fn start_at(
        path: &str,
        script: impl Fn(usize, &str) -> (u16, Option<u64>) + Send + Sync + 'static,
    ) -> Self {
        Self::serve(path, None, script)
    }

    /// As [`Receiver::start`], over HTTPS at `https://127.0.0.1:…/hook`,
    /// presenting `cert_pem` (with `key_pem`).
    pub fn start_tls(
        cert_pem: &str,
        key_pem: &str,
        script: impl Fn(usize, &str) -> (u16, Option<u64>) + Send + Sync + 'static,
    ) -> Self {
        let config = crate::certificates::server_config(cert_pem, key_pem);
        Self::serve("/hook", Some(config), script)
    }

    fn serve(
        path: &str,
        tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
        script: impl Fn(usize, &str) -> (u16, Option<u64>) + Send + Sync + 'static,
    ) -> Self {
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let script: Arc<Script> = Arc::new(script);
        let (runtime, listener) = crate::live::local_server();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let url = format!("{scheme}://{}{path}", listener.local_addr().unwrap());
        let state = (received.clone(), script);
        let app = Router::new().route(
            path,
            post(move |headers: HeaderMap, body: Bytes| async move {
                let (received, script) = state;
                let body = String::from_utf8_lossy(&body).into_owned();
                let mut received = received.lock().unwrap();
                let (status, retry_after) = script(received.len(), &body);
                let header = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                };
                received.push(Received {
                    idempotency_key: header("idempotency-key"),
                    weir_ids: header("weir-ids"),
                    authorization: header("authorization"),
                    body,
                    status,
                });
                let mut response: Response =
                    (StatusCode::from_u16(status).unwrap(), "scripted answer").into_response();
                if let Some(seconds) = retry_after {
                    response
                        .headers_mut()
                        .insert("retry-after", HeaderValue::from(seconds));
                }
                response
            }),
        );
        match tls {
            None => drop(runtime.spawn(async move { axum::serve(listener, app).await })),
            Some(config) => drop(runtime.spawn(serve_tls(listener, config, app))),
        }
        Self {
            url,
            received,
            _runtime: runtime,
        }
    }

    /// The event times (epoch ms) of the results received, one per request, sorted.
    pub fn event_times(&self) -> Vec<i64> {
        let mut times: Vec<i64> = self
            .received()
            .iter()
            .map(|r| {
                let v: serde_json::Value = serde_json::from_str(&r.body).expect("a JSON body");
                let time = v["event_time"].as_str().expect("an event_time");
                weir::format::timestamp::parse(time).expect("an RFC 3339 time")
            })
            .collect();
        times.sort_unstable();
        times
    }

    /// Every request so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// `app` over TLS: each connection's handshake, then HTTP/1.1. A client
/// that refuses the certificate ends its own connection, nothing else.
async fn serve_tls(
    listener: tokio::net::TcpListener,
    config: Arc<tokio_rustls::rustls::ServerConfig>,
    app: Router,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    while let Ok((tcp, _)) = listener.accept().await {
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = hyper_util::service::TowerToHyperService::new(app);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                .await;
        });
    }
}
