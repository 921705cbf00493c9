//! Checkpoint files: bincode under a versioned header with a checksum,
//! written atomically (see [`super::files`] for where), the newest `keep`
//! kept. A damaged newest checkpoint is skipped with a warning in favour of
//! the one before it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bincode::Options;

use super::files::{CheckpointFiles, CheckpointLocation};
use super::Checkpoint;

/// The first bytes of every checkpoint file.
const MAGIC: &[u8; 8] = b"WEIRCKPT";
/// Bumped whenever [`Checkpoint`]'s encoding changes; older files are refused
/// with a message rather than misread.
const FORMAT_VERSION: u32 = 4;
/// magic, format version, payload length, CRC-32 of the payload.
const HEADER_LEN: usize = 8 + 4 + 8 + 4;

/// How a pipeline checkpoints, from its `[checkpoint]` table.
#[derive(Debug, Clone)]
pub struct CheckpointSettings {
    pub location: CheckpointLocation,
    pub interval: Duration,
    pub keep: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint storage {at}: {error}")]
    Storage { at: String, error: String },
    #[error("writing checkpoint {path}: {error}")]
    Write { path: String, error: String },
    #[error("checkpoint {path}: {reason}")]
    Invalid { path: String, reason: String },
}

fn codec() -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
}

pub struct CheckpointStore {
    settings: CheckpointSettings,
    files: Box<dyn CheckpointFiles>,
    pub stats: std::sync::Arc<CheckpointStats>,
}

/// Checkpoints written by this run: the one record the summary and
/// `/metrics` both read.
#[derive(Debug, Default)]
pub struct CheckpointStats {
    pub written: AtomicU64,
    /// Of the last one written.
    pub last_id: AtomicU64,
    pub last_bytes: AtomicU64,
    /// From the results made durable to the results published, microseconds.
    pub last_write_us: AtomicU64,
    /// The same, summed over the run.
    pub total_write_us: AtomicU64,
}

impl CheckpointStats {
    /// Records checkpoint `id`, `bytes` long, that took `took` to write.
    pub fn record(&self, id: u64, bytes: u64, took: Duration) {
        let us = took.as_micros() as u64;
        self.written.fetch_add(1, Ordering::Relaxed);
        self.last_id.store(id, Ordering::Relaxed);
        self.last_bytes.store(bytes, Ordering::Relaxed);
        self.last_write_us.store(us, Ordering::Relaxed);
        self.total_write_us.fetch_add(us, Ordering::Relaxed);
    }
}

impl CheckpointStore {
    /// Opens (a directory: creates) the location; an object store is not
    /// contacted until the first read or write.
    pub fn open(settings: CheckpointSettings) -> Result<Self, CheckpointError> {
        Ok(Self {
            files: settings.location.open()?,
            settings,
            stats: Default::default(),
        })
    }

    pub fn settings(&self) -> &CheckpointSettings {
        &self.settings
    }

    fn name_of(id: u64) -> String {
        format!("checkpoint-{id:012}.bin")
    }

    /// Checkpoint files present, newest first.
    fn list(&self) -> Result<Vec<(u64, String)>, CheckpointError> {
        let mut found: Vec<(u64, String)> = self
            .files
            .names()?
            .into_iter()
            .filter_map(|name| {
                let id = name
                    .strip_prefix("checkpoint-")?
                    .strip_suffix(".bin")?
                    .parse::<u64>()
                    .ok()?;
                Some((id, name))
            })
            .collect();
        found.sort_unstable_by_key(|entry| std::cmp::Reverse(entry.0));
        Ok(found)
    }

    /// Reads and verifies one checkpoint file.
    fn read(&self, name: &str) -> Result<Checkpoint, CheckpointError> {
        let bytes = self.files.read(name)?;
        let shown = format!(
            "{}/{name}",
            self.settings.location.describe().trim_end_matches('/')
        );
        decode(&bytes).map_err(|reason| CheckpointError::Invalid {
            path: shown,
            reason,
        })
    }

    /// The newest checkpoint that reads back intact. Damaged ones are
    /// reported and skipped; `Ok(None)` when there is none.
    pub fn latest(&self) -> Result<Option<Checkpoint>, CheckpointError> {
        for (_, name) in self.list()? {
            match self.read(&name) {
                Ok(checkpoint) => return Ok(Some(checkpoint)),
                Err(e) => tracing::warn!("{e}; falling back to the previous checkpoint"),
            }
        }
        Ok(None)
    }

    /// The id for the next checkpoint: above every checkpoint file present,
    /// damaged ones included, so that a new checkpoint is always the newest
    /// and pruning can never remove it in favour of a file that does not read.
    pub fn next_id(&self) -> Result<u64, CheckpointError> {
        Ok(self
            .list()?
            .first()
            .map_or(1, |(id, _)| id.saturating_add(1)))
    }

    /// Deletes every checkpoint: a fresh start must not be resumed from old ones.
    pub fn clear(&self) -> Result<(), CheckpointError> {
        for (_, name) in self.list()? {
            self.files.remove(&name)?;
        }
        Ok(())
    }

    /// Writes `checkpoint` durably, then drops all but the newest `keep`.
    /// Returns the file's size in bytes.
    pub fn write(&self, checkpoint: &Checkpoint) -> Result<u64, CheckpointError> {
        let name = Self::name_of(checkpoint.id);
        let payload = codec()
            .serialize(checkpoint)
            .map_err(|e| CheckpointError::Write {
                path: name.clone(),
                error: e.to_string(),
            })?;
        let mut bytes = Vec::with_capacity(HEADER_LEN + payload.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        bytes.extend_from_slice(&payload);
        let written = bytes.len() as u64;
        self.files.write(&name, bytes)?;
        // Only files older than this one: it must survive its own pruning
        // whatever else is in the directory.
        let older = self
            .list()?
            .into_iter()
            .filter(|(id, _)| *id < checkpoint.id);
        for (_, old) in older.skip(self.settings.keep.max(1) - 1) {
            if let Err(e) = self.files.remove(&old) {
                tracing::warn!("cannot remove an old checkpoint: {e}");
            }
        }
        Ok(written)
    }
}

/// Verifies and decodes a checkpoint file's bytes.
fn decode(bytes: &[u8]) -> Result<Checkpoint, String> {
    if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
        return Err("not a weir checkpoint (bad header)".into());
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != FORMAT_VERSION {
        return Err(format!(
            "format version {version}, this weir reads version {FORMAT_VERSION}"
        ));
    }
    let len = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
    let crc = u32::from_le_bytes(bytes[20..24].try_into().expect("4 bytes"));
    let payload = &bytes[HEADER_LEN..];
    if payload.len() as u64 != len {
        return Err(format!(
            "truncated: {} of {len} payload bytes",
            payload.len()
        ));
    }
    if crc32fast::hash(payload) != crc {
        return Err("checksum mismatch: the file is corrupt".into());
    }
    codec()
        .deserialize(payload)
        .map_err(|e| format!("cannot decode: {e}"))
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::state::{ClockState, SinkPosition, SourcePosition};

    fn checkpoint(id: u64) -> Checkpoint {
        Checkpoint {
            id,
            pipeline: "p".into(),
            taken_at_ms: 0,
            source: SourcePosition::Lines {
                byte_offset: id * 100,
                line: id,
            },
            clock: ClockState::Single {
                max_event_time: Some(7),
            },
            events: id,
            stages: Vec::new(),
            sink: SinkPosition::None,
            dead_letter_bytes: 0,
        }
    }

    fn store(dir: &Path, keep: usize) -> CheckpointStore {
        CheckpointStore::open(CheckpointSettings {
            location: CheckpointLocation::Dir(dir.to_path_buf()),
            interval: Duration::from_secs(1),
            keep,
        })
        .unwrap()
    }

    fn path_of(dir: &Path, id: u64) -> PathBuf {
        dir.join(CheckpointStore::name_of(id))
    }

    #[test]
    fn keeps_the_newest_and_reads_them_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path(), 2);
        for id in 1..=4 {
            store.write(&checkpoint(id)).unwrap();
        }
        assert_eq!(store.list().unwrap().len(), 2);
        let latest = store.latest().unwrap().unwrap();
        assert_eq!((latest.id, latest.events), (4, 4));
    }

    #[test]
    fn a_corrupt_newest_checkpoint_falls_back_to_the_previous_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path(), 3);
        store.write(&checkpoint(1)).unwrap();
        store.write(&checkpoint(2)).unwrap();
        let newest = path_of(dir.path(), 2);
        let mut bytes = fs::read(&newest).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(&newest, &bytes).unwrap();
        let err = store
            .read(&CheckpointStore::name_of(2))
            .unwrap_err()
            .to_string();
        assert!(err.contains("checksum mismatch"), "{err}");
        assert_eq!(store.latest().unwrap().unwrap().id, 1);
        fs::write(&newest, &bytes[..10]).unwrap();
        assert!(store
            .read(&CheckpointStore::name_of(2))
            .unwrap_err()
            .to_string()
            .contains("bad header"));
        assert_eq!(store.latest().unwrap().unwrap().id, 1);
    }

    #[test]
    fn after_corrupt_checkpoints_new_ones_are_numbered_above_them_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path(), 2);
        store.write(&checkpoint(1)).unwrap();
        for id in [2, 3, 4] {
            fs::write(path_of(dir.path(), id), b"WEIRCKPT garbage").unwrap();
        }
        assert_eq!(store.latest().unwrap().unwrap().id, 1);
        // Three restarts in a row, each writing one checkpoint.
        for _ in 0..3 {
            let id = store.next_id().unwrap();
            store.write(&checkpoint(id)).unwrap();
            assert_eq!(
                store.latest().unwrap().unwrap().id,
                id,
                "the newest is kept"
            );
        }
        assert_eq!(store.latest().unwrap().unwrap().id, 7);
        assert_eq!(store.list().unwrap().len(), 2);
    }

    #[test]
    fn clear_removes_every_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path(), 3);
        store.write(&checkpoint(1)).unwrap();
        store.clear().unwrap();
        assert!(store.latest().unwrap().is_none());
    }
}
