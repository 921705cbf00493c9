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
