//! The admin API's bearer token: taken from the environment, or generated at
//! start and written to a file only the owner can read, where the CLI finds it.

use std::io::Write;
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rand::TryRngCore;
use sha2::{Digest, Sha256};

/// Set on both sides, it replaces the generated token.
pub const TOKEN_ENV: &str = "WEIR_ADMIN_TOKEN";

/// Where the token for the admin API at `addr` is kept unless told otherwise:
/// one file per port, so several hosts on one machine do not clash.
pub fn default_token_file(addr: SocketAddr) -> PathBuf {
    let state = std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".local/state")))
        .unwrap_or_else(std::env::temp_dir);
    state
        .join("weir")
        .join(format!("admin-{}.token", addr.port()))
}

/// The token the server accepts. From `$WEIR_ADMIN_TOKEN` when set;
/// otherwise 256 random bits, written to `file` (mode 0600, directory 0700).
pub fn establish(file: &Path) -> std::io::Result<String> {
    if let Some(token) = std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty()) {
        return Ok(token);
    }
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(std::io::Error::other)?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    if let Some(dir) = file.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    // Written beside and renamed, so a reader never sees half a token, and
    // created 0600 so it is never readable by others, not even briefly.
    let partial = file.with_extension("token.partial");
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)?;
    out.write_all(token.as_bytes())?;
    out.sync_all()?;
    std::fs::rename(&partial, file)?;
    Ok(token)
}

/// The token a client sends: `$WEIR_ADMIN_TOKEN`, else the file's content.
pub fn read(file: &Path) -> std::io::Result<String> {
    if let Some(token) = std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty()) {
        return Ok(token);
    }
    let text = std::fs::read_to_string(file).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!(
                "cannot read the admin token at {}: {e} (is the host running with --admin? \
                 or set ${TOKEN_ENV})",
                file.display()
            ),
        )
    })?;
    Ok(text.trim().to_string())
}

/// Compares digests rather than the tokens, so the time taken says nothing
/// about how much of a guess was right.
pub fn matches(expected_digest: &[u8; 32], presented: &str) -> bool {
    let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    digest
        .iter()
        .zip(expected_digest)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}
