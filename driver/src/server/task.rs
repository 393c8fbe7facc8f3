//! The drive loop: the core's loop from its docs, plus a socket, handler tasks and a
//! timer.

use std::future::Future;
use std::pin::{Pin, pin};
use std::task::Poll;
use std::time::Instant;

use bytes::Bytes;
use futures::StreamExt;
use futures::future::{self, Either};
use reqchan_core::server::{HandlerFailure, RequestToken, Server, Transmit};
use zeromq::ZmqResult;

use super::guard::{GuardAction, RecvGuard};
use super::handler::{Handler, Handlers};
use super::socket::{ServerSocket, SocketKind};
use super::{BindError, BoundServer, DriverEvent, DriverStats, ServeError, ServeReport, ServerOptions};
use crate::Runtime;

/// What woke the loop.
enum Wake {
    Shutdown,
    Outcome(RequestToken, Result<Bytes, HandlerFailure>),
    Timer,
    PauseOver,
    Message(ZmqResult<Vec<Bytes>>),
}

pub(super) async fn run<R, H, S>(
    bound: BoundServer,
    runtime: R,
    options: ServerOptions,
    handler: H,
    shutdown: S,
) -> Result<ServeReport, ServeError>
where
    R: Runtime,
    H: Handler,
    S: Future<Output = ()> + Send,
{
    let BoundServer { mut socket, kind, endpoint, stats: live } = bound;
    let _counters_final_on_exit = live.end_on_drop();
    let mut core = Server::new(kind.framing(), options.core.clone()).map_err(ServeError::Config)?;
    let (mut handlers, mut outcomes) = Handlers::new(handler);
    let mut guard = RecvGuard::new(kind == SocketKind::Rep);
    let mut stats = DriverStats::default();
    let emit = |event: DriverEvent| {
        if let Some(sink) = &options.on_event {
            sink(&event);
        }
    };

    let mut shutdown = pin!(shutdown);
    let mut shutdown_seen = false;
    let mut timer: Option<(Instant, Pin<Box<R::Sleep>>)> = None;
    let mut pause: Option<Pin<Box<R::Sleep>>> = None;

    loop {
        // Drain the core, in its documented order.
        while let Some(transmit) = core.poll_transmit() {
            if let Some(token) = transmit.handler_to_abort()
                && handlers.abort(token)
            {
                stats.handlers_aborted += 1;
            }
            send(&runtime, &mut socket, transmit, &options, &mut stats, &emit).await;
        }
        while let Some(request) = core.poll_request() {
            handlers.start(&runtime, request);
        }
        while let Some(event) = core.poll_event() {
            emit(DriverEvent::Core(event));
        }
        live.set(ServeReport { core: *core.stats(), driver: stats });
        if core.is_drained() {
            break;
        }

        // Arm the timer only when the deadline changed.
        match core.poll_timeout() {
            Some(deadline) if timer.as_ref().map(|(d, _)| *d) != Some(deadline) => {
                timer = Some((deadline, Box::pin(runtime.sleep_until(deadline))));
            }
            Some(_) => {}
            None => timer = None,
        }

        // The core says when a message may be read (REP is lockstep; a shutting-down
        // REP reads nothing more); the driver only adds its own error pauses.
        let can_recv = pause.is_none() && core.may_receive();

        let wake = {
            let mut recv = if can_recv { Some(Box::pin(socket.recv())) } else { None };
            future::poll_fn(|cx| {
                if !shutdown_seen && shutdown.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Wake::Shutdown);
                }
                if let Poll::Ready(Some((token, result))) = outcomes.poll_next_unpin(cx) {
                    return Poll::Ready(Wake::Outcome(token, result));
                }
                if let Some((_, sleep)) = timer.as_mut()
                    && sleep.as_mut().poll(cx).is_ready()
                {
                    return Poll::Ready(Wake::Timer);
                }
                if let Some(sleep) = pause.as_mut()
                    && sleep.as_mut().poll(cx).is_ready()
                {
                    return Poll::Ready(Wake::PauseOver);
                }
                if let Some(recv) = recv.as_mut()
                    && let Poll::Ready(message) = recv.as_mut().poll(cx)
                {
                    return Poll::Ready(Wake::Message(message));
                }
                Poll::Pending
            })
            .await
        };

        let now = Instant::now();
        match wake {
            Wake::Shutdown => {
                shutdown_seen = true;
                core.shutdown(now, options.shutdown_grace);
            }
            Wake::Outcome(token, result) => {
                handlers.finished(token);
                // An error means the request was already answered (timed out).
                let _ = core.handle_result(now, token, result);
            }
            Wake::Timer => {
                timer = None;
                core.handle_timeout(now);
            }
            Wake::PauseOver => pause = None,
            Wake::Message(Ok(frames)) => {
                guard.on_message();
                core.handle_message(now, frames);
            }
            Wake::Message(Err(error)) => {
                stats.recv_errors += 1;
                emit(DriverEvent::RecvError(error.to_string()));
                match guard.on_error(now) {
                    GuardAction::Retry => {}
                    GuardAction::Pause(duration) => {
                        stats.recv_pauses += 1;
                        pause = Some(Box::pin(runtime.sleep_until(now + duration)));
                    }
                    GuardAction::Recreate => {
                        socket.close().await;
                        socket = match ServerSocket::bind(kind, &endpoint).await {
                            Ok((fresh, _)) => fresh,
                            Err(source) => {
                                handlers.abort_all();
                                return Err(ServeError::Rebind(BindError { endpoint, source }));
                            }
                        };
                        stats.sockets_recreated += 1;
                        emit(DriverEvent::SocketRecreated);
                    }
                }
            }
        }
    }

    socket.close().await;
    stats.handlers_aborted += handlers.abort_all() as u64;
    let report = ServeReport { core: *core.stats(), driver: stats };
    live.set(report);
    Ok(report)
}

/// Sends one reply, giving up after `send_timeout`. Failures are counted and logged:
/// the peer is gone or not reading, and nothing else can be done for it.
async fn send<R: Runtime>(
    runtime: &R,
    socket: &mut ServerSocket,
    transmit: Transmit,
    options: &ServerOptions,
    stats: &mut DriverStats,
    emit: &impl Fn(DriverEvent),
) {
    let deadline = Instant::now() + options.send_timeout;
    let sending = pin!(socket.send(transmit.into_frames()));
    let timeout = pin!(runtime.sleep_until(deadline));
    match future::select(sending, timeout).await {
        Either::Left((Ok(()), _)) => {}
        Either::Left((Err(error), _)) => {
            stats.send_errors += 1;
            emit(DriverEvent::SendFailed(error.to_string()));
        }
        Either::Right(_) => {
            stats.send_timeouts += 1;
            emit(DriverEvent::SendFailed(format!("no room in the peer's queue for {:?}", options.send_timeout)));
        }
    }
}
