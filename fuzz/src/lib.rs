//! Fuzz targets for `reqchan-core` and `reqchan-salt`.
//!
//! The logic lives here and in `reqchan-sim` (the client and server reference models,
//! which the core's property tests run too), not in `fuzz_targets/`, so the same code
//! runs under cargo-fuzz and in `tests/replay.rs`, which replays the committed corpus
//! in CI.
//!
//! - [`client::run`] (`client_ops`): the request client beside its reference model.
//! - [`codec::run`] (`codec_decode`): arbitrary bytes through every decoder.
//! - [`server::run`] (`server_ops`): the reply server beside a reference model.
//! - [`wire::run`] (`wire_decode`): the ZMTP state machine fed hostile bytes and cut streams.
//! - [`router::run`] (`wire_router`): the server side of the wire, many peers, beside a model.
//! - [`salt::run`] (`salt_reply`): hostile `aes` and `_auth` replies through reqchan-salt.

pub mod codec;
pub mod router;
pub mod salt;
pub mod wire;

pub use reqchan_sim::model::{client, server};

use std::path::{Path, PathBuf};
use std::{env, fs};

/// A target's entry point: runs one input, panics on a violated invariant.
pub type RunFn = fn(&[u8]);

/// The fuzz targets, by name: what the replay test iterates over.
pub const TARGETS: &[(&str, RunFn)] = &[
    ("client_ops", client::run),
    ("codec_decode", codec::run),
    ("server_ops", server::run),
    ("wire_decode", wire::run),
    ("wire_router", router::run),
    ("salt_reply", salt::run),
];

/// The files under `paths` (each a file or a directory of files), sorted.
pub fn input_files(paths: impl IntoIterator<Item = PathBuf>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for path in paths {
        match fs::read_dir(&path) {
            Ok(entries) => files.extend(entries.map(|e| e.expect("reading a directory entry").path())),
            Err(_) => files.push(path),
        }
    }
    files.sort();
    files
}

/// `main` of a fuzz target built without cargo-fuzz: runs `run` over every file named on
/// the command line (or found in a directory named there), reporting each one.
pub fn replay_args(run: RunFn) {
    for path in input_files(env::args_os().skip(1).map(PathBuf::from)) {
        eprintln!("replaying {}", path.display());
        run(&read(&path));
    }
}

/// The bytes of the input at `path`.
pub fn read(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}
