//! ZMTP 3.1 (RFC 37; RFC 23 peers too), NULL mechanism, as a sans-IO state machine: one
//! [`Connection`] per byte stream, and a [`Router`] holding a server socket's many
//! connections (routing ids in, replies routed out). Bytes in, events out; bytes to send drained by
//! `poll_transmit`; `now` passed in. No socket, no clock.
//!
//! - **Handshake:** the 64-octet greeting (ZMTP 3.x, NULL; padding not validated), then
//!   READY with `Socket-Type` and `Identity`. An incompatible socket type gets an ERROR
//!   command and ends the connection; so does a wrong mechanism or a pre-3.0 peer.
//! - **Frames:** short and long, MORE and COMMAND. **Limits are checked at the frame
//!   header, before anything is buffered:** per message (`max_message_size`, all frames
//!   together) and frames per message (`max_frames`). Nothing is reserved from a length
//!   the peer declared: the input buffer only ever holds bytes that arrived, at most one
//!   frame's worth. Frames that arrive whole are parsed straight from the bytes handed
//!   in, each message's frames copied once into one allocation of its own (so a message
//!   kept for a while pins nothing else).
//! - **Commands:** PING is answered with PONG echoing its context; PONG and unknown
//!   commands are noted and ignored (as libzmq does); ERROR ends the connection.
//! - **Heartbeats** (optional): a PING every `interval`; the peer is lost when nothing
//!   arrives within `timeout` after a PING, or within the TTL the peer announced. Any
//!   traffic counts.
//! - **A handshake timeout** ends a connection that does not complete its handshake.
//! - Every violation ends that connection with a typed [`WireError`], never a panic.
//!
//! # Drive loop
//! ```
//! use std::time::Instant;
//! use bytes::Bytes;
//! use reqchan_core::wire::{Connection, SocketType, WireConfig, WireEvent};
//!
//! let now = Instant::now();
//! // Two ends of one stream: our DEALER, and a ROUTER (also this state machine).
//! let mut dealer = Connection::new(now, WireConfig::new(SocketType::Dealer));
//! let mut router = Connection::new(now, WireConfig::new(SocketType::Router));
//! dealer.send(&[Bytes::from_static(b"id"), Bytes::new(), Bytes::from_static(b"ping")]).unwrap();
//!
//! // Whatever one side transmits, the other reads (a socket would carry it).
//! for _ in 0..3 {
//!     while let Some(bytes) = dealer.poll_transmit() {
//!         router.handle_input(now, &bytes);
//!     }
//!     while let Some(bytes) = router.poll_transmit() {
//!         dealer.handle_input(now, &bytes);
//!     }
//! }
//! assert!(matches!(router.poll_event(), Some(WireEvent::Ready { peer: SocketType::Dealer, .. })));
//! assert_eq!(
//!     router.poll_event(),
//!     Some(WireEvent::Message(vec![Bytes::from_static(b"id"), Bytes::new(), Bytes::from_static(b"ping")]))
//! );
//! ```

mod command;
mod connection;
mod error;
mod frame;
mod greeting;
mod router;
mod socket_type;

pub use connection::{Connection, Heartbeat, WireConfig, WireEvent, WireStats};
pub use error::WireError;
pub use router::{AcceptError, PeerId, RouteError, Router, RouterConfig, RouterEvent, RouterStats};
pub use socket_type::SocketType;
