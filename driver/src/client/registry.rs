//! The process-wide channel registry: one live channel per runtime and
//! [`ChannelKey`], held weakly (the logic is [`reqchan_core::registry`]).

use std::sync::{LazyLock, Mutex, MutexGuard};

use reqchan_core::registry::{ChannelKey, Registry, RegistryStats};

use super::config::ChannelConfig;
use super::error::BuildError;
use super::handle::{Channel, Inner};
use crate::Runtime;

/// Identifies a runtime instance among those alive in the process (for tokio, its
/// `runtime::Id`). Adapters derive it; two live runtimes never share one.
pub type RuntimeKey = u64;

static CHANNELS: LazyLock<Mutex<Registry<(RuntimeKey, ChannelKey), Inner>>> =
    LazyLock::new(|| Mutex::new(Registry::new()));

fn channels() -> MutexGuard<'static, Registry<(RuntimeKey, ChannelKey), Inner>> {
    // The registry's state stays consistent even if a thread panicked holding it.
    CHANNELS.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Channel {
    /// The live channel for `key` on the runtime identified by `runtime_key`, or a new
    /// one to `key.master_uri` driven on `runtime` (with `config`) if there is none or
    /// the one registered is dead (closed, driver ended, runtime gone).
    ///
    /// `config` is used only when a channel is created; an existing live channel is
    /// returned as it is. Adapters wrap this as `Channel::get(key, config)` with the
    /// current runtime.
    pub fn shared<R: Runtime>(
        runtime: &R,
        runtime_key: RuntimeKey,
        key: ChannelKey,
        config: ChannelConfig,
    ) -> Result<Self, BuildError> {
        let endpoint = key.master_uri.clone();
        let crypt = key.crypt;
        let inner = channels().get_or_try_insert_with((runtime_key, key), || {
            Channel::spawn_with_crypt(runtime, &endpoint, crypt, config).map(|channel| channel.inner)
        })?;
        Ok(Channel { inner })
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
