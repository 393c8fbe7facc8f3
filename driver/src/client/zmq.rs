//! The client's socket, as futures the drive loop can poll side by side with its
//! commands and its timer.
//!
//! Both modes use a DEALER socket, split in halves: a receive future always pending, a
//! send future fed from an outbox (a full peer queue never blocks the loop), and the
//! socket's monitor, whose `Disconnected` event tells at once that the peer went away,
//! even while idle. (zmq.rs's REQ socket only notices at the next send, which then
//! costs an attempt; its DEALER's `recv` simply keeps waiting when the peer closes.) zeromq's `send`/`recv` borrow
//! their half mutably, so each runs inside a future that owns the half and gives it
//! back when done. The frames are the core's: lockstep carries the REQ envelope
//! (`["", payload]`) itself.
//!
//! Dropping a [`Conn`] drops the socket: zeromq closes its connection.

use std::collections::VecDeque;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::channel::mpsc;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use reqchan_core::client::{ConnectError, ConnectErrorKind, RequestId};
use zeromq::{
    DealerRecvHalf, DealerSendHalf, DealerSocket, Socket, SocketEvent, SocketOptions, SocketRecv, SocketSend, ZmqError,
    ZmqMessage, ZmqResult,
};

use super::socket::connect_error_kind;

/// A connected DEALER socket and its monitor, opened before connecting so that no
/// disconnection goes unseen.
pub(crate) struct Connected {
    socket: DealerSocket,
    monitor: mpsc::Receiver<SocketEvent>,
}

/// Opens a DEALER socket and connects it to `endpoint`; a failure says why, as the
/// core's [`ConnectError`].
pub(crate) fn connect(endpoint: String, timeout: Duration) -> BoxFuture<'static, Result<Connected, ConnectError>> {
    let mut options = SocketOptions::default();
    options.connect_timeout(timeout);
    async move {
        let mut socket = DealerSocket::with_options(options);
        let monitor = socket.monitor();
        match socket.connect(&endpoint).await {
            Ok(()) => Ok(Connected { socket, monitor }),
            Err(error) => Err(classify(&endpoint, &error)),
        }
    }
    .boxed()
}

/// Why a connect failed. zeromq retries a refused TCP connection and a missing ipc
/// path until the connect timeout and then reports only the timeout, so the cause is
/// found here: the ipc path is looked up, and a TCP address given as an IP literal is
/// probed once (at most 50 ms, on this failure path only; names are not resolved here,
/// as a lookup could block).
fn classify(endpoint: &str, error: &ZmqError) -> ConnectError {
    let detail = error.to_string();
    match error {
        ZmqError::Network(io) => ConnectError::new(connect_error_kind(io, endpoint.starts_with("ipc://")), detail),
        ZmqError::ConnectTimeout(_) => {
            if let Some(path) = endpoint.strip_prefix("ipc://") {
                return match std::fs::metadata(path) {
                    Err(e) if e.kind() == ErrorKind::NotFound => ConnectError::new(ConnectErrorKind::NoSuchPath, path),
                    _ => ConnectError::new(ConnectErrorKind::Refused, format!("nothing accepts connections on {path}")),
                };
            }
            let probe = endpoint
                .strip_prefix("tcp://")
                .and_then(|address| address.parse::<SocketAddr>().ok())
                .map(|address| std::net::TcpStream::connect_timeout(&address, Duration::from_millis(50)));
            match probe {
                Some(Err(io)) if io.kind() == ErrorKind::ConnectionRefused => {
                    ConnectError::new(ConnectErrorKind::Refused, format!("nothing listens on {endpoint}"))
                }
                _ => ConnectError::new(ConnectErrorKind::TimedOut, detail),
            }
        }
        ZmqError::Codec(_) | ZmqError::UnsupportedVersion(_) | ZmqError::PeerIdentity => {
            ConnectError::new(ConnectErrorKind::Handshake, detail)
        }
        _ => ConnectError::new(ConnectErrorKind::Other, detail),
    }
}

/// What the socket produced.
pub(crate) enum Event {
    /// A message: its frames.
    Reply(Vec<Bytes>),
    /// The connection is unusable, and these transmissions never reached the wire: a
    /// send failed, and the ones queued behind it will not be tried on this socket.
    Refused(Vec<RequestId>, ZmqError),
    /// The connection is unusable: a receive failed.
    Lost(ZmqError),
}

type Receive = BoxFuture<'static, (DealerRecvHalf, ZmqResult<ZmqMessage>)>;
type Send = BoxFuture<'static, (DealerSendHalf, ZmqResult<()>)>;

/// An open socket and the operations in progress on it.
pub(crate) struct Conn {
    /// The send half when no send is in progress.
    idle: Option<DealerSendHalf>,
    sending: Option<(RequestId, Send)>,
    outbox: VecDeque<(RequestId, ZmqMessage)>,
    receiving: Receive,
    /// `None` once the monitor has ended.
    monitor: Option<mpsc::Receiver<SocketEvent>>,
}

fn receive(mut half: DealerRecvHalf) -> Receive {
    async move {
        let result = half.recv().await;
        (half, result)
    }
    .boxed()
}

fn send(mut half: DealerSendHalf, message: ZmqMessage) -> Send {
    async move {
        let result = half.send(message).await;
        (half, result)
    }
    .boxed()
}

impl Conn {
    pub(crate) fn new(Connected { socket, monitor }: Connected) -> Self {
        let (send, recv) = socket.split();
        Self {
            idle: Some(send),
            sending: None,
            outbox: VecDeque::new(),
            receiving: receive(recv),
            monitor: Some(monitor),
        }
    }

    /// Queues request `id`'s `frames` for sending. Fails only for a message with no
    /// frames, which the core never produces.
    pub(crate) fn transmit(&mut self, id: RequestId, frames: Vec<Bytes>) -> Result<(), ZmqError> {
        let message = ZmqMessage::try_from(frames).map_err(|_| ZmqError::Socket("cannot send an empty message"))?;
        self.outbox.push_back((id, message));
        Ok(())
    }

    /// Makes progress on sends and receives; returns the first event.
    pub(crate) fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Event> {
        while let Some(monitor) = &mut self.monitor {
            match monitor.poll_next_unpin(cx) {
                Poll::Ready(Some(SocketEvent::Disconnected(_))) => {
                    return Poll::Ready(Event::Lost(ZmqError::Other("the peer disconnected")));
                }
                Poll::Ready(Some(_)) => {}
                Poll::Ready(None) => self.monitor = None,
                Poll::Pending => break,
            }
        }
        // Sends first, so that replies to them can follow.
        loop {
            if let Some((id, sending)) = &mut self.sending {
                let id = *id;
                match sending.poll_unpin(cx) {
                    Poll::Ready((half, Ok(()))) => {
                        self.sending = None;
                        self.idle = Some(half);
                    }
                    Poll::Ready((half, Err(e))) => {
                        self.sending = None;
                        self.idle = Some(half);
                        let refused = std::iter::once(id).chain(self.outbox.drain(..).map(|(id, _)| id));
                        return Poll::Ready(Event::Refused(refused.collect(), e));
                    }
                    Poll::Pending => break,
                }
            }
            if self.outbox.is_empty() || self.idle.is_none() {
                break;
            }
            if let (Some(half), Some((id, message))) = (self.idle.take(), self.outbox.pop_front()) {
                self.sending = Some((id, send(half, message)));
            }
        }
        let Poll::Ready((half, result)) = self.receiving.poll_unpin(cx) else {
            return Poll::Pending;
        };
        self.receiving = receive(half);
        Poll::Ready(match result {
            Ok(message) => Event::Reply(message.into_vec()),
            Err(e) => Event::Lost(e),
        })
    }
}
