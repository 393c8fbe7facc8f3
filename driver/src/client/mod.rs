//! The request client's driver: a [`Channel`] handle and the task that runs the core's
//! [`Client`](reqchan_core::client::Client) over a connection to the server.
//!
//! # Transports
//! - [`Transport::Wire`] (the default): our own wire: the runtime's TCP or Unix stream
//!   ([`Runtime::connect_tcp`](crate::Runtime::connect_tcp)) driven through the core's
//!   ZMTP state machine ([`reqchan_core::wire`]). Connecting includes the handshake; a
//!   frame header declaring too much ends that connection (never the process); libzmq's
//!   heartbeats are answered, and [`ChannelConfig::heartbeat`] sends ours, so a peer that
//!   vanished without closing is lost after about twice the interval.
//! - [`Transport::ZeroMq`] (with a `zeromq-*` feature): a zmq.rs DEALER socket.
//!
//! # How it runs
//! [`Channel::connect`] starts one driver task on a [`Runtime`](crate::Runtime). The task
//! owns the socket and one timer. It takes inputs from four sources — requests and
//! cancellations from the handles, the connect in progress, the socket, and the timer
//! armed at the core's `poll_timeout` (re-armed only when that changes; expiry is
//! checked against the clock) — feeds each to the core with `Instant::now()`, and
//! drains the core after each: socket actions, then transmissions, then completions.
//!
//! - Both modes speak as a DEALER, which always has a receive pending, so a peer that
//!   dies is noticed at once, even between requests (zmq.rs's REQ socket would only
//!   notice at the next send, costing that request an attempt).
//! - **Lockstep** ([`Mode::Lockstep`](reqchan_core::client::Mode::Lockstep)): one
//!   request at a time with REQ semantics, as Salt does, sent as
//!   `[request-id, "", payload]` (what libzmq's REQ puts on the wire with
//!   `ZMQ_REQ_CORRELATE`): a reply is taken only if it echoes the id, so a duplicated
//!   or late reply never answers the next request.
//!   [`LockstepFraming::Plain`](reqchan_core::client::LockstepFraming::Plain) sends
//!   the bare `["", payload]` for servers that refuse extra envelope frames.
//! - **Pipelined** ([`Mode::Pipelined`](reqchan_core::client::Mode::Pipelined)):
//!   `[request-id, "", payload]`; standard REP and ROUTER servers echo the id, so
//!   replies are matched to requests.
//! - When the core asks for a connection (at start, after a timed-out lockstep attempt,
//!   a lost peer, a failed connect), the old socket is dropped and a new one connected
//!   in the background (zeromq 0.7 never reconnects a DEALER socket itself); the
//!   task keeps taking requests, cancellations and timeouts meanwhile. A connect that
//!   fails within [`ChannelConfig::connect_timeout`] is reported to the core, which
//!   retries after its reconnect backoff.
//! - A send or receive error (the peer went away: broken pipe, `NoMessage`) is reported
//!   as a lost peer: attempts in flight fail at once and are retried on a new socket.
//!
//! # Choices
//! - Requests are queued when `request*` is called, not when the future is first
//!   polled; dropping the future cancels the request. Cancellations (and every other
//!   command waiting for the driver) are applied before anything is transmitted, so a
//!   request whose future was dropped is never sent afterwards.
//! - A request's future keeps the channel alive: the channel closes once every handle
//!   and every unfinished request's future is gone (or at once on `close()`).
//! - Each channel draws its backoff-jitter seed from the operating system unless
//!   [`ChannelConfig::seed`] gives one, so a fleet of clients never retries in step.
//! - A connection that cannot be made is retried after the reconnect backoff; a
//!   request that times out meanwhile fails with
//!   [`RequestError::Unreachable`](reqchan_core::client::RequestError::Unreachable),
//!   which says why (refused, unknown host, no such ipc path, timed out).
//! - A request whose future was dropped before the driver saw it is never submitted.
//! - [`ConnectionState`] is `Connecting` until the first connection, then `Connected`
//!   or `Reconnecting`, and `Closed` at the end (also if the runtime shut down), once
//!   the driver task has ended and its socket is closed. [`Channel::wait_for_stats`]
//!   waits on the counters the same way.
//! - `tracing` events: `debug` for connects and cancellations, `info` for socket resets,
//!   lost peers and retries, `warn` for failed connects and requests that timed out.

mod config;
mod error;
mod handle;
mod key;
mod minion;
pub mod registry;
mod service;
mod socket;
mod state;
mod task;
pub(crate) mod wire;
#[cfg(feature = "zeromq")]
mod zmq;

pub use crate::Transport;
pub use config::ChannelConfig;
pub use error::{BuildError, Error, SaltError};
pub use handle::{Channel, ReplyFuture, ResponseFuture};
pub use key::ChannelKey;
pub use registry::{RuntimeKey, registered_channels, registry_stats};
pub use state::{Changed, ConnectionState, StateWatch, live_drivers};
