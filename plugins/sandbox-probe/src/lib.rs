//! A test plugin, not an example: for each row it reports what the sandbox
//! lets a plugin see — files, environment, clocks, network — so the tests can
//! check that the answer is "nothing".

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use weir_plugin_sdk::{Map, NoConfig};

#[derive(Debug, Serialize, Deserialize)]
pub struct Any {
    pub event_time: i64,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Probe {
    /// Entries of `/` the plugin could list, or the error it got.
    pub files: String,
    /// Environment variables visible to the plugin.
    pub env_vars: i64,
    /// What the wall clock says, in ms since the Unix epoch.
    pub wall_clock_ms: i64,
    /// Whether a TCP connection to 127.0.0.1 could be opened.
    pub network: String,
}

pub struct SandboxProbe;

impl Map for SandboxProbe {
    type Config = NoConfig;
    type In = Any;
    type Out = Probe;

    fn new(_: NoConfig) -> Result<Self, String> {
        Ok(Self)
    }

    fn map(&mut self, _: Any) -> Probe {
        let files = match std::fs::read_dir("/") {
            Ok(entries) => format!("listed {} entries", entries.count()),
            Err(e) => format!("denied: {e}"),
        };
        let network = match std::net::TcpStream::connect("127.0.0.1:9") {
            Ok(_) => "connected".to_string(),
            Err(e) => format!("denied: {e}"),
        };
        Probe {
            files,
            env_vars: std::env::vars().count() as i64,
            wall_clock_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(-1, |d| d.as_millis() as i64),
            network,
        }
    }
}

weir_plugin_sdk::export_map!(SandboxProbe);
