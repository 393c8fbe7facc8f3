//! A deterministic, IO-free world for reqchan's state machines, shared by the core's
//! tests and the fuzzers: one simulator, written once.
//!
//! - [`SimRng`]: the one seeded source of randomness (a seed replays a run exactly).
//! - [`client`]: [`Sim`], a request client driven exactly as its docs say, over a
//!   seeded network (latency, jitter, loss, duplication) to a scripted REP-like
//!   [`Server`] whose [`Behaviour`] each test chooses, with a virtual clock that jumps
//!   to the next thing that can happen; every input goes through the client's reference
//!   model ([`model::client::Harness`]), which checks the client's rules after every step.
//! - [`server`]: [`ServerHarness`], a reply server on a virtual clock that records
//!   every output, for scenario tests.
//! - [`pair`]: [`Pair`], a core client and a core reply server joined by an in-memory
//!   link (like h11's `ConnectionPair` or quinn-proto's `Pair`).
//!
//! - [`model`]: one reference model per state machine (client, server), which the
//!   core's property tests and the fuzzers both run.
//!
//! No sockets, no runtime, no clock reads beyond the one origin instant.

pub mod client;
pub mod model;
pub mod pair;
mod rng;
pub mod server;

pub use client::*;
pub use pair::Pair;
pub use rng::SimRng;
pub use server::ServerHarness;
