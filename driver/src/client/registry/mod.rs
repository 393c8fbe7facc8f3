//! The process-wide channel registry: one live channel per runtime and
//! [`ChannelKey`], held weakly, in a [`Registry`] (a weak map that never hands out a
//! dead channel).
//!
//! Salt keeps one request channel per `(pki_dir, id, master_uri, crypt)` and per event
//! loop. [`Registry`] holds that map without owning its values: it keeps a [`Weak`](std::sync::Weak)
//! reference, so the last user handle dropped frees the channel (and, in an adapter,
//! closes its socket and ends its driver task). An entry whose value is gone, or whose
//! value reports itself dead through [`Liveness`] (its driver ended, its runtime shut
//! down), is never handed out: [`Registry::get_or_try_insert_with`] replaces it.
//!
//! The registry reads no clock and does no IO; it is not synchronised either. An
//! adapter keeps one behind a mutex, keyed by `(runtime, ChannelKey)`, and creates the
//! channel (socket, driver task) in the closure it passes in.
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicBool, Ordering};
//! use reqchan_driver::client::registry::{Liveness, Registry};
//!
//! struct Chan(AtomicBool);
//! impl Liveness for Chan {
//!     fn is_live(&self) -> bool {
//!         self.0.load(Ordering::Relaxed)
//!     }
//! }
//!
//! let mut registry = Registry::new();
//! let make = || Ok::<_, ()>(Arc::new(Chan(AtomicBool::new(true))));
//! let a = registry.get_or_try_insert_with("master", make).unwrap();
//! let b = registry.get_or_try_insert_with("master", make).unwrap();
//! assert!(Arc::ptr_eq(&a, &b)); // shared while alive
//!
//! a.0.store(false, Ordering::Relaxed); // its driver ended
//! let c = registry.get_or_try_insert_with("master", make).unwrap();
//! assert!(!Arc::ptr_eq(&a, &c)); // replaced, never handed out
//!
//! drop((a, b, c));
//! assert_eq!(registry.live(), 0); // held weakly
//! ```

mod weak_map;

pub use weak_map::{Liveness, Registry, RegistryStats};

use std::sync::{LazyLock, Mutex, MutexGuard};

use super::key::ChannelKey;

use super::config::ChannelConfig;
use super::error::BuildError;
use super::handle::{Channel, Inner};
use crate::Runtime;

/// Identifies a runtime instance among those alive in the process (for tokio, its
/// `runtime::Id`); see [`Runtime::key`].
pub type RuntimeKey = u64;

static CHANNELS: LazyLock<Mutex<Registry<(RuntimeKey, ChannelKey), Inner>>> =
    LazyLock::new(|| Mutex::new(Registry::new()));

fn channels() -> MutexGuard<'static, Registry<(RuntimeKey, ChannelKey), Inner>> {
    // The registry's state stays consistent even if a thread panicked holding it.
    CHANNELS.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<R: Runtime> Channel<R> {
    /// The live channel for `key` on the runtime the caller runs on (Salt's per-loop
    /// singleton), or a new one to `key.master_uri` with `config` if there is none.
    ///
    /// Channels are held weakly: the last handle (and request future) dropped closes
    /// the socket and ends the driver task. A channel that is closed, or whose driver
    /// or runtime is gone, is replaced, never handed out. Each runtime gets its own.
    ///
    /// A live channel is returned only if it runs with `config` (a channel's own seed
    /// counts as the one asked for when `config` names none); otherwise
    /// [`BuildError::ConfigMismatch`]: two callers asking different things of one key
    /// is a bug to see, not a setting to drop silently.
    pub fn get(key: ChannelKey, config: ChannelConfig) -> Result<Self, BuildError> {
        let runtime = R::current().ok_or(BuildError::NoRuntime { runtime: R::NAME })?;
        Self::get_on(&runtime, key, config)
    }

    /// [`get`](Self::get) for `runtime`; callable from outside it.
    pub fn get_on(runtime: &R, key: ChannelKey, config: ChannelConfig) -> Result<Self, BuildError> {
        let mut created = false;
        let inner = channels().get_or_try_insert_with((runtime.key(), key.clone()), || {
            created = true;
            Channel::<R>::spawn(runtime, &key, config.clone()).map(|channel| channel.inner)
        })?;
        if !created && !inner.config().satisfies(&config) {
            return Err(BuildError::ConfigMismatch { key: Box::new(key) });
        }
        Ok(Channel::from_inner(inner))
    }
}

/// Channels in the registry that are alive and live, on every runtime.
pub fn registered_channels() -> usize {
    channels().live()
}

/// The registry's counters (reused, created, replaced, pruned).
pub fn registry_stats() -> RegistryStats {
    channels().stats()
}
