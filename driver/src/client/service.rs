//! [`tower_service::Service`] for [`Channel`], so it composes with tower middleware
//! (timeouts, rate limits, load shedding, retries).

use std::task::{Context, Poll};

use bytes::Bytes;
use reqchan_core::codec::Value;
use tower_service::Service;

use super::error::Error;
use super::handle::{Channel, ReplyFuture, ResponseFuture};

/// Raw requests: the payload is sent as it is, the reply's bytes are returned.
///
/// `poll_ready` is ready while the channel is live; the channel's queue bound
/// (`max_queued`) refuses excess requests with
/// [`SubmitError::QueueFull`](reqchan_core::client::SubmitError::QueueFull) (load
/// shedding). For backpressure instead, put tower's `ConcurrencyLimitLayer` in front
/// with a limit at most `max_queued`: `poll_ready` then waits for a free slot.
impl Service<Bytes> for Channel {
    type Response = Bytes;
    type Error = Error;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(ready(self))
    }

    fn call(&mut self, payload: Bytes) -> ResponseFuture {
        self.request_raw(payload)
    }
}

/// Salt requests: the value is sent as the load of a clear envelope, the reply is
/// decoded as a dynamic [`Value`].
impl Service<Value> for Channel {
    type Response = Value;
    type Error = Error;
    type Future = ReplyFuture<Value>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(ready(self))
    }

    fn call(&mut self, load: Value) -> ReplyFuture<Value> {
        self.request(&load)
    }
}

fn ready(channel: &Channel) -> Result<(), Error> {
    if channel.is_live() { Ok(()) } else { Err(channel.refusal()) }
}
