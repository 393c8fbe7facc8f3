//! The client's connection over our own wire: a byte stream from the runtime and the
//! core's ZMTP state machine ([`reqchan_core::wire`]). The drive loop polls it beside
//! its commands and its timer, exactly like the zmq.rs socket.
//!
//! Connecting is opening the stream *and* completing the ZMTP handshake (greeting and
//! READY with a compatible socket type), all within the connect timeout. Afterwards the
//! connection reads whatever arrives into the state machine (which checks every limit
//! at the frame header: a hostile length can only end this connection), writes what
//! it queues (many messages per write), and fires its heartbeat timer.

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::FutureExt;
use futures::future::{self, BoxFuture, Either};
use futures::io::{AsyncRead, AsyncWrite};
use reqchan_core::client::{ConnectError, ConnectErrorKind};
use reqchan_core::wire::{Connection, SocketType, WireConfig, WireError, WireEvent};

use super::socket::connect_error_kind;
use crate::Runtime;
use crate::timer::{DeadlineTimer, Fired};
use crate::transport::READ_CHUNK;

/// Where to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Address {
    Tcp { host: String, port: u16 },
    Ipc(PathBuf),
}

impl Address {
    /// `tcp://host:port` or `ipc://path`.
    pub(crate) fn parse(endpoint: &str) -> Option<Self> {
        if let Some(path) = endpoint.strip_prefix("ipc://") {
            return (!path.is_empty()).then(|| Self::Ipc(PathBuf::from(path)));
        }
        let rest = endpoint.strip_prefix("tcp://")?;
        let (host, port) = rest.rsplit_once(':')?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = port.parse().ok()?;
        (!host.is_empty()).then(|| Self::Tcp { host: host.to_owned(), port })
    }
}

/// What the connection produced.
pub(crate) enum WireOutcome {
    /// A message: its frames.
    Message(Vec<Bytes>),
    /// The connection is over.
    Lost(String),
}

/// An open, handshaken connection.
pub(crate) struct WireConn<R: Runtime> {
    runtime: R,
    stream: R::Stream,
    wire: Connection,
    /// Bytes being written, and how many of them are out.
    writing: Option<(Bytes, usize)>,
    read_buf: Box<[u8]>,
    /// Armed for the state machine's next deadline (handshake, heartbeat).
    timer: DeadlineTimer<R>,
    /// A read was pending during this poll of the task: the stream wakes the task when
    /// bytes arrive, so reading again before then only repeats the work.
    read_waiting: bool,
    /// Set once the stream failed or the peer ended the connection.
    lost: Option<String>,
}

/// Opens the stream and completes the handshake within `timeout`.
pub(crate) fn connect<R: Runtime>(
    runtime: R,
    address: Address,
    config: WireConfig,
    timeout: Duration,
) -> BoxFuture<'static, Result<WireConn<R>, ConnectError>> {
    async move {
        let deadline = Instant::now() + timeout;
        let open = match address.clone() {
            Address::Tcp { host, port } => runtime.connect_tcp(host, port),
            Address::Ipc(path) => runtime.connect_unix(path),
        };
        let sleep = runtime.sleep_until(deadline);
        let stream = match future::select(open, Box::pin(sleep)).await {
            Either::Left((Ok(stream), _)) => stream,
            Either::Left((Err(error), _)) => return Err(io_error(&address, &error)),
            Either::Right(_) => return Err(ConnectError::new(ConnectErrorKind::TimedOut, "no connection in time")),
        };
        let mut config = config;
        config.handshake_timeout = deadline.saturating_duration_since(Instant::now());
        let wire = Connection::new(Instant::now(), config);
        let mut conn = WireConn {
            runtime,
            stream,
            wire,
            writing: None,
            read_buf: vec![0u8; READ_CHUNK].into_boxed_slice(),
            timer: DeadlineTimer::default(),
            read_waiting: false,
            lost: None,
        };
        future::poll_fn(|cx| conn.poll_handshake(cx)).await?;
        Ok(conn)
    }
    .boxed()
}

fn io_error(address: &Address, error: &io::Error) -> ConnectError {
    let kind = connect_error_kind(error, matches!(address, Address::Ipc(_)));
    ConnectError::new(kind, error.to_string())
}

impl<R: Runtime> WireConn<R> {
    /// The handshake: ready once the peer's READY is accepted.
    fn poll_handshake(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        self.new_task_poll();
        loop {
            match self.wire.poll_event() {
                Some(WireEvent::Ready { .. }) => return Poll::Ready(Ok(())),
                Some(WireEvent::Closed(error)) => {
                    let _ = self.poll_flush(cx);
                    let kind = match error {
                        WireError::HandshakeTimeout => ConnectErrorKind::TimedOut,
                        _ => ConnectErrorKind::Handshake,
                    };
                    return Poll::Ready(Err(ConnectError::new(kind, error.to_string())));
                }
                Some(WireEvent::Message(_)) | Some(_) => continue,
                None => {}
            }
            if let Some(why) = self.lost.take() {
                return Poll::Ready(Err(ConnectError::new(ConnectErrorKind::Handshake, why)));
            }
            let now = Instant::now();
            let mut progress = self.poll_flush(cx);
            progress |= self.poll_read(now, cx);
            progress |= self.poll_timer(now, cx);
            if !progress {
                return Poll::Pending;
            }
        }
    }

    /// A new poll of the task that drives the connection has begun: look at the stream
    /// and the timer again. Call it first thing in every poll of that task.
    pub(crate) fn new_task_poll(&mut self) {
        self.read_waiting = false;
        self.timer.new_task_poll();
    }

    /// Queues a message for the peer.
    pub(crate) fn transmit(&mut self, frames: &[Bytes]) -> Result<(), WireError> {
        self.wire.send(frames)
    }

    /// Makes progress on writes, reads and the heartbeat timer; returns the first
    /// message, or that the connection is over. `now` is the drive loop's reading of
    /// the clock for this round.
    pub(crate) fn poll_outcome(&mut self, now: Instant, cx: &mut Context<'_>) -> Poll<WireOutcome> {
        loop {
            match self.wire.poll_event() {
                Some(WireEvent::Message(frames)) => return Poll::Ready(WireOutcome::Message(frames)),
                Some(WireEvent::Closed(error)) => {
                    let _ = self.poll_flush(cx);
                    return Poll::Ready(WireOutcome::Lost(error.to_string()));
                }
                Some(_) => continue,
                None => {}
            }
            if let Some(why) = self.lost.take() {
                return Poll::Ready(WireOutcome::Lost(why));
            }
            let mut progress = self.poll_flush(cx);
            progress |= self.poll_read(now, cx);
            progress |= self.poll_timer(now, cx);
            if !progress {
                return Poll::Pending;
            }
        }
    }

    /// Writes what the state machine queued. Returns whether anything moved.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        loop {
            if self.writing.is_none() {
                self.writing = self.wire.poll_transmit().map(|bytes| (bytes, 0));
            }
            let Some((bytes, written)) = &mut self.writing else { return progress };
            match Pin::new(&mut self.stream).poll_write(cx, &bytes[*written..]) {
                Poll::Ready(Ok(0)) => {
                    self.lost = Some("the stream accepts no more bytes".to_owned());
                    return true;
                }
                Poll::Ready(Ok(n)) => {
                    progress = true;
                    *written += n;
                    if *written == bytes.len() {
                        self.writing = None;
                    }
                }
                Poll::Ready(Err(error)) => {
                    self.lost = Some(format!("write failed: {error}"));
                    return true;
                }
                Poll::Pending => return progress,
            }
        }
    }

    /// Reads what arrived into the state machine. Returns whether anything moved.
    fn poll_read(&mut self, now: Instant, cx: &mut Context<'_>) -> bool {
        if self.read_waiting || self.lost.is_some() || self.wire.is_closed() {
            return false;
        }
        match Pin::new(&mut self.stream).poll_read(cx, &mut self.read_buf) {
            Poll::Ready(Ok(0)) => {
                self.lost = Some("the peer closed the connection".to_owned());
                true
            }
            Poll::Ready(Ok(n)) => {
                self.wire.handle_input(now, &self.read_buf[..n]);
                true
            }
            Poll::Ready(Err(error)) => {
                self.lost = Some(format!("read failed: {error}"));
                true
            }
            Poll::Pending => {
                self.read_waiting = true;
                false
            }
        }
    }

    /// Keeps one sleep armed for the state machine's next deadline (handshake timeout,
    /// heartbeat); fires it when due. Returns whether anything moved.
    fn poll_timer(&mut self, now: Instant, cx: &mut Context<'_>) -> bool {
        match self.timer.poll_at(&self.runtime, self.wire.poll_timeout(), now, cx) {
            Fired::No => false,
            Fired::Woken => true,
            Fired::Due(now) => {
                self.wire.handle_timeout(now);
                true
            }
        }
    }
}

/// The wire configuration of a client: a DEALER.
pub(crate) fn dealer(max_message_size: usize, heartbeat: Option<reqchan_core::wire::Heartbeat>) -> WireConfig {
    let mut config = WireConfig::new(SocketType::Dealer);
    // Frame overhead on top of the payload: the id and delimiter frames.
    config.max_message_size = max_message_size.saturating_add(64);
    config.heartbeat = heartbeat;
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse() {
        assert_eq!(Address::parse("tcp://127.0.0.1:4506"), Some(Address::Tcp { host: "127.0.0.1".into(), port: 4506 }));
        assert_eq!(Address::parse("tcp://[::1]:9"), Some(Address::Tcp { host: "::1".into(), port: 9 }));
        assert_eq!(Address::parse("tcp://salt:4506"), Some(Address::Tcp { host: "salt".into(), port: 4506 }));
        assert_eq!(Address::parse("ipc:///tmp/x.sock"), Some(Address::Ipc("/tmp/x.sock".into())));
        for bad in ["tcp://:1", "tcp://host", "tcp://host:port", "ipc://", "udp://a:1", "tcp://h:99999"] {
            assert_eq!(Address::parse(bad), None, "{bad}");
        }
    }
}
