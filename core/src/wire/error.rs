//! Why a connection ends: every violation by a peer is typed, never a panic.

use std::fmt;

/// Why a [`Connection`](super::Connection) ended (or must end). The first error ends
/// the connection; nothing else is affected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireError {
    /// The peer's greeting does not start with the ZMTP 3 signature.
    BadGreeting,
    /// The peer speaks a ZMTP version older than 3.0.
    UnsupportedVersion {
        /// The peer's major version.
        major: u8,
        /// The peer's minor version.
        minor: u8,
    },
    /// The peer wants a security mechanism other than NULL.
    MechanismMismatch {
        /// The mechanism it named.
        mechanism: String,
    },
    /// The peer's `Socket-Type` cannot talk to ours (or is missing).
    IncompatibleSocketType {
        /// The type the peer announced.
        peer: String,
    },
    /// The handshake did not complete within the handshake timeout.
    HandshakeTimeout,
    /// Nothing arrived from the peer within the heartbeat timeout (or the TTL it set).
    HeartbeatTimeout,
    /// A frame header declared more bytes than a message may hold.
    FrameTooLarge {
        /// The declared size.
        declared: u64,
        /// The configured `max_message_size`.
        limit: usize,
    },
    /// A message's frames together exceed `max_message_size`.
    MessageTooLarge {
        /// The configured `max_message_size`.
        limit: usize,
    },
    /// A message has more frames than `max_frames`.
    TooManyFrames {
        /// The configured `max_frames`.
        limit: usize,
    },
    /// A frame or command that breaks the protocol (reserved flags, a command with
    /// MORE, a READY that does not parse, a command before READY, ...).
    Protocol(&'static str),
    /// The peer sent an ERROR command.
    PeerError {
        /// Its reason, printed lossily.
        reason: String,
    },
    /// The connection was closed by our side.
    Closed,
    /// The stream ended or failed under the connection (the peer went away).
    Disconnected,
    /// The peer stopped reading: what we queued for it passed the output bound.
    NotReading {
        /// The bound, in bytes.
        limit: usize,
    },
}

impl WireError {
    /// Whether this ends the connection because the peer broke the protocol or a limit
    /// (as opposed to a timeout, an ERROR from the peer, or our own close).
    pub fn is_violation(&self) -> bool {
        !matches!(
            self,
            Self::HandshakeTimeout
                | Self::HeartbeatTimeout
                | Self::PeerError { .. }
                | Self::Closed
                | Self::Disconnected
        )
    }
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadGreeting => f.write_str("not a ZMTP 3 peer: bad greeting signature"),
            Self::UnsupportedVersion { major, minor } => {
                write!(f, "peer speaks ZMTP {major}.{minor}; 3.0 or later needed")
            }
            Self::MechanismMismatch { mechanism } => {
                write!(f, "peer wants mechanism {mechanism:?}; only NULL is spoken")
            }
            Self::IncompatibleSocketType { peer } => write!(f, "peer socket type {peer:?} cannot talk to ours"),
            Self::HandshakeTimeout => f.write_str("the handshake did not complete in time"),
            Self::HeartbeatTimeout => f.write_str("nothing heard from the peer within the heartbeat timeout"),
            Self::FrameTooLarge { declared, limit } => {
                write!(f, "frame declares {declared} bytes; max_message_size is {limit}")
            }
            Self::MessageTooLarge { limit } => write!(f, "message exceeds max_message_size of {limit} bytes"),
            Self::TooManyFrames { limit } => write!(f, "message has more than {limit} frames"),
            Self::Protocol(what) => write!(f, "protocol violation: {what}"),
            Self::PeerError { reason } => write!(f, "peer closed the connection with ERROR: {reason}"),
            Self::Closed => f.write_str("closed"),
            Self::Disconnected => f.write_str("the peer went away"),
            Self::NotReading { limit } => write!(f, "the peer stopped reading: over {limit} bytes queued for it"),
        }
    }
}

impl std::error::Error for WireError {}
