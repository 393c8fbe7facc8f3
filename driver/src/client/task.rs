//! The drive loop: one task per channel owns the socket and one timer, feeds the core
//! every input with the current time, and drains the core after each input in the
//! documented order (socket actions, transmissions, completions, next timeout).
//!
//! Nothing here decides anything about requests: the core does. The loop only turns
//! socket outcomes into core inputs (a connect that fails, a send or receive error is a
//! lost peer) and core outputs into socket operations.

use std::collections::HashMap;
use std::future::poll_fn;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use futures::channel::{mpsc, oneshot};
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use reqchan_core::client::{
    Client, Completion, ConnectError, ConnectReason, RequestError, RequestId, RequestOptions, SocketAction, SubmitError,
};
use reqchan_core::hash::BuildIdHasher;

use super::error::Error;
use super::socket::{self, Conn, ConnectSettings, Event};
use super::state::{ConnectionState, DriverGuard, Shared};
use crate::Runtime;
use crate::timer::{DeadlineTimer, Fired};

/// Inputs processed in one poll before the task yields to others.
const BUDGET: usize = 256;
/// Socket events taken in one round before the outputs are drained.
const BATCH: usize = 64;

/// What a handle asks of its driver.
pub(crate) enum Command {
    Submit {
        token: u64,
        payload: Bytes,
        options: RequestOptions,
        reply: oneshot::Sender<Result<Bytes, Error>>,
    },
    /// The future for request `token` was dropped before it completed.
    Cancel {
        token: u64,
    },
    Close,
}

/// A caller waiting for request `id`, filed under its token (the core's tag for it).
struct Waiter {
    id: RequestId,
    reply: oneshot::Sender<Result<Bytes, Error>>,
}

/// The connection as the driver holds it (the core's own view of it is its `Link`).
enum Connection<R: Runtime> {
    /// No socket: waiting for the core to ask for one.
    Idle,
    Connecting(BoxFuture<'static, Result<Conn<R>, ConnectError>>),
    Open(Conn<R>),
    Closed,
}

pub(crate) struct Driver<R: Runtime> {
    runtime: R,
    core: Client,
    endpoint: String,
    connect: ConnectSettings,
    commands: mpsc::UnboundedReceiver<Command>,
    connection: Connection<R>,
    timer: DeadlineTimer<R>,
    /// By token: cancels name a token, and completions carry it back as their tag.
    /// (Tokens are a counter of ours, so the id hasher serves.)
    waiters: HashMap<u64, Waiter, BuildIdHasher>,
    done: Vec<Completion>,
    shared: Arc<Shared>,
    /// Last, so it drops after the socket and announces `Closed` only once it is gone.
    _guard: DriverGuard,
}

impl<R: Runtime> Driver<R> {
    pub(crate) fn new(
        runtime: R,
        core: Client,
        endpoint: String,
        connect: ConnectSettings,
        commands: mpsc::UnboundedReceiver<Command>,
        shared: Arc<Shared>,
    ) -> Self {
        Self {
            runtime,
            core,
            endpoint,
            connect,
            commands,
            connection: Connection::Idle,
            timer: DeadlineTimer::default(),
            waiters: HashMap::default(),
            done: Vec::new(),
            _guard: DriverGuard::new(Arc::clone(&shared)),
            shared,
        }
    }

    /// Runs until the channel is closed (explicitly, or by dropping its last handle).
    pub(crate) async fn run(mut self) {
        // The core asks for its first connection at creation.
        self.drain(Instant::now());
        poll_fn(|cx| self.poll(cx)).await;
        self.finish();
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        // Sources found pending in an earlier round of this poll are not polled again
        // in later rounds (they wake the task); a new poll looks at each again.
        self.timer.new_task_poll();
        if let Connection::Open(conn) = &mut self.connection {
            conn.new_task_poll();
        }
        for _ in 0..BUDGET {
            // Inputs from each source per round, so none starves the others; the clock
            // is read once per round.
            let now = Instant::now();
            let mut progress = self.poll_command(now, cx);
            progress |= self.poll_connect(now, cx);
            progress |= self.poll_socket(now, cx);
            progress |= self.poll_timer(now, cx);
            if self.core.is_closed() {
                return Poll::Ready(());
            }
            if !progress {
                return Poll::Pending;
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    fn poll_command(&mut self, now: Instant, cx: &mut Context<'_>) -> bool {
        if self.core.is_closed() {
            return false;
        }
        let Poll::Ready(command) = self.commands.poll_next_unpin(cx) else {
            return false;
        };
        self.handle_command(now, command);
        self.drain(now);
        true
    }

    /// Feeds one command to the core; the caller drains.
    fn handle_command(&mut self, now: Instant, command: Option<Command>) {
        match command {
            Some(Command::Submit { token, payload, options, reply }) => {
                if reply.is_canceled() {
                    // The caller gave up before the request reached us: never submit it.
                    return;
                }
                match self.core.submit_tagged(now, payload, options, token) {
                    Ok(id) => {
                        self.waiters.insert(token, Waiter { id, reply });
                    }
                    Err(e) => {
                        let _ = reply.send(Err(Error::Submit(e)));
                    }
                }
            }
            Some(Command::Cancel { token }) => {
                let Some(id) = self.waiters.get(&token).map(|waiter| waiter.id) else { return };
                tracing::debug!(request = %id, "cancelled by the caller");
                // Its completion (`Cancelled`) comes back through the core, like any other.
                self.core.cancel(now, id);
            }
            Some(Command::Close) | None => {
                tracing::debug!(endpoint = %self.endpoint, "closing the channel");
                self.core.close(now);
            }
        }
    }

    /// Feeds the core every command already waiting, so that a cancel (or a close)
    /// made before a transmission is applied before it: nothing a caller has given up
    /// on is sent because its cancel was queued behind other work.
    fn absorb_commands(&mut self, now: Instant) {
        while !self.core.is_closed() {
            match self.commands.try_recv() {
                Ok(command) => self.handle_command(now, Some(command)),
                // Empty (the next poll_command registers the wakeup), or all senders
                // gone: poll_command sees the end of the stream and closes.
                Err(_) => break,
            }
        }
    }

    fn poll_connect(&mut self, now: Instant, cx: &mut Context<'_>) -> bool {
        let Connection::Connecting(connecting) = &mut self.connection else { return false };
        let Poll::Ready(result) = connecting.poll_unpin(cx) else { return false };
        match result {
            Ok(socket) => {
                tracing::debug!(endpoint = %self.endpoint, "connected");
                self.connection = Connection::Open(socket);
                self.core.handle_connected(now);
            }
            Err(error) => {
                tracing::warn!(endpoint = %self.endpoint, %error, "cannot connect; will retry after the reconnect backoff");
                self.connection = Connection::Idle;
                self.core.handle_connect_failed(now, error);
            }
        }
        self.drain(now);
        true
    }

    /// Socket events, as many as are ready (up to a batch), then one drain: a burst of
    /// replies costs one round of outputs, not one per reply.
    fn poll_socket(&mut self, now: Instant, cx: &mut Context<'_>) -> bool {
        let mut progress = false;
        for _ in 0..BATCH {
            let Connection::Open(conn) = &mut self.connection else { break };
            let Poll::Ready(event) = conn.poll_event(now, cx) else { break };
            progress = true;
            match event {
                Event::Reply(frames) => self.core.handle_reply(now, &frames),
                Event::Refused(ids, error) => {
                    tracing::info!(endpoint = %self.endpoint, %error, refused = ids.len(), "connection lost on send");
                    self.core.handle_send_refused(now, &ids);
                    break;
                }
                Event::Lost(error) => {
                    tracing::info!(endpoint = %self.endpoint, %error, "connection lost");
                    self.core.handle_peer_lost(now);
                    break;
                }
            }
        }
        if progress {
            self.drain(now);
        }
        progress
    }

    /// Feeds the core's timeout when it is due by the clock; keeps one sleep armed for
    /// the core's next deadline, re-armed only when that deadline changes.
    fn poll_timer(&mut self, now: Instant, cx: &mut Context<'_>) -> bool {
        let timeout = self.core.poll_timeout();
        match self.timer.poll_at(&self.runtime, timeout.map(|t| t.at), now, cx) {
            Fired::No => false,
            Fired::Woken => true,
            Fired::Due(now) => {
                let reason = timeout.map(|t| t.reason);
                tracing::trace!(endpoint = %self.endpoint, ?reason, "timeout due");
                self.core.handle_timeout(now);
                self.drain(now);
                true
            }
        }
    }

    /// Carries out the core's outputs, in the documented order, after taking in every
    /// command already waiting.
    fn drain(&mut self, now: Instant) {
        self.absorb_commands(now);
        // A socket that refuses a transmission is reported lost, which makes the core
        // reset it; at most twice, so a confused socket cannot loop us.
        for _ in 0..3 {
            while let Some(action) = self.core.poll_action() {
                self.carry_out(action);
            }
            let mut refused = None;
            while let Some(transmit) = self.core.poll_transmit(now) {
                if transmit.attempt > 1 {
                    tracing::info!(request = %transmit.id, attempt = transmit.attempt, "retrying");
                }
                let id = transmit.id;
                let Connection::Open(conn) = &mut self.connection else {
                    refused = Some((id, "no socket is open".to_owned()));
                    break;
                };
                if let Err(error) = conn.transmit(transmit) {
                    refused = Some((id, error.to_string()));
                    break;
                }
            }
            let Some((id, error)) = refused else { break };
            tracing::error!(endpoint = %self.endpoint, %error, "the socket refused a transmission; resetting it");
            self.core.handle_send_refused(now, &[id]);
        }
        while let Some(completion) = self.core.poll_completion() {
            self.done.push(completion);
        }
        // Publish before resolving callers, so a caller sees counters that include its reply.
        self.shared.publish(self.state(), self.core.stats(), self.core.pending());
        for completion in self.done.drain(..) {
            let Some(waiter) = self.waiters.remove(&completion.tag) else { continue };
            if let Err(RequestError::TimedOut { attempts }) = &completion.result {
                tracing::warn!(endpoint = %self.endpoint, request = %completion.id, attempts, "request timed out");
            }
            let _ = waiter.reply.send(completion.result.map_err(Error::Request));
        }
    }

    fn carry_out(&mut self, action: SocketAction) {
        match action {
            SocketAction::Connect { reason } => {
                match reason {
                    ConnectReason::Initial | ConnectReason::Retry => {
                        tracing::debug!(endpoint = %self.endpoint, ?reason, "connecting")
                    }
                    _ => tracing::info!(endpoint = %self.endpoint, ?reason, "resetting the socket"),
                }
                // Drop the old socket first: zeromq never reconnects it.
                self.connection = Connection::Idle;
                let connecting = socket::connect(&self.runtime, self.endpoint.clone(), &self.connect);
                self.connection = Connection::Connecting(connecting);
            }
            SocketAction::Close => self.connection = Connection::Closed,
            _ => {}
        }
    }

    fn state(&self) -> ConnectionState {
        self.core.connection_state()
    }

    /// After close: refuse what is still queued to us, then end.
    fn finish(mut self) {
        self.shared.mark_closed();
        self.connection = Connection::Closed;
        self.commands.close();
        while let Ok(command) = self.commands.try_recv() {
            if let Command::Submit { reply, .. } = command {
                let _ = reply.send(Err(Error::Submit(SubmitError::Closed)));
            }
        }
        // The core completed every request at close; this is a safety net.
        for (_, waiter) in self.waiters.drain() {
            let _ = waiter.reply.send(Err(Error::Request(RequestError::Closed)));
        }
        tracing::debug!(endpoint = %self.endpoint, "channel closed");
    }
}
