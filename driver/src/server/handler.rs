//! Running handlers: each request's future runs inside the server task (a set of
//! futures polled as they wake: no task spawned, no channel crossed per request),
//! panics are caught, and a handler that outlives its request can be aborted.

use std::any::Any;
use std::collections::HashMap;
use std::fmt::Display;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::future::{AbortHandle, Abortable, Aborted};
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
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

/// One running handler: its result, error or panic as an [`Outcome`].
type Run = Pin<Box<dyn Future<Output = Result<Outcome, Aborted>> + Send>>;

/// The running handlers, by request.
pub(crate) struct Handlers<H> {
    handler: H,
    runs: FuturesUnordered<Run>,
    /// A handler that panicked before it had a future: reported at the next poll.
    failed: Vec<Outcome>,
    running: HashMap<RequestToken, AbortHandle>,
}

impl<H: Handler> Handlers<H> {
    pub(crate) fn new(handler: H) -> Self {
        Self { handler, runs: FuturesUnordered::new(), failed: Vec::new(), running: HashMap::new() }
    }

    /// Starts the handler for `request`. Its result, error or panic comes out of
    /// [`poll_outcome`](Self::poll_outcome) exactly once, unless it is aborted.
    pub(crate) fn start(&mut self, request: IncomingRequest) {
        let token = request.token;
        // Calling the handler can panic before any future exists.
        let future = match std::panic::catch_unwind(AssertUnwindSafe(|| self.handler.call(request))) {
            Ok(future) => future,
            Err(panic) => {
                self.failed.push((token, Err(HandlerFailure::Panicked(panic_message(&*panic)))));
                return;
            }
        };
        let (abort, registration) = AbortHandle::new_pair();
        self.running.insert(token, abort);
        let run = async move {
            let outcome = match AssertUnwindSafe(future).catch_unwind().await {
                Ok(Ok(reply)) => Ok(reply.into_bytes()),
                Ok(Err(e)) => Err(HandlerFailure::Error(e.to_string())),
                Err(panic) => Err(HandlerFailure::Panicked(panic_message(&*panic))),
            };
            (token, outcome)
        };
        self.runs.push(Box::pin(Abortable::new(run, registration)));
    }

    /// Progress on the running handlers; the next one finished, if any. (An aborted
    /// one is dropped on the way.)
    pub(crate) fn poll_outcome(&mut self, cx: &mut Context<'_>) -> Poll<Outcome> {
        if let Some(outcome) = self.failed.pop() {
            return Poll::Ready(outcome);
        }
        loop {
            match self.runs.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok((token, result)))) => {
                    self.running.remove(&token);
                    return Poll::Ready((token, result));
                }
                Poll::Ready(Some(Err(Aborted))) => continue,
                Poll::Ready(None) | Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// Aborts the handler for `token` if it still runs (its request was answered
    /// without it). Returns whether one was aborted.
    pub(crate) fn abort(&mut self, token: RequestToken) -> bool {
        match self.running.remove(&token) {
            Some(handle) => {
                handle.abort();
                true
            }
            None => false,
        }
    }

    /// Aborts every handler still running, and drops them.
    pub(crate) fn abort_all(&mut self) -> usize {
        let n = self.running.len();
        for (_, handle) in self.running.drain() {
            handle.abort();
        }
        self.runs = FuturesUnordered::new();
        n
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
