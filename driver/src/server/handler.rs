//! Running handlers: each request's future runs inside the server task (a set of
//! futures polled as they wake: no task spawned, no channel crossed per request),
//! panics are caught, and a handler that outlives its request can be aborted.

use std::any::Any;
use std::fmt::Display;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use futures::future::CatchUnwind;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use pin_project_lite::pin_project;
use reqchan_core::codec::{self, EncodeError, Value};
use reqchan_core::server::{HandlerFailure, IncomingRequest, RequestToken};

/// A handler's reply: the msgpack bytes sent back to the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply(Bytes);

impl Reply {
    /// A reply from bytes that are already msgpack (sent as they are).
    pub fn msgpack(bytes: impl Into<Bytes>) -> Self {
        Self(bytes.into())
    }

    /// A reply carrying `value`, encoded as msgpack.
    pub fn value(value: &Value) -> Result<Self, EncodeError> {
        codec::encode_reply(value).map(Self)
    }

    /// The msgpack bytes.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

/// What answers requests: any `Fn(IncomingRequest) -> impl Future<Output =
/// Result<Reply, E>>` (an async closure or function) is one. It runs on the server's
/// runtime, so it and its futures are `Send`; an error `E` is displayed in the logs and
/// answered with Salt's handler-exception reply.
pub trait Handler: Send + Sync + 'static {
    /// Why the handler failed on a request.
    type Error: Display + Send + 'static;
    /// The reply to come.
    type Future: Future<Output = Result<Reply, Self::Error>> + Send + 'static;

    /// Starts answering `request`.
    fn call(&self, request: IncomingRequest) -> Self::Future;
}

impl<F, Fut, E> Handler for F
where
    F: Fn(IncomingRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Reply, E>> + Send + 'static,
    E: Display + Send + 'static,
{
    type Error = E;
    type Future = Fut;

    fn call(&self, request: IncomingRequest) -> Fut {
        self(request)
    }
}

pub(crate) type Outcome = (RequestToken, Result<Bytes, HandlerFailure>);

pin_project! {
    /// One running handler, held in place in the set (no box of its own), abortable
    /// where it stands: its future is dropped and its slot finishes as `None`.
    struct Run<F> {
        token: RequestToken,
        #[pin]
        future: Option<CatchUnwind<AssertUnwindSafe<F>>>,
        // The waker of its last poll, to have the set drop it once aborted.
        waker: Option<Waker>,
    }
}

impl<F, E> Future for Run<F>
where
    F: Future<Output = Result<Reply, E>>,
    E: Display,
{
    /// The outcome, or `None` once aborted.
    type Output = Option<Outcome>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Outcome>> {
        let this = self.project();
        let Some(future) = this.future.as_pin_mut() else { return Poll::Ready(None) };
        let Poll::Ready(result) = future.poll(cx) else {
            if !this.waker.as_ref().is_some_and(|waker| waker.will_wake(cx.waker())) {
                *this.waker = Some(cx.waker().clone());
            }
            return Poll::Pending;
        };
        let outcome = match result {
            Ok(Ok(reply)) => Ok(reply.into_bytes()),
            Ok(Err(e)) => Err(HandlerFailure::Error(e.to_string())),
            Err(panic) => Err(HandlerFailure::Panicked(panic_message(&*panic))),
        };
        Poll::Ready(Some((*this.token, outcome)))
    }
}

/// The running handlers, by request.
pub(crate) struct Handlers<H: Handler> {
    handler: H,
    /// Each run's future lives in the set's own node: one allocation per request.
    runs: FuturesUnordered<Run<H::Future>>,
    /// A handler that panicked before it had a future: reported at the next poll.
    failed: Vec<Outcome>,
}

impl<H: Handler> Handlers<H> {
    pub(crate) fn new(handler: H) -> Self {
        Self { handler, runs: FuturesUnordered::new(), failed: Vec::new() }
    }

    /// Starts the handler for `request`. Its result, error or panic comes out of
    /// [`poll_outcome`](Self::poll_outcome) exactly once, unless it is aborted.
    pub(crate) fn start(&mut self, request: IncomingRequest) {
        let token = request.token;
        // Calling the handler can panic before any future exists.
        match std::panic::catch_unwind(AssertUnwindSafe(|| self.handler.call(request))) {
            Ok(future) => {
                let future = Some(AssertUnwindSafe(future).catch_unwind());
                self.runs.push(Run { token, future, waker: None });
            }
            Err(panic) => self.failed.push((token, Err(HandlerFailure::Panicked(panic_message(&*panic))))),
        }
    }

    /// Progress on the running handlers; the next one finished, if any. (An aborted
    /// one is dropped on the way.)
    pub(crate) fn poll_outcome(&mut self, cx: &mut Context<'_>) -> Poll<Outcome> {
        if let Some(outcome) = self.failed.pop() {
            return Poll::Ready(outcome);
        }
        loop {
            match self.runs.poll_next_unpin(cx) {
                Poll::Ready(Some(Some(outcome))) => return Poll::Ready(outcome),
                Poll::Ready(Some(None)) => continue,
                Poll::Ready(None) | Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Aborts the handler for `token` if it still runs (its request was answered
    /// without it): its future is dropped now. Returns whether one was aborted.
    /// Looks through the running handlers (at most the server's `max_concurrent`);
    /// aborts are rare.
    pub(crate) fn abort(&mut self, token: RequestToken) -> bool {
        for run in Pin::new(&mut self.runs).iter_pin_mut() {
            if run.token != token || run.future.is_none() {
                continue;
            }
            let mut run = run.project();
            run.future.set(None);
            // Polled once more, it finishes as `None` and leaves the set. (Never
            // polled yet, it will be: a pushed future is polled at least once.)
            if let Some(waker) = run.waker.take() {
                waker.wake();
            }
            return true;
        }
        false
    }

    /// Aborts every handler still running, and drops them.
    pub(crate) fn abort_all(&mut self) -> usize {
        let running = Pin::new(&self.runs).iter_pin_ref().filter(|run| run.future.is_some()).count();
        self.runs = FuturesUnordered::new();
        running
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}
