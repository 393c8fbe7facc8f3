//! Sans-IO state machines for SaltStack's request channel over ZeroMQ.
//!
//! A minion sends a request to the master and waits for one reply. This crate holds
//! everything about that exchange that can be decided without a socket or a clock:
//!
//! - [`client`]: the request client (queue, in-flight table, timeouts, retries,
//!   backoff, socket resets) — Salt's `AsyncReqMessageClient`, with its defects fixed.
//! - [`codec`]: the Salt envelope `{"enc": "clear", "load": ..., "version": 3}` in
//!   msgpack, and a dynamic [`codec::Value`].
//! - [`server`]: the reply server state machine.
//! - [`wire`]: ZMTP 3.1, the wire itself, one connection per byte stream.
//!
//! Nothing here reads a clock or draws entropy: every mutating call takes
//! `now: Instant`, and randomness (backoff jitter) comes from a seed in the config, so
//! a test can replay any schedule exactly. Runtime adapters (`reqchan-tokio`,
//! `reqchan-async-std`) own the sockets and the timer; the client's module docs show
//! the drive loop for embedding the core in an event loop of your own.

pub mod client;
pub mod codec;
pub mod hash;
pub mod server;
pub mod time;
pub mod wire;

mod rng;
