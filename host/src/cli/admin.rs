//! `weir run --admin …`: serving the admin API beside a pipeline.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use weir::admin::{AdminOptions, AdminServer};
use weir::pipeline;
use weir::plugin::PluginEngine;

/// Serving the admin API from `weir run`.
#[derive(clap::Args)]
pub struct AdminArgs {
    /// Serve the admin API (plugin list, load, swap, unload) on this
    /// address; loopback only unless --admin-allow-remote.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = weir::admin::DEFAULT_ADDR)]
    pub admin: Option<SocketAddr>,
    /// Allow --admin on an address other than loopback.
    #[arg(long, requires = "admin")]
    pub admin_allow_remote: bool,
    /// A host name the admin API answers under (repeatable). IP addresses
    /// and localhost always work; other names are refused, which stops DNS
    /// rebinding from a web page.
    #[arg(long, value_name = "NAME", requires = "admin")]
    pub admin_host: Vec<String>,
    /// Where to write the generated bearer token (mode 0600). Default:
    /// ~/.local/state/weir/admin-PORT.token. $WEIR_ADMIN_TOKEN replaces it.
    #[arg(long, value_name = "FILE", requires = "admin")]
    pub admin_token_file: Option<PathBuf>,
    /// A directory components may be loaded from (repeatable). Default: the
    /// directories of the pipeline's plugins.
    #[arg(long, value_name = "DIR", requires = "admin")]
    pub plugin_dir: Vec<PathBuf>,
    /// Swap a stage whenever its component file changes on disk.
    #[arg(long, requires = "admin")]
    pub watch: bool,
    /// Batches a new version must process before it is kept; on a batch it
    /// fails more rows of than the old version, it is rolled back.
    #[arg(long, default_value_t = 3, requires = "admin")]
    pub trial_batches: u32,
    /// How long a swap request waits for the trial's verdict before it
    /// answers `on-trial` (the stream may be idle); the trial goes on.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, requires = "admin")]
    pub trial_wait: Duration,
}

pub fn serve_admin(
    listen: SocketAddr,
    args: AdminArgs,
    pipeline: &mut pipeline::Pipeline,
    engine: Arc<PluginEngine>,
) -> anyhow::Result<AdminServer> {
    let plugin_dirs = if args.plugin_dir.is_empty() {
        let mut dirs: Vec<PathBuf> = pipeline
            .stages
            .iter()
            .filter_map(|stage| stage.plugin())
            .filter_map(|p| p.plugin.prepared().path.parent().map(Path::to_path_buf))
            .collect();
        dirs.dedup();
        dirs
    } else {
        args.plugin_dir
    };
    let options = AdminOptions {
        listen,
        allow_remote: args.admin_allow_remote,
        token_file: args.admin_token_file,
        plugin_dirs,
        watch: args.watch,
        trial_batches: args.trial_batches,
        trial_wait: args.trial_wait,
        allowed_hosts: args.admin_host,
    };
    AdminServer::start(options, pipeline.controller(), engine)
}
