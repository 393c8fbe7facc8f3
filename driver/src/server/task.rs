//! The server's drive task: the core's drive loop over a socket, handler tasks and a
//! timer, shaped like the client's. One struct holds everything; each input source
//! has its own `poll_*` (shutdown signal, handler results, timer, receive pause,
//! sends, receives), polled in turn, and each feeds the core and drains it. Replies go
//! through an outbox and are sent in the background, so a slow send never stops
//! receiving, timers or handler results.

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use futures::FutureExt;
use futures::future::{self, BoxFuture};
use reqchan_core::server::Server;

#[cfg(feature = "zeromq")]
use super::guard::GuardAction;
use super::guard::RecvGuard;
use super::handler::{Handler, Handlers};
#[cfg(feature = "zeromq")]
use super::socket::SendOutcome;
use super::socket::{ServerSocket, SocketKind};
use super::wire::WireSocket;
#[cfg(feature = "zeromq")]
use super::zmq::ZmqSocket;
use super::{BindError, BoundServer, DriverEvent, DriverStats, ServeError, ServeReport, ServerOptions, StatsHandle};
use crate::Runtime;
use crate::timer::{DeadlineTimer, Fired};

/// Rounds of inputs in one poll before the task yields to others.
const BUDGET: usize = 256;
/// Inputs of one source taken in one round (handler results, received messages).
const BATCH: usize = 64;

type Rebind<R> = BoxFuture<'static, std::io::Result<(ServerSocket<R>, String)>>;

pub(super) async fn run<R, H, S>(bound: BoundServer<R>, handler: H, shutdown: S) -> Result<ServeReport, ServeError>
where
    R: Runtime,
    H: Handler,
    S: Future<Output = ()> + Send,
{
    let BoundServer { runtime, options, socket, kind, endpoint, stats: live } = bound;
    let _counters_final_on_exit = live.end_on_drop();
    let framing = socket.framing(kind);
    let core = Server::new(framing, socket.core_config(kind, &options.core)).map_err(ServeError::Config)?;
    let lockstep_socket = framing == reqchan_core::server::Framing::Bare;
    let handlers = Handlers::new(handler);
    let mut task = ServerTask {
        runtime,
        options,
        core,
        socket: Some(socket),
        kind,
        endpoint,
        handlers,
        guard: RecvGuard::new(lockstep_socket),
        lockstep_socket,
        outbox: VecDeque::new(),
        timer: DeadlineTimer::default(),
        pause: None,
        rebinding: None,
        shutdown: Box::pin(shutdown),
        shutdown_seen: false,
        stats: DriverStats::default(),
        live,
        unpublished: false,
        failure: None,
    };
    task.drain();
    poll_fn(|cx| task.poll(cx)).await;
    task.finish().await
}

struct ServerTask<R: Runtime, H: Handler, S> {
    runtime: R,
    options: ServerOptions,
    core: Server,
    /// `None` only while it is being re-created.
    socket: Option<ServerSocket<R>>,
    #[cfg_attr(not(feature = "zeromq"), allow(dead_code))]
    kind: SocketKind,
    /// A zmq.rs REP: its one socket sends and receives in turn.
    #[cfg_attr(not(feature = "zeromq"), allow(dead_code))]
    lockstep_socket: bool,
    endpoint: String,
    handlers: Handlers<H>,
    #[cfg_attr(not(feature = "zeromq"), allow(dead_code))]
    guard: RecvGuard,
    /// Replies waiting for the socket, oldest first.
    outbox: VecDeque<Vec<Bytes>>,
    timer: DeadlineTimer<R>,
    /// Receiving pauses after a run of errors until this sleep ends.
    pause: Option<Pin<Box<R::Sleep>>>,
    rebinding: Option<Rebind<R>>,
    shutdown: Pin<Box<S>>,
    shutdown_seen: bool,
    stats: DriverStats,
    live: StatsHandle,
    /// The counters changed since they were last published.
    unpublished: bool,
    /// Set when the task must end with an error.
    failure: Option<ServeError>,
}

impl<R, H, S> ServerTask<R, H, S>
where
    R: Runtime,
    H: Handler,
    S: Future<Output = ()> + Send,
{
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // Timers found pending in an earlier round of this poll are not polled again in
        // later rounds (they wake the task); a new poll looks at each again.
        self.timer.new_task_poll();
        if let Some(ServerSocket::Wire(wire)) = &mut self.socket {
            wire.new_task_poll();
        }
        // Once per poll: the shutdown future wakes the task when it completes.
        self.poll_shutdown(cx);
        for _ in 0..BUDGET {
            let mut progress = self.poll_wire(cx);
            progress |= self.poll_outcomes(cx);
            progress |= self.poll_timer(cx);
            progress |= self.poll_pause(cx);
            progress |= self.poll_rebind(cx);
            progress |= self.poll_sends(cx);
            progress |= self.poll_receive(cx);
            if self.failure.is_some() || (self.core.is_drained() && self.outbox.is_empty() && !self.sending()) {
                self.publish_changes();
                return Poll::Ready(());
            }
            if !progress {
                self.flush_wire();
                self.publish_changes();
                return Poll::Pending;
            }
        }
        self.flush_wire();
        self.publish_changes();
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> bool {
        if self.shutdown_seen || self.shutdown.as_mut().poll(cx).is_pending() {
            return false;
        }
        self.shutdown_seen = true;
        self.core.shutdown(Instant::now(), self.options.shutdown_grace);
        self.drain();
        true
    }

    /// Our wire: accepts, reads, writes and connection timers; reports what it saw.
    fn poll_wire(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(ServerSocket::Wire(wire)) = &mut self.socket else { return false };
        let progress = wire.poll_io(cx);
        while let Some(event) = wire.poll_event() {
            self.options.emit(event);
        }
        if progress {
            self.publish();
        }
        progress
    }

    /// Our wire: writes the replies of this round (many per write) and reports what
    /// that ended.
    fn flush_wire(&mut self) {
        let Some(ServerSocket::Wire(wire)) = &mut self.socket else { return };
        wire.flush();
        while let Some(event) = wire.poll_event() {
            self.options.emit(event);
        }
    }

    /// Handler results, as many as are ready (up to a batch), then one drain.
    fn poll_outcomes(&mut self, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        // One clock reading for the batch (results ready together finished together).
        let mut now = None;
        for _ in 0..BATCH {
            let Poll::Ready((token, result)) = self.handlers.poll_outcome(cx) else { break };
            let now = *now.get_or_insert_with(Instant::now);
            // An error means the request was already answered (timed out).
            let _ = self.core.handle_result(now, token, result);
            progress = true;
        }
        if progress {
            self.drain();
        }
        progress
    }

    /// Feeds the core's timeout when it is due; keeps one sleep armed for its deadline.
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> bool {
        match self.timer.poll(&self.runtime, self.core.poll_timeout(), cx) {
            Fired::No => false,
            Fired::Woken => true,
            Fired::Due(now) => {
                self.core.handle_timeout(now);
                self.drain();
                true
            }
        }
    }

    fn poll_pause(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(pause) = &mut self.pause else { return false };
        if pause.as_mut().poll(cx).is_pending() {
            return false;
        }
        self.pause = None;
        true
    }

    fn poll_rebind(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(rebinding) = &mut self.rebinding else { return false };
        let Poll::Ready(result) = rebinding.poll_unpin(cx) else { return false };
        self.rebinding = None;
        match result {
            Ok((socket, _)) => {
                self.socket = Some(socket);
                self.stats.sockets_recreated += 1;
                self.options.emit(DriverEvent::SocketRecreated);
            }
            Err(source) => {
                self.stats.handlers_aborted += self.handlers.abort_all() as u64;
                let endpoint = self.endpoint.clone();
                self.failure = Some(ServeError::Rebind(BindError { endpoint, source }));
            }
        }
        self.publish();
        true
    }

    /// Our wire: hands every reply to its connection's output at once (each peer's is
    /// bounded; one that cannot take it costs only that reply). zmq.rs: progress on the
    /// send in progress, then the next one from the outbox.
    #[cfg_attr(not(feature = "zeromq"), allow(unused_variables))]
    fn poll_sends(&mut self, cx: &mut Context<'_>) -> bool {
        match &mut self.socket {
            Some(ServerSocket::Wire(wire)) => {
                let progress = !self.outbox.is_empty();
                while let Some(frames) = self.outbox.pop_front() {
                    if let Err(error) = wire.send(&frames) {
                        self.stats.send_errors += 1;
                        self.options.emit(DriverEvent::SendFailed(error.to_string()));
                    }
                }
                progress
            }
            #[cfg(feature = "zeromq")]
            Some(ServerSocket::Zmq(_)) => self.poll_zmq_sends(cx),
            None => false,
        }
    }

    #[cfg(feature = "zeromq")]
    fn poll_zmq_sends(&mut self, cx: &mut Context<'_>) -> bool {
        let Some(ServerSocket::Zmq(socket)) = &mut self.socket else { return false };
        let mut progress = false;
        if let Poll::Ready(outcome) = socket.poll_send(cx) {
            progress = true;
            match outcome {
                SendOutcome::Sent => {}
                SendOutcome::Failed(error) => {
                    self.stats.send_errors += 1;
                    self.options.emit(DriverEvent::SendFailed(error.to_string()));
                }
                SendOutcome::TimedOut => {
                    self.stats.send_timeouts += 1;
                    let why = format!("no room in the peer's queue for {:?}", self.options.send_timeout);
                    self.options.emit(DriverEvent::SendFailed(why));
                }
            }
            self.publish();
        }
        #[cfg(feature = "zeromq")]
        let Some(ServerSocket::Zmq(socket)) = &mut self.socket else { return progress };
        if socket.can_send()
            && let Some(frames) = self.outbox.pop_front()
        {
            let deadline = Instant::now() + self.options.send_timeout;
            socket.start_send(frames, self.runtime.sleep_until(deadline));
            // Poll it at once: it may finish, or register for its wakeup.
            return true;
        }
        progress
    }

    /// Receives the next message when the core allows it (REP is lockstep; a
    /// shutting-down REP reads nothing more), unless paused after errors. REP also
    /// waits for its reply to leave: send and receive share its one socket.
    #[cfg_attr(not(feature = "zeromq"), allow(unused_variables))]
    fn poll_receive(&mut self, cx: &mut Context<'_>) -> bool {
        if self.pause.is_some() || !self.core.may_receive() {
            return false;
        }
        match &mut self.socket {
            Some(ServerSocket::Wire(wire)) => {
                let mut progress = false;
                let now = Instant::now();
                for _ in 0..BATCH {
                    let Some(frames) = wire.next_message() else { break };
                    self.core.handle_message(now, frames);
                    progress = true;
                }
                if progress {
                    self.drain();
                }
                progress
            }
            #[cfg(feature = "zeromq")]
            Some(ServerSocket::Zmq(_)) => self.poll_zmq_receive(cx),
            None => false,
        }
    }

    /// A zmq.rs REP also waits for its reply to leave: send and receive share its one
    /// socket. Receive errors go through the guard.
    #[cfg(feature = "zeromq")]
    fn poll_zmq_receive(&mut self, cx: &mut Context<'_>) -> bool {
        if self.lockstep_socket && (!self.outbox.is_empty() || self.sending()) {
            return false;
        }
        let Some(ServerSocket::Zmq(socket)) = &mut self.socket else { return false };
        let Poll::Ready(message) = socket.poll_recv(cx) else { return false };
        let now = Instant::now();
        match message {
            Ok(frames) => {
                self.guard.on_message();
                self.core.handle_message(now, frames);
                self.drain();
            }
            Err(error) => {
                self.stats.recv_errors += 1;
                self.options.emit(DriverEvent::RecvError(error.to_string()));
                match self.guard.on_error(now) {
                    GuardAction::Retry => {}
                    GuardAction::Pause(duration) => {
                        self.stats.recv_pauses += 1;
                        self.pause = Some(Box::pin(self.runtime.sleep_until(now + duration)));
                    }
                    GuardAction::Recreate => self.recreate_socket(),
                }
                self.publish();
            }
        }
        true
    }

    /// Replaces a zmq.rs socket that keeps failing with a new one on the same endpoint.
    #[cfg(feature = "zeromq")]
    fn recreate_socket(&mut self) {
        #[cfg(feature = "zeromq")]
        if let Some(ServerSocket::Zmq(old)) = self.socket.take() {
            let (kind, endpoint) = (self.kind, self.endpoint.clone());
            self.rebinding = Some(
                async move {
                    old.close().await;
                    let (socket, resolved) =
                        ZmqSocket::bind(kind, &endpoint).await.map_err(|e| std::io::Error::other(e.to_string()))?;
                    Ok((ServerSocket::Zmq(socket), resolved))
                }
                .boxed(),
            );
        }
    }

    fn sending(&self) -> bool {
        match &self.socket {
            #[cfg(feature = "zeromq")]
            Some(ServerSocket::Zmq(socket)) => socket.is_sending(),
            _ => false,
        }
    }

    /// Carries out the core's outputs, in its documented order: transmits into the
    /// outbox (aborting a handler answered for), requests to new handler tasks, events
    /// to the sink; then publishes the counters.
    fn drain(&mut self) {
        while let Some(transmit) = self.core.poll_transmit() {
            if let Some(token) = transmit.handler_to_abort()
                && self.handlers.abort(token)
            {
                self.stats.handlers_aborted += 1;
            }
            self.outbox.push_back(transmit.into_frames());
        }
        while let Some(request) = self.core.poll_request() {
            self.handlers.start(request);
        }
        while let Some(event) = self.core.poll_event() {
            self.options.emit(DriverEvent::Core(event));
        }
        self.publish();
    }

    /// Notes that the counters changed; they are published once, at the end of the poll.
    fn publish(&mut self) {
        self.unpublished = true;
    }

    /// Publishes the counters if they changed during this poll.
    fn publish_changes(&mut self) {
        if std::mem::take(&mut self.unpublished) {
            self.live.set(ServeReport { core: *self.core.stats(), driver: self.driver_stats() });
        }
    }

    /// The driver's counters, with our wire's.
    fn driver_stats(&self) -> DriverStats {
        let mut stats = self.stats;
        if let Some(ServerSocket::Wire(wire)) = &self.socket {
            wire.count_into(&mut stats);
        }
        stats
    }

    /// Keeps our wire's final counters (the socket is going away).
    fn take_wire_stats(&mut self, wire: &WireSocket<R>) {
        wire.count_into(&mut self.stats);
    }

    /// After the loop: closes the socket (our wire writes what is queued, within
    /// `linger`), aborts what still runs, reports.
    async fn finish(mut self) -> Result<ServeReport, ServeError> {
        match self.socket.take() {
            Some(ServerSocket::Wire(mut wire)) => {
                wire.close();
                let flushed = future::poll_fn(|cx| {
                    wire.new_task_poll();
                    wire.poll_io(cx);
                    wire.flush();
                    if wire.is_closed() { Poll::Ready(()) } else { Poll::Pending }
                });
                let linger = self.runtime.sleep_until(Instant::now() + self.options.linger);
                future::select(Box::pin(flushed), Box::pin(linger)).await;
                while let Some(event) = wire.poll_event() {
                    self.options.emit(event);
                }
                self.take_wire_stats(&wire);
                self.stats.connections_unflushed = self.stats.connections_open;
                self.stats.connections_open = 0;
            }
            #[cfg(feature = "zeromq")]
            Some(ServerSocket::Zmq(socket)) => socket.close().await,
            None => {}
        }
        self.stats.handlers_aborted += self.handlers.abort_all() as u64;
        let report = ServeReport { core: *self.core.stats(), driver: self.stats };
        self.live.set(report);
        match self.failure.take() {
            Some(error) => Err(error),
            None => Ok(report),
        }
    }
}
