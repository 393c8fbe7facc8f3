//! What a driver needs from an async runtime: a timer, a way to spawn, and a way to
//! find the runtime the caller runs on.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::task::{Context, Poll};
use std::time::Instant;

use futures::future::BoxFuture;
use futures::io::{AsyncRead, AsyncWrite};

/// An async runtime as the drivers see it. `reqchan-tokio` and `reqchan-async-std`
/// each provide one; a custom event loop can provide its own.
pub trait Runtime: Clone + Send + Sync + 'static {
    /// The runtime's name, for errors ("tokio").
    const NAME: &'static str;

    /// The future returned by [`Runtime::sleep_until`].
    type Sleep: Future<Output = ()> + Send + 'static;

    /// A connected byte stream (TCP or Unix), for the wire transport.
    type Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static;

    /// A listening TCP or Unix socket, for the wire server.
    type Listener: Send + Unpin + 'static;

    /// Opens a TCP connection to `host:port` (the name resolved by the runtime).
    fn connect_tcp(&self, host: String, port: u16) -> BoxFuture<'static, io::Result<Self::Stream>>;

    /// Opens a Unix stream connection to `path`.
    fn connect_unix(&self, path: PathBuf) -> BoxFuture<'static, io::Result<Self::Stream>>;

    /// Listens on TCP `host:port` (port 0: a free port); returns the listener and the
    /// port it got.
    fn bind_tcp(&self, host: String, port: u16) -> BoxFuture<'static, io::Result<(Self::Listener, u16)>>;

    /// Listens on the Unix socket `path` (which must not exist).
    fn bind_unix(&self, path: PathBuf) -> BoxFuture<'static, io::Result<Self::Listener>>;

    /// The next connection on `listener` (TCP streams with `TCP_NODELAY`).
    fn poll_accept(&self, listener: &mut Self::Listener, cx: &mut Context<'_>) -> Poll<io::Result<Self::Stream>>;

    /// The runtime the caller runs on, if any.
    fn current() -> Option<Self>;

    /// Identifies this runtime among those alive in the process: channels are shared
    /// per runtime, so two live runtimes must never have the same key.
    fn key(&self) -> u64;

    /// A future that completes at `deadline` (at once if it has passed).
    fn sleep_until(&self, deadline: Instant) -> Self::Sleep;

    /// Runs `future` to completion in the background.
    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static;
}
