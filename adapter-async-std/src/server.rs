//! A reply server on async-std: Salt's request server over our own wire, answering
//! every request exactly once. The drive loop is [`reqchan_driver::server`]'s (the same
//! as under tokio); this module only spawns it on async-std's executor.
//!
//! ```no_run
//! use reqchan_async_std::server::{self, Reply, ServerOptions, SocketKind};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let echo = |request: server::IncomingRequest| async move {
//!     Ok::<_, std::convert::Infallible>(Reply::msgpack(request.load_bytes()))
//! };
//! let server = server::bind("tcp://127.0.0.1:0", SocketKind::Router, ServerOptions::default(), echo).await?;
//! println!("listening on {}", server.endpoint());
//! let report = server.shutdown().await?;
//! println!("{report:?}");
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::future::Future;

use futures::channel::oneshot;
use reqchan_driver::server::BoundServer;

pub use reqchan_driver::server::{
    BindError, DriverEvent, DriverStats, EventSink, Handler, IncomingRequest, Reply, ServeError, ServeReport,
    ServerConfig, ServerEvent, ServerOptions, ServerStats, SocketKind, StatsHandle,
};

use crate::AsyncStdRuntime;

/// Why a server could not start or stopped with an error.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServerError {
    /// The endpoint could not be bound.
    Bind(BindError),
    /// The server stopped serving with an error.
    Serve(ServeError),
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bind(e) => write!(f, "{e}"),
            Self::Serve(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Bind(e) => Some(e),
            Self::Serve(e) => Some(e),
        }
    }
}

/// A running server. Dropping it starts the graceful shutdown in the background; call
/// [`shutdown`](Self::shutdown) to wait for it and get the final counters.
#[derive(Debug)]
pub struct ServerHandle {
    endpoint: String,
    kind: SocketKind,
    stats: StatsHandle,
    stop: Option<oneshot::Sender<()>>,
    task: Option<async_std::task::JoinHandle<Result<ServeReport, ServeError>>>,
}

impl ServerHandle {
    /// The endpoint the server listens on, with the real port for a port 0 bind.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The socket kind.
    pub fn kind(&self) -> SocketKind {
        self.kind
    }

    /// The live counters.
    pub fn stats(&self) -> ServeReport {
        self.stats.get()
    }

    /// Waits until `predicate` holds for the live counters and returns them (the final
    /// counters if the server stops first).
    pub async fn wait_for_stats(&self, predicate: impl FnMut(&ServeReport) -> bool) -> ServeReport {
        self.stats.wait_for(predicate).await
    }

    /// Shuts the server down gracefully and waits for it: no new connections, running
    /// handlers finish within the grace period, queued replies are written (within
    /// `ServerOptions::linger`), then the connections close.
    pub async fn shutdown(mut self) -> Result<ServeReport, ServerError> {
        drop(self.stop.take());
        match self.task.take() {
            Some(task) => task.await.map_err(ServerError::Serve),
            None => Ok(self.stats.get()),
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        // The stop signal is the sender going away; the task finishes by itself.
        drop(self.stop.take());
    }
}

/// Starts a server on `endpoint` that answers requests with `handler`, on async-std's
/// executor. See `reqchan_tokio::server::bind` for the handler's contract; it is the
/// same here: handlers run inside the server's task, so CPU-heavy work belongs in
/// `async_std::task::spawn_blocking`.
pub async fn bind<H, Fut, E>(
    endpoint: &str,
    kind: SocketKind,
    options: ServerOptions,
    handler: H,
) -> Result<ServerHandle, ServerError>
where
    H: Fn(IncomingRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Reply, E>> + Send + 'static,
    E: fmt::Display + Send + 'static,
{
    let bound =
        BoundServer::bind(AsyncStdRuntime::default(), kind, endpoint, options).await.map_err(ServerError::Bind)?;
    let endpoint = bound.endpoint().to_owned();
    let stats = bound.stats();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = async_std::task::spawn(bound.serve(handler, async move {
        let _ = stopped.await;
    }));
    Ok(ServerHandle { endpoint, kind, stats, stop: Some(stop), task: Some(task) })
}
