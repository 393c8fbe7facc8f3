//! What a server listens with: our own wire (the default) or, with the `zeromq`
//! feature, a zmq.rs socket; and the socket kinds both offer.

use std::io;

use reqchan_core::server::{Framing, ServerConfig};
use reqchan_core::wire::{Heartbeat, RouterConfig, SocketType, WireConfig};

use super::ServerOptions;
use super::wire::WireSocket;
#[cfg(feature = "zeromq")]
use super::zmq::ZmqSocket;
use crate::{Runtime, Transport};

/// Which socket type serves the requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SocketKind {
    /// ROUTER: many requests handled at once, replies possibly out of order.
    Router,
    /// REP: one request at a time, in order.
    Rep,
}

/// How one zmq.rs send ended.
#[cfg_attr(not(feature = "zeromq"), allow(dead_code))]
pub(crate) enum SendOutcome {
    /// Handed to the socket (for ROUTER: queued for the peer's writer task).
    Sent,
    /// The socket refused it (the peer is gone).
    Failed(String),
    /// No room for it within the send timeout (the peer stopped reading): given up.
    TimedOut,
}

/// A bound server socket.
pub(crate) enum ServerSocket<R: Runtime> {
    /// zmq.rs.
    #[cfg(feature = "zeromq")]
    Zmq(ZmqSocket),
    /// Our wire: boxed, it holds the read buffer and every connection.
    Wire(Box<WireSocket<R>>),
}

impl<R: Runtime> ServerSocket<R> {
    /// Binds a `kind` socket to `endpoint` over `options.transport`; returns it and the
    /// resolved endpoint (port 0 becomes the real port).
    pub(crate) async fn bind(
        runtime: &R,
        kind: SocketKind,
        endpoint: &str,
        options: &ServerOptions,
    ) -> io::Result<(Self, String)> {
        match options.transport {
            Transport::Wire => {
                let config = router_config(kind, options);
                let (socket, resolved) = WireSocket::bind(runtime.clone(), endpoint, config).await?;
                Ok((Self::Wire(Box::new(socket)), resolved))
            }
            #[cfg(feature = "zeromq")]
            Transport::ZeroMq => {
                let (socket, resolved) =
                    ZmqSocket::bind(kind, endpoint).await.map_err(|e| io::Error::other(e.to_string()))?;
                Ok((Self::Zmq(socket), resolved))
            }
            #[cfg(not(feature = "zeromq"))]
            Transport::ZeroMq => Err(io::Error::new(io::ErrorKind::Unsupported, "built without the zeromq transport")),
        }
    }

    /// How this socket presents messages to the server core. Our wire always hands
    /// over the routing id (a REP over our wire is a ROUTER serving one request at a
    /// time: see [`core_config`](Self::core_config)).
    pub(crate) fn framing(&self, kind: SocketKind) -> Framing {
        match (self, kind) {
            #[cfg(feature = "zeromq")]
            (Self::Zmq(_), SocketKind::Rep) => Framing::Bare,
            _ => Framing::Routed,
        }
    }

    /// The core's configuration for this socket: a REP over our wire handles one
    /// request at a time.
    pub(crate) fn core_config(&self, kind: SocketKind, config: &ServerConfig) -> ServerConfig {
        match (self, kind) {
            (Self::Wire(_), SocketKind::Rep) => config.clone().max_concurrent(1),
            _ => config.clone(),
        }
    }
}

/// Our wire's settings for a server socket of `kind`.
fn router_config(kind: SocketKind, options: &ServerOptions) -> RouterConfig {
    let socket_type = match kind {
        SocketKind::Router => SocketType::Router,
        SocketKind::Rep => SocketType::Rep,
    };
    let mut wire = WireConfig::new(socket_type);
    // Room for the envelope (request id, delimiter) on top of the payload limit.
    wire.max_message_size = options.core.max_message_size.saturating_add(256);
    wire.handshake_timeout = options.handshake_timeout;
    wire.heartbeat = options.heartbeat.map(Heartbeat::every);
    let mut config = RouterConfig::new(wire);
    config.max_peers = options.max_connections;
    config
}
