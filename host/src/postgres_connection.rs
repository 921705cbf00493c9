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
//! `sslrootcert` is a PEM file, or `system`. A server that asks for a
//! client certificate (`hostssl … cert`, or `clientcert=verify-full`) gets
//! `sslcert` with its key `sslkey` (PEM files; an encrypted key is refused,
//! as is libpq's default of `~/.postgresql/postgresql.crt`: name them). The
//! client (rust-postgres) knows only the first three modes and none of
//! these files, so they are taken out of the string here and TLS is
//! rustls' (with ring).

use std::sync::Arc;
use std::time::Duration;

use postgres::{Client, Config, NoTls};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
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
    files: TlsFiles,
}

/// The files a connection string names for TLS.
#[derive(Debug, Default, PartialEq, Eq)]
struct TlsFiles {
    root_cert: Option<String>,
    /// The client's certificate and its key, for a server that asks.
    cert: Option<String>,
    key: Option<String>,
}

/// The TLS parameters taken out of a connection string.
#[derive(Debug, Default)]
struct Taken {
    mode: Option<String>,
    files: TlsFiles,
}

impl Taken {
    /// Keeps `value` if `key` is one of ours; false for any other key.
    fn take(&mut self, key: &str, value: Option<String>) -> bool {
        let slot = match key {
            "sslmode" => &mut self.mode,
            "sslrootcert" => &mut self.files.root_cert,
            "sslcert" => &mut self.files.cert,
            "sslkey" => &mut self.files.key,
            _ => return false,
        };
        *slot = value;
        true
    }
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
        mode => Some(tls_config(mode, &parsed.files)?),
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

/// Takes the TLS parameters out of `url`.
fn parse(url: &str) -> Result<Parsed, String> {
    let (rest, taken) = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        take_from_query(url)
    } else {
        take_from_pairs(url)
    };
    let mode = match taken.mode.as_deref() {
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
    if taken.files.cert.is_some() != taken.files.key.is_some() {
        return Err("sslcert and sslkey go together: the client certificate and its key".into());
    }
    Ok(Parsed {
        rest,
        mode,
        files: taken.files,
    })
}

/// The URL form: `?sslmode=…&sslrootcert=…` among other parameters.
fn take_from_query(url: &str) -> (String, Taken) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), Taken::default());
    };
    let (mut taken, mut kept) = (Taken::default(), Vec::new());
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decoded = || {
            url::form_urlencoded::parse(format!("v={value}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
        };
        if !taken.take(key, decoded()) {
            kept.push(pair);
        }
    }
    let rest = match kept.is_empty() {
        true => base.to_string(),
        false => format!("{base}?{}", kept.join("&")),
    };
    (rest, taken)
}

/// libpq's `key=value` form: pairs apart by spaces, a value maybe quoted
/// ('…', with `\'` and `\\`).
fn take_from_pairs(text: &str) -> (String, Taken) {
    let (mut taken, mut kept) = (Taken::default(), Vec::new());
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
        if !taken.take(&key, Some(value)) {
            kept.push(text[start..end].trim());
        }
    }
    (kept.join(" "), taken)
}

/// rustls for `mode`, verifying as the table at the top says.
fn tls_config(mode: SslMode, files: &TlsFiles) -> Result<rustls::ClientConfig, String> {
    let root_cert = files.root_cert.as_deref();
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
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    match (&files.cert, &files.key) {
        (Some(cert), Some(key)) => {
            let (chain, key_der) = client_identity(cert, key)?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| format!("sslcert {cert} with sslkey {key}: {e}"))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

/// The client's certificate chain (`sslcert`) and private key (`sslkey`),
/// PEM files.
fn client_identity(
    cert: &str,
    key: &str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("sslcert {cert}: {e}"))?;
    if chain.is_empty() {
        return Err(format!("sslcert {cert}: no certificate in it"));
    }
    let text = std::fs::read_to_string(key).map_err(|e| format!("sslkey {key}: {e}"))?;
    if text.contains("ENCRYPTED") {
        return Err(format!(
            "sslkey {key}: the key is encrypted; weir takes an unencrypted key (openssl pkey -in {key} -out plain.key), kept readable by weir alone"
        ));
    }
    let key_der = PrivateKeyDer::from_pem_slice(text.as_bytes())
        .map_err(|e| format!("sslkey {key}: no private key in it ({e})"))?;
    Ok((chain, key_der))
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
            "postgres://u:p@h:5432/db?sslmode=verify-full&application_name=w&sslrootcert=%2Fca.pem&sslcert=c.pem&sslkey=k.pem",
        )
        .unwrap();
        assert_eq!(url.rest, "postgres://u:p@h:5432/db?application_name=w");
        assert_eq!(url.mode, SslMode::VerifyFull);
        let files = |root: &str, cert: Option<&str>, key: Option<&str>| TlsFiles {
            root_cert: Some(root.into()),
            cert: cert.map(String::from),
            key: key.map(String::from),
        };
        assert_eq!(url.files, files("/ca.pem", Some("c.pem"), Some("k.pem")));
        let pairs = parse(
            "host=h sslmode = verify-ca password='a b\\'c' sslrootcert='/my ca.pem' dbname=d",
        )
        .unwrap();
        assert_eq!(pairs.rest, "host=h password='a b\\'c' dbname=d");
        assert_eq!(pairs.mode, SslMode::VerifyCa);
        assert_eq!(pairs.files, files("/my ca.pem", None, None));
        assert_eq!(parse("host=h").unwrap().mode, SslMode::Prefer);
        let wrong = parse("host=h sslmode=verify").unwrap_err();
        assert!(wrong.contains("verify-full"), "{wrong}");
        let alone = parse("host=h sslcert=c.pem").unwrap_err();
        assert!(alone.contains("sslcert and sslkey go together"), "{alone}");
    }

    #[test]
    fn a_client_key_must_be_there_and_not_encrypted() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        let path = |p: &std::path::Path| p.display().to_string();
        let missing = client_identity(&path(&cert), &path(&key)).unwrap_err();
        assert!(missing.starts_with("sslcert "), "{missing}");
        std::fs::write(&cert, "not a certificate").unwrap();
        let empty = client_identity(&path(&cert), &path(&key)).unwrap_err();
        assert!(empty.contains("no certificate"), "{empty}");
        std::fs::write(
            &cert,
            "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        std::fs::write(
            &key,
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n",
        )
        .unwrap();
        let encrypted = client_identity(&path(&cert), &path(&key)).unwrap_err();
        assert!(encrypted.contains("the key is encrypted"), "{encrypted}");
    }
}
