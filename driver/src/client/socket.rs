//! The client's socket, as futures the drive loop can poll side by side with its
//! commands and its timer.
//!
//! zeromq's `send`/`recv` borrow the socket mutably, so each is run inside a future
//! that owns the socket (or half of it) and gives it back when done:
//! - lockstep, REQ: one *exchange* future sends a request and receives its reply;
//!   the core never releases a second transmission before the first is answered or
//!   the socket is reset.
//! - pipelined, DEALER split in halves: a receive future always pending, and a send
//!   future fed from an outbox, so a full peer queue never blocks the loop.
//!
//! Dropping a [`Conn`] drops the socket: zeromq closes its connection.

use std::collections::VecDeque;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use reqchan_core::client::{Mode, RequestId};
use zeromq::{
    DealerRecvHalf, DealerSendHalf, DealerSocket, ReqSocket, Socket, SocketOptions, SocketRecv, SocketSend, ZmqError,
    ZmqMessage, ZmqResult,
};

/// A connected socket, as returned by [`connect`].
pub(crate) enum Connected {
    Req(ReqSocket),
    Dealer(DealerSocket),
}

/// Opens a socket of the kind `mode` needs and connects it to `endpoint`.
pub(crate) fn connect(mode: Mode, endpoint: String, timeout: Duration) -> BoxFuture<'static, ZmqResult<Connected>> {
    let mut options = SocketOptions::default();
    options.connect_timeout(timeout);
    async move {
        match mode {
            Mode::Lockstep => {
                let mut socket = ReqSocket::with_options(options);
                socket.connect(&endpoint).await?;
                Ok(Connected::Req(socket))
            }
            _ => {
                let mut socket = DealerSocket::with_options(options);
                socket.connect(&endpoint).await?;
                Ok(Connected::Dealer(socket))
            }
        }
    }
    .boxed()
}

/// What the socket produced.
pub(crate) enum Event {
    /// A message: its frames.
    Reply(Vec<Bytes>),
    /// The connection is unusable, and these transmissions never reached the wire: a
    /// send failed, and the ones queued behind it will not be tried on this socket.
    Refused(Vec<RequestId>, ZmqError),
    /// The connection is unusable: a receive failed.
    Lost(ZmqError),
}

/// Where a lockstep exchange failed.
enum ExchangeError {
    /// The request never left: a REQ socket whose peer died while idle fails here.
    Send(ZmqError),
    Recv(ZmqError),
}

type Exchange = BoxFuture<'static, (ReqSocket, Result<ZmqMessage, ExchangeError>)>;
type Receive = BoxFuture<'static, (DealerRecvHalf, ZmqResult<ZmqMessage>)>;
type Send = BoxFuture<'static, (DealerSendHalf, ZmqResult<()>)>;

/// An open socket and the operation in progress on it.
pub(crate) enum Conn {
    /// Lockstep.
    Req(ReqConn),
    /// Pipelined.
    Dealer(Box<DealerConn>),
}

/// A REQ socket: idle, or owned by the exchange in progress.
pub(crate) struct ReqConn {
    idle: Option<ReqSocket>,
    /// A request sent (or being sent) and its reply awaited.
    busy: Option<(RequestId, Exchange)>,
}

pub(crate) struct DealerConn {
    /// The send half when no send is in progress.
    idle: Option<DealerSendHalf>,
    sending: Option<(RequestId, Send)>,
    outbox: VecDeque<(RequestId, ZmqMessage)>,
    receiving: Receive,
}

fn receive(mut half: DealerRecvHalf) -> Receive {
    async move {
        let result = half.recv().await;
        (half, result)
    }
    .boxed()
}

fn send(mut half: DealerSendHalf, message: ZmqMessage) -> Send {
    async move {
        let result = half.send(message).await;
        (half, result)
    }
    .boxed()
}

impl Conn {
    pub(crate) fn new(socket: Connected) -> Self {
        match socket {
            Connected::Req(socket) => Conn::Req(ReqConn { idle: Some(socket), busy: None }),
            Connected::Dealer(socket) => {
                let (send, recv) = socket.split();
                Conn::Dealer(Box::new(DealerConn {
                    idle: Some(send),
                    sending: None,
                    outbox: VecDeque::new(),
                    receiving: receive(recv),
                }))
            }
        }
    }

    /// Hands request `id`'s `frames` to the socket. Fails only if the socket cannot take
    /// a message now (a REQ socket with a request outstanding), which the core never
    /// asks for.
    pub(crate) fn transmit(&mut self, id: RequestId, frames: Vec<Bytes>) -> Result<(), ZmqError> {
        let message = ZmqMessage::try_from(frames).map_err(|_| ZmqError::Socket("cannot send an empty message"))?;
        match self {
            Conn::Req(req) => {
                let Some(mut socket) = req.idle.take() else {
                    return Err(ZmqError::Socket("a REQ socket cannot send again before it has received"));
                };
                let exchange = async move {
                    let result = match socket.send(message).await {
                        Ok(()) => socket.recv().await.map_err(ExchangeError::Recv),
                        Err(e) => Err(ExchangeError::Send(e)),
                    };
                    (socket, result)
                };
                req.busy = Some((id, exchange.boxed()));
                Ok(())
            }
            Conn::Dealer(dealer) => {
                dealer.outbox.push_back((id, message));
                Ok(())
            }
        }
    }

    /// Makes progress on sends and receives; returns the first event.
    pub(crate) fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Event> {
        match self {
            Conn::Req(req) => {
                let Some((id, exchange)) = &mut req.busy else { return Poll::Pending };
                let id = *id;
                let (socket, result) = std::task::ready!(exchange.poll_unpin(cx));
                req.busy = None;
                req.idle = Some(socket);
                Poll::Ready(match result {
                    Ok(message) => Event::Reply(message.into_vec()),
                    Err(ExchangeError::Send(e)) => Event::Refused(vec![id], e),
                    Err(ExchangeError::Recv(e)) => Event::Lost(e),
                })
            }
            Conn::Dealer(dealer) => dealer.poll_event(cx),
        }
    }
}

impl DealerConn {
    fn poll_event(&mut self, cx: &mut Context<'_>) -> Poll<Event> {
        // Sends first, so that replies to them can follow.
        loop {
            if let Some((id, sending)) = &mut self.sending {
                let id = *id;
                match sending.poll_unpin(cx) {
                    Poll::Ready((half, Ok(()))) => {
                        self.sending = None;
                        self.idle = Some(half);
                    }
                    Poll::Ready((half, Err(e))) => {
                        self.sending = None;
                        self.idle = Some(half);
                        let refused = std::iter::once(id).chain(self.outbox.drain(..).map(|(id, _)| id));
                        return Poll::Ready(Event::Refused(refused.collect(), e));
                    }
                    Poll::Pending => break,
                }
            }
            if self.outbox.is_empty() || self.idle.is_none() {
                break;
            }
            if let (Some(half), Some((id, message))) = (self.idle.take(), self.outbox.pop_front()) {
                self.sending = Some((id, send(half, message)));
            }
        }
        let Poll::Ready((half, result)) = self.receiving.poll_unpin(cx) else {
            return Poll::Pending;
        };
        self.receiving = receive(half);
        Poll::Ready(match result {
            Ok(message) => Event::Reply(message.into_vec()),
            Err(e) => Event::Lost(e),
        })
    }
}
