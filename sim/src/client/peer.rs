//! The scripted peer: a REP server, which echoes the envelope before the delimiter:
//! `["", payload]` → `["", reply]` in lockstep, `[id, "", payload]` → `[id, "", reply]`
//! in pipelined mode.
//!
//! It records every message it received, tagged with the request id and attempt the
//! client gave it (the sim carries them beside the frames), so tests count real
//! transmissions. Each received message is handled independently, like a pool of
//! workers: a slow answer to one request does not hold up the next.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use reqchan_core::client::RequestId;

use crate::rng::SimRng;

/// What the server does with one received request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Reply after the server's usual `delay`.
    Answer,
    /// Reply after this long instead (a slow server).
    AnswerAfter(Duration),
    /// Never reply.
    Silent,
    /// Reply promptly with frames that are not a reply to this request: a non-empty
    /// delimiter.
    Malformed,
    /// Reply promptly with a payload of this many bytes.
    Oversized(usize),
    /// Reply promptly with seeded random frames whose first is three bytes: a non-empty
    /// delimiter in lockstep (malformed), an unreadable request-id frame in pipelined
    /// mode (stray).
    Junk,
}

/// One message the server received.
#[derive(Debug, Clone)]
pub struct Received {
    /// When it arrived.
    pub at: Instant,
    /// The connection it came on (see `Sim::epoch`).
    pub epoch: u64,
    /// The request it was.
    pub id: RequestId,
    /// Which attempt.
    pub attempt: u32,
    /// The payload.
    pub payload: Bytes,
    /// What the server did with it.
    pub behaviour: Behaviour,
    /// The reply payload the server sent, if it sent a well-formed reply.
    pub reply: Option<Bytes>,
}

type Policy = Box<dyn FnMut(RequestId, u32, &[u8]) -> Behaviour>;

/// The peer the client talks to. Tests set its behaviour with [`Server::behave`] or
/// [`Server::script`], and read what it received.
pub struct Server {
    pipelined: bool,
    policy: Policy,
    /// Processing time of an [`Behaviour::Answer`].
    pub delay: Duration,
    received: Vec<Received>,
    /// Positions in `received`, by request.
    by_id: HashMap<RequestId, Vec<usize>>,
    rng: SimRng,
}

impl Server {
    pub(super) fn new(pipelined: bool, seed: u64) -> Self {
        Self {
            pipelined,
            policy: Box::new(|_, _, _| Behaviour::Answer),
            delay: Duration::ZERO,
            received: Vec::new(),
            by_id: HashMap::new(),
            rng: SimRng::new(seed.wrapping_add(1)),
        }
    }

    /// Treat every request from now on the same way.
    pub fn behave(&mut self, behaviour: Behaviour) {
        self.policy = Box::new(move |_, _, _| behaviour);
    }

    /// Decide per request, from its id, attempt and payload.
    pub fn script(&mut self, policy: impl FnMut(RequestId, u32, &[u8]) -> Behaviour + 'static) {
        self.policy = Box::new(policy);
    }

    /// Every message received, in order of arrival.
    pub fn received(&self) -> &[Received] {
        &self.received
    }

    /// The transmissions of `id` that reached the server.
    pub fn received_for(&self, id: RequestId) -> Vec<&Received> {
        self.by_id.get(&id).map_or(Vec::new(), |at| at.iter().map(|i| &self.received[*i]).collect())
    }

    /// How many transmissions of `id` reached the server.
    pub fn transmissions(&self, id: RequestId) -> usize {
        self.by_id.get(&id).map_or(0, Vec::len)
    }

    /// The reply payload the server sent for attempt `attempt` of `id`.
    pub fn reply_to(&self, id: RequestId, attempt: u32) -> Option<Bytes> {
        self.received_for(id).into_iter().find(|r| r.attempt == attempt).and_then(|r| r.reply.clone())
    }

    /// Receives `frames`; returns the reply frames and the processing time, if it answers.
    pub(super) fn receive(
        &mut self,
        at: Instant,
        epoch: u64,
        id: RequestId,
        attempt: u32,
        frames: &[Bytes],
    ) -> Option<(Duration, Vec<Bytes>)> {
        // Like a REP server: the envelope is every frame before the empty delimiter
        // (the id frame, or nothing with plain lockstep framing), echoed in the reply.
        let (envelope, payload) = match frames {
            [id_frame, delimiter, payload] if delimiter.is_empty() && !id_frame.is_empty() => {
                (Some(id_frame.clone()), payload.clone())
            }
            [delimiter, payload] if delimiter.is_empty() && !self.pipelined => (None, payload.clone()),
            _ => panic!("the client sent a malformed request: {frames:?}"),
        };
        let behaviour = (self.policy)(id, attempt, &payload);
        let nth = self.received.len();
        let mut reply = None;
        let answer = match behaviour {
            Behaviour::Silent => None,
            Behaviour::Answer | Behaviour::AnswerAfter(_) => {
                let delay = if let Behaviour::AnswerAfter(d) = behaviour { d } else { self.delay };
                let body = Bytes::from(format!("reply {nth} to {}", String::from_utf8_lossy(&payload)));
                reply = Some(body.clone());
                Some((delay, self.frame(envelope, vec![body])))
            }
            Behaviour::Oversized(size) => {
                let body = Bytes::from(vec![b'x'; size]);
                reply = Some(body.clone());
                Some((Duration::ZERO, self.frame(envelope, vec![body])))
            }
            Behaviour::Malformed => {
                let frames = match envelope {
                    Some(id_frame) => vec![id_frame, Bytes::from_static(b"not empty"), payload.clone()],
                    None => vec![Bytes::from_static(b"not empty"), payload.clone()],
                };
                Some((Duration::ZERO, frames))
            }
            Behaviour::Junk => {
                let count = 2 + self.rng.below(2) as usize;
                let mut frames: Vec<Bytes> = (0..count)
                    .map(|_| {
                        let len = self.rng.below(12) as usize;
                        Bytes::from(self.rng.bytes(len))
                    })
                    .collect();
                // Never eight bytes: an id frame must not be readable.
                frames[0] = Bytes::from(self.rng.bytes(3));
                Some((Duration::ZERO, frames))
            }
        };
        self.by_id.entry(id).or_default().push(self.received.len());
        self.received.push(Received { at, epoch, id, attempt, payload, behaviour, reply });
        answer
    }

    fn frame(&self, envelope: Option<Bytes>, body: Vec<Bytes>) -> Vec<Bytes> {
        match envelope {
            Some(id_frame) => [vec![id_frame, Bytes::new()], body].concat(),
            None => [vec![Bytes::new()], body].concat(),
        }
    }
}
