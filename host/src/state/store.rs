//! Checkpoint files: bincode under a versioned header with a checksum,
//! written atomically (temporary file, fsync, rename, fsync of the
//! directory), the newest `keep` kept. A damaged newest checkpoint is
//! skipped with a warning in favour of the one before it.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bincode::Options;

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
    pub dir: PathBuf,
    pub interval: Duration,
    pub keep: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("checkpoint directory {dir}: {error}")]
    Dir { dir: PathBuf, error: io::Error },
    #[error("writing checkpoint {path}: {error}")]
    Write { path: PathBuf, error: io::Error },
    #[error("checkpoint {path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

fn codec() -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
}

pub struct CheckpointStore {
    settings: CheckpointSettings,
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
    pub fn open(settings: CheckpointSettings) -> Result<Self, CheckpointError> {
        fs::create_dir_all(&settings.dir).map_err(|error| CheckpointError::Dir {
            dir: settings.dir.clone(),
            error,
        })?;
        Ok(Self {
            settings,
            stats: Default::default(),
        })
    }

    pub fn settings(&self) -> &CheckpointSettings {
        &self.settings
    }

    fn path_of(&self, id: u64) -> PathBuf {
        self.settings.dir.join(format!("checkpoint-{id:012}.bin"))
    }

    /// Checkpoint files present, newest first.
    fn list(&self) -> Result<Vec<(u64, PathBuf)>, CheckpointError> {
        let dir_error = |error| CheckpointError::Dir {
            dir: self.settings.dir.clone(),
            error,
        };
        let mut found = Vec::new();
        for entry in fs::read_dir(&self.settings.dir).map_err(dir_error)? {
            let path = entry.map_err(dir_error)?.path();
            let id = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix("checkpoint-"))
                .and_then(|n| n.strip_suffix(".bin"))
                .and_then(|n| n.parse::<u64>().ok());
            if let Some(id) = id {
                found.push((id, path));
            }
        }
        found.sort_unstable_by_key(|entry| std::cmp::Reverse(entry.0));
        Ok(found)
    }

    /// The newest checkpoint that reads back intact. Damaged ones are
    /// reported and skipped; `Ok(None)` when there is none.
    pub fn latest(&self) -> Result<Option<Checkpoint>, CheckpointError> {
        for (_, path) in self.list()? {
            match read(&path) {
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
        for (_, path) in self.list()? {
            fs::remove_file(&path).map_err(|error| CheckpointError::Write { path, error })?;
        }
        Ok(())
    }

    /// Writes `checkpoint` durably, then drops all but the newest `keep`.
    /// Returns the file's size in bytes.
    pub fn write(&self, checkpoint: &Checkpoint) -> Result<u64, CheckpointError> {
        let path = self.path_of(checkpoint.id);
        let write_error = |error| CheckpointError::Write {
            path: path.clone(),
            error,
        };
        let payload = codec()
            .serialize(checkpoint)
            .map_err(|e| write_error(io::Error::other(e)))?;
        let mut bytes = Vec::with_capacity(HEADER_LEN + payload.len());
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        bytes.extend_from_slice(&payload);
        let temporary = path.with_extension("tmp");
        let mut file = File::create(&temporary).map_err(write_error)?;
        file.write_all(&bytes).map_err(write_error)?;
        file.sync_all().map_err(write_error)?;
        drop(file);
        fs::rename(&temporary, &path).map_err(write_error)?;
        // The rename is durable only once the directory entry is.
        File::open(&self.settings.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(write_error)?;
        // Only files older than this one: it must survive its own pruning
        // whatever else is in the directory.
        let older = self
            .list()?
            .into_iter()
            .filter(|(id, _)| *id < checkpoint.id);
        for (_, old) in older.skip(self.settings.keep.max(1) - 1) {
            if let Err(e) = fs::remove_file(&old) {
                tracing::warn!("cannot remove old checkpoint {}: {e}", old.display());
            }
        }
        Ok(bytes.len() as u64)
    }
}

/// Reads and verifies one checkpoint file.
pub fn read(path: &Path) -> Result<Checkpoint, CheckpointError> {
    let invalid = |reason: String| CheckpointError::Invalid {
        path: path.to_path_buf(),
        reason,
    };
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| invalid(format!("cannot read: {e}")))?;
    if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
        return Err(invalid("not a weir checkpoint (bad header)".into()));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != FORMAT_VERSION {
        return Err(invalid(format!(
            "format version {version}, this weir reads version {FORMAT_VERSION}"
        )));
    }
    let len = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
    let crc = u32::from_le_bytes(bytes[20..24].try_into().expect("4 bytes"));
    let payload = &bytes[HEADER_LEN..];
    if payload.len() as u64 != len {
        return Err(invalid(format!(
            "truncated: {} of {len} payload bytes",
            payload.len()
        )));
    }
    if crc32fast::hash(payload) != crc {
        return Err(invalid("checksum mismatch: the file is corrupt".into()));
    }
    codec()
        .deserialize(payload)
        .map_err(|e| invalid(format!("cannot decode: {e}")))
}

#[cfg(test)]
mod tests {
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
            dir: dir.to_path_buf(),
            interval: Duration::from_secs(1),
            keep,
        })
        .unwrap()
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
        let newest = store.path_of(2);
        let mut bytes = fs::read(&newest).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(&newest, &bytes).unwrap();
        let err = read(&newest).unwrap_err().to_string();
        assert!(err.contains("checksum mismatch"), "{err}");
        assert_eq!(store.latest().unwrap().unwrap().id, 1);
        fs::write(&newest, &bytes[..10]).unwrap();
        assert!(read(&newest)
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
            fs::write(store.path_of(id), b"WEIRCKPT garbage").unwrap();
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
