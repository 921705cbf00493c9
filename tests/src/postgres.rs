//! A throwaway PostgreSQL server for a test: `scripts/postgres` on a free
//! loopback port with its own data directory, stopped when dropped.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::live::free_port;

pub struct Postgres {
    dir: tempfile::TempDir,
    pub port: u16,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/postgres")
}

impl Postgres {
    pub fn start() -> Self {
        let server = Self {
            dir: tempfile::tempdir().expect("a data directory"),
            port: free_port(),
        };
        server.run_script(&["start", &server.data(), &server.port.to_string()]);
        server
    }

    /// A server whose TCP clients must use TLS, presenting `cert_pem`
    /// (signed for whatever the test chose) with `key_pem`.
    pub fn start_tls(cert_pem: &str, key_pem: &str) -> Self {
        Self::start_tls_with(cert_pem, key_pem, None)
    }

    /// As [`Postgres::start_tls`], where TCP clients log in by a client
    /// certificate signed by the CA `client_ca_pem`, its CN the user name
    /// (`hostssl … cert`).
    pub fn start_tls_asking_for(cert_pem: &str, key_pem: &str, client_ca_pem: &str) -> Self {
        Self::start_tls_with(cert_pem, key_pem, Some(client_ca_pem))
    }

    fn start_tls_with(cert_pem: &str, key_pem: &str, client_ca_pem: Option<&str>) -> Self {
        let server = Self {
            dir: tempfile::tempdir().expect("a data directory"),
            port: free_port(),
        };
        let (cert, key) = (
            server.dir.path().join("cert.pem"),
            server.dir.path().join("key.pem"),
        );
        std::fs::write(&cert, cert_pem).expect("writing the certificate");
        std::fs::write(&key, key_pem).expect("writing the key");
        let client_ca = server.dir.path().join("client-ca.pem");
        let mut args = vec![
            "start".to_string(),
            server.data(),
            server.port.to_string(),
            cert.display().to_string(),
            key.display().to_string(),
        ];
        if let Some(pem) = client_ca_pem {
            std::fs::write(&client_ca, pem).expect("writing the client CA");
            args.push(client_ca.display().to_string());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        server.run_script(&args);
        server
    }

    /// A client over the server's Unix socket, which needs no TLS.
    pub fn local_client(&self) -> postgres::Client {
        let url = format!(
            "host={} port={} user=postgres dbname=postgres",
            self.data(),
            self.port
        );
        postgres::Client::connect(&url, postgres::NoTls).expect("connecting over the socket")
    }

    fn data(&self) -> String {
        self.dir.path().join("pg").display().to_string()
    }

    fn run_script(&self, args: &[&str]) {
        let out = Command::new("bash")
            .arg(script())
            .args(args)
            .output()
            .expect("running scripts/postgres");
        assert!(
            out.status.success(),
            "scripts/postgres {args:?}: {}{}",
            crate::text(&out.stdout),
            crate::text(&out.stderr)
        );
    }

    /// The connection string weir and the test use.
    pub fn url(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=postgres dbname=postgres",
            self.port
        )
    }

    pub fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url(), postgres::NoTls)
            .expect("connecting to the test server")
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .args(["stop", &self.data()])
            .output();
    }
}

/// A pipeline file reading readings from the file `input` (sensor_id,
/// temperature, event_time as epoch millis) into `table` at `url`.
pub fn readings_into(input: &Path, url: &str, table: &str) -> String {
    format!(
        r#"
source = {{ kind = "file", path = "{}" }}
schema = {{ sensor_id = "string", temperature = "f64", event_time = "i64" }}
event_time = {{ field = "event_time", max_out_of_orderness = "1s" }}
sink = {{ kind = "postgres", url = "{url}", table = "{table}" }}
"#,
        input.display()
    )
}
