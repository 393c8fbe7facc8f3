//! Tokio adapter for reqchan: SaltStack's request channel over ZeroMQ.
//!
//! A [`Channel`] sends requests to a ZeroMQ REP or ROUTER server (a Salt master, libzmq,
//! zmq.rs) and resolves each exactly once: with the reply, or with a typed [`Error`]
//! (refused, timed out after N attempts, unreachable and why, connection lost, closed,
//! rejected by the server, undecodable reply). One driver task per channel owns the
//! socket; the protocol logic is the sans-IO core in [`reqchan_core`]. Everything a
//! client or a typed server needs is re-exported here.
//!
//! ```no_run
//! use std::time::Duration;
//! use reqchan_tokio::{Channel, ChannelConfig, ChannelKey, RequestOptions, Value};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! // A channel of its own, one request at a time with REQ semantics (as Salt does):
//! let channel = Channel::connect("tcp://127.0.0.1:4506", ChannelConfig::lockstep())?;
//! let load = Value::map([("cmd", "ping".into())]);
//! // Sent as {"enc": "clear", "load": {"cmd": "ping"}, "version": 3}:
//! let reply: Value = channel.request(&load).await?;
//! println!("{reply}");
//!
//! // Per-request options; the reply decoded into any serde type.
//! let options = RequestOptions::default().timeout(Duration::from_secs(5)).tries(2);
//! let reply: std::collections::BTreeMap<String, String> = channel.request_with(&load, options).await?;
//! # let _ = reply;
//!
//! // Raw bytes, no envelope:
//! let bytes = channel.request_raw(&b"\x80"[..]).await?;
//! # let _ = bytes;
//!
//! // The shared channel for a key on this runtime (Salt's singleton), pipelined:
//! // up to 64 requests in flight, matched to their replies by id.
//! let key = ChannelKey::new("/etc/salt/pki/minion", "minion-1", "tcp://127.0.0.1:4506");
//! let shared = Channel::get(key, ChannelConfig::pipelined(64))?;
//! println!("{:?} {:?}", shared.state(), shared.stats());
//! # Ok(())
//! # }
//! ```
//!
//! A `Channel` is also a `tower::Service` for [`Value`] loads. Dropping a
//! request's future cancels the request; a pending request keeps its channel alive.
//! See [`reqchan_driver::client`] for how the driver runs and the choices it makes.

mod client;
mod runtime;
pub mod server;
mod stream;

/// The README's examples, run as doctests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeExamples;

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
pub use reqchan_driver::server::Reply;
pub use runtime::TokioRuntime;
pub use stream::{TokioListener, TokioStream};
