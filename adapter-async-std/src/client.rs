//! The request channel under async-std: [`Channel`].

use std::ops::Deref;

use reqchan_core::registry::ChannelKey;
use reqchan_driver::client::{self as driver, BuildError, ChannelConfig, RuntimeKey};

use crate::runtime::AsyncStdRuntime;

/// async-std runs one global executor per process, so one registry key serves it.
const RUNTIME_KEY: RuntimeKey = u64::from_be_bytes(*b"asyncstd");

/// A request channel whose driver task runs on async-std's executor. Cheap to clone;
/// every clone is a handle on the same socket.
///
/// The request methods come from the runtime-independent
/// [`reqchan_driver::client::Channel`] it dereferences to: `request`, `request_with`,
/// `request_raw`, `request_raw_with`, `state`, `watch`, `stats`, `close`. That type
/// is also a `tower::Service`; reach it with [`into_inner`](Self::into_inner).
#[derive(Debug, Clone)]
pub struct Channel(driver::Channel);

impl Channel {
    /// A new, unshared channel to `endpoint` (`tcp://host:port` or `ipc://path`).
    pub fn connect(endpoint: &str, config: ChannelConfig) -> Result<Self, BuildError> {
        driver::Channel::spawn(&AsyncStdRuntime, endpoint, config).map(Self)
    }

    /// The live channel for `key`, created (to `key.master_uri`, with `config`) if there
    /// is none. Held weakly: the last handle dropped closes the socket and ends the
    /// driver task; a closed or dead channel is replaced, never handed out. `config`
    /// only applies when a channel is created.
    pub fn get(key: ChannelKey, config: ChannelConfig) -> Result<Self, BuildError> {
        driver::Channel::shared(&AsyncStdRuntime, RUNTIME_KEY, key, config).map(Self)
    }

    /// The runtime-independent handle.
    pub fn into_inner(self) -> driver::Channel {
        self.0
    }
}

impl Deref for Channel {
    type Target = driver::Channel;

    fn deref(&self) -> &driver::Channel {
        &self.0
    }
}
