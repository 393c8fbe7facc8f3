//! The zmq.rs socket a server drives (the `zeromq` transport): a ROUTER split into
//! halves, or a REP.

use std::future::Future;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, ready};

use super::socket::{SendOutcome, SocketKind};
use bytes::Bytes;
use futures::FutureExt;
use futures::future::{self, BoxFuture, Either};
use futures::stream::{self, Stream, StreamExt};
use zeromq::{
    RepSocket, RouterRecvHalf, RouterSendHalf, RouterSocket, Socket, SocketRecv, SocketSend, ZmqError, ZmqMessage,
    ZmqResult,
};

type Inbound = Pin<Box<dyn Stream<Item = ZmqResult<ZmqMessage>> + Send>>;
type RouterSend = BoxFuture<'static, (RouterSendHalf, SendOutcome)>;
type RepRecv = BoxFuture<'static, (RepSocket, ZmqResult<ZmqMessage>)>;
type RepSend = BoxFuture<'static, (RepSocket, SendOutcome)>;

/// A bound server socket, driven by polling: a receive and a send can each be in
/// progress, and the drive loop keeps polling both, so a slow send never stops the
/// socket from receiving (ROUTER) and nothing is ever awaited inline.
pub(crate) enum ZmqSocket {
    /// The halves of a ROUTER: the receive half inside a stream (a pending receive is
    /// resumed, never lost), the send half idle or inside the send in progress.
    Router { inbound: Inbound, idle: Option<RouterSendHalf>, sending: Option<RouterSend> },
    /// A REP socket is lockstep: it is idle, or owned by the one receive or the one
    /// send in progress.
    Rep { idle: Option<RepSocket>, receiving: Option<RepRecv>, sending: Option<RepSend> },
}

impl ZmqSocket {
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
                let socket = Self::Router { inbound: Box::pin(inbound), idle: Some(send), sending: None };
                Ok((socket, resolved.to_string()))
            }
            SocketKind::Rep => {
                let mut socket = RepSocket::new();
                let resolved = socket.bind(endpoint).await?;
                Ok((Self::Rep { idle: Some(socket), receiving: None, sending: None }, resolved.to_string()))
            }
        }
    }

    /// Whether a send is in progress.
    pub(crate) fn is_sending(&self) -> bool {
        match self {
            Self::Router { sending, .. } => sending.is_some(),
            Self::Rep { sending, .. } => sending.is_some(),
        }
    }

    /// Whether a send can start now.
    pub(crate) fn can_send(&self) -> bool {
        match self {
            Self::Router { idle, .. } => idle.is_some(),
            Self::Rep { idle, .. } => idle.is_some(),
        }
    }

    /// Starts sending `frames`, given up after `timeout` (the future `timeout` resolves).
    /// Call only when [`can_send`](Self::can_send).
    pub(crate) fn start_send<T>(&mut self, frames: Vec<Bytes>, timeout: T)
    where
        T: Future<Output = ()> + Send + 'static,
    {
        let message = ZmqMessage::try_from(frames);
        match self {
            Self::Router { idle, sending, .. } => {
                let Some(mut half) = idle.take() else { return };
                *sending = Some(
                    async move {
                        let outcome = match message {
                            Ok(message) => bounded_send(half.send(message), timeout).await,
                            Err(_) => SendOutcome::Failed("empty reply message".to_owned()),
                        };
                        (half, outcome)
                    }
                    .boxed(),
                );
            }
            Self::Rep { idle, sending, .. } => {
                let Some(mut socket) = idle.take() else { return };
                *sending = Some(
                    async move {
                        let outcome = match message {
                            Ok(message) => bounded_send(socket.send(message), timeout).await,
                            Err(_) => SendOutcome::Failed("empty reply message".to_owned()),
                        };
                        (socket, outcome)
                    }
                    .boxed(),
                );
            }
        }
    }

    /// Progress on the send in progress; ready with its outcome when it ends.
    pub(crate) fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<SendOutcome> {
        match self {
            Self::Router { idle, sending, .. } => {
                let Some(future) = sending else { return Poll::Pending };
                let (half, outcome) = ready!(future.poll_unpin(cx));
                *sending = None;
                *idle = Some(half);
                Poll::Ready(outcome)
            }
            Self::Rep { idle, sending, .. } => {
                let Some(future) = sending else { return Poll::Pending };
                let (socket, outcome) = ready!(future.poll_unpin(cx));
                *sending = None;
                *idle = Some(socket);
                Poll::Ready(outcome)
            }
        }
    }

    /// The next message's frames. Starts a receive if none is in progress; call only
    /// while receiving is allowed.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<ZmqResult<Vec<Bytes>>> {
        match self {
            Self::Router { inbound, .. } => match ready!(inbound.poll_next_unpin(cx)) {
                Some(result) => Poll::Ready(result.map(ZmqMessage::into_vec)),
                None => Poll::Ready(Err(ZmqError::NoMessage)),
            },
            Self::Rep { idle, receiving, .. } => {
                if receiving.is_none() {
                    // Idle (a send in progress owns the socket otherwise: not our turn).
                    let Some(mut socket) = idle.take() else { return Poll::Pending };
                    *receiving = Some(
                        async move {
                            let message = socket.recv().await;
                            (socket, message)
                        }
                        .boxed(),
                    );
                }
                let Some(future) = receiving else { return Poll::Pending };
                let (socket, message) = ready!(future.poll_unpin(cx));
                *receiving = None;
                *idle = Some(socket);
                Poll::Ready(message.map(ZmqMessage::into_vec))
            }
        }
    }

    /// Stops accepting connections and drops the socket. For REP this waits until the
    /// listener is closed (so the endpoint can be bound again); every REP reply was
    /// already flushed by its send. For ROUTER the listener and the connections close
    /// when the halves drop; replies still queued are written by zmq.rs's per-peer
    /// writer tasks, which run on until their queues are empty (the caller's runtime
    /// must stay alive until then: see the tokio adapter).
    pub(crate) async fn close(self) {
        match self {
            Self::Router { inbound, idle, sending } => {
                drop(inbound);
                drop(idle);
                drop(sending);
            }
            Self::Rep { idle, receiving, sending } => {
                drop((receiving, sending));
                if let Some(socket) = idle {
                    let _ = socket.close().await;
                }
            }
        }
    }
}

/// `send`, given up when `timeout` resolves first.
async fn bounded_send<F, T>(send: F, timeout: T) -> SendOutcome
where
    F: Future<Output = ZmqResult<()>>,
    T: Future<Output = ()>,
{
    match future::select(pin!(send), pin!(timeout)).await {
        Either::Left((Ok(()), _)) => SendOutcome::Sent,
        Either::Left((Err(error), _)) => SendOutcome::Failed(error.to_string()),
        Either::Right(_) => SendOutcome::TimedOut,
    }
}
