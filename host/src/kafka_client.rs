//! What every Kafka client of weir's (source, sink, changelog table) shares:
//! the librdkafka properties a pipeline gives, with the files they name
//! found relative to the pipeline file, and which of librdkafka's errors
//! end a run instead of being retried.
//!
//! librdkafka retries every connection failure for ever, which is right
//! for a broker that is restarting and wrong for one that refuses weir's
//! certificate check or credentials: those do not heal by waiting, so a
//! run that hits one stops and says why, as Kafka's Java clients raise
//! `SslAuthenticationException` and `SaslAuthenticationException`.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use indexmap::IndexMap;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};

/// librdkafka properties whose value is a file or directory.
const FILE_PROPERTIES: &[&str] = &[
    "ssl.ca.location",
    "ssl.certificate.location",
    "ssl.key.location",
    "ssl.keystore.location",
    "ssl.crl.location",
    "ssl.engine.location",
    "sasl.kerberos.keytab",
];

/// The properties as librdkafka takes them: a file named by a relative
/// path is found beside the pipeline file (`base`), as every other path of
/// a pipeline is, and must exist; Java's `sasl.jaas.config`, which Flink
/// and Kafka Streams users carry over, becomes librdkafka's user name and
/// password. A name librdkafka does not know, or a value it refuses, is an
/// error when the pipeline is loaded, so that `weir validate` finds it.
pub fn properties(
    given: IndexMap<String, String>,
    base: &Path,
) -> Result<Vec<(String, String)>, String> {
    let mut resolved = Vec::with_capacity(given.len() + 1);
    for (key, value) in given {
        if key == "sasl.jaas.config" {
            let (username, password) = jaas_login(&value)?;
            resolved.push(("sasl.username".to_string(), username));
            resolved.push(("sasl.password".to_string(), password));
            continue;
        }
        resolved.push(resolve_file(key, value, base)?);
    }
    for (key, value) in &resolved {
        check(key, value)?;
    }
    Ok(resolved)
}

/// Whether librdkafka takes `key = value`.
fn check(key: &str, value: &str) -> Result<(), String> {
    let mut one = ClientConfig::new();
    one.set(key, value);
    match one.create_native_config() {
        Ok(_) => Ok(()),
        Err(KafkaError::ClientConfig(_, reason, _, _)) => {
            Err(format!("properties.\"{key}\": {reason}"))
        }
        Err(other) => Err(format!("properties.\"{key}\": {other}")),
    }
}

/// The user name and password of a Java client's `sasl.jaas.config`:
/// `org.apache.kafka.common.security.plain.PlainLoginModule required
/// username="…" password="…";` (or `…scram.ScramLoginModule`).
fn jaas_login(config: &str) -> Result<(String, String), String> {
    let refuse = |why: &str| {
        format!(
            "properties.\"sasl.jaas.config\": {why}; weir understands PlainLoginModule and ScramLoginModule with username=\"…\" password=\"…\", or give \"sasl.username\" and \"sasl.password\" as librdkafka names them"
        )
    };
    let mut words = config
        .trim()
        .trim_end_matches(';')
        .splitn(3, char::is_whitespace);
    let module = words.next().unwrap_or_default();
    if !(module.ends_with(".PlainLoginModule") || module.ends_with(".ScramLoginModule")) {
        return Err(refuse("a login module weir cannot use"));
    }
    if words.next() != Some("required") {
        return Err(refuse("the module is not followed by `required`"));
    }
    let mut options = words.next().unwrap_or_default().trim();
    let (mut username, mut password) = (None, None);
    while !options.is_empty() {
        let (name, rest) = options
            .split_once('=')
            .ok_or_else(|| refuse("an option without `=`"))?;
        let rest = rest
            .trim_start()
            .strip_prefix('"')
            .ok_or_else(|| refuse("an option value not in double quotes"))?;
        let end = rest
            .find('"')
            .ok_or_else(|| refuse("an unterminated double quote"))?;
        let value = rest[..end].to_string();
        match name.trim() {
            "username" => username = Some(value),
            "password" => password = Some(value),
            _ => {}
        }
        options = rest[end + 1..].trim_start();
    }
    match (username, password) {
        (Some(username), Some(password)) => Ok((username, password)),
        _ => Err(refuse("username or password missing")),
    }
}

/// `key = value`, with `value` made a path from `base` if `key` names a file.
fn resolve_file(key: String, value: String, base: &Path) -> Result<(String, String), String> {
    // `ssl.ca.location = "probe"` asks librdkafka to look in the usual
    // system places.
    if !FILE_PROPERTIES.contains(&key.as_str()) || value == "probe" {
        return Ok((key, value));
    }
    let path = base.join(&value);
    if !path.exists() {
        return Err(format!(
            "properties.\"{key}\": {} does not exist (a relative path is taken from the pipeline file's directory)",
            path.display()
        ));
    }
    Ok((key, path.display().to_string()))
}

/// What to tell the user when `error` (librdkafka's `reason` for it) is one
/// that retrying cannot mend; `None` for the transient rest.
pub fn fatal(error: &KafkaError, reason: &str, servers: &str) -> Option<String> {
    let code = error.rdkafka_error_code()?;
    let advice = match code {
        RDKafkaErrorCode::SSL => {
            "TLS with the broker failed. If the broker's certificate is signed by a private CA, \
             give its PEM in properties.\"ssl.ca.location\"; check that the broker speaks TLS on \
             this port (security.protocol = \"ssl\" or \"sasl_ssl\") and that the name in \
             bootstrap_servers is in its certificate"
        }
        RDKafkaErrorCode::Authentication | RDKafkaErrorCode::SaslAuthenticationFailed => {
            "the broker refused weir's credentials: check sasl.mechanism, sasl.username and \
             sasl.password, and security.protocol (\"sasl_ssl\" or \"sasl_plaintext\")"
        }
        RDKafkaErrorCode::TopicAuthorizationFailed
        | RDKafkaErrorCode::GroupAuthorizationFailed
        | RDKafkaErrorCode::ClusterAuthorizationFailed => {
            "the broker's ACLs do not allow this: grant weir's principal access to the topic \
             (and, for a source, its consumer group)"
        }
        _ => return None,
    };
    // librdkafka's reason says what failed ("certificate verify failed");
    // the error alone only its class ("SSL error").
    let what = if reason.is_empty() {
        error.to_string()
    } else {
        reason.trim_end_matches(['.', ' ']).to_string()
    };
    Some(format!("broker {servers}: {what}; {advice}"))
}

/// The first fatal error a client's callbacks saw, for the thread that
/// drives the client to pick up.
#[derive(Debug)]
pub struct FatalError {
    /// The client's `bootstrap.servers`, which the message names.
    servers: String,
    /// Set with `message`: the reader looks once per message polled, so
    /// the common answer (none) costs a load, not a lock.
    seen: AtomicBool,
    message: Mutex<Option<String>>,
}

impl FatalError {
    pub fn new(servers: &str) -> Self {
        Self {
            servers: servers.to_string(),
            seen: AtomicBool::new(false),
            message: Mutex::new(None),
        }
    }

    /// What a client context's `error` callback does: keeps a fatal error,
    /// logs the transient rest (librdkafka reconnects by itself).
    pub fn client_error(&self, error: &KafkaError, reason: &str) {
        if !self.record(error, reason) {
            tracing::warn!(target: "librdkafka", %error, "{reason}");
        }
    }

    /// Keeps `error` if it is fatal and none was kept before.
    pub fn record(&self, error: &KafkaError, reason: &str) -> bool {
        let Some(message) = fatal(error, reason, &self.servers) else {
            return false;
        };
        let mut kept = self.message.lock().unwrap_or_else(|p| p.into_inner());
        kept.get_or_insert(message);
        self.seen.store(true, Ordering::Release);
        true
    }

    pub fn get(&self) -> Option<String> {
        if !self.seen.load(Ordering::Acquire) {
            return None;
        }
        self.message
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_found_beside_the_pipeline_and_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), "x").unwrap();
        let given: IndexMap<String, String> = [
            ("ssl.ca.location", "ca.pem"),
            ("security.protocol", "ssl"),
            ("sasl.username", "ca.pem"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let resolved = properties(given, dir.path()).unwrap();
        assert_eq!(
            resolved[0].1,
            dir.path().join("ca.pem").display().to_string()
        );
        assert_eq!(resolved[1].1, "ssl");
        assert_eq!(resolved[2].1, "ca.pem", "only file properties are paths");

        let probe = IndexMap::from([("ssl.ca.location".to_string(), "probe".to_string())]);
        assert_eq!(properties(probe, dir.path()).unwrap()[0].1, "probe");

        let missing = IndexMap::from([("ssl.key.location".to_string(), "key.pem".to_string())]);
        let error = properties(missing, dir.path()).unwrap_err();
        assert!(error.contains("properties.\"ssl.key.location\"") && error.contains("key.pem"));
    }

    #[test]
    fn names_and_values_librdkafka_refuses_are_errors_at_load() {
        let given = |key: &str, value: &str| {
            properties(
                IndexMap::from([(key.to_string(), value.to_string())]),
                Path::new("."),
            )
        };
        let unknown = given("fetch.max.bytez", "1048576").unwrap_err();
        assert!(
            unknown.starts_with("properties.\"fetch.max.bytez\": No such configuration property"),
            "{unknown}"
        );
        let bad = given("security.protocol", "tls").unwrap_err();
        assert!(bad.contains("Invalid value \"tls\""), "{bad}");
        assert!(given("security.protocol", "SASL_SSL").is_ok());
        assert!(given("compression.type", "zstd").is_ok());
    }

    #[test]
    fn a_java_jaas_login_becomes_a_user_name_and_password() {
        let config = |value: &str| {
            let given = IndexMap::from([("sasl.jaas.config".to_string(), value.to_string())]);
            properties(given, Path::new("."))
        };
        let plain = config(
            r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="api-key" password="p@ss w=rd";"#,
        )
        .unwrap();
        assert_eq!(
            plain,
            vec![
                ("sasl.username".to_string(), "api-key".to_string()),
                ("sasl.password".to_string(), "p@ss w=rd".to_string())
            ]
        );
        let scram = config(
            "org.apache.kafka.common.security.scram.ScramLoginModule required\n  password=\"b\"\n  username=\"a\";",
        )
        .unwrap();
        assert_eq!((scram[0].1.as_str(), scram[1].1.as_str()), ("a", "b"));
        for (bad, why) in [
            (
                r#"com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true;"#,
                "a login module weir cannot use",
            ),
            (
                r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="a";"#,
                "username or password missing",
            ),
            (
                r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="a" password="b"#,
                "unterminated",
            ),
            (
                r#"org.apache.kafka.common.security.plain.PlainLoginModule username="a" password="b";"#,
                "not followed by `required`",
            ),
        ] {
            let error = config(bad).unwrap_err();
            assert!(error.contains(why), "{bad}: {error}");
            assert!(!error.contains("\"b\""), "no password in {error}");
        }
    }

    #[test]
    fn certificate_and_credential_failures_are_fatal_and_the_rest_is_not() {
        let ssl = KafkaError::Global(RDKafkaErrorCode::SSL);
        let message = fatal(
            &ssl,
            "handshake failed: certificate verify failed.",
            "b:9093",
        )
        .unwrap();
        assert!(
            message.starts_with("broker b:9093: handshake failed: certificate verify failed;")
                && message.contains("ssl.ca.location"),
            "{message}"
        );
        let sasl = KafkaError::Global(RDKafkaErrorCode::SaslAuthenticationFailed);
        assert!(fatal(&sasl, "", "b")
            .unwrap()
            .contains("SASL Authentication failed"));
        assert!(fatal(&sasl, "", "b").unwrap().contains("sasl.password"));
        for transient in [
            RDKafkaErrorCode::AllBrokersDown,
            RDKafkaErrorCode::BrokerTransportFailure,
            RDKafkaErrorCode::OperationTimedOut,
        ] {
            assert_eq!(fatal(&KafkaError::Global(transient), "down", "b"), None);
        }
        let kept = FatalError::new("b");
        let down = KafkaError::Global(RDKafkaErrorCode::AllBrokersDown);
        assert!(!kept.record(&down, ""));
        assert_eq!(kept.get(), None);
        assert!(kept.record(&ssl, ""));
        assert!(kept.record(&sasl, ""));
        assert!(kept.get().unwrap().contains("TLS"), "the first is kept");
    }
}
