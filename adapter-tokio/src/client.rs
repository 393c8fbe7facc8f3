//! The request channel under tokio.

use crate::runtime::TokioRuntime;

/// A request channel whose driver task runs on a tokio runtime: cheap to clone, every
/// clone a handle on the same socket.
///
/// `Channel::connect(endpoint, config)` and `Channel::get(key, config)` use the runtime
/// the caller runs on; `connect_on` and `get_on` take a [`TokioRuntime`] and work from
/// outside it. Every method is documented on
/// [`reqchan_driver::client::Channel`], the one channel type of every adapter.
pub type Channel = reqchan_driver::client::Channel<TokioRuntime>;
