//! The server's socket over our own wire: the runtime's listener and streams, and the
//! core's [`Router`], which holds every connection's ZMTP state, routes replies by
//! routing id and bounds what each peer can make us buffer.
//!
//! Everything runs inside the server task: no task per connection, no channel hop per
//! message. Each connection has a waker of its own that lists it as ready, so one poll
//! reads and writes only the connections that woke (not all of them): a thousand idle
//! peers cost nothing per request. Reads go straight from one shared buffer into the
//! router; writes take the router's per-peer buffers (many replies per write).
//!
//! - **Accept**: a connection beyond `max_connections` is closed at once. An accept
//!   error (out of file descriptors, ...) pauses accepting, 10 ms doubling to 1 s, so
//!   the loop never spins; the listener is never given up.
//! - **Bad peers**: a violation ends that connection only (after our ERROR, if any, is
//!   written), is counted, and is reported as a [`DriverEvent`] at most
//!   [`LOGS_PER_SECOND`] times a second (the rest are counted as suppressed).
//! - **Linger**: on shutdown the listener closes, and every connection is closed once
//!   what is queued for it is written, within the linger time.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::io::{AsyncRead, AsyncWrite};
use futures::task::{ArcWake, AtomicWaker};
use reqchan_core::hash::BuildIdHasher;
use reqchan_core::wire::{PeerId, RouteError, Router, RouterConfig, RouterEvent, WireError};

use super::{DriverEvent, DriverStats};
use crate::Runtime;
use crate::client::wire::Address;
use crate::timer::{DeadlineTimer, Fired};
use crate::transport::READ_CHUNK;

/// Peer violations reported per second; more are counted, not reported one by one.
pub const LOGS_PER_SECOND: u32 = 10;

/// Reads from one connection per poll before others get their turn (at most 512 KiB).
const READS_PER_TURN: usize = 2;
/// Connections accepted per poll before other work gets its turn.
const ACCEPTS_PER_TURN: usize = 64;
const ACCEPT_PAUSE_MIN: Duration = Duration::from_millis(10);
const ACCEPT_PAUSE_MAX: Duration = Duration::from_secs(1);

/// The connections that woke since the last poll.
#[derive(Default)]
struct ReadySet {
    peers: Mutex<Vec<PeerId>>,
    task: AtomicWaker,
}

/// One connection's waker: lists the connection as ready and wakes the task.
struct PeerWaker {
    peer: PeerId,
    queued: AtomicBool,
    set: Arc<ReadySet>,
}

impl ArcWake for PeerWaker {
    fn wake_by_ref(arc_self: &Arc<Self>) {
        if !arc_self.queued.swap(true, Ordering::AcqRel) {
            arc_self.set.peers.lock().unwrap_or_else(|p| p.into_inner()).push(arc_self.peer);
        }
        arc_self.set.task.wake();
    }
}

/// One connection's stream and the write in progress.
struct PeerIo<R: Runtime> {
    stream: R::Stream,
    waker: Arc<PeerWaker>,
    waker_handle: Waker,
    /// A buffer from the router being written, and how much of it is out.
    writing: Option<(Bytes, usize)>,
}

/// Counters of the wire socket, beside the router's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct WireCounters {
    accept_errors: u64,
    logs_suppressed: u64,
}

/// The server socket over our wire.
pub(crate) struct WireSocket<R: Runtime> {
    runtime: R,
    listener: Option<R::Listener>,
    /// The Unix socket file we created (removed when the listener closes).
    ipc_path: Option<PathBuf>,
    router: Router,
    peers: HashMap<PeerId, PeerIo<R>, BuildIdHasher>,
    ready: Arc<ReadySet>,
    read_buf: Box<[u8]>,
    timer: DeadlineTimer<R>,
    /// Messages for the core, oldest first.
    inbox: VecDeque<Vec<Bytes>>,
    /// Events for the sink, oldest first.
    events: VecDeque<DriverEvent>,
    accept_pause: Option<Pin<Box<R::Sleep>>>,
    /// An accept was pending during this poll of the task: the listener wakes the task
    /// when a connection comes, so accepting again before then only repeats the work.
    accept_waiting: bool,
    accept_backoff: Duration,
    log_window: (Instant, u32),
    counters: WireCounters,
}

impl<R: Runtime> WireSocket<R> {
    /// Listens on `endpoint` (`tcp://host:port`, port 0 for any; `ipc://path`); returns
    /// the socket and the resolved endpoint.
    pub(crate) async fn bind(runtime: R, endpoint: &str, config: RouterConfig) -> io::Result<(Self, String)> {
        let address = Address::parse(endpoint)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("not an endpoint: {endpoint}")))?;
        let (listener, resolved, ipc_path) = match address {
            Address::Tcp { host, port } => {
                let (listener, port) = runtime.bind_tcp(host.clone(), port).await?;
                let shown = if host.contains(':') { format!("[{host}]") } else { host };
                (listener, format!("tcp://{shown}:{port}"), None)
            }
            Address::Ipc(path) => {
                remove_stale_socket(&path);
                let listener = runtime.bind_unix(path.clone()).await?;
                (listener, endpoint.to_owned(), Some(path))
            }
        };
        let socket = Self {
            runtime,
            listener: Some(listener),
            ipc_path,
            router: Router::new(config),
            peers: HashMap::default(),
            ready: Arc::default(),
            read_buf: vec![0u8; READ_CHUNK].into_boxed_slice(),
            timer: DeadlineTimer::default(),
            inbox: VecDeque::new(),
            events: VecDeque::new(),
            accept_pause: None,
            accept_waiting: false,
            accept_backoff: ACCEPT_PAUSE_MIN,
            log_window: (Instant::now(), 0),
            counters: WireCounters::default(),
        };
        Ok((socket, resolved))
    }

    /// A new poll of the task that drives the socket has begun: look at its timer and
    /// its listener again. Call it first thing in every poll of that task.
    pub(crate) fn new_task_poll(&mut self) {
        self.timer.new_task_poll();
        self.accept_waiting = false;
    }

    /// Makes progress on accepts, reads, writes in progress and timers. Returns whether
    /// anything moved. New output waits for [`flush`](Self::flush), so that replies
    /// produced in one round leave together.
    pub(crate) fn poll_io(&mut self, cx: &mut Context<'_>) -> bool {
        self.ready.task.register(cx.waker());
        let mut progress = self.poll_accept(cx);
        progress |= self.poll_timer(cx);
        let woken = std::mem::take(&mut *self.ready.peers.lock().unwrap_or_else(|p| p.into_inner()));
        for peer in woken {
            progress |= self.poll_peer(peer);
        }
        progress |= self.drain_events();
        progress
    }

    /// Writes what the router queued (each peer's replies in one buffer) and closes the
    /// streams of finished connections. Call when a round of inputs is done.
    pub(crate) fn flush(&mut self) {
        while let Some((peer, bytes)) = self.router.poll_transmit() {
            let Some(io) = self.peers.get_mut(&peer) else {
                self.router.handle_written(peer);
                continue;
            };
            // What does not fit now is written when the stream wakes us.
            io.writing = Some((bytes, 0));
            self.write(peer);
        }
        self.drain_events();
    }

    /// The next message for the core: routing id first.
    pub(crate) fn next_message(&mut self) -> Option<Vec<Bytes>> {
        self.inbox.pop_front()
    }

    /// Queues a reply for the peer its first frame names; written by the next
    /// [`flush`](Self::flush).
    pub(crate) fn send(&mut self, frames: &[Bytes]) -> Result<(), RouteError> {
        self.router.send(frames)
    }

    /// The next event for the sink.
    pub(crate) fn poll_event(&mut self) -> Option<DriverEvent> {
        self.events.pop_front()
    }

    /// Stops accepting and ends every connection once its output is written.
    pub(crate) fn close(&mut self) {
        self.report_suppressed();
        self.close_listener();
        self.router.close_all();
        // Connections with nothing left to write close in the next poll.
        self.ready.task.wake();
    }

    /// Whether every connection is closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.listener.is_none() && self.peers.is_empty()
    }

    /// Writes this socket's counters into the driver's.
    pub(crate) fn count_into(&self, stats: &mut DriverStats) {
        let router = self.router.stats();
        stats.connections_accepted = router.accepted;
        stats.connections_refused = router.refused;
        stats.connections_open = self.peers.len() as u64;
        stats.peer_violations = router.violations;
        stats.peer_timeouts = router.handshake_timeouts + router.heartbeat_timeouts;
        stats.peers_not_reading = router.not_reading;
        stats.accept_errors = self.counters.accept_errors;
        stats.logs_suppressed = self.counters.logs_suppressed;
    }

    // ----- internals -----

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> bool {
        if let Some(pause) = &mut self.accept_pause {
            if pause.as_mut().poll(cx).is_pending() {
                return false;
            }
            self.accept_pause = None;
        }
        let mut progress = false;
        for _ in 0..ACCEPTS_PER_TURN {
            let Some(listener) = &mut self.listener else { return progress };
            if self.accept_waiting {
                return progress;
            }
            match self.runtime.poll_accept(listener, cx) {
                Poll::Pending => {
                    self.accept_waiting = true;
                    return progress;
                }
                Poll::Ready(Ok(stream)) => {
                    progress = true;
                    self.accept_backoff = ACCEPT_PAUSE_MIN;
                    match self.router.accept(Instant::now()) {
                        Ok(peer) => self.add_peer(peer, stream),
                        Err(refused) => {
                            self.log(|| DriverEvent::ConnectionRefused(refused.to_string()));
                            drop(stream);
                        }
                    }
                }
                Poll::Ready(Err(error)) => {
                    self.counters.accept_errors += 1;
                    let pause = self.accept_backoff;
                    self.accept_backoff = (pause * 2).min(ACCEPT_PAUSE_MAX);
                    self.log(|| DriverEvent::AcceptError(format!("{error}; pausing accepts for {pause:?}")));
                    self.accept_pause = Some(Box::pin(self.runtime.sleep_until(Instant::now() + pause)));
                    return true;
                }
            }
        }
        // More may be waiting: come back after other work.
        cx.waker().wake_by_ref();
        progress
    }

    fn add_peer(&mut self, peer: PeerId, stream: R::Stream) {
        let waker = Arc::new(PeerWaker { peer, queued: AtomicBool::new(true), set: self.ready.clone() });
        let waker_handle = futures::task::waker(waker.clone());
        self.peers.insert(peer, PeerIo { stream, waker, waker_handle, writing: None });
        self.ready.peers.lock().unwrap_or_else(|p| p.into_inner()).push(peer);
    }

    fn poll_timer(&mut self, cx: &mut Context<'_>) -> bool {
        match self.timer.poll(&self.runtime, self.router.poll_timeout(), cx) {
            Fired::No => false,
            Fired::Woken => true,
            Fired::Due(now) => {
                self.router.handle_timeout(now);
                true
            }
        }
    }

    /// Writes, then reads, one connection that woke.
    fn poll_peer(&mut self, peer: PeerId) -> bool {
        let Some(io) = self.peers.get_mut(&peer) else { return false };
        io.waker.queued.store(false, Ordering::Release);
        let waker = io.waker_handle.clone();
        let mut cx = Context::from_waker(&waker);
        let mut progress = self.write(peer);
        let Some(io) = self.peers.get_mut(&peer) else { return progress };
        for turn in 0..READS_PER_TURN {
            match Pin::new(&mut io.stream).poll_read(&mut cx, &mut self.read_buf) {
                Poll::Pending => return progress,
                Poll::Ready(Ok(0)) => {
                    self.drop_peer(peer);
                    return true;
                }
                Poll::Ready(Ok(n)) => {
                    progress = true;
                    self.router.handle_input(Instant::now(), peer, &self.read_buf[..n]);
                    if turn + 1 == READS_PER_TURN {
                        // More may be waiting: its turn again after the others.
                        cx.waker().wake_by_ref();
                    }
                }
                Poll::Ready(Err(_)) => {
                    self.drop_peer(peer);
                    return true;
                }
            }
        }
        progress
    }

    /// Writes as much of `peer`'s buffer in progress as its stream takes (registering
    /// its waker otherwise); tells the router when the buffer is out, drops the peer
    /// when the stream fails. Returns whether anything moved.
    fn write(&mut self, peer: PeerId) -> bool {
        let Some(io) = self.peers.get_mut(&peer) else { return false };
        let waker = io.waker_handle.clone();
        match write_some(&mut io.stream, &mut io.writing, &mut Context::from_waker(&waker)) {
            Ok(written) => {
                if written.done {
                    self.router.handle_written(peer);
                }
                written.progress
            }
            Err(_) => {
                self.drop_peer(peer);
                true
            }
        }
    }

    /// The stream failed or ended: close it and tell the router.
    fn drop_peer(&mut self, peer: PeerId) {
        self.peers.remove(&peer);
        self.router.handle_stream_closed(peer);
    }

    /// Carries out what the router reported: messages to the inbox, closed peers
    /// reported, finished streams closed.
    fn drain_events(&mut self) -> bool {
        let mut progress = false;
        while let Some(event) = self.router.poll_event() {
            progress = true;
            match event {
                RouterEvent::Message(frames) => self.inbox.push_back(frames),
                // A peer that went away, or one we closed, is no news.
                RouterEvent::PeerClosed { peer, error }
                    if !matches!(error, WireError::Disconnected | WireError::Closed) =>
                {
                    self.log(|| DriverEvent::PeerDropped(format!("{peer}: {error}")));
                }
                _ => {}
            }
        }
        while let Some(peer) = self.router.poll_close() {
            progress = true;
            self.peers.remove(&peer);
        }
        progress
    }

    fn close_listener(&mut self) {
        self.listener = None;
        if let Some(path) = self.ipc_path.take() {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Reports an event, at most [`LOGS_PER_SECOND`] a second; how many were left out
    /// is reported when the second is over (with the next report, or at close).
    fn log(&mut self, event: impl FnOnce() -> DriverEvent) {
        let now = Instant::now();
        if now.duration_since(self.log_window.0) >= Duration::from_secs(1) {
            self.report_suppressed();
            self.log_window = (now, 0);
        }
        self.log_window.1 += 1;
        if self.log_window.1 <= LOGS_PER_SECOND {
            self.events.push_back(event());
        } else {
            self.counters.logs_suppressed += 1;
        }
    }

    /// Reports how many events the current window left out, if any.
    fn report_suppressed(&mut self) {
        let count = self.log_window.1;
        if count > LOGS_PER_SECOND {
            self.events.push_back(DriverEvent::Suppressed(u64::from(count - LOGS_PER_SECOND)));
        }
        self.log_window.1 = 0;
    }
}

struct Written {
    progress: bool,
    /// The buffer is fully written.
    done: bool,
}

/// Writes as much of `writing` as the stream takes.
fn write_some<S: AsyncWrite + Unpin>(
    stream: &mut S,
    writing: &mut Option<(Bytes, usize)>,
    cx: &mut Context<'_>,
) -> Result<Written, String> {
    let mut progress = false;
    while let Some((bytes, at)) = writing {
        match Pin::new(&mut *stream).poll_write(cx, &bytes[*at..]) {
            Poll::Pending => return Ok(Written { progress, done: false }),
            Poll::Ready(Ok(0)) => return Err("the stream accepts no more bytes".to_owned()),
            Poll::Ready(Ok(n)) => {
                progress = true;
                *at += n;
                if *at == bytes.len() {
                    *writing = None;
                    return Ok(Written { progress, done: true });
                }
            }
            Poll::Ready(Err(error)) => return Err(format!("write failed: {error}")),
        }
    }
    Ok(Written { progress, done: false })
}

/// libzmq removes a Unix socket file left by an earlier process before binding; so do
/// we (only a socket file, never anything else).
fn remove_stale_socket(path: &std::path::Path) {
    use std::os::unix::fs::FileTypeExt;
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
        let _ = std::fs::remove_file(path);
    }
}
