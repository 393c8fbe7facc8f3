//! In-process zmq.rs servers for the tests, answering like `peers/python/zmq_peer.py`.

use bytes::Bytes;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use zeromq::{RepSocket, RouterSocket, Socket, SocketRecv, SocketSend, ZmqMessage};

/// Bytes that are not msgpack (`0xc1` is reserved).
pub const GARBAGE: &[u8] = b"\xc1 this is not msgpack";

/// `{"bin": <bin 00 ff>, "str": <str ff fe, not UTF-8>}`, as Salt packs bytes.
pub const BYTES_REPLY: &[u8] = b"\x82\xa3bin\xc4\x02\x00\xff\xa3str\xa2\xff\xfe";

/// What the test servers answer to `payload` (`None`: no answer), by its content:
/// `garbage`, `multi-frame`, `bytes-please`, `no-reply`, else an echo.
pub fn respond(payload: &[u8]) -> Option<Vec<Bytes>> {
    let has = |needle: &[u8]| payload.windows(needle.len()).any(|w| w == needle);
    if has(b"garbage") {
        Some(vec![Bytes::from_static(GARBAGE)])
    } else if has(b"multi-frame") {
        Some(vec![Bytes::from_static(b"\xa1a"), Bytes::from_static(b"\xa1b")])
    } else if has(b"bytes-please") {
        Some(vec![Bytes::from_static(BYTES_REPLY)])
    } else if has(b"no-reply") {
        None
    } else {
        Some(vec![Bytes::copy_from_slice(payload)])
    }
}

/// A zmq.rs server task, aborted (its socket closed) on drop.
#[derive(Debug)]
pub struct ZmqRsServer {
    endpoint: String,
    received: watch::Receiver<usize>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl ZmqRsServer {
    /// A REP server bound to `bind` (for example `tcp://127.0.0.1:0`), answering with
    /// [`respond`] (an empty reply for `no-reply`: REP must answer).
    pub async fn rep(bind: &str) -> Self {
        Self::serve(RepSocket::new(), bind, |frames| {
            let payload = frames.last().cloned().unwrap_or_default();
            Some(respond(&payload).unwrap_or_else(|| vec![Bytes::new()]))
        })
        .await
    }

    /// A ROUTER server bound to `bind`, answering with [`respond`] behind the peer's
    /// envelope; `silent` never answers anything.
    pub async fn router(bind: &str, silent: bool) -> Self {
        Self::serve(RouterSocket::new(), bind, move |mut frames| {
            let split = frames.iter().position(|f| f.is_empty()).map_or(1, |i| i + 1);
            let body = frames.split_off(split.min(frames.len()));
            let payload = body.last().cloned().unwrap_or_default();
            if silent {
                return None;
            }
            frames.extend(respond(&payload)?);
            Some(frames)
        })
        .await
    }

    /// Binds `socket` and serves it until stopped: every message is counted, then
    /// answered with what `answer` makes of its frames (nothing for `None`).
    async fn serve<S>(
        mut socket: S,
        bind: &str,
        answer: impl Fn(Vec<Bytes>) -> Option<Vec<Bytes>> + Send + 'static,
    ) -> Self
    where
        S: Socket + SocketRecv + SocketSend + Send + 'static,
    {
        let endpoint = socket.bind(bind).await.expect("bind the test server").to_string();
        let (count, received) = watch::channel(0);
        let (stop, mut stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            loop {
                let message = tokio::select! {
                    _ = &mut stopped => break,
                    message = socket.recv() => message,
                };
                let Ok(message) = message else { break };
                count.send_modify(|n| *n += 1);
                let Some(reply) = answer(message.into_vec()) else { continue };
                let Ok(reply) = ZmqMessage::try_from(reply) else { continue };
                // A peer that went away makes the send fail: keep serving the others.
                let _ = socket.send(reply).await;
            }
            // Unbind and wait until the port is free again.
            socket.close().await;
        });
        Self { endpoint, received, stop: Some(stop), task }
    }

    /// The bound endpoint.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Stops the server and waits until its socket is closed and its port unbound.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let task = std::mem::replace(&mut self.task, tokio::spawn(async {}));
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), task).await;
    }

    /// Messages received so far.
    pub fn received(&self) -> usize {
        *self.received.borrow()
    }

    /// Waits until the server has received `count` messages in total, and returns the
    /// count then (it can only be larger if the server gets more meanwhile).
    pub async fn wait_received(&self, count: usize) -> usize {
        let mut received = self.received.clone();
        let seen = received.wait_for(|n| *n >= count).await.map(|n| *n);
        // The task ended (its sender dropped) before `count`: report what it got.
        seen.unwrap_or_else(|_| *received.borrow())
    }
}

impl Drop for ZmqRsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
