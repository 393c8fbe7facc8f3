//! The request channel under async-std.

use crate::runtime::AsyncStdRuntime;

/// A request channel whose driver task runs on async-std's executor: cheap to clone,
/// every clone a handle on the same socket. `Channel::connect(endpoint, config)` and
/// `Channel::get(key, config)` create and share channels; every method is documented on
/// [`reqchan_driver::client::Channel`], the one channel type of every adapter.
pub type Channel = reqchan_driver::client::Channel<AsyncStdRuntime>;
