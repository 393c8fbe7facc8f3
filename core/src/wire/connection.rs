//! One ZMTP 3.1 connection (NULL mechanism) as a state machine: bytes in, events out,
//! bytes to send drained by `poll_transmit`, `now` passed in.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};

use super::command::{self, Command};
use super::error::WireError;
use super::frame;
use super::greeting;
use super::socket_type::SocketType;
use crate::time::Monotonic;

/// A frame at least this large, completed in the input buffer (it arrived over several
/// reads), takes that buffer with it instead of being copied out of it.
const TAKE_BUFFER: usize = 1 << 10;

/// How a [`Connection`] behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WireConfig {
    /// Our socket type, announced in READY and checked against the peer's.
    pub socket_type: SocketType,
    /// Our `Identity` (0 to 255 octets), announced in READY.
    pub identity: Bytes,
    /// The largest message (all its frames together) accepted from the peer; a frame
    /// header declaring more ends the connection before anything is buffered.
    /// Default: 64 MiB.
    pub max_message_size: usize,
    /// The most frames one message may have. Default: 64.
    pub max_frames: usize,
    /// How long the peer has to complete the handshake (greeting and READY).
    /// Default: 10 s.
    pub handshake_timeout: Duration,
    /// ZMTP 3.1 heartbeats: none by default.
    pub heartbeat: Option<Heartbeat>,
}

impl WireConfig {
    /// The defaults for a socket of `socket_type`.
    pub fn new(socket_type: SocketType) -> Self {
        Self {
            socket_type,
            identity: Bytes::new(),
            max_message_size: 64 << 20,
            max_frames: 64,
            handshake_timeout: Duration::from_secs(10),
            heartbeat: None,
        }
    }
}

/// Heartbeat settings (libzmq's `ZMQ_HEARTBEAT_IVL`, `_TIMEOUT` and `_TTL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heartbeat {
    /// Send a PING this often once the handshake is done.
    pub interval: Duration,
    /// After a PING, the peer is lost if nothing at all arrives within this.
    pub timeout: Duration,
    /// Asks the peer to consider us lost after this long without traffic (sent in
    /// PING, in tenths of a second; zero for none).
    pub ttl: Duration,
}

impl Heartbeat {
    /// PING every `interval`; lost after `interval` of silence after a PING; no TTL.
    pub fn every(interval: Duration) -> Self {
        Self { interval, timeout: interval, ttl: Duration::ZERO }
    }
}

/// What the connection tells its driver, from [`Connection::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WireEvent {
    /// The handshake is done: messages flow.
    Ready {
        /// The peer's socket type.
        peer: SocketType,
        /// The peer's `Identity` (empty if none).
        identity: Bytes,
    },
    /// A whole message from the peer: its frames.
    Message(Vec<Bytes>),
    /// The connection is over (the last event); any bytes still in `poll_transmit`
    /// (an ERROR command) should be written before the stream is closed.
    Closed(WireError),
}

/// Counters since the connection was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct WireStats {
    /// Bytes handed to `handle_input`.
    pub bytes_received: u64,
    /// Bytes handed out by `poll_transmit`.
    pub bytes_sent: u64,
    /// Whole messages received.
    pub messages_received: u64,
    /// Messages queued by `send`.
    pub messages_sent: u64,
    /// PINGs sent.
    pub pings_sent: u64,
    /// PONGs sent in answer to the peer's PINGs.
    pub pongs_sent: u64,
    /// Commands received that this wire does not know (ignored, as libzmq does).
    pub commands_ignored: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for the peer's 64-octet greeting.
    Greeting,
    /// Waiting for the peer's READY.
    Handshake,
    Ready,
    Closed,
}

/// A ZMTP connection's protocol state. See the [module docs](super) for the loop.
#[derive(Debug)]
pub struct Connection {
    config: WireConfig,
    state: State,
    /// Bytes received and not yet parsed: at most part of the greeting, or one frame
    /// header and the part of its body that has arrived. Whole frames are parsed
    /// straight from what `handle_input` is given and never pass through here.
    input: BytesMut,
    /// Bytes to send, many messages in one buffer.
    output: BytesMut,
    /// The frames of the message being received.
    parts: Vec<Bytes>,
    part_bytes: usize,
    peer_minor: u8,
    events: VecDeque<WireEvent>,
    clock: Monotonic,
    handshake_deadline: Instant,
    next_ping: Option<Instant>,
    /// After our PING: lost unless something arrives by then.
    pong_deadline: Option<Instant>,
    /// The peer's TTL, from its PINGs.
    peer_ttl: Option<Duration>,
    ttl_deadline: Option<Instant>,
    stats: WireStats,
}

impl Connection {
    /// A connection that has just been established (either side): our greeting and
    /// READY are queued at once, for [`poll_transmit`](Self::poll_transmit).
    pub fn new(now: Instant, config: WireConfig) -> Self {
        let mut output = BytesMut::with_capacity(128);
        output.extend_from_slice(&greeting::ours());
        command::encode_ready(&mut output, config.socket_type, &config.identity);
        let mut clock = Monotonic::default();
        let now = clock.observe(now);
        Self {
            handshake_deadline: now + config.handshake_timeout,
            config,
            state: State::Greeting,
            input: BytesMut::new(),
            output,
            parts: Vec::with_capacity(4),
            part_bytes: 0,
            peer_minor: 0,
            events: VecDeque::new(),
            clock,
            next_ping: None,
            pong_deadline: None,
            peer_ttl: None,
            ttl_deadline: None,
            stats: WireStats::default(),
        }
    }

    // ----- inputs -----

    /// Bytes read from the stream. Complete messages and the end of the connection come
    /// out of [`poll_event`](Self::poll_event); answers (PONG, ERROR) go to
    /// [`poll_transmit`](Self::poll_transmit). Ignored once closed.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) {
        let now = self.clock.observe(now);
        if self.state == State::Closed || bytes.is_empty() {
            return;
        }
        self.stats.bytes_received += bytes.len() as u64;
        // Any traffic counts as liveness.
        self.pong_deadline = None;
        self.ttl_deadline = self.peer_ttl.map(|ttl| now + ttl);
        if let Err(error) = self.parse(now, bytes) {
            self.fail(error);
        }
    }

    /// Queues a message (at least one frame) for the peer. Allowed from the start (it
    /// follows our READY on the wire); refused once closed.
    pub fn send(&mut self, frames: &[Bytes]) -> Result<(), WireError> {
        if self.state == State::Closed {
            return Err(WireError::Closed);
        }
        if frames.is_empty() {
            return Err(WireError::Protocol("a message needs at least one frame"));
        }
        frame::encode_message(&mut self.output, frames);
        self.stats.messages_sent += 1;
        Ok(())
    }

    /// Fires what is due at `now`: the handshake timeout, a heartbeat PING, a peer
    /// lost to silence. Does nothing when nothing is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        let now = self.clock.observe(now);
        match self.state {
            State::Closed => {}
            State::Greeting | State::Handshake => {
                if now >= self.handshake_deadline {
                    self.fail(WireError::HandshakeTimeout);
                }
            }
            State::Ready => {
                let lost = |deadline: Option<Instant>| deadline.is_some_and(|at| at <= now);
                if lost(self.pong_deadline) || lost(self.ttl_deadline) {
                    self.fail(WireError::HeartbeatTimeout);
                    return;
                }
                if let (Some(at), Some(heartbeat)) = (self.next_ping, self.config.heartbeat)
                    && at <= now
                {
                    let ttl = u16::try_from(heartbeat.ttl.as_millis() / 100).unwrap_or(u16::MAX);
                    command::encode_ping(&mut self.output, ttl);
                    self.stats.pings_sent += 1;
                    self.next_ping = Some(now + heartbeat.interval);
                    self.pong_deadline.get_or_insert(now + heartbeat.timeout);
                }
            }
        }
    }

    /// Ends the connection from our side: no event but `Closed(Closed)` follows, input
    /// is ignored, and whatever is already in the output may still be flushed.
    pub fn close(&mut self) {
        if self.state != State::Closed {
            self.fail(WireError::Closed);
        }
    }

    /// Ends the connection at once with `error`, dropping whatever is queued for the
    /// peer (nothing more is written): for a peer that stopped reading.
    pub fn abort(&mut self, error: WireError) {
        self.output = BytesMut::new();
        if self.state != State::Closed {
            self.fail(error);
        }
    }

    // ----- outputs -----

    /// Everything queued for the peer, as one buffer (many messages leave in one write),
    /// or `None` if nothing is.
    pub fn poll_transmit(&mut self) -> Option<Bytes> {
        if self.output.is_empty() {
            return None;
        }
        let out = self.output.split().freeze();
        self.stats.bytes_sent += out.len() as u64;
        Some(out)
    }

    /// The next event: the handshake done, a message, or the end.
    pub fn poll_event(&mut self) -> Option<WireEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) must be called next, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Closed => None,
            State::Greeting | State::Handshake => Some(self.handshake_deadline),
            State::Ready => [self.next_ping, self.pong_deadline, self.ttl_deadline].into_iter().flatten().min(),
        }
    }

    // ----- getters -----

    /// Whether the handshake is done and the connection is not closed.
    pub fn is_ready(&self) -> bool {
        self.state == State::Ready
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Bytes queued for the peer and not yet handed out.
    pub fn pending_output(&self) -> usize {
        self.output.len()
    }

    /// Bytes received and not yet parsed (bounded by one frame).
    pub fn buffered_input(&self) -> usize {
        self.input.len()
    }

    /// Counters since creation.
    pub fn stats(&self) -> &WireStats {
        &self.stats
    }

    /// The configuration.
    pub fn config(&self) -> &WireConfig {
        &self.config
    }

    // ----- internals -----

    /// Parses `bytes`: the greeting, then the frame the last read left incomplete, then
    /// every frame that arrived whole; keeps the incomplete rest (one frame at most).
    fn parse(&mut self, now: Instant, mut bytes: &[u8]) -> Result<(), WireError> {
        if self.state == State::Greeting {
            let take = (greeting::LEN - self.input.len()).min(bytes.len());
            self.input.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            let Ok(raw) = <[u8; greeting::LEN]>::try_from(&self.input[..]) else { return Ok(()) };
            self.input.clear();
            self.peer_minor = greeting::parse(&raw)?.minor;
            self.state = State::Handshake;
        }
        if !self.input.is_empty() {
            bytes = self.complete_buffered(now, bytes)?;
        }
        let parsed = self.parse_whole_frames(now, bytes)?;
        if self.state != State::Closed {
            self.input.extend_from_slice(&bytes[parsed..]);
        }
        Ok(())
    }

    /// Completes the frame in `input` from the front of `bytes`, taking no more than it
    /// needs; returns the bytes left (none if the frame is still incomplete).
    fn complete_buffered<'a>(&mut self, now: Instant, mut bytes: &'a [u8]) -> Result<&'a [u8], WireError> {
        loop {
            let missing = match self.header(&self.input)? {
                Some(header) if self.input.len() - header.len == header.size => {
                    self.input.advance(header.len);
                    let body = if header.size >= TAKE_BUFFER {
                        // The buffer holds this frame alone: it leaves with it, no copy.
                        std::mem::take(&mut self.input).freeze()
                    } else {
                        let body = Bytes::copy_from_slice(&self.input);
                        self.input.clear();
                        body
                    };
                    self.frame(now, header, body)?;
                    return Ok(bytes);
                }
                Some(header) => header.size - (self.input.len() - header.len),
                None => frame::header_len(self.input[0]) - self.input.len(),
            };
            if bytes.is_empty() {
                return Ok(bytes);
            }
            let take = missing.min(bytes.len());
            self.input.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
        }
    }

    /// Parses the frames that arrived whole at the front of `bytes` (the input buffer
    /// being empty); returns how many bytes they took. Each message's frames are copied
    /// into one allocation of its own: one allocation per message, and a message held
    /// for a while (a queued request) pins nothing but itself.
    fn parse_whole_frames(&mut self, now: Instant, bytes: &[u8]) -> Result<usize, WireError> {
        let mut at = 0;
        // The copy of the message being parsed, and where it starts in `bytes`.
        let mut copy: Option<(Bytes, usize)> = None;
        while self.state != State::Closed {
            let Some(header) = self.header(&bytes[at..])? else { break };
            let start = at + header.len;
            if bytes.len() - start < header.size {
                break;
            }
            let end = start + header.size;
            let body = if header.command {
                Bytes::copy_from_slice(&bytes[start..end])
            } else {
                let (message, base) = match copy.take() {
                    Some((message, base)) if end <= base + message.len() => (message, base),
                    _ => (Bytes::copy_from_slice(&bytes[at..frame::message_end(bytes, at)]), at),
                };
                let body = message.slice(start - base..end - base);
                copy = Some((message, base));
                body
            };
            self.frame(now, header, body)?;
            at = end;
        }
        Ok(at)
    }

    fn frame(&mut self, now: Instant, header: frame::Header, body: Bytes) -> Result<(), WireError> {
        if header.command { self.command(now, &body) } else { self.message_frame(body, header.more) }
    }

    /// The header of the frame at the front of `input`, checked against the limits: a
    /// frame may not carry more than what is left of its message's allowance.
    fn header(&self, input: &[u8]) -> Result<Option<frame::Header>, WireError> {
        let room = self.config.max_message_size - self.part_bytes;
        frame::header(input, room).map_err(|e| self.frame_error(e))
    }

    /// A frame too large for what is left of the message is a message too large.
    fn frame_error(&self, error: WireError) -> WireError {
        match error {
            WireError::FrameTooLarge { .. } if self.part_bytes > 0 => {
                WireError::MessageTooLarge { limit: self.config.max_message_size }
            }
            WireError::FrameTooLarge { declared, .. } => {
                WireError::FrameTooLarge { declared, limit: self.config.max_message_size }
            }
            other => other,
        }
    }

    fn message_frame(&mut self, body: Bytes, more: bool) -> Result<(), WireError> {
        if self.state != State::Ready {
            return Err(WireError::Protocol("a message before the handshake completed"));
        }
        if self.parts.len() >= self.config.max_frames {
            return Err(WireError::TooManyFrames { limit: self.config.max_frames });
        }
        self.part_bytes += body.len();
        self.parts.push(body);
        if !more {
            self.part_bytes = 0;
            self.stats.messages_received += 1;
            // Room for one more frame in front (a router's routing id) and the usual
            // three of a request, so neither the pushes nor that insert reallocate.
            let parts = std::mem::replace(&mut self.parts, Vec::with_capacity(4));
            self.events.push_back(WireEvent::Message(parts));
        }
        Ok(())
    }

    fn command(&mut self, now: Instant, body: &Bytes) -> Result<(), WireError> {
        let command = command::parse(body)?;
        match (self.state, command) {
            (_, Command::Error { reason }) => {
                Err(WireError::PeerError { reason: String::from_utf8_lossy(&reason).into_owned() })
            }
            (State::Handshake, Command::Ready { socket_type, identity }) => self.ready(now, socket_type, identity),
            (State::Handshake, _) => Err(WireError::Protocol("a command other than READY before the handshake")),
            (_, Command::Ready { .. }) => Err(WireError::Protocol("READY after the handshake")),
            (_, Command::Ping { ttl_deciseconds, context }) => {
                if ttl_deciseconds > 0 {
                    let ttl = Duration::from_millis(u64::from(ttl_deciseconds) * 100);
                    self.peer_ttl = Some(ttl);
                    self.ttl_deadline = Some(now + ttl);
                }
                command::encode_pong(&mut self.output, &context);
                self.stats.pongs_sent += 1;
                Ok(())
            }
            (_, Command::Pong) => Ok(()),
            (_, Command::Other) => {
                self.stats.commands_ignored += 1;
                Ok(())
            }
        }
    }

    fn ready(&mut self, now: Instant, socket_type: Option<Bytes>, identity: Option<Bytes>) -> Result<(), WireError> {
        let announced = socket_type.unwrap_or_default();
        let peer = SocketType::from_name(&announced).filter(|peer| self.config.socket_type.accepts(*peer));
        let Some(peer) = peer else {
            command::encode_error(&mut self.output, "invalid socket type");
            return Err(WireError::IncompatibleSocketType {
                peer: String::from_utf8_lossy(&announced[..announced.len().min(64)]).into_owned(),
            });
        };
        let identity = identity.unwrap_or_default();
        if identity.len() > 255 {
            return Err(WireError::Protocol("an Identity longer than 255 octets"));
        }
        self.state = State::Ready;
        // Heartbeats only towards ZMTP 3.1 peers: 3.0 has no PING.
        if let Some(heartbeat) = self.config.heartbeat
            && self.peer_minor >= 1
        {
            self.next_ping = Some(now + heartbeat.interval);
        }
        self.events.push_back(WireEvent::Ready { peer, identity });
        Ok(())
    }

    fn fail(&mut self, error: WireError) {
        self.state = State::Closed;
        self.input = BytesMut::new();
        self.parts = Vec::new();
        self.next_ping = None;
        self.pong_deadline = None;
        self.ttl_deadline = None;
        self.events.push_back(WireEvent::Closed(error));
    }
}
