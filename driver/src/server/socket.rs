//! The zmq.rs socket a server drives: a ROUTER split into halves, or a REP.

use std::pin::Pin;

use bytes::Bytes;
use futures::stream::{self, Stream, StreamExt};
use reqchan_core::server::Framing;
use zeromq::{
    RepSocket, RouterRecvHalf, RouterSendHalf, RouterSocket, Socket, SocketRecv, SocketSend, ZmqError, ZmqMessage,
    ZmqResult,
};

/// Which zmq socket type serves the requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SocketKind {
    /// ROUTER: many requests handled at once, replies possibly out of order.
    Router,
    /// REP: one request at a time, in order.
    Rep,
}

impl SocketKind {
    /// How this kind of socket presents messages to the server core.
    pub fn framing(self) -> Framing {
        match self {
            SocketKind::Router => Framing::Routed,
            SocketKind::Rep => Framing::Bare,
        }
    }
}

type Inbound = Pin<Box<dyn Stream<Item = ZmqResult<ZmqMessage>> + Send>>;

/// A bound server socket.
pub(crate) enum ServerSocket {
    /// The recv half lives inside a stream so a pending receive survives `select!`
    /// (a receive that loses a race is resumed, never lost).
    Router {
        send: RouterSendHalf,
        inbound: Inbound,
    },
    Rep(RepSocket),
}

impl ServerSocket {
    /// Binds a new socket of `kind` to `endpoint`; returns it and the resolved
    /// endpoint (port 0 becomes the real port).
    pub(crate) async fn bind(kind: SocketKind, endpoint: &str) -> ZmqResult<(Self, String)> {
        match kind {
            SocketKind::Router => {
                let mut socket = RouterSocket::new();
                let resolved = socket.bind(endpoint).await?;
                let (send, recv) = socket.split();
                let inbound = stream::unfold(recv, |mut recv: RouterRecvHalf| async move {
                    let message = recv.recv().await;
                    Some((message, recv))
                });
                Ok((Self::Router { send, inbound: Box::pin(inbound) }, resolved.to_string()))
            }
            SocketKind::Rep => {
                let mut socket = RepSocket::new();
                let resolved = socket.bind(endpoint).await?;
                Ok((Self::Rep(socket), resolved.to_string()))
            }
        }
    }

    /// The next message's frames. Cancel-safe.
    pub(crate) async fn recv(&mut self) -> ZmqResult<Vec<Bytes>> {
        match self {
            Self::Router { inbound, .. } => match inbound.next().await {
                Some(result) => result.map(ZmqMessage::into_vec),
                None => Err(ZmqError::NoMessage),
            },
            Self::Rep(socket) => socket.recv().await.map(ZmqMessage::into_vec),
        }
    }

    /// Sends one reply. For ROUTER, `Ok` means queued for the peer's writer task.
    pub(crate) async fn send(&mut self, frames: Vec<Bytes>) -> ZmqResult<()> {
        let message = ZmqMessage::try_from(frames).map_err(|_| ZmqError::Other("empty reply message"))?;
        match self {
            Self::Router { send, .. } => send.send(message).await,
            Self::Rep(socket) => socket.send(message).await,
        }
    }

    /// Stops accepting connections and drops the socket. For REP this waits until the
    /// listener is closed (so the endpoint can be bound again); every REP reply was
    /// already flushed by `send`. For ROUTER the listener and the connections close
    /// when the halves drop; replies still queued are written by zmq.rs's per-peer
    /// writer tasks, which run on until their queues are empty (the caller's runtime
    /// must stay alive until then: see the tokio adapter).
    pub(crate) async fn close(self) {
        match self {
            Self::Router { send, inbound } => {
                drop(inbound);
                drop(send);
            }
            Self::Rep(socket) => {
                let _ = socket.close().await;
            }
        }
    }
}
