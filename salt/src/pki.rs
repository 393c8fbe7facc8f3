//! The minion's `pki_dir` on disk, as salt-minion keeps it: `minion.pem` (0600),
//! `minion.pub` (0644), and the master's key `minion_master.pub` (0644) once trusted.
//!
//! The one part of this crate that does IO: a few small files, read and written with
//! `std::fs` when a channel first authenticates.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rand_core::CryptoRngCore;

use crate::error::KeyError;
use crate::keys::{MasterKey, MinionKey};

/// The minion's private key file.
pub const MINION_PEM: &str = "minion.pem";
/// The minion's public key file.
pub const MINION_PUB: &str = "minion.pub";
/// The trusted master key file.
pub const MASTER_PUB: &str = "minion_master.pub";

/// A `pki_dir` that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// A file could not be read or written.
    #[error("{path}: {reason}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The system's reason.
        reason: String,
    },
    /// A file holds no usable key.
    #[error("{path}: {error}")]
    Key {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        error: KeyError,
    },
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> PkiError + '_ {
    move |e| PkiError::Io { path: path.to_owned(), reason: e.to_string() }
}

/// The minion's key from `dir`, made (2048 bits, as salt-minion does) and written there
/// if `dir` has none: `minion.pem` readable by its owner only. True if it was made now.
pub fn load_or_create_minion_key(dir: &Path, rng: &mut impl CryptoRngCore) -> Result<(MinionKey, bool), PkiError> {
    let private = dir.join(MINION_PEM);
    match fs::read_to_string(&private) {
        Ok(pem) => {
            let key = MinionKey::from_pem(&pem).map_err(|error| PkiError::Key { path: private, error })?;
            return Ok((key, false));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error(&private)(e)),
    }
    create_dir(dir)?;
    let key = MinionKey::generate(rng).map_err(|error| PkiError::Key { path: private.clone(), error })?;
    let pem = key.private_pem().map_err(|error| PkiError::Key { path: private.clone(), error })?;
    write_new(&private, pem.as_bytes(), 0o600)?;
    write_new(&dir.join(MINION_PUB), format!("{}\n", key.public_pem()).as_bytes(), 0o644)?;
    Ok((key, true))
}

/// The master key trusted in `dir`, if there is one.
pub fn load_master_key(dir: &Path) -> Result<Option<MasterKey>, PkiError> {
    let path = dir.join(MASTER_PUB);
    match fs::read_to_string(&path) {
        Ok(pem) => MasterKey::from_pem(&pem).map(Some).map_err(|error| PkiError::Key { path, error }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(&path)(e)),
    }
}

/// Stores `key` as the trusted master key in `dir` (as Salt does on first contact).
pub fn store_master_key(dir: &Path, key: &MasterKey) -> Result<(), PkiError> {
    create_dir(dir)?;
    let path = dir.join(MASTER_PUB);
    write_atomically(&path, key.pem().as_bytes(), 0o644)
}

fn create_dir(dir: &Path) -> Result<(), PkiError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(io_error(dir))
}

/// Writes a file that must not exist yet, with `mode` from its creation on (no window
/// in which a private key is readable by others).
fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<(), PkiError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(io_error(path))?;
    file.write_all(contents).and_then(|()| file.sync_all()).map_err(io_error(path))
}

/// Writes `path` through a temporary file renamed over it.
fn write_atomically(path: &Path, contents: &[u8], mode: u32) -> Result<(), PkiError> {
    let temporary = path.with_extension("tmp");
    let _ = fs::remove_file(&temporary);
    write_new(&temporary, contents, mode)?;
    fs::rename(&temporary, path).map_err(io_error(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minion_key_is_made_once_with_salts_modes_and_read_back() {
        let dir = std::env::temp_dir().join(format!("reqchan-salt-pki-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let (made, created) = load_or_create_minion_key(&dir.join("pki"), &mut rand_core::OsRng).unwrap();
        assert!(created);
        let (read, created) = load_or_create_minion_key(&dir.join("pki"), &mut rand_core::OsRng).unwrap();
        assert!(!created);
        assert_eq!(made.public_pem(), read.public_pem());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |name: &str| fs::metadata(dir.join("pki").join(name)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(MINION_PEM), 0o600);
            assert_eq!(mode(MINION_PUB), 0o644);
        }
        assert_eq!(load_master_key(&dir.join("pki")).unwrap(), None);
        let master = MasterKey::from_pem(made.public_pem()).unwrap();
        store_master_key(&dir.join("pki"), &master).unwrap();
        assert_eq!(load_master_key(&dir.join("pki")).unwrap(), Some(master));
        fs::write(dir.join("pki").join(MINION_PEM), "not a key").unwrap();
        assert!(matches!(
            load_or_create_minion_key(&dir.join("pki"), &mut rand_core::OsRng),
            Err(PkiError::Key { .. })
        ));
        fs::remove_dir_all(&dir).unwrap();
    }
}
