//! What carries a channel's or a server's bytes.

/// What carries the bytes of a channel or a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Transport {
    /// Our own wire (the default): the runtime's TCP or Unix streams and the core's
    /// ZMTP 3.1 state machines ([`reqchan_core::wire`]), which check every limit at
    /// the frame header (a hostile length ends that connection, never the process),
    /// answer libzmq's heartbeats and can send their own.
    #[default]
    Wire,
    /// The `zeromq` crate (zmq.rs 0.7), with the `zeromq-tokio` or `zeromq-async-std`
    /// feature; without it, connecting or binding fails with a clear error.
    ZeroMq,
}
