//! Certificates made per test run (rcgen): a CA and the server
//! certificates it signs, for the TLS tests' servers.

pub struct Authority {
    cert: rcgen::Certificate,
    key: rcgen::KeyPair,
}

impl Authority {
    pub fn new(name: &str) -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let key = rcgen::KeyPair::generate().expect("a key");
        let cert = params.self_signed(&key).expect("a self-signed CA");
        Self { cert, key }
    }

    /// The CA's certificate, PEM.
    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A client certificate whose common name is `user` (PostgreSQL's
    /// `cert` login takes the user from it) and its key, PEM.
    pub fn sign_client(&self, user: &str) -> (String, String) {
        let key = rcgen::KeyPair::generate().expect("a key");
        let mut params =
            rcgen::CertificateParams::new(Vec::<String>::new()).expect("client params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, user);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("a signed certificate");
        (cert.pem(), key.serialize_pem())
    }

    /// A server certificate for `names` (DNS names or IP addresses) and
    /// its key, PEM.
    pub fn sign(&self, names: &[&str]) -> (String, String) {
        let key = rcgen::KeyPair::generate().expect("a key");
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let cert = rcgen::CertificateParams::new(names)
            .expect("server params")
            .signed_by(&key, &self.cert, &self.key)
            .expect("a signed certificate");
        (cert.pem(), key.serialize_pem())
    }
}

/// A TLS server's configuration presenting `cert_pem` (with `key_pem`).
pub fn server_config(
    cert_pem: &str,
    key_pem: &str,
) -> std::sync::Arc<tokio_rustls::rustls::ServerConfig> {
    use tokio_rustls::rustls;
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("a PEM certificate");
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).expect("a PEM key");
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("a certificate and its key");
    std::sync::Arc::new(config)
}
