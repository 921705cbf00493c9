//! Requests from browsers that the admin API must not answer.
//!
//! A page on any web site can make a browser send requests to 127.0.0.1.
//! Two defences, before any route runs:
//! - DNS rebinding: a site's name re-resolved to 127.0.0.1 makes its
//!   scripts same-origin with weir, so the browser lets them read `/metrics`
//!   or the live feed. Such a request carries the site's name in `Host`;
//!   weir answers only a `Host` that is an IP address, `localhost`, or a
//!   name given with `--admin-host`.
//! - Cross-site requests: a browser marks a request made by another site's
//!   page with an `Origin` (and `Sec-Fetch-Site: cross-site`); weir refuses
//!   any whose origin is not the address it was asked at.
//!
//! Clients that are not browsers (curl, Prometheus, the `weir` CLI) send
//! neither header, or a `Host` naming the address they dialled, and pass.

use std::borrow::Cow;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::redact::shortened;

/// Every answer, the live feed's events included, with the pipeline's
/// secrets (see [`crate::redact::add_secrets`]) hidden.
pub async fn hide_secrets(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if !crate::redact::any_secrets() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // The length may change.
    parts.headers.remove(header::CONTENT_LENGTH);
    let hidden = futures_util::StreamExt::map(body.into_data_stream(), |chunk| {
        chunk.map(
            |bytes| match std::str::from_utf8(&bytes).map(crate::redact::secrets) {
                Ok(Cow::Owned(shown)) => Bytes::from(shown),
                _ => bytes,
            },
        )
    });
    Response::from_parts(parts, Body::from_stream(hidden))
}

/// Host names accepted besides IP addresses and `localhost`.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts(pub Vec<String>);

pub async fn refuse_foreign_browsers(
    State(allowed): State<Arc<AllowedHosts>>,
    request: Request,
    next: Next,
) -> Response {
    match check(&allowed, request.headers()) {
        Ok(()) => next.run(request).await,
        Err(reason) => (
            StatusCode::FORBIDDEN,
            axum::Json(serde_json::json!({ "error": reason })),
        )
            .into_response(),
    }
}

fn check(allowed: &AllowedHosts, headers: &HeaderMap) -> Result<(), String> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let host = text(header::HOST.as_str()).unwrap_or("");
    if !host.is_empty() && !host_allowed(allowed, host) {
        return Err(format!(
            "the Host header `{}` is not this server's address; pass --admin-host NAME to serve under that name",
            shortened(host, 100)
        ));
    }
    if text("sec-fetch-site") == Some("cross-site") {
        return Err("cross-site requests are refused".into());
    }
    if let Some(origin) = text(header::ORIGIN.as_str()) {
        let same = origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host));
        if !same {
            return Err(format!(
                "requests from pages of another origin (`{}`) are refused",
                shortened(origin, 100)
            ));
        }
    }
    Ok(())
}

/// `Host` without its port: an IP literal, `localhost`, or an allowed name.
fn host_allowed(allowed: &AllowedHosts, host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        // [::1]:7370
        Some(rest) => {
            return rest
                .split(']')
                .next()
                .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok())
        }
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    name.parse::<std::net::Ipv4Addr>().is_ok()
        || name.eq_ignore_ascii_case("localhost")
        || allowed.0.iter().any(|a| a.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn addresses_and_localhost_pass() {
        let allowed = AllowedHosts::default();
        for host in [
            "127.0.0.1:7370",
            "localhost:7370",
            "[::1]:7370",
            "10.1.2.3",
            "LOCALHOST",
        ] {
            assert_eq!(
                check(&allowed, &headers(&[("host", host)])),
                Ok(()),
                "{host}"
            );
        }
        assert_eq!(check(&allowed, &HeaderMap::new()), Ok(()));
    }

    #[test]
    fn a_rebound_name_is_refused_unless_allowed() {
        let refused = check(
            &AllowedHosts::default(),
            &headers(&[("host", "evil.example:7370")]),
        );
        assert!(refused.unwrap_err().contains("evil.example"));
        let allowed = AllowedHosts(vec!["weir.internal".into()]);
        assert_eq!(
            check(&allowed, &headers(&[("host", "weir.internal:7370")])),
            Ok(())
        );
    }

    #[test]
    fn another_origin_is_refused_and_the_same_one_passes() {
        let allowed = AllowedHosts::default();
        let same = headers(&[
            ("host", "127.0.0.1:7370"),
            ("origin", "http://127.0.0.1:7370"),
        ]);
        assert_eq!(check(&allowed, &same), Ok(()));
        let other = headers(&[
            ("host", "127.0.0.1:7370"),
            ("origin", "https://evil.example"),
        ]);
        assert!(check(&allowed, &other).is_err());
        let cross = headers(&[("host", "127.0.0.1:7370"), ("sec-fetch-site", "cross-site")]);
        assert!(check(&allowed, &cross).is_err());
    }
}
