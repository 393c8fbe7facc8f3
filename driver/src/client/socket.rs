//! The client's connection, whichever transport carries it: the zmq.rs DEALER socket,
//! or our own wire (a runtime byte stream and the core's ZMTP state machine). The
//! drive loop sees one interface: connect, transmit, poll for the next event.

use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use reqchan_core::client::{ConnectError, ConnectErrorKind, RequestId, Transmit};

use super::wire::{self, Address, WireConn, WireOutcome};
#[cfg(feature = "zeromq")]
use super::zmq;
use crate::Runtime;
use crate::Transport;

/// The kind of a failed connect's OS error, whichever transport saw it. A missing path
/// only means "no such ipc path" for an ipc endpoint.
pub(crate) fn connect_error_kind(error: &std::io::Error, ipc: bool) -> ConnectErrorKind {
    use std::io::ErrorKind;
    match error.kind() {
        ErrorKind::ConnectionRefused => ConnectErrorKind::Refused,
        ErrorKind::NotFound if ipc => ConnectErrorKind::NoSuchPath,
        ErrorKind::TimedOut => ConnectErrorKind::TimedOut,
        // getaddrinfo failures carry no ErrorKind of their own.
        _ if error.to_string().contains("lookup address") => ConnectErrorKind::UnknownHost,
        _ => ConnectErrorKind::Other,
    }
}

/// What the connection produced.
pub(crate) enum Event {
    /// A message: its frames.
    Reply(Vec<Bytes>),
    /// The connection is unusable, and these transmissions never reached the wire.
    #[cfg_attr(not(feature = "zeromq"), allow(dead_code))] // only zmq.rs knows which
    Refused(Vec<RequestId>, String),
    /// The connection is unusable.
    Lost(String),
}

/// An open connection.
pub(crate) enum Conn<R: Runtime> {
    #[cfg(feature = "zeromq")]
    Zmq(zmq::Conn),
    /// Boxed: the state machine and its buffers are large; one per channel.
    Wire(Box<WireConn<R>>),
}

/// What a connection needs to know.
#[derive(Debug, Clone)]
pub(crate) struct ConnectSettings {
    pub(crate) transport: Transport,
    pub(crate) timeout: Duration,
    pub(crate) max_message_size: usize,
    pub(crate) heartbeat: Option<Duration>,
}

/// Connects to `endpoint` over the configured transport.
pub(crate) fn connect<R: Runtime>(
    runtime: &R,
    endpoint: String,
    settings: &ConnectSettings,
) -> BoxFuture<'static, Result<Conn<R>, ConnectError>> {
    match settings.transport {
        #[cfg(feature = "zeromq")]
        Transport::ZeroMq => {
            zmq::connect(endpoint, settings.timeout).map(|r| r.map(|c| Conn::Zmq(zmq::Conn::new(c)))).boxed()
        }
        #[cfg(not(feature = "zeromq"))]
        Transport::ZeroMq => {
            let error = ConnectError::new(ConnectErrorKind::Other, "built without the zeromq transport");
            futures::future::ready(Err(error)).boxed()
        }
        Transport::Wire => {
            let Some(address) = Address::parse(&endpoint) else {
                let error = ConnectError::new(ConnectErrorKind::Other, format!("not an endpoint: {endpoint}"));
                return futures::future::ready(Err(error)).boxed();
            };
            let heartbeat = settings.heartbeat.map(reqchan_core::wire::Heartbeat::every);
            let config = wire::dealer(settings.max_message_size, heartbeat);
            wire::connect(runtime.clone(), address, config, settings.timeout)
                .map(|r| r.map(|c| Conn::Wire(Box::new(c))))
                .boxed()
        }
    }
}

impl<R: Runtime> Conn<R> {
    /// Queues request `id`'s `frames` for sending.
    pub(crate) fn transmit(&mut self, transmit: Transmit) -> Result<(), String> {
        match self {
            #[cfg(feature = "zeromq")]
            Self::Zmq(conn) => conn.transmit(transmit.id, transmit.into_frames()).map_err(|e| e.to_string()),
            // Encoded straight from the core's frames into the output buffer: no Vec.
            Self::Wire(conn) => conn.transmit(transmit.frames()).map_err(|e| e.to_string()),
        }
    }

    /// A new poll of the driver task has begun (see [`WireConn::new_task_poll`]).
    pub(crate) fn new_task_poll(&mut self) {
        match self {
            #[cfg(feature = "zeromq")]
            Self::Zmq(_) => {}
            Self::Wire(conn) => conn.new_task_poll(),
        }
    }

    /// Makes progress on sends and receives; returns the first event.
    pub(crate) fn poll_event(&mut self, now: Instant, cx: &mut Context<'_>) -> Poll<Event> {
        match self {
            #[cfg(feature = "zeromq")]
            Self::Zmq(conn) => conn.poll_event(cx).map(|event| match event {
                zmq::Event::Reply(frames) => Event::Reply(frames),
                zmq::Event::Refused(ids, error) => Event::Refused(ids, error.to_string()),
                zmq::Event::Lost(error) => Event::Lost(error.to_string()),
            }),
            Self::Wire(conn) => conn.poll_outcome(now, cx).map(|outcome| match outcome {
                WireOutcome::Message(frames) => Event::Reply(frames),
                WireOutcome::Lost(why) => Event::Lost(why),
            }),
        }
    }
}
