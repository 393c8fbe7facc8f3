//! Running handlers: each request's future runs as its own task, panics are caught,
//! and a handler that outlives its request can be aborted.

use std::any::Any;
use std::collections::HashMap;
use std::fmt::Display;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use bytes::Bytes;
use futures::FutureExt;
use futures::channel::mpsc;
use futures::future::{AbortHandle, Abortable};
use reqchan_core::codec::{self, EncodeError, Value};
use reqchan_core::server::{HandlerFailure, IncomingRequest, RequestToken};

use crate::Runtime;

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

/// The running handlers, by request.
pub(crate) struct Handlers<H> {
    handler: H,
    results: mpsc::UnboundedSender<Outcome>,
    running: HashMap<RequestToken, AbortHandle>,
}

impl<H: Handler> Handlers<H> {
    pub(crate) fn new(handler: H) -> (Self, mpsc::UnboundedReceiver<Outcome>) {
        let (results, receiver) = mpsc::unbounded();
        (Self { handler, results, running: HashMap::new() }, receiver)
    }

    /// Starts the handler for `request` on `runtime`. Its result, error or panic comes
    /// back on the results channel exactly once, unless it is aborted.
    pub(crate) fn start<R: Runtime>(&mut self, runtime: &R, request: IncomingRequest) {
        let token = request.token;
        let results = self.results.clone();
        // Calling the handler can panic before any future exists.
        let future = match std::panic::catch_unwind(AssertUnwindSafe(|| self.handler.call(request))) {
            Ok(future) => future,
            Err(panic) => {
                let _ = results.unbounded_send((token, Err(HandlerFailure::Panicked(panic_message(&*panic)))));
                return;
            }
        };
        let (abort, registration) = AbortHandle::new_pair();
        self.running.insert(token, abort);
        let task = Abortable::new(
            async move {
                let outcome = match AssertUnwindSafe(future).catch_unwind().await {
                    Ok(Ok(reply)) => Ok(reply.into_bytes()),
                    Ok(Err(e)) => Err(HandlerFailure::Error(e.to_string())),
                    Err(panic) => Err(HandlerFailure::Panicked(panic_message(&*panic))),
                };
                let _ = results.unbounded_send((token, outcome));
            },
            registration,
        );
        runtime.spawn(async move {
            let _ = task.await;
        });
    }

    /// The handler for `token` finished.
    pub(crate) fn finished(&mut self, token: RequestToken) {
        self.running.remove(&token);
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

    /// Aborts every handler still running.
    pub(crate) fn abort_all(&mut self) -> usize {
        let n = self.running.len();
        for (_, handle) in self.running.drain() {
            handle.abort();
        }
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
