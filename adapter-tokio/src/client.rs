//! The request channel under tokio: [`Channel`], created on the current runtime.

use std::ops::Deref;
use std::task::{Context, Poll};

use bytes::Bytes;
use reqchan_core::codec::Value;
use reqchan_core::registry::ChannelKey;
use reqchan_driver::client::{self as driver, BuildError, ChannelConfig, Error, ReplyFuture, ResponseFuture};
use tower_service::Service;

use crate::runtime::TokioRuntime;

/// A request channel whose driver task runs on a tokio runtime. Cheap to clone; every
/// clone is a handle on the same socket.
///
/// All request methods come from the runtime-independent
/// [`reqchan_driver::client::Channel`] it dereferences to: `request`,
/// `request_with`, `request_raw`, `request_raw_with`, `state`, `watch`, `stats`,
/// `close`.
#[derive(Debug, Clone)]
pub struct Channel(driver::Channel);

impl Channel {
    /// A new, unshared channel to `endpoint` (`tcp://host:port` or `ipc://path`), driven
    /// on the current tokio runtime.
    pub fn connect(endpoint: &str, config: ChannelConfig) -> Result<Self, BuildError> {
        Self::connect_on(&current()?, endpoint, config)
    }

    /// A new, unshared channel driven on `runtime`; callable from outside a runtime.
    pub fn connect_on(runtime: &TokioRuntime, endpoint: &str, config: ChannelConfig) -> Result<Self, BuildError> {
        driver::Channel::spawn(runtime, endpoint, config).map(Self)
    }

    /// The live channel for `key` on the current tokio runtime, created (to
    /// `key.master_uri`, with `config`) if there is none.
    ///
    /// Channels are held weakly: the last handle dropped closes the socket and ends the
    /// driver task. A channel that is closed, or whose driver or runtime is gone, is
    /// replaced, never handed out. Each runtime gets its own channel. `config` only
    /// applies when a channel is created.
    pub fn get(key: ChannelKey, config: ChannelConfig) -> Result<Self, BuildError> {
        Self::get_on(&current()?, key, config)
    }

    /// [`get`](Self::get) for the runtime `runtime`; callable from outside a runtime.
    pub fn get_on(runtime: &TokioRuntime, key: ChannelKey, config: ChannelConfig) -> Result<Self, BuildError> {
        driver::Channel::shared(runtime, runtime.key(), key, config).map(Self)
    }

    /// The runtime-independent handle.
    pub fn into_inner(self) -> driver::Channel {
        self.0
    }
}

fn current() -> Result<TokioRuntime, BuildError> {
    TokioRuntime::current().ok_or(BuildError::NoRuntime { runtime: "tokio" })
}

impl Deref for Channel {
    type Target = driver::Channel;

    fn deref(&self) -> &driver::Channel {
        &self.0
    }
}

impl AsRef<driver::Channel> for Channel {
    fn as_ref(&self) -> &driver::Channel {
        &self.0
    }
}

/// Raw requests: payload bytes in, reply bytes out.
impl Service<Bytes> for Channel {
    type Response = Bytes;
    type Error = Error;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Service::<Bytes>::poll_ready(&mut self.0, cx)
    }

    fn call(&mut self, payload: Bytes) -> ResponseFuture {
        Service::<Bytes>::call(&mut self.0, payload)
    }
}

/// Salt requests: a load in a clear envelope, the reply as a dynamic [`Value`].
impl Service<Value> for Channel {
    type Response = Value;
    type Error = Error;
    type Future = ReplyFuture<Value>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Service::<Value>::poll_ready(&mut self.0, cx)
    }

    fn call(&mut self, load: Value) -> ReplyFuture<Value> {
        Service::<Value>::call(&mut self.0, load)
    }
}
