//! Which request an operation names, and the frames of a reply to it.

use bytes::Bytes;
use reqchan_core::client::{RequestId, RequestOptions};

use super::harness::Harness;
use super::ops::*;

impl Harness {
    // ----- targets -----

    pub(super) fn resolve(&self, target: Target) -> Option<RequestId> {
        let nth_last = |ids: &[RequestId], i: u8| ids.iter().rev().nth(usize::from(i) % ids.len().max(1)).copied();
        match target {
            Target::Accepted(i) => {
                let ids = self.model.accepted();
                nth_last(&ids, i)
            }
            Target::Transmitted(i) => nth_last(&self.model.transmitted, i),
            Target::Unknown(_) => None,
        }
    }

    /// An id this client never handed out: minted by another client, past every id
    /// this one has accepted.
    pub(super) fn unknown_id(&mut self, target: Target) -> RequestId {
        let k = match target {
            Target::Unknown(k) => u64::from(k % 4),
            _ => 0,
        };
        let last = self.model.reqs.keys().chain(self.model.finished.keys()).max();
        let next = last.map_or(0, |n| n + 1);
        loop {
            if let Some(id) = self.minted.iter().find(|id| id.as_u64() >= next + k) {
                return *id;
            }
            let id = self.foreign.submit(self.now, Bytes::new(), RequestOptions::default()).expect("minting an id");
            self.minted.push(id);
        }
    }

    pub(super) fn reply_frames(&self, target: Target, shape: &ReplyShape) -> Vec<Bytes> {
        let req = self.resolve(target).and_then(|id| self.model.req(id.as_u64()));
        let id_frame = match (req, target) {
            (Some(req), _) => {
                req.id_frame.clone().unwrap_or_else(|| Bytes::copy_from_slice(&req.id.as_u64().to_be_bytes()))
            }
            (None, Target::Unknown(k)) => Bytes::copy_from_slice(&(u64::MAX - u64::from(k)).to_be_bytes()),
            (None, _) => Bytes::from_static(b"\0\0\0\0\0\0\0\0"),
        };
        let limit = self.model.max_message_size;
        let payload = match shape {
            ReplyShape::Echo => req.map_or_else(|| Bytes::from_static(b"echo"), |r| r.payload.clone()),
            ReplyShape::Payload(p) => p.bytes(),
            ReplyShape::Oversized(n) => Bytes::from(vec![0xab; limit + 1 + usize::from(n % 4)]),
            ReplyShape::AtLimit => Bytes::from(vec![0x01; limit]),
            _ => Bytes::from_static(b"reply"),
        };
        let empty = Bytes::new();
        let good = match self.model.plain() {
            true => vec![empty.clone(), payload.clone()],
            false => vec![id_frame.clone(), empty.clone(), payload.clone()],
        };
        match shape {
            ReplyShape::Echo | ReplyShape::Payload(_) | ReplyShape::Oversized(_) | ReplyShape::AtLimit => good,
            ReplyShape::NoFrames => Vec::new(),
            ReplyShape::ExtraFrame => good.into_iter().chain([Bytes::from_static(b"extra")]).collect(),
            ReplyShape::MissingDelimiter if self.model.plain() => vec![payload],
            ReplyShape::MissingDelimiter => vec![id_frame, payload],
            ReplyShape::NonEmptyDelimiter if self.model.plain() => vec![Bytes::from_static(b"x"), payload],
            ReplyShape::NonEmptyDelimiter => vec![id_frame, Bytes::from_static(b"x"), payload],
            ReplyShape::BadIdFrame(_) if self.model.plain() => good,
            ReplyShape::BadIdFrame(n) => {
                let mut frame = id_frame.to_vec();
                frame.resize(usize::from(n % 12) + usize::from(n % 12 >= 8), 0x5a);
                vec![Bytes::from(frame), empty, payload]
            }
            ReplyShape::Raw(frames) => {
                frames.iter().take(4).map(|f| Bytes::copy_from_slice(&f[..f.len().min(64)])).collect()
            }
        }
    }
}
