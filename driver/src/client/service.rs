//! [`tower_service::Service`] for [`Channel`], so it composes with tower middleware
//! (timeouts, rate limits, load shedding, retries).

use std::task::{Context, Poll};

use reqchan_core::codec::Value;
use tower_service::Service;

use super::error::Error;
use super::handle::{Channel, ReplyFuture};

/// Salt requests: the [`Value`] is sent as the load of the channel's envelope (clear, or
/// sealed on an `aes` channel), the reply is decoded as a [`Value`] (a refusal is
/// [`RequestError::Rejected`](reqchan_core::client::RequestError::Rejected)).
///
/// A request in flight keeps the channel alive, so `oneshot` on a temporary channel
/// (as tower's `ServiceBuilder` does) works. `poll_ready` is ready while the channel is
/// live; the queue bound (`max_queued`) refuses excess requests with
/// [`SubmitError::QueueFull`](reqchan_core::client::SubmitError::QueueFull) (load
/// shedding). For backpressure instead, put tower's `ConcurrencyLimitLayer` in front
/// with a limit at most `max_queued`: `poll_ready` then waits for a free slot.
///
/// This is the one `Service` a channel implements, so `channel.ready()` infers. For
/// raw bytes, wrap [`Channel::request_raw`] in `tower::service_fn`:
/// `service_fn(move |payload: Bytes| channel.request_raw(payload))`.
impl<R> Service<Value> for Channel<R> {
    type Response = Value;
    type Error = Error;
    type Future = ReplyFuture<Value>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(if self.is_live() { Ok(()) } else { Err(self.refusal()) })
    }

    fn call(&mut self, load: Value) -> ReplyFuture<Value> {
        self.request(&load)
    }
}
