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

/// Bytes asked for per `read` of a wire stream (the client's, and the one buffer a
/// server shares among its connections). Pipelined traffic arrives in bursts of many
/// messages; reading a burst in one call instead of several made both ends cheaper:
/// with 64 requests of 4 KiB in flight, both processes on one vCPU, 64 KiB reads
/// cost about 2.2 µs of CPU per request on each side (more than half of it in the
/// kernel), 256 KiB reads about 1.6 µs. The buffer is allocated zeroed (with glibc,
/// fresh pages that are touched only as far as reads fill them).
pub(crate) const READ_CHUNK: usize = 256 << 10;
