//! Connecting to PostgreSQL (the sink and lookup tables), with TLS as libpq
//! does it, so that a connection string that works with `psql` works here:
//!
//! | `sslmode` | TLS | the server's certificate |
//! |---|---|---|
//! | `disable` | never | — |
//! | `prefer` (default) | if the server offers it | not checked, unless `sslrootcert` is given (then as `verify-ca`) |
//! | `require` | always | as `prefer` |
//! | `verify-ca` | always | signed by a root of `sslrootcert` (default: the system's roots) |
//! | `verify-full` | always | as `verify-ca`, and issued for the host connected to |
//!
//! `sslrootcert` is a PEM file, or `system`. The client (rust-postgres)
//! knows only the first three modes and no `sslrootcert`, so both are taken
//! out of the string here and the verification is rustls' (with ring).

use std::sync::Arc;
use std::time::Duration;

use postgres::{Client, Config, NoTls};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// For the TCP connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// For everything up to a usable session: TCP, TLS, authentication.
const SESSION_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// What the connection string says about TLS, and the string without it.
#[derive(Debug)]
struct Parsed {
    rest: String,
    mode: SslMode,
    root_cert: Option<String>,
}

/// Opens a session to the server `url` names (a `postgres://` URL or
/// libpq's `key=value` form). Errors name the problem, never the password.
pub fn connect(url: &str) -> Result<Client, String> {
    let parsed = parse(url)?;
    let mut config: Config = parsed
        .rest
        .parse()
        .map_err(|e| format!("the connection string: {e}"))?;
    config.connect_timeout(CONNECT_TIMEOUT);
    // A server or network gone quiet mid-session is noticed within about
    // a minute, rather than when the kernel gives up hours later.
    config
        .keepalives_idle(Duration::from_secs(30))
        .keepalives_interval(Duration::from_secs(10))
        .keepalives_retries(3)
        .tcp_user_timeout(Duration::from_secs(60));
    config.ssl_mode(match parsed.mode {
        SslMode::Disable => postgres::config::SslMode::Disable,
        SslMode::Prefer => postgres::config::SslMode::Prefer,
        _ => postgres::config::SslMode::Require,
    });
    let tls = match parsed.mode {
        SslMode::Disable => None,
        mode => Some(tls_config(mode, parsed.root_cert.as_deref())?),
    };
    // The client has no timeout past the TCP connect: a server that
    // accepts and then says nothing would hold the caller for ever.
    let (done, outcome) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("weir-pg-connect".into())
        .spawn(move || {
            let client = match tls {
                Some(tls) => config.connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls)),
                None => config.connect(NoTls),
            };
            let _ = done.send(client.map_err(|e| describe(&e)));
        })
        .map_err(|e| format!("cannot start a thread: {e}"))?;
    outcome
        .recv_timeout(SESSION_TIMEOUT)
        .unwrap_or_else(|_| Err(format!("no session within {SESSION_TIMEOUT:?}")))
}

/// A PostgreSQL error as weir shows it: the server's message and SQLSTATE,
/// or the client's error with its causes (a TLS failure is the cause of a
/// connect error).
pub fn describe(error: &postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return format!("{} ({})", db.message(), db.code().code());
    }
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text = format!("{text}: {inner_text}");
        }
        cause = inner.source();
    }
    text
}

/// Takes `sslmode` and `sslrootcert` out of `url`.
fn parse(url: &str) -> Result<Parsed, String> {
    let (rest, mode, root_cert) =
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            take_from_query(url)
        } else {
            take_from_pairs(url)
        };
    let mode = match mode.as_deref() {
        None | Some("prefer") => SslMode::Prefer,
        Some("disable") => SslMode::Disable,
        Some("require") => SslMode::Require,
        Some("verify-ca") => SslMode::VerifyCa,
        Some("verify-full") => SslMode::VerifyFull,
        Some(other) => {
            return Err(format!(
                "sslmode `{other}`: use disable, prefer, require, verify-ca or verify-full"
            ))
        }
    };
    Ok(Parsed {
        rest,
        mode,
        root_cert,
    })
}

/// The URL form: `?sslmode=…&sslrootcert=…` among other parameters.
fn take_from_query(url: &str) -> (String, Option<String>, Option<String>) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), None, None);
    };
    let (mut mode, mut root_cert, mut kept) = (None, None, Vec::new());
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decoded = || {
            url::form_urlencoded::parse(format!("v={value}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
        };
        match key {
            "sslmode" => mode = decoded(),
            "sslrootcert" => root_cert = decoded(),
            _ => kept.push(pair),
        }
    }
    let rest = match kept.is_empty() {
        true => base.to_string(),
        false => format!("{base}?{}", kept.join("&")),
    };
    (rest, mode, root_cert)
}

/// libpq's `key=value` form: pairs apart by spaces, a value maybe quoted
/// ('…', with `\'` and `\\`).
fn take_from_pairs(text: &str) -> (String, Option<String>, Option<String>) {
    let (mut mode, mut root_cert, mut kept) = (None, None, Vec::new());
    let mut chars = text.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut key = String::new();
        while let Some(&(_, c)) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|&(_, c)| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek().is_some_and(|&(_, c)| c == '=') {
            chars.next();
            while chars.peek().is_some_and(|&(_, c)| c.is_whitespace()) {
                chars.next();
            }
            let quoted = chars.peek().is_some_and(|&(_, c)| c == '\'');
            if quoted {
                chars.next();
            }
            while let Some((_, c)) = chars.next() {
                match c {
                    '\\' if quoted => value.extend(chars.next().map(|(_, c)| c)),
                    '\'' if quoted => break,
                    c if c.is_whitespace() && !quoted => break,
                    c => value.push(c),
                }
            }
        }
        let end = chars.peek().map_or(text.len(), |&(at, _)| at);
        match key.as_str() {
            "sslmode" => mode = Some(value),
            "sslrootcert" => root_cert = Some(value),
            _ => kept.push(text[start..end].trim()),
        }
    }
    (kept.join(" "), mode, root_cert)
}

/// rustls for `mode`, verifying as the table at the top says.
fn tls_config(mode: SslMode, root_cert: Option<&str>) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let verifier: Arc<dyn ServerCertVerifier> = match (mode, root_cert) {
        (SslMode::Prefer | SslMode::Require, None) => Arc::new(Lenient {
            provider,
            chain: None,
        }),
        (mode, root_cert) => {
            let roots = Arc::new(roots(root_cert)?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| format!("TLS roots: {e}"))?;
            match mode {
                SslMode::VerifyFull => webpki,
                _ => Arc::new(Lenient {
                    provider,
                    chain: Some(webpki),
                }),
            }
        }
    };
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// The roots a server's certificate must chain to: those in the PEM file
/// `sslrootcert` names, or the system's.
fn roots(root_cert: Option<&str>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    match root_cert {
        None | Some("system") => {
            let found = rustls_native_certs::load_native_certs();
            if let Some(e) = found.errors.first() {
                tracing::warn!("reading the system's root certificates: {e}");
            }
            roots.add_parsable_certificates(found.certs);
        }
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("sslrootcert {path}: {e}"))?;
            roots.add_parsable_certificates(certs);
        }
    }
    if roots.is_empty() {
        return Err(format!(
            "sslrootcert {}: no root certificate in it",
            root_cert.unwrap_or("system")
        ));
    }
    Ok(roots)
}

/// Checks a server's certificate as the mode says: not at all (`prefer`
/// and `require` without roots, as libpq: encrypted, the server's
/// identity unknown), its chain only (`verify-ca`). The handshake's
/// signature is checked either way.
#[derive(Debug)]
struct Lenient {
    provider: Arc<CryptoProvider>,
    /// `None`: any certificate.
    chain: Option<Arc<WebPkiServerVerifier>>,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        // webpki checks the chain before the name: a name error means
        // the chain held.
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_settings_are_taken_out_of_either_form() {
        let url = parse(
            "postgres://u:p@h:5432/db?sslmode=verify-full&application_name=w&sslrootcert=%2Fca.pem",
        )
        .unwrap();
        assert_eq!(url.rest, "postgres://u:p@h:5432/db?application_name=w");
        assert_eq!(
            (url.mode, url.root_cert.as_deref()),
            (SslMode::VerifyFull, Some("/ca.pem"))
        );
        let pairs = parse(
            "host=h sslmode = verify-ca password='a b\\'c' sslrootcert='/my ca.pem' dbname=d",
        )
        .unwrap();
        assert_eq!(pairs.rest, "host=h password='a b\\'c' dbname=d");
        assert_eq!(
            (pairs.mode, pairs.root_cert.as_deref()),
            (SslMode::VerifyCa, Some("/my ca.pem"))
        );
        assert_eq!(parse("host=h").unwrap().mode, SslMode::Prefer);
        let wrong = parse("host=h sslmode=verify").unwrap_err();
        assert!(wrong.contains("verify-full"), "{wrong}");
    }
}
