//! The reply server's drive loop over a ROUTER or REP socket, for any
//! [`Runtime`](crate::Runtime): our own wire by default ([`Transport::Wire`]: the
//! runtime's listener and streams, and the core's [`Router`](reqchan_core::wire::Router)),
//! or zmq.rs with a `zeromq-*` feature.
//!
//! [`BoundServer::bind`] binds the socket; [`BoundServer::serve`] runs the core
//! [`Server`](reqchan_core::server::Server) over it until the shutdown future
//! completes: it receives messages, starts one handler task per request, sends every
//! reply the core produces, and wakes the core at its deadlines. The loop itself is
//! the core's drive loop plus sockets.
//!
//! - **Handlers** implement [`Handler`]: any `Fn(IncomingRequest) -> Future<Output =
//!   Result<Reply, E>>` does. Their futures run concurrently inside the server task
//!   (each polled when it wakes; no task spawned per request), so on ROUTER replies
//!   leave in the order handlers finish. A handler must not block the thread: move
//!   CPU-heavy or synchronous work to a blocking pool and await it. An error or a panic
//!   (caught, also when calling the handler) becomes Salt's handler-exception reply
//!   and the server keeps serving. A handler still running when its request is
//!   answered without it (timeout, shutdown) is aborted (dropped).
//! - **Our wire**: every connection's ZMTP state lives in the core's router; a peer
//!   that breaks the protocol or a limit (a frame header declaring 2^40 bytes, a bad
//!   greeting, an incompatible socket type, a handshake not done within
//!   `handshake_timeout`, silence beyond the heartbeat) loses its own connection and
//!   nothing else; each peer's unwritten replies are bounded; accept errors pause
//!   accepting; violations are reported at most ten times a second. On shutdown the
//!   listener closes and queued replies are written within `linger`.
//! - **zmq.rs receive errors** go through a guard: an isolated one is retried at once, a run
//!   of them pauses the receive loop (1 ms doubling to 100 ms), and a REP socket that
//!   keeps failing — zmq.rs 0.7's REP reports the same error ~160,000 times a second
//!   after a peer vanished mid-frame — is closed and bound again (at most 5 times a
//!   minute), which drops the poisoned connection.
//! - **Sends** go through an outbox and run in the background while the task keeps
//!   receiving, feeding handler results and firing timers; one that cannot complete
//!   within `send_timeout` (a peer that stopped reading 100,000 replies ago) is given
//!   up and counted, one to a peer that disconnected fails and is counted. Neither
//!   stops the server. (zmq.rs has one send half per ROUTER, so replies to other peers
//!   wait behind a stuck one; per-connection outboxes come with our own wire.)
//! - **The task** is shaped like the client's: one struct, one `poll_*` per input
//!   source (shutdown, handler results, timer, receive pause, socket re-creation,
//!   sends, receives), each feeding the core and draining it.
//! - **Shutdown**: queued requests are answered `server busy`, running handlers get
//!   `shutdown_grace`, and on ROUTER messages that keep arriving meanwhile are answered
//!   `server busy`. When the core reports every request answered, the socket is closed.
//!   REP replies are flushed by the time `send` returns. ROUTER replies are queued to
//!   per-peer writer tasks inside zmq.rs, which keep writing after the socket is
//!   dropped until their queues are empty — but only while the runtime runs: zmq.rs
//!   0.7 has no linger, and a process that exits right away loses them. `reqchan-tokio`
//!   runs each server on a runtime of its own and waits for zmq.rs's tasks there to
//!   finish before returning from shutdown.

#[cfg_attr(not(feature = "zeromq"), allow(dead_code))] // the zmq.rs receive guard
mod guard;
mod handler;
mod socket;
mod stats;
mod task;
mod wire;
#[cfg(feature = "zeromq")]
mod zmq;

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

pub use handler::{Handler, Reply};
pub use reqchan_core::server::{
    Framing, HandlerFailure, IncomingRequest, RejectReason, RequestToken, ServerConfig, ServerEvent, ServerStats,
};
pub use socket::SocketKind;
pub use stats::{DriverStats, ServeReport, StatsHandle};
pub use wire::LOGS_PER_SECOND;

pub use crate::Transport;
use socket::ServerSocket;

/// A callback for [`DriverEvent`]s (logging).
pub type EventSink = Arc<dyn Fn(&DriverEvent) + Send + Sync>;

/// How a server is driven.
#[derive(Clone)]
#[non_exhaustive]
pub struct ServerOptions {
    /// The core's limits (its framing comes from the socket kind).
    pub core: ServerConfig,
    /// How long running handlers may finish after shutdown begins. Default: 5 s.
    pub shutdown_grace: Duration,
    /// zmq.rs only: how long one send may wait for room in a peer's queue. Default: 5 s.
    /// (Our wire bounds each peer's unwritten replies instead, and never waits.)
    pub send_timeout: Duration,
    /// Where events go. Default: nowhere (they are still counted).
    pub on_event: Option<EventSink>,
    /// What carries the bytes. Default: [`Transport::Wire`].
    pub transport: Transport,
    /// Our wire: send a ZMTP PING to each peer this often, and drop a peer silent for
    /// as long after one. Default: none.
    pub heartbeat: Option<Duration>,
    /// Our wire: connections at once; more are closed when accepted. Default: 10,000.
    pub max_connections: usize,
    /// Our wire: how long a new connection has to complete its handshake. Default: 10 s.
    pub handshake_timeout: Duration,
    /// Our wire: how long shutdown waits for queued replies to be written. Default: 5 s.
    pub linger: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        Self {
            core: ServerConfig::default(),
            shutdown_grace: Duration::from_secs(5),
            send_timeout: Duration::from_secs(5),
            on_event: None,
            transport: Transport::Wire,
            heartbeat: None,
            max_connections: 10_000,
            handshake_timeout: Duration::from_secs(10),
            linger: Duration::from_secs(5),
        }
    }
}

impl ServerOptions {
    /// Options with the given core configuration.
    pub fn new(core: ServerConfig) -> Self {
        Self { core, ..Self::default() }
    }

    /// Sets [`shutdown_grace`](Self::shutdown_grace).
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Sets [`send_timeout`](Self::send_timeout).
    pub fn send_timeout(mut self, timeout: Duration) -> Self {
        self.send_timeout = timeout;
        self
    }

    /// Sets [`transport`](Self::transport).
    pub fn transport(mut self, transport: Transport) -> Self {
        self.transport = transport;
        self
    }

    /// Sets [`heartbeat`](Self::heartbeat).
    pub fn heartbeat(mut self, interval: Duration) -> Self {
        self.heartbeat = Some(interval);
        self
    }

    /// Sets [`max_connections`](Self::max_connections).
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max;
        self
    }

    /// Sets [`handshake_timeout`](Self::handshake_timeout).
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets [`linger`](Self::linger).
    pub fn linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }

    /// Hands `event` to the sink, if there is one.
    pub(crate) fn emit(&self, event: DriverEvent) {
        if let Some(sink) = &self.on_event {
            sink(&event);
        }
    }

    /// Sets [`on_event`](Self::on_event).
    pub fn event_sink(mut self, sink: EventSink) -> Self {
        self.on_event = Some(sink);
        self
    }
}

impl fmt::Debug for ServerOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerOptions")
            .field("core", &self.core)
            .field("shutdown_grace", &self.shutdown_grace)
            .field("send_timeout", &self.send_timeout)
            .field("on_event", &self.on_event.as_ref().map(|_| "Fn"))
            .field("transport", &self.transport)
            .field("heartbeat", &self.heartbeat)
            .field("max_connections", &self.max_connections)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("linger", &self.linger)
            .finish()
    }
}

/// Something the driver wants logged.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DriverEvent {
    /// An event from the core (a rejected message, a failed or timed-out handler, ...).
    Core(ServerEvent),
    /// The socket's `recv` failed.
    RecvError(String),
    /// A reply could not be sent (the peer disconnected, or its queue stayed full).
    SendFailed(String),
    /// The socket kept failing and was replaced by a new one on the same endpoint.
    SocketRecreated,
    /// Our wire: a peer's connection was ended for breaking the protocol or a limit,
    /// or for silence (which peer, and why).
    PeerDropped(String),
    /// Our wire: a connection was closed as soon as accepted (too many).
    ConnectionRefused(String),
    /// Our wire: accepting failed (accepting pauses a while).
    AcceptError(String),
    /// This many reports were left out of the last second's (beyond
    /// [`LOGS_PER_SECOND`]); they are still counted.
    Suppressed(u64),
}

impl fmt::Display for DriverEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Core(e) => write!(f, "{e}"),
            Self::RecvError(e) => write!(f, "receive failed: {e}"),
            Self::SendFailed(e) => write!(f, "reply not sent: {e}"),
            Self::SocketRecreated => {
                f.write_str("socket kept failing: replaced it with a new one on the same endpoint")
            }
            Self::PeerDropped(e) => write!(f, "dropped a connection: {e}"),
            Self::ConnectionRefused(e) => write!(f, "refused a connection: {e}"),
            Self::AcceptError(e) => write!(f, "accept failed: {e}"),
            Self::Suppressed(n) => write!(f, "{n} more such reports in that second, not shown"),
        }
    }
}

/// Binding failed.
#[derive(Debug)]
#[non_exhaustive]
pub struct BindError {
    /// The endpoint asked for.
    pub endpoint: String,
    /// Why.
    pub source: io::Error,
}

impl fmt::Display for BindError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot bind {}: {}", self.endpoint, self.source)
    }
}

impl std::error::Error for BindError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Serving stopped for a reason other than shutdown.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServeError {
    /// The core configuration is invalid.
    Config(reqchan_core::server::ConfigError),
    /// The socket had to be recreated and binding the endpoint again failed.
    Rebind(BindError),
}

impl fmt::Display for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(e) => write!(f, "{e}"),
            Self::Rebind(e) => write!(f, "socket recreation failed: {e}"),
        }
    }
}

impl std::error::Error for ServeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Config(e) => Some(e),
            Self::Rebind(e) => Some(e),
        }
    }
}

/// A bound server socket, ready to [`serve`](Self::serve).
pub struct BoundServer<R: crate::Runtime> {
    runtime: R,
    options: ServerOptions,
    socket: ServerSocket<R>,
    kind: SocketKind,
    endpoint: String,
    stats: StatsHandle,
}

impl<R: crate::Runtime> fmt::Debug for BoundServer<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundServer").field("kind", &self.kind).field("endpoint", &self.endpoint).finish()
    }
}

impl<R: crate::Runtime> BoundServer<R> {
    /// Binds a `kind` socket to `endpoint` (e.g. `tcp://127.0.0.1:0`) on `runtime`,
    /// over `options.transport`. Must run inside the runtime that will serve (zmq.rs
    /// spawns its accept task there).
    pub async fn bind(runtime: R, kind: SocketKind, endpoint: &str, options: ServerOptions) -> Result<Self, BindError> {
        let (socket, resolved) = ServerSocket::bind(&runtime, kind, endpoint, &options)
            .await
            .map_err(|source| BindError { endpoint: endpoint.to_owned(), source })?;
        Ok(Self { runtime, options, socket, kind, endpoint: resolved, stats: StatsHandle::default() })
    }

    /// The resolved endpoint (a port 0 bind shows the real port).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The socket kind.
    pub fn kind(&self) -> SocketKind {
        self.kind
    }

    /// A handle on the live counters.
    pub fn stats(&self) -> StatsHandle {
        self.stats.clone()
    }

    /// Serves requests with `handler` until `shutdown` completes, then shuts down
    /// gracefully (see the [module docs](self)) and returns the final counters.
    pub async fn serve<H, S>(self, handler: H, shutdown: S) -> Result<ServeReport, ServeError>
    where
        H: Handler,
        S: std::future::Future<Output = ()> + Send,
    {
        task::run(self, handler, shutdown).await
    }
}
