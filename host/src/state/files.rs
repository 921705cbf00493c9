//! Where checkpoint files are kept: a local directory, or an object store
//! every member of a group can reach (see [`super::remote`]). The store
//! above encodes, numbers and prunes; a backend only keeps named bytes, and
//! must make a written file appear whole or not at all.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::remote::{ObjectStoreFiles, RemoteSpec};
use super::CheckpointError;

/// Where a pipeline's checkpoints go, from `[checkpoint] dir`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointLocation {
    Dir(PathBuf),
    ObjectStore(RemoteSpec),
}

impl CheckpointLocation {
    /// The location as it may be shown: an object store's settings may hold
    /// credentials, so only its URL is.
    pub fn describe(&self) -> String {
        match self {
            Self::Dir(dir) => dir.display().to_string(),
            Self::ObjectStore(spec) => spec.url.clone(),
        }
    }

    pub(super) fn open(&self) -> Result<Box<dyn CheckpointFiles>, CheckpointError> {
        Ok(match self {
            Self::Dir(dir) => Box::new(LocalDir::open(dir)?),
            Self::ObjectStore(spec) => Box::new(ObjectStoreFiles::open(spec)?),
        })
    }
}

/// Named files in one place.
pub trait CheckpointFiles: Send + Sync {
    /// The names of every file there, in no order.
    fn names(&self) -> Result<Vec<String>, CheckpointError>;
    fn read(&self, name: &str) -> Result<Vec<u8>, CheckpointError>;
    /// Durably, and atomically: a reader sees the whole file or none.
    fn write(&self, name: &str, bytes: Vec<u8>) -> Result<(), CheckpointError>;
    fn remove(&self, name: &str) -> Result<(), CheckpointError>;
}

/// Files in a directory of the local file system.
pub struct LocalDir {
    dir: PathBuf,
}

impl LocalDir {
    pub fn open(dir: &Path) -> Result<Self, CheckpointError> {
        fs::create_dir_all(dir).map_err(|error| CheckpointError::Storage {
            at: dir.display().to_string(),
            error: error.to_string(),
        })?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

impl CheckpointFiles for LocalDir {
    fn names(&self) -> Result<Vec<String>, CheckpointError> {
        let dir_error = |error: std::io::Error| CheckpointError::Storage {
            at: self.dir.display().to_string(),
            error: error.to_string(),
        };
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(dir_error)? {
            if let Some(name) = entry.map_err(dir_error)?.file_name().to_str() {
                names.push(name.to_string());
            }
        }
        Ok(names)
    }

    fn read(&self, name: &str) -> Result<Vec<u8>, CheckpointError> {
        let path = self.path(name);
        fs::read(&path).map_err(|e| CheckpointError::Invalid {
            path: path.display().to_string(),
            reason: format!("cannot read: {e}"),
        })
    }

    /// A temporary file, fsync, rename, fsync of the directory.
    fn write(&self, name: &str, bytes: Vec<u8>) -> Result<(), CheckpointError> {
        let path = self.path(name);
        let write_error = |error: std::io::Error| CheckpointError::Write {
            path: path.display().to_string(),
            error: error.to_string(),
        };
        let temporary = path.with_extension("tmp");
        let mut file = File::create(&temporary).map_err(write_error)?;
        file.write_all(&bytes).map_err(write_error)?;
        file.sync_all().map_err(write_error)?;
        drop(file);
        fs::rename(&temporary, &path).map_err(write_error)?;
        // The rename is durable only once the directory entry is.
        File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(write_error)
    }

    fn remove(&self, name: &str) -> Result<(), CheckpointError> {
        let path = self.path(name);
        fs::remove_file(&path).map_err(|error| CheckpointError::Write {
            path: path.display().to_string(),
            error: error.to_string(),
        })
    }
}
