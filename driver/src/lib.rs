//! Runtime-agnostic drivers that run reqchan's sans-IO core over sockets: our own wire
//! (the runtime's streams and `reqchan_core::wire`, the default) and, with the
//! `zeromq-tokio` or `zeromq-async-std` feature, the `zeromq` crate (zmq.rs).
//!
//! A driver owns the sockets and one timer, feeds the core every input with the current
//! time, and drains the core's outputs after each input. It holds no protocol logic:
//! the runtime adapters (`reqchan-tokio`, `reqchan-async-std`) only supply a [`Runtime`].

pub mod client;
mod runtime;
pub mod server;
mod timer;
mod transport;
mod watch;

pub use runtime::Runtime;
pub use transport::Transport;
