//! A test plugin, not an example: for each row it reports what the sandbox
//! lets a plugin see — files, environment, clocks, network — so the tests can
//! check that the answer is "nothing".

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use weir_plugin_sdk::Map;

#[derive(Debug, Serialize, Deserialize)]
pub struct Any {
    pub event_time: i64,
}

/// Where to probe: files and directories, and a port on 127.0.0.1 that the
/// test listens on (so a connection that gets through is seen).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Config {
    pub paths: Vec<String>,
    pub port: u16,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Probe {
    /// For each path probed: what reading or listing it gave, `path: …`,
    /// joined by `; `.
    pub files: String,
    /// How many of the paths could be read or listed.
    pub files_open: i64,
    /// Environment variables visible to the plugin.
    pub env_vars: i64,
    /// What the wall clock says, in ms since the Unix epoch.
    pub wall_clock_ms: i64,
    /// Whether a TCP connection to 127.0.0.1:port could be opened.
    pub network: String,
}

pub struct SandboxProbe {
    config: Config,
}

/// What the sandbox says to reading `path` as a directory, then as a file.
fn probe_path(path: &str) -> Result<String, String> {
    match std::fs::read_dir(path) {
        Ok(entries) => Ok(format!("listed {} entries", entries.count())),
        Err(dir_error) => match std::fs::read(path) {
            Ok(bytes) => Ok(format!("read {} bytes", bytes.len())),
            Err(file_error) => Err(format!("denied: {dir_error}; {file_error}")),
        },
    }
}

impl Map for SandboxProbe {
    type Config = Config;
    type In = Any;
    type Out = Probe;

    fn new(config: Config) -> Result<Self, String> {
        Ok(Self { config })
    }

    fn map(&mut self, _: Any) -> Probe {
        let results: Vec<(&String, Result<String, String>)> = self
            .config
            .paths
            .iter()
            .map(|p| (p, probe_path(p)))
            .collect();
        let files = results
            .iter()
            .map(|(path, result)| match result {
                Ok(what) | Err(what) => format!("{path}: {what}"),
            })
            .collect::<Vec<_>>()
            .join("; ");
        let network = match std::net::TcpStream::connect(("127.0.0.1", self.config.port)) {
            Ok(_) => "connected".to_string(),
            Err(e) => format!("denied: {e}"),
        };
        Probe {
            files,
            files_open: results.iter().filter(|(_, r)| r.is_ok()).count() as i64,
            env_vars: std::env::vars().count() as i64,
            wall_clock_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(-1, |d| d.as_millis() as i64),
            network,
        }
    }
}

weir_plugin_sdk::export_map!(SandboxProbe);
