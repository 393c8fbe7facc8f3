//! ZMTP frames: `flags(1) size(1 | 8) body`. Headers are checked against the limits
//! before a byte of body is buffered, so nothing is ever reserved from a declared size.

use bytes::{BufMut, Bytes, BytesMut};

use super::error::WireError;

const MORE: u8 = 0x01;
const LONG: u8 = 0x02;
const COMMAND: u8 = 0x04;

/// A parsed frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    /// Header length: 2 (short) or 9 (long).
    pub(crate) len: usize,
    /// Body length, checked against the limit.
    pub(crate) size: usize,
    pub(crate) more: bool,
    pub(crate) command: bool,
}

/// The largest command body accepted: READY with its properties, PING with its
/// context, ERROR with its reason all fit well within it.
pub(crate) const MAX_COMMAND: usize = 16 << 10;

/// Reads a frame header from the front of `input`: `Ok(None)` if more bytes are needed.
/// Fails on reserved flags, a command with MORE, a message frame over `limit`, or a
/// command over [`MAX_COMMAND`].
pub(crate) fn header(input: &[u8], limit: usize) -> Result<Option<Header>, WireError> {
    let Some(&flags) = input.first() else { return Ok(None) };
    if flags & !(MORE | LONG | COMMAND) != 0 {
        return Err(WireError::Protocol("reserved frame flags set"));
    }
    let (more, command) = (flags & MORE != 0, flags & COMMAND != 0);
    if more && command {
        return Err(WireError::Protocol("a command frame with MORE"));
    }
    let (len, declared) = if flags & LONG != 0 {
        let Some(raw) = input.get(1..9) else { return Ok(None) };
        (9, u64::from_be_bytes(raw.try_into().expect("eight bytes")))
    } else {
        let Some(&size) = input.get(1) else { return Ok(None) };
        (2, u64::from(size))
    };
    if command && declared > MAX_COMMAND as u64 {
        return Err(WireError::Protocol("a command larger than 16 KiB"));
    }
    let limit = if command { MAX_COMMAND } else { limit };
    let size = usize::try_from(declared)
        .ok()
        .filter(|&size| size <= limit)
        .ok_or(WireError::FrameTooLarge { declared, limit })?;
    Ok(Some(Header { len, size, more, command }))
}

/// The length of a header that starts with `flags`: 2 (short) or 9 (long).
pub(crate) fn header_len(flags: u8) -> usize {
    if flags & LONG != 0 { 9 } else { 2 }
}

/// Where the message whose frame starts at `at` ends within `input`: after its last
/// frame, or after the last of its frames that is complete in `input`.
pub(crate) fn message_end(input: &[u8], mut at: usize) -> usize {
    loop {
        let rest = &input[at..];
        // Any frame declaring more than `rest` holds is incomplete here: the limits are
        // checked when it is parsed.
        match header(rest, rest.len()) {
            Ok(Some(frame)) if !frame.command && frame.len + frame.size <= rest.len() => {
                at += frame.len + frame.size;
                if !frame.more {
                    return at;
                }
            }
            _ => return at,
        }
    }
}

/// Appends one frame to `out`.
pub(crate) fn encode(out: &mut BytesMut, body: &[u8], more: bool, command: bool) {
    let mut flags = if more { MORE } else { 0 } | if command { COMMAND } else { 0 };
    if body.len() > usize::from(u8::MAX) {
        flags |= LONG;
        out.reserve(9 + body.len());
        out.put_u8(flags);
        out.put_u64(body.len() as u64);
    } else {
        out.reserve(2 + body.len());
        out.put_u8(flags);
        out.put_u8(body.len() as u8);
    }
    out.put_slice(body);
}

/// Appends a whole message (`frames`, at least one) to `out`.
pub(crate) fn encode_message(out: &mut BytesMut, frames: &[Bytes]) {
    let last = frames.len().saturating_sub(1);
    for (n, frame) in frames.iter().enumerate() {
        encode(out, frame, n < last, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_headers_parse_and_round_trip() {
        let mut out = BytesMut::new();
        encode(&mut out, b"abc", true, false);
        encode(&mut out, &[7u8; 300], false, false);
        assert_eq!(&out[..2], &[0x01, 3]);
        assert_eq!(header(&out, 1000), Ok(Some(Header { len: 2, size: 3, more: true, command: false })));
        let long = &out[5..];
        assert_eq!(&long[..9], &[0x02, 0, 0, 0, 0, 0, 0, 0x01, 0x2c]);
        assert_eq!(header(long, 1000), Ok(Some(Header { len: 9, size: 300, more: false, command: false })));
    }

    #[test]
    fn a_huge_declared_size_is_refused_at_the_header() {
        for declared in [1u64 << 40, 1 << 33, 1 << 31, u64::MAX] {
            let mut raw = vec![0x02];
            raw.extend_from_slice(&declared.to_be_bytes());
            assert_eq!(header(&raw, 64 << 20), Err(WireError::FrameTooLarge { declared, limit: 64 << 20 }));
        }
    }

    #[test]
    fn partial_headers_wait_and_bad_flags_fail() {
        assert_eq!(header(&[], 10), Ok(None));
        assert_eq!(header(&[0x00], 10), Ok(None));
        assert_eq!(header(&[0x02, 0, 0], 10), Ok(None));
        assert_eq!(header(&[0x08, 0], 10), Err(WireError::Protocol("reserved frame flags set")));
        assert_eq!(header(&[0x05, 0], 10), Err(WireError::Protocol("a command frame with MORE")));
    }
}
