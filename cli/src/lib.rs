//! The `reqchan` command line's library side: the demo echo handler that `reqchan
//! serve` and `reqchan bench` run, shared with the integration tests. The commands
//! themselves are in the `reqchan` binary (`src/main.rs`).

mod echo;

pub use echo::{EchoError, echo, spawn_echo};
