//! A `weir run --admin` host as the hot-swap tests drive it: a real process,
//! fed on standard input at a steady pace, changed through the real HTTP API.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::weir_binary;

pub struct LiveHost {
    child: Child,
    stdin: Option<ChildStdin>,
    pub addr: String,
    pub token: String,
    pub token_file: PathBuf,
    stderr_file: PathBuf,
    agent: ureq::Agent,
}

/// A port free at the time of asking.
/// A one-thread runtime and a listener on a free loopback port, for a
/// test's own server.
pub fn local_server() -> (tokio::runtime::Runtime, tokio::net::TcpListener) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("binding a local port");
    (runtime, listener)
}

pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("binding port 0");
    listener.local_addr().expect("local addr").port()
}

/// Where a run's output ended up.
pub struct Finished {
    pub success: bool,
    pub stderr: String,
}

impl LiveHost {
    /// Starts `weir run pipeline --admin …` with `extra` arguments, and
    /// waits until the admin API answers.
    pub fn start(pipeline: &Path, dir: &Path, extra: &[&str]) -> Self {
        Self::start_with_env(pipeline, dir, extra, &[])
    }

    /// As [`LiveHost::start`], with `env` added to weir's environment.
    pub fn start_with_env(
        pipeline: &Path,
        dir: &Path,
        extra: &[&str],
        env: &[(&str, String)],
    ) -> Self {
        let addr = format!("127.0.0.1:{}", free_port());
        let token_file = dir.join("admin.token");
        let stderr_file = dir.join("host.stderr");
        let child = Command::new(weir_binary())
            .arg("run")
            .arg(pipeline)
            .args(["--admin", &addr, "--admin-token-file"])
            .arg(&token_file)
            .args(extra)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env_remove("WEIR_ADMIN_TOKEN")
            .env("WEIR_LOG", "weir=info")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr_file).expect("stderr file"))
            .spawn()
            .expect("starting weir");
        let mut host = Self {
            child,
            stdin: None,
            addr,
            token: String::new(),
            token_file,
            stderr_file,
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(Some(Duration::from_secs(60)))
                .build()
                .into(),
        };
        host.stdin = host.child.stdin.take();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !host.token_file.exists() {
            if let Ok(Some(status)) = host.child.try_wait() {
                panic!(
                    "weir exited ({status}) before serving the admin API:\n{}",
                    host.stderr()
                );
            }
            assert!(Instant::now() < deadline, "admin API not up after 60 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        host.token = std::fs::read_to_string(&host.token_file).expect("token");
        host
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_file).unwrap_or_default()
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn answer(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> (u16, Value) {
        let mut response = response.expect("admin API reachable");
        let status = response.status().as_u16();
        let body = response.body_mut().read_json().unwrap_or(Value::Null);
        (status, body)
    }

    pub fn get(&self, path: &str) -> (u16, Value) {
        Self::answer(self.agent.get(self.url(path)).call())
    }

    /// POSTs JSON with `token` (`None`: no Authorization header).
    pub fn post(&self, path: &str, body: &Value, token: Option<&str>) -> (u16, Value) {
        let mut request = self.agent.post(self.url(path));
        if let Some(token) = token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        Self::answer(request.send_json(body))
    }

    pub fn delete(&self, path: &str) -> (u16, Value) {
        let request = self
            .agent
            .delete(self.url(path))
            .header("Authorization", format!("Bearer {}", self.token));
        Self::answer(request.call())
    }

    /// Swaps `stage` to uploaded component bytes.
    pub fn upload(&self, stage: &str, bytes: &[u8]) -> (u16, Value) {
        let request = self
            .agent
            .post(self.url(&format!("/v1/plugins/{stage}/swap")))
            .header("Authorization", format!("Bearer {}", self.token))
            .header("Content-Type", "application/wasm");
        Self::answer(request.send(bytes))
    }

    /// Swaps `stage` to the component at `path` (optionally with a new config).
    pub fn swap(&self, stage: &str, path: &Path, config: Option<Value>) -> (u16, Value) {
        let body = serde_json::json!({ "path": path, "config": config });
        self.post(
            &format!("/v1/plugins/{stage}/swap"),
            &body,
            Some(&self.token),
        )
    }

    /// Writes `data` to standard input and leaves it open.
    pub fn send(&mut self, data: &[u8]) {
        self.stdin
            .as_mut()
            .expect("stdin still open")
            .write_all(data)
            .expect("writing to weir");
    }

    /// `GET /metrics` as text.
    pub fn metrics(&self) -> String {
        let mut response = self
            .agent
            .get(self.url("/metrics"))
            .call()
            .expect("metrics");
        assert_eq!(response.status().as_u16(), 200);
        response.body_mut().read_to_string().expect("metrics text")
    }

    /// Feeds `data` (NDJSON) on standard input, 1,000 lines at a time with a
    /// pause between chunks while `busy` is set, then the rest at full speed,
    /// then closes standard input. If the changes are still going when only
    /// a twentieth of the data is left, it trickles in ten lines at a time:
    /// the stream never ends or goes idle while a change waits for batches.
    pub fn feed(&mut self, data: Vec<u8>, busy: Arc<AtomicBool>) -> JoinHandle<()> {
        let mut stdin = self.stdin.take().expect("stdin not yet fed");
        std::thread::spawn(move || {
            let mut rest: &[u8] = &data;
            while !rest.is_empty() {
                let busy = busy.load(Ordering::SeqCst);
                let trickle = busy && rest.len() < data.len() / 20;
                let end = memchr_nth(rest, if trickle { 10 } else { 1_000 });
                if stdin.write_all(&rest[..end]).is_err() {
                    return;
                }
                rest = &rest[end..];
                if busy {
                    std::thread::sleep(Duration::from_millis(if trickle { 20 } else { 3 }));
                }
            }
        })
    }

    /// Copies `input` to standard input until it ends or the host stops
    /// reading; closing standard input is left to [`Self::finish`].
    pub fn feed_from(&mut self, mut input: impl std::io::Read + Send + 'static) -> JoinHandle<()> {
        let mut stdin = self.stdin.take().expect("stdin not yet fed");
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut input, &mut stdin);
        })
    }

    /// Sends SIGTERM, as an operator stopping the host does, and waits for
    /// it to exit: `None` if it was still running after `limit` (then it
    /// is killed when dropped).
    pub fn terminate(mut self, limit: Duration) -> Option<Finished> {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(sent.success());
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("waiting for weir") {
                return Some(Finished {
                    success: status.success(),
                    stderr: self.stderr(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// `GET path` as text, whatever the status.
    pub fn get_text(&self, path: &str) -> (u16, String) {
        let mut response = self
            .agent
            .get(self.url(path))
            .call()
            .expect("admin API reachable");
        let status = response.status().as_u16();
        (
            status,
            response.body_mut().read_to_string().unwrap_or_default(),
        )
    }

    /// Waits for the host to finish its input.
    pub fn finish(mut self) -> Finished {
        drop(self.stdin.take());
        let status = self.child.wait().expect("waiting for weir");
        Finished {
            success: status.success(),
            stderr: self.stderr(),
        }
    }
}

impl Drop for LiveHost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The length of the first `n` lines of `bytes` (all of it if fewer).
fn memchr_nth(bytes: &[u8], n: usize) -> usize {
    bytes
        .iter()
        .enumerate()
        .filter(|(_, &b)| b == b'\n')
        .nth(n - 1)
        .map_or(bytes.len(), |(i, _)| i + 1)
}

/// A copy of `component` with other bytes but the same code (see
/// [`weir::bench::rebuilt_copy`]).
pub fn rebuilt_copy(component: &Path, to: &Path, tag: &str) {
    weir::bench::rebuilt_copy(component, to, tag).expect("writing a rebuilt copy");
}
