//! Operating a running pipeline: the admin HTTP API with its live page, the
//! plugin-directory watcher, and the client the `weir plugin` commands use.

mod api;
mod changes;
pub mod client;
mod guard;
mod live;
mod metrics;
mod page;
pub mod token;
mod watch;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

pub use changes::{Admin, ChangeError, ChangeReport, Component, LoadRequest};

use crate::pipeline::Controller;
use crate::plugin::PluginEngine;

/// The default admin address, as the CLI assumes it too.
pub const DEFAULT_ADDR: &str = "127.0.0.1:7370";

pub struct AdminOptions {
    pub listen: SocketAddr,
    /// Serve on a non-loopback address (the token is then the only guard).
    pub allow_remote: bool,
    /// Where the generated token is written; see [`token::default_token_file`].
    pub token_file: Option<PathBuf>,
    /// Components may be loaded from these directories only.
    pub plugin_dirs: Vec<PathBuf>,
    /// Swap a stage when its component file in a plugin directory changes.
    pub watch: bool,
    /// Non-empty batches a new version must process before it is kept.
    pub trial_batches: u32,
    /// How long a swap request waits for its trial's verdict.
    pub trial_wait: Duration,
    /// Host names the API answers under, besides IP addresses and
    /// `localhost` (see `guard.rs`).
    pub allowed_hosts: Vec<String>,
}

/// The admin API, serving until dropped.
pub struct AdminServer {
    pub addr: SocketAddr,
    pub token_file: Option<PathBuf>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    live: Arc<live::Live>,
    thread: Option<std::thread::JoinHandle<()>>,
    _watcher: Option<watch::DirectoryWatcher>,
}

impl AdminServer {
    pub fn start(
        options: AdminOptions,
        controller: Controller,
        engine: Arc<PluginEngine>,
    ) -> anyhow::Result<Self> {
        anyhow::ensure!(
            options.listen.ip().is_loopback() || options.allow_remote,
            "refusing to serve the admin API on {}: not a loopback address. Pass \
             --admin-allow-remote if that is meant (the bearer token is then the only \
             protection; put TLS in front)",
            options.listen
        );
        let listener = std::net::TcpListener::bind(options.listen)
            .with_context(|| format!("admin API: cannot listen on {}", options.listen))?;
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let generated = std::env::var(token::TOKEN_ENV).map_or(true, |t| t.is_empty());
        let token_file = options
            .token_file
            .unwrap_or_else(|| token::default_token_file(addr));
        let token = token::establish(&token_file)
            .with_context(|| format!("writing the admin token to {}", token_file.display()))?;
        let live = Arc::new(live::Live::default());
        let page = page::router(controller.clone(), live.clone());
        let sampler = live::sample(live.clone(), controller.clone());
        let admin = Arc::new(
            Admin::new(
                controller,
                engine,
                &options.plugin_dirs,
                options.trial_batches,
                options.trial_wait,
            )
            .context("admin API")?,
        );
        let watcher = match options.watch {
            true => Some(watch::watch(admin.clone()).context("watching the plugin directories")?),
            false => None,
        };
        let allowed = Arc::new(guard::AllowedHosts(options.allowed_hosts));
        let router = api::router(admin, live.clone(), &token)
            .merge(page)
            .layer(axum::middleware::from_fn(guard::hide_secrets))
            .layer(axum::middleware::from_fn_with_state(
                allowed,
                guard::refuse_foreign_browsers,
            ));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("weir-admin".into())
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::spawn(sampler);
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => listener,
                        Err(e) => return tracing::error!("admin API: {e}"),
                    };
                    let served = axum::serve(listener, router)
                        .with_graceful_shutdown(async {
                            let _ = stopped.await;
                        })
                        .await;
                    if let Err(e) = served {
                        tracing::error!("admin API stopped: {e}");
                    }
                });
            })?;
        match generated {
            true => tracing::info!(
                "admin API on http://{addr}, live page at http://{addr}/ (token in {})",
                token_file.display()
            ),
            false => tracing::info!(
                "admin API on http://{addr}, live page at http://{addr}/ (token from ${})",
                token::TOKEN_ENV
            ),
        }
        Ok(Self {
            addr,
            token_file: generated.then_some(token_file),
            shutdown: Some(shutdown),
            live,
            thread: Some(thread),
            _watcher: watcher,
        })
    }
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        // Live page streams never end by themselves; the graceful shutdown
        // would wait for them.
        self.live.close();
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        // A token for a server that is gone only invites confusion.
        if let Some(file) = &self.token_file {
            let _ = std::fs::remove_file(file);
        }
    }
}
