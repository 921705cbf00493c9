//! What weir prints of text that came from outside: credentials left out
//! and long text cut short.
//!
//! A webhook URL is often the secret itself (a Slack incoming webhook's
//! path is its token), and a PostgreSQL URL may carry a password. Logs,
//! dead letters, error messages, `/v1/status` and the live page name such
//! an endpoint by the forms below, never by the URL as configured.

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
                Some((user, host)) => {
                    let user = user.split_once(':').map_or(user, |(user, _)| user);
                    format!("{user}:***@{host}")
                }
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
    }
}
