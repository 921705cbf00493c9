//! A throwaway S3-compatible server for a test: s3s-fs, started by
//! `scripts/object-store` on a free loopback port over its own directory,
//! with its own access key, stopped when dropped. Objects are files under
//! that directory, so a test can look at (and damage) what weir stored.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::live::free_port;

pub const ACCESS_KEY: &str = "weir-test-key";
pub const SECRET_KEY: &str = "weir-test-secret-0123456789";

pub struct S3Server {
    dir: tempfile::TempDir,
    pub port: u16,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/object-store")
}

impl S3Server {
    pub fn start() -> Self {
        let server = Self {
            dir: tempfile::tempdir().expect("a data directory"),
            port: free_port(),
        };
        let out = Command::new("bash")
            .arg(script())
            .args([
                "start",
                &server.root().display().to_string(),
                &server.port.to_string(),
                ACCESS_KEY,
                SECRET_KEY,
            ])
            .output()
            .expect("running scripts/object-store");
        assert!(
            out.status.success(),
            "scripts/object-store start: {}{}",
            crate::text(&out.stdout),
            crate::text(&out.stderr)
        );
        server
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("objects")
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Makes a bucket; returns the directory its objects appear in.
    pub fn bucket(&self, name: &str) -> PathBuf {
        let dir = self.root().join(name);
        std::fs::create_dir_all(&dir).expect("a bucket directory");
        dir
    }

    /// A pipeline's `[checkpoint]` location lines for `s3://bucket/prefix`
    /// on this server, with its credentials.
    pub fn checkpoint_table(&self, bucket: &str, prefix: &str) -> String {
        format!(
            "dir = \"s3://{bucket}/{prefix}\"\n\
             storage = {{ aws_endpoint = \"{}\", aws_access_key_id = \"{ACCESS_KEY}\", aws_secret_access_key = \"{SECRET_KEY}\", aws_region = \"us-east-1\" }}\n",
            self.endpoint()
        )
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .args(["stop", &self.root().display().to_string()])
            .output();
    }
}
