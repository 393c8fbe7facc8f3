//! Splitting a received message into its routing envelope and its payload.

use bytes::Bytes;

use super::config::Framing;
use super::event::RejectReason;

/// A received message, taken apart.
#[derive(Debug)]
pub(crate) enum Split {
    /// A routable message with exactly one payload frame.
    Ok { envelope: Vec<Bytes>, payload: Bytes },
    /// A message that must be answered with an error, sent behind `envelope`.
    Reject { envelope: Vec<Bytes>, reason: RejectReason },
    /// A message that names no peer to answer (a ROUTER message without frames).
    Unroutable,
}

/// Splits `frames` by `framing` and checks the size limit.
///
/// Routed: the first frame is the peer identity the ROUTER socket added; the envelope
/// runs up to and including the first empty frame after it. Without a delimiter the
/// identity alone is the envelope (the peer is answered, but without a delimiter, as
/// it sent none). Bare: the socket already removed the envelope.
pub(crate) fn split(framing: Framing, mut frames: Vec<Bytes>, max_message_size: usize) -> Split {
    let size: usize = frames.iter().map(Bytes::len).sum();
    // Where the payload frames start: the envelope is everything before.
    let body_at = match framing {
        Framing::Bare => 0,
        Framing::Routed => {
            if frames.is_empty() {
                return Split::Unroutable;
            }
            match frames.iter().skip(1).position(Bytes::is_empty) {
                Some(at) => at + 2,
                None => {
                    frames.truncate(1);
                    return Split::Reject { envelope: frames, reason: RejectReason::MissingDelimiter };
                }
            }
        }
    };
    let count = frames.len() - body_at;
    // Exactly one payload frame, last, within the limit: taken off the end, so the
    // envelope keeps the vector (and its room for the reply's body), no second allocation.
    let payload = if size <= max_message_size && count == 1 { frames.pop() } else { None };
    frames.truncate(body_at);
    let envelope = if body_at == 0 { Vec::new() } else { frames };
    match payload {
        Some(payload) => Split::Ok { envelope, payload },
        None if size > max_message_size => {
            Split::Reject { envelope, reason: RejectReason::TooLarge { size, limit: max_message_size } }
        }
        None => Split::Reject { envelope, reason: RejectReason::PayloadFrames { count } },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    #[test]
    fn routed_req_and_dealer_envelopes_are_kept_whole() {
        let Split::Ok { envelope, payload } = split(Framing::Routed, vec![b("id"), b(""), b("p")], 100) else {
            panic!("expected Ok");
        };
        assert_eq!((envelope, payload), (vec![b("id"), b("")], b("p")));
        let Split::Ok { envelope, payload } = split(Framing::Routed, vec![b("id"), b("r7"), b(""), b("p")], 100) else {
            panic!("expected Ok");
        };
        assert_eq!((envelope, payload), (vec![b("id"), b("r7"), b("")], b("p")));
        // An empty identity frame is still the identity, not the delimiter.
        let Split::Ok { envelope, .. } = split(Framing::Routed, vec![b(""), b(""), b("p")], 100) else {
            panic!("expected Ok");
        };
        assert_eq!(envelope, vec![b(""), b("")]);
    }

    #[test]
    fn routed_without_delimiter_is_answered_to_the_identity() {
        let Split::Reject { envelope, reason } = split(Framing::Routed, vec![b("id"), b("p"), b("q")], 100) else {
            panic!("expected Reject");
        };
        assert_eq!(envelope, vec![b("id")]);
        assert_eq!(reason, RejectReason::MissingDelimiter);
        assert!(matches!(split(Framing::Routed, vec![], 100), Split::Unroutable));
    }

    #[test]
    fn payload_must_be_exactly_one_frame() {
        for (frames, count) in [(vec![b("id"), b("")], 0), (vec![b("id"), b(""), b("a"), b("b")], 2)] {
            let Split::Reject { reason, .. } = split(Framing::Routed, frames, 100) else {
                panic!("expected Reject");
            };
            assert_eq!(reason, RejectReason::PayloadFrames { count });
        }
        let Split::Reject { envelope, reason } = split(Framing::Bare, vec![], 100) else {
            panic!("expected Reject");
        };
        assert!(envelope.is_empty());
        assert_eq!(reason, RejectReason::PayloadFrames { count: 0 });
        assert!(matches!(split(Framing::Bare, vec![b("p")], 100), Split::Ok { .. }));
    }

    #[test]
    fn size_counts_every_frame() {
        let Split::Reject { reason, envelope } = split(Framing::Routed, vec![b("id"), b(""), b("12345")], 6) else {
            panic!("expected Reject");
        };
        assert_eq!(envelope, vec![b("id"), b("")]);
        assert_eq!(reason, RejectReason::TooLarge { size: 7, limit: 6 });
    }
}
