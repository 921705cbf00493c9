//! Watches the plugin directories: when a component file that a stage runs
//! is rewritten, the stage is swapped to the new content.
//!
//! Events are debounced, so a file being copied in is looked at once it has
//! been quiet for [`QUIET`]; the content hash then decides whether anything
//! changed (a `touch` swaps nothing). A half-written file fails to compile
//! and is reported; the stage keeps its version until the write completes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify_debouncer_full::notify::{RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{new_debouncer, DebounceEventResult, Debouncer, RecommendedCache};

use super::changes::{Admin, Component};

/// How long a file must be left alone before it is read.
pub const QUIET: Duration = Duration::from_millis(300);

pub type DirectoryWatcher = Debouncer<RecommendedWatcher, RecommendedCache>;

pub fn watch(admin: Arc<Admin>) -> notify_debouncer_full::notify::Result<DirectoryWatcher> {
    let dirs = admin.plugin_dirs().to_vec();
    let handler_admin = admin.clone();
    let mut debouncer = new_debouncer(QUIET, None, move |result: DebounceEventResult| {
        let events = match result {
            Ok(events) => events,
            Err(errors) => {
                for error in errors {
                    tracing::warn!("watching the plugin directories: {error}");
                }
                return;
            }
        };
        let changed: BTreeSet<PathBuf> = events
            .iter()
            .filter(|e| e.kind.is_create() || e.kind.is_modify())
            .flat_map(|e| e.paths.iter())
            .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
            .filter_map(|p| p.canonicalize().ok())
            .collect();
        for path in changed {
            swap_stages_running(&handler_admin, &path);
        }
    })?;
    for dir in &dirs {
        debouncer.watch(dir, RecursiveMode::NonRecursive)?;
        tracing::info!(dir = %dir.display(), "watching for new plugin versions");
    }
    Ok(debouncer)
}

fn swap_stages_running(admin: &Admin, path: &Path) {
    let stages: Vec<String> = admin
        .controller()
        .view()
        .stages
        .into_iter()
        .filter(|s| {
            s.plugin.as_ref().is_some_and(|p| {
                Path::new(&p.component)
                    .canonicalize()
                    .is_ok_and(|c| c == path)
            })
        })
        .map(|s| s.name)
        .collect();
    for stage in stages {
        match admin.swap(&stage, Component::Path(path.to_path_buf()), None) {
            Ok(report) if report.outcome == "unchanged" => {}
            Ok(report) => tracing::info!(
                stage,
                file = %path.display(),
                version = report.version.as_deref().unwrap_or(""),
                "{}",
                report.message
            ),
            Err(error) => {
                tracing::error!(stage, file = %path.display(), "new version not taken: {error}")
            }
        }
    }
}
