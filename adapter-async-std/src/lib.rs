//! async-std adapter for reqchan: SaltStack's request channel over ZeroMQ.
//!
//! **async-std is discontinued upstream** (RUSTSEC-2025-0052: unmaintained; its authors
//! point to `smol`). This adapter keeps working, but prefer `reqchan-tokio` for new code.
//!
//! The same channel and reply server as `reqchan-tokio`, driven on async-std's executor
//! over our own wire (the `zeromq` feature adds zmq.rs as a transport): a [`Channel`]
//! sends requests to a ZeroMQ REP or ROUTER server and resolves each exactly once,
//! with the reply or a typed [`Error`]; [`server::bind`] answers requests. The drive
//! loops are [`reqchan_driver`]'s; this crate only supplies the [`AsyncStdRuntime`]
//! (spawn, timer, TCP and Unix streams and listeners). The channel type, its
//! methods and its `tower_service::Service<Value>` impl are the same on both runtimes.
//!
//! ```no_run
//! use std::time::Duration;
//! use reqchan_async_std::{Channel, ChannelConfig, ChannelKey, RequestOptions, Value};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let channel = Channel::connect("tcp://127.0.0.1:4506", ChannelConfig::lockstep())?;
//! let load = Value::map([("cmd", "ping".into())]);
//! let options = RequestOptions::default().timeout(Duration::from_secs(5)).tries(2);
//! let reply: Value = channel.request_with(&load, options).await?;
//! println!("{reply:?}");
//!
//! // The shared channel for a key (Salt's singleton), pipelined: up to 64 requests in
//! // flight, matched to their replies by id.
//! let key = ChannelKey::new("/etc/salt/pki/minion", "minion-1", "tcp://127.0.0.1:4506");
//! let shared = Channel::get(key, ChannelConfig::pipelined(64))?;
//! println!("{:?} {:?}", shared.state(), shared.stats());
//! # Ok(())
//! # }
//! ```

mod client;
mod runtime;
pub mod server;

pub use client::Channel;
pub use reqchan_core::client::{
    Backoff, ClientConfig, ClientStats, ConnectError, ConnectErrorKind, ExponentialBackoff, LockstepFraming, Mode,
    RequestError, RequestOptions, SubmitError,
};
pub use reqchan_core::codec::{
    self as codec, Crypt, DecodeError, DecodeLimits, EncodeError, Refusal, Value, decode_reply, encode_reply,
};
pub use reqchan_driver::Runtime;
pub use reqchan_driver::client::{
    BuildError, ChannelConfig, ChannelKey, ConnectionState, Error, ReplyFuture, ResponseFuture, SaltError, StateWatch,
    Transport, live_drivers,
};
pub use runtime::{AsyncStdListener, AsyncStdRuntime, AsyncStdStream, Sleep};
