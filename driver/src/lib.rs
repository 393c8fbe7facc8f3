//! Runtime-agnostic drivers that run reqchan's sans-IO core over `zeromq` sockets.
//!
//! A driver owns the sockets and one timer, feeds the core every input with the current
//! time, and drains the core's outputs after each input. It holds no protocol logic:
//! the runtime adapters (`reqchan-tokio`, `reqchan-async-std`) only supply a [`Runtime`].

pub mod client;
mod runtime;
pub mod server;
mod watch;

pub use runtime::Runtime;
