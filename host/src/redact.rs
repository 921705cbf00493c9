//! What weir prints of text that came from outside: credentials left out
//! and long text cut short.
//!
//! A webhook URL is often the secret itself (a Slack incoming webhook's
//! path is its token), and a PostgreSQL URL may carry a password. Logs,
//! dead letters, error messages, `/v1/status` and the live page name such
//! an endpoint by the forms below, never by the URL as configured.

use std::borrow::Cow;
use std::sync::RwLock;

/// Values a pipeline took from the environment or from files (see
/// [`crate::pipeline::interpolate`]), each also as JSON escapes it.
static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// What is shown in place of a secret.
pub const HIDDEN: &str = "***";

/// Whether `value` can be hidden in output without hiding other text: a
/// short value or a number (a port, a batch size) would also hide the
/// same characters wherever they occur, and is no secret.
fn worth_hiding(value: &str) -> bool {
    value.chars().count() >= 4
        && value.parse::<f64>().is_err()
        && !matches!(value, "true" | "false")
}

/// Keeps `values` out of everything weir prints from now on: logs, errors,
/// `weir explain`, the admin API and the live page, dead-letter reasons.
pub fn add_secrets(values: &[String]) {
    let mut secrets = SECRETS.write().unwrap_or_else(|e| e.into_inner());
    for value in values.iter().filter(|v| worth_hiding(v)) {
        let escaped = serde_json::to_string(value).expect("a string encodes");
        let escaped = &escaped[1..escaped.len() - 1];
        for form in [value.as_str(), escaped] {
            if !secrets.iter().any(|s| s == form) {
                secrets.push(form.to_string());
            }
        }
    }
    // Longest first: a secret containing another is hidden whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// Whether any secret is registered: output needs no scan when none is.
pub fn any_secrets() -> bool {
    !SECRETS.read().unwrap_or_else(|e| e.into_inner()).is_empty()
}

/// Standard error, with the secrets hidden: where the logs go. (The log
/// formatter writes each event with one `write_all`, so a secret is
/// never cut in two.)
pub struct Stderr;

impl std::io::Write for Stderr {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut stderr = std::io::stderr().lock();
        match std::str::from_utf8(bytes).map(secrets) {
            Ok(Cow::Owned(shown)) => stderr.write_all(shown.as_bytes())?,
            _ => stderr.write_all(bytes)?,
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// `text` with every secret registered by [`add_secrets`] replaced by `***`.
pub fn secrets(text: &str) -> Cow<'_, str> {
    let secrets = SECRETS.read().unwrap_or_else(|e| e.into_inner());
    hide(text, secrets.iter().map(String::as_str))
}

/// `text` with `values` (those worth hiding) replaced by `***`.
pub fn values_in<'a>(text: &'a str, values: &[String]) -> Cow<'a, str> {
    hide(
        text,
        values
            .iter()
            .map(String::as_str)
            .filter(|v| worth_hiding(v)),
    )
}

fn hide<'a, 's>(text: &'a str, secrets: impl Iterator<Item = &'s str>) -> Cow<'a, str> {
    let mut shown = Cow::Borrowed(text);
    for secret in secrets {
        if shown.contains(secret) {
            shown = Cow::Owned(shown.replace(secret, HIDDEN));
        }
    }
    shown
}

/// At most `max_chars` characters of `text`, with `…` when it was longer:
/// a header or path from a request is echoed in an answer, never in full.
pub fn shortened(text: &str, max_chars: usize) -> String {
    let mut shown: String = text.chars().take(max_chars).collect();
    if shown.len() < text.len() {
        shown.push('…');
    }
    shown
}

/// An HTTP endpoint as it may be shown: scheme, host and port. The
/// credentials, path and query are left out: any of them may be the secret.
pub fn endpoint(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<url>".into();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let hidden = if authority_end < rest.len() {
        "/…"
    } else {
        ""
    };
    format!("{scheme}://{host}{hidden}")
}

/// A database connection string with any password replaced by `***`: the
/// URL form (`postgres://user:password@host/db?password=…`) and the
/// key-value form (`host=… password=…`).
pub fn connection(text: &str) -> String {
    let mut shown = match text.split_once("://") {
        Some((scheme, rest)) => {
            let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let (authority, tail) = rest.split_at(authority_end);
            let authority = match authority.rsplit_once('@') {
                // Only a password there is hidden: `user@host` has none.
                Some((user, host)) => match user.split_once(':') {
                    Some((user, _)) => format!("{user}:***@{host}"),
                    None => format!("{user}@{host}"),
                },
                None => authority.to_string(),
            };
            format!("{scheme}://{authority}{tail}")
        }
        None => text.to_string(),
    };
    // password=… in the key-value form or in the query.
    let mut from = 0;
    while let Some(found) = shown[from..].to_ascii_lowercase().find("password=") {
        let value_start = from + found + "password=".len();
        let value_end = shown[value_start..]
            .find([' ', '&', ';'])
            .map_or(shown.len(), |end| value_start + end);
        shown.replace_range(value_start..value_end, "***");
        from = value_start + 3;
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_hidden_unless_hiding_them_would_hide_other_text() {
        let values = [
            "hunter2!".to_string(),
            "512".into(),
            "abc".into(),
            "true".into(),
        ];
        assert_eq!(
            values_in("pw hunter2! batch 512 abc true", &values),
            "pw *** batch 512 abc true"
        );
        add_secrets(&["quo\"te-secret".to_string()]);
        assert_eq!(secrets(r#"{"x":"quo\"te-secret"}"#), r#"{"x":"***"}"#);
        assert_eq!(secrets("plain quo\"te-secret"), "plain ***");
    }

    #[test]
    fn an_endpoint_keeps_scheme_host_and_port_only() {
        let slack = "https://hooks.slack.com/services/T000/B000/XXXXSECRET";
        assert_eq!(endpoint(slack), "https://hooks.slack.com/…");
        assert_eq!(
            endpoint("http://user:pw@127.0.0.1:8080/hook?token=1"),
            "http://127.0.0.1:8080/…"
        );
        assert_eq!(endpoint("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(endpoint("not a url SECRET"), "<url>");
    }

    #[test]
    fn a_connection_string_loses_its_password_in_either_form() {
        assert_eq!(
            connection("postgres://weir:hunter2@127.0.0.1:5432/db?sslmode=disable"),
            "postgres://weir:***@127.0.0.1:5432/db?sslmode=disable"
        );
        assert_eq!(
            connection("host=/tmp user=weir password=hunter2 dbname=db"),
            "host=/tmp user=weir password=*** dbname=db"
        );
        assert_eq!(
            connection("postgres://h/db?user=u&Password=hunter2&x=1"),
            "postgres://h/db?user=u&Password=***&x=1"
        );
        assert!(!connection("postgres://u:p%40ss@h/db").contains("p%40ss"));
        assert_eq!(
            connection("postgres://weir@h:5432/db?sslmode=verify-full"),
            "postgres://weir@h:5432/db?sslmode=verify-full",
            "no password, nothing to hide"
        );
    }
}
