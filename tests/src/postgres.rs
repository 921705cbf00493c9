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
        server.run_script(&[
            "start",
            &server.data(),
            &server.port.to_string(),
            cert.to_str().expect("a UTF-8 path"),
            key.to_str().expect("a UTF-8 path"),
        ]);
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
