//! A reply server on tokio: Salt's request server, answering every request exactly once.
//!
//! Each server runs on a thread of its own with a current-thread tokio runtime: the
//! listener, every connection, the drive loop and the handler tasks all live there. By
//! default it speaks our own wire ([`Transport::Wire`](crate::Transport::Wire)): a peer
//! that breaks the protocol or a limit loses its own connection and nothing else.
//! [`ServerHandle::shutdown`] stops accepting, lets running handlers finish within the
//! grace period, writes every queued reply (within `ServerOptions::linger`), closes the
//! connections, and then waits (bounded by [`FLUSH_TIMEOUT`]) until every task on the
//! server's runtime has finished. With the `zeromq` feature and
//! [`Transport::ZeroMq`](crate::Transport::ZeroMq) that last wait is what flushes: zmq.rs
//! 0.7 has no linger, and a ROUTER's replies sit in per-peer writer tasks after `send`
//! returns.
//!
//! Handlers share that one thread: one that blocks it (CPU-heavy or synchronous work)
//! stalls the whole server, so move such work to `tokio::task::spawn_blocking` or a
//! thread of your own and await the result.
//!
//! ```no_run
//! use reqchan_tokio::server::{self, SocketKind};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use reqchan_tokio::server::{Reply, ServerConfig, ServerOptions, Value};
//!
//! // A server on a free port whose handler answers {"got": <the request's load>}.
//! let options = ServerOptions::new(ServerConfig::default().max_concurrent(16));
//! let server = server::bind("tcp://127.0.0.1:0", SocketKind::Router, options, |request| async move {
//!     let load = request.load_value().map_err(|e| e.to_string())?;
//!     Reply::value(&Value::map([("got", load)])).map_err(|e| e.to_string())
//! })
//! .await?;
//! println!("listening on {}", server.endpoint());
//!
//! let report = server.shutdown().await?;
//! println!("{:?}, flushed: {}", report.stats, report.flushed);
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqchan_driver::server::{BindError, BoundServer, ServeError, StatsHandle};
use tokio::sync::oneshot;

pub use reqchan_core::codec::Value;
pub use reqchan_driver::server::{
    DriverEvent, DriverStats, EventSink, Handler, IncomingRequest, Reply, ServeReport, ServerConfig, ServerEvent,
    ServerOptions, ServerStats, SocketKind,
};

use crate::TokioRuntime;

/// How long [`ServerHandle::shutdown`] waits for the tasks left on the server's runtime
/// (zmq.rs's writers, aborted handlers) after the socket is closed.
pub const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a server could not start or stopped with an error.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServerError {
    /// The endpoint could not be bound.
    Bind(BindError),
    /// The server stopped serving with an error.
    Serve(ServeError),
    /// The server's thread or runtime could not be started.
    Start(std::io::Error),
    /// The server's thread ended without reporting (it panicked).
    Crashed,
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bind(e) => write!(f, "{e}"),
            Self::Serve(e) => write!(f, "{e}"),
            Self::Start(e) => write!(f, "cannot start the server thread: {e}"),
            Self::Crashed => f.write_str("the server thread ended unexpectedly"),
        }
    }
}

impl std::error::Error for ServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Bind(e) => Some(e),
            Self::Serve(e) => Some(e),
            Self::Start(e) => Some(e),
            Self::Crashed => None,
        }
    }
}

/// What a finished server reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// The final counters.
    pub stats: ServeReport,
    /// Whether every reply handed to the socket reached the kernel: our wire wrote them
    /// all within the linger time, and every task of the server's runtime (zmq.rs's
    /// writers included) finished within [`FLUSH_TIMEOUT`].
    pub flushed: bool,
    /// How long the flush took.
    pub flush_wait: Duration,
}

/// A running server. Dropping it shuts the server down in the background; call
/// [`shutdown`](Self::shutdown) to wait for that and get the report, or await the
/// handle itself to wait until the server ends (stopped by a [`Stopper`], or failed),
/// with why it ended.
#[derive(Debug)]
pub struct ServerHandle {
    endpoint: String,
    kind: SocketKind,
    stats: StatsHandle,
    stop: Stopper,
    done: Option<oneshot::Receiver<Result<ShutdownReport, ServeError>>>,
}

/// Asks a server to shut down gracefully, from anywhere; see [`ServerHandle::stopper`].
#[derive(Debug, Clone)]
pub struct Stopper(Arc<Mutex<Option<oneshot::Sender<()>>>>);

impl Stopper {
    /// Starts the graceful shutdown (once; later calls do nothing). Await the
    /// [`ServerHandle`] to learn when it is done.
    pub fn stop(&self) {
        let sender = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        if let Some(sender) = sender {
            let _ = sender.send(());
        }
    }
}

/// Awaiting a handle waits until the server ends: `Ok` with its report after a graceful
/// shutdown (asked through a [`Stopper`]), or the error that ended it. Dropping the
/// future before then shuts the server down, as dropping the handle does.
impl IntoFuture for ServerHandle {
    type Output = Result<ShutdownReport, ServerError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(mut self) -> Self::IntoFuture {
        Box::pin(async move { self.wait().await })
    }
}

impl ServerHandle {
    /// The endpoint the server listens on, with the real port for a port 0 bind
    /// (e.g. `tcp://127.0.0.1:39411`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The socket kind.
    pub fn kind(&self) -> SocketKind {
        self.kind
    }

    /// The server's live counters.
    pub fn stats(&self) -> ServeReport {
        self.stats.get()
    }

    /// Waits until `predicate` holds for the live counters and returns them; returns
    /// the final counters if the server stops first.
    pub async fn wait_for_stats(&self, predicate: impl FnMut(&ServeReport) -> bool) -> ServeReport {
        self.stats.wait_for(predicate).await
    }

    /// Shuts the server down gracefully and waits for it: no new requests, running
    /// handlers finish within the grace period (`ServerOptions::shutdown_grace`), every
    /// reply is flushed (bounded by [`FLUSH_TIMEOUT`]), then the socket is gone.
    pub async fn shutdown(mut self) -> Result<ShutdownReport, ServerError> {
        self.stop.stop();
        self.wait().await
    }

    /// A handle that can start the graceful shutdown from elsewhere (a signal handler,
    /// another task) while this handle is awaited.
    pub fn stopper(&self) -> Stopper {
        self.stop.clone()
    }

    /// Waits until the server stops (after [`shutdown`](Self::shutdown) from elsewhere,
    /// or an error).
    async fn wait(&mut self) -> Result<ShutdownReport, ServerError> {
        match self.done.take() {
            Some(done) => match done.await {
                Ok(result) => result.map_err(ServerError::Serve),
                Err(_) => Err(ServerError::Crashed),
            },
            None => Err(ServerError::Crashed),
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stop.stop();
    }
}

/// Starts a server on `endpoint` that answers requests with `handler`.
///
/// The handler gets each valid request (`load_value()`, `decode_load::<T>()`,
/// `load_bytes()`) and returns a [`Reply`] or an error; an error or a panic is answered
/// with Salt's `"Some exception handling minion payload"` and the server keeps serving.
/// Malformed requests never reach it: they are answered `{"msg": "bad load"}`. It runs
/// on the server's own runtime, so it must be `Send`.
///
/// Any [`Handler`] will do; the bound is spelled out here so that a closure's argument
/// type is inferred (`|request| async move { ... }`).
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
    let (bound_tx, bound_rx) = oneshot::channel::<Result<(String, StatsHandle), BindError>>();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (done_tx, done_rx) = oneshot::channel();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(ServerError::Start)?;
    let endpoint_owned = endpoint.to_owned();
    std::thread::Builder::new()
        .name("reqchan-server".to_owned())
        .spawn(move || {
            runtime.block_on(async move {
                let handle = tokio::runtime::Handle::current();
                let runtime = TokioRuntime::from_handle(handle.clone());
                let bound = match BoundServer::bind(runtime, kind, &endpoint_owned, options).await {
                    Ok(bound) => bound,
                    Err(e) => {
                        let _ = bound_tx.send(Err(e));
                        return;
                    }
                };
                let _ = bound_tx.send(Ok((bound.endpoint().to_owned(), bound.stats())));
                let stop = async move {
                    // A dropped handle counts as a shutdown request.
                    let _ = stop_rx.await;
                };
                let result = bound.serve(handler, stop).await;
                let started = Instant::now();
                let flushed = wait_for_tasks(&handle, started + FLUSH_TIMEOUT).await;
                let _ = done_tx.send(result.map(|stats| ShutdownReport {
                    stats,
                    flushed: flushed && stats.driver.connections_unflushed == 0,
                    flush_wait: started.elapsed(),
                }));
            });
        })
        .map_err(ServerError::Start)?;
    match bound_rx.await {
        Ok(Ok((endpoint, stats))) => Ok(ServerHandle {
            endpoint,
            kind,
            stats,
            stop: Stopper(Arc::new(Mutex::new(Some(stop_tx)))),
            done: Some(done_rx),
        }),
        Ok(Err(e)) => Err(ServerError::Bind(e)),
        Err(_) => Err(ServerError::Crashed),
    }
}

/// Waits until no task is left on the current runtime (zmq.rs's accept and writer
/// tasks, aborted handlers), or until `deadline`. zmq.rs offers no flush signal, and
/// the server's runtime runs nothing else, so an empty runtime means every queued reply
/// was written. Polls every millisecond: there is no event to wait on.
async fn wait_for_tasks(handle: &tokio::runtime::Handle, deadline: Instant) -> bool {
    loop {
        if handle.metrics().num_alive_tasks() == 0 {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
