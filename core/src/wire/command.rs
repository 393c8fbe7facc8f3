//! ZMTP commands: READY, ERROR, PING, PONG (anything else is ignored, as libzmq does).

use bytes::{BufMut, Bytes, BytesMut};

use super::error::WireError;
use super::frame;
use super::socket_type::SocketType;

/// A command received from the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    Ready {
        socket_type: Option<Bytes>,
        identity: Option<Bytes>,
    },
    Error {
        reason: Bytes,
    },
    Ping {
        ttl_deciseconds: u16,
        context: Bytes,
    },
    Pong,
    /// A command this wire does not know: ignored.
    Other,
}

/// Parses a command frame's body: `name-len(1) name data`.
pub(crate) fn parse(body: &Bytes) -> Result<Command, WireError> {
    let Some(&name_len) = body.first() else { return Err(WireError::Protocol("an empty command")) };
    let name_end = 1 + usize::from(name_len);
    let name = body.get(1..name_end).ok_or(WireError::Protocol("a command shorter than its name"))?;
    let data = body.slice(name_end..);
    Ok(match name {
        b"READY" => parse_ready(&data)?,
        b"ERROR" => {
            let len = usize::from(*data.first().ok_or(WireError::Protocol("ERROR without a reason"))?);
            let reason = data.get(1..1 + len).ok_or(WireError::Protocol("ERROR reason truncated"))?;
            Command::Error { reason: Bytes::copy_from_slice(reason) }
        }
        b"PING" => {
            let ttl = data.get(..2).ok_or(WireError::Protocol("PING without a TTL"))?;
            let context = data.slice(2..);
            if context.len() > 16 {
                return Err(WireError::Protocol("PING context longer than 16 octets"));
            }
            Command::Ping { ttl_deciseconds: u16::from_be_bytes([ttl[0], ttl[1]]), context }
        }
        b"PONG" => Command::Pong,
        _ => Command::Other,
    })
}

/// READY's properties: `name-len(1) name value-len(4, BE) value`, repeated.
fn parse_ready(data: &Bytes) -> Result<Command, WireError> {
    let (mut socket_type, mut identity) = (None, None);
    let mut pos = 0;
    while pos < data.len() {
        let name_len = usize::from(data[pos]);
        let name = data.get(pos + 1..pos + 1 + name_len).ok_or(WireError::Protocol("READY property truncated"))?;
        let at = pos + 1 + name_len;
        let len = data.get(at..at + 4).ok_or(WireError::Protocol("READY property truncated"))?;
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let start = at + 4;
        let end = start.checked_add(len).filter(|&end| end <= data.len());
        let end = end.ok_or(WireError::Protocol("READY property value truncated"))?;
        match name {
            b"Socket-Type" => socket_type = Some(data.slice(start..end)),
            b"Identity" => identity = Some(data.slice(start..end)),
            _ => {}
        }
        pos = end;
    }
    Ok(Command::Ready { socket_type, identity })
}

/// Appends a command frame with `name` and `data` to `out`.
fn encode(out: &mut BytesMut, name: &[u8], data: &[u8]) {
    let mut body = BytesMut::with_capacity(1 + name.len() + data.len());
    body.put_u8(name.len() as u8);
    body.put_slice(name);
    body.put_slice(data);
    frame::encode(out, &body, false, true);
}

/// Appends READY with our socket type and identity.
pub(crate) fn encode_ready(out: &mut BytesMut, socket_type: SocketType, identity: &[u8]) {
    let mut data = BytesMut::new();
    for (name, value) in [(&b"Socket-Type"[..], socket_type.name().as_bytes()), (b"Identity", identity)] {
        data.put_u8(name.len() as u8);
        data.put_slice(name);
        data.put_u32(value.len() as u32);
        data.put_slice(value);
    }
    encode(out, b"READY", &data);
}

/// Appends ERROR with `reason` (at most 255 octets).
pub(crate) fn encode_error(out: &mut BytesMut, reason: &str) {
    let reason = &reason.as_bytes()[..reason.len().min(255)];
    let mut data = Vec::with_capacity(1 + reason.len());
    data.push(reason.len() as u8);
    data.extend_from_slice(reason);
    encode(out, b"ERROR", &data);
}

/// Appends PING with a TTL (deciseconds) and no context.
pub(crate) fn encode_ping(out: &mut BytesMut, ttl_deciseconds: u16) {
    encode(out, b"PING", &ttl_deciseconds.to_be_bytes());
}

/// Appends PONG echoing `context`.
pub(crate) fn encode_pong(out: &mut BytesMut, context: &[u8]) {
    encode(out, b"PONG", context);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body_of(out: &BytesMut) -> Bytes {
        let header = frame::header(out, usize::MAX).unwrap().unwrap();
        assert!(header.command);
        Bytes::copy_from_slice(&out[header.len..header.len + header.size])
    }

    #[test]
    fn a_dealers_ready_is_the_43_octets_libzmq_sends() {
        let mut out = BytesMut::new();
        encode_ready(&mut out, SocketType::Dealer, b"");
        assert_eq!(&out[..], b"\x04\x29\x05READY\x0bSocket-Type\x00\x00\x00\x06DEALER\x08Identity\x00\x00\x00\x00");
        let ready = parse(&body_of(&out)).unwrap();
        assert_eq!(
            ready,
            Command::Ready { socket_type: Some(Bytes::from_static(b"DEALER")), identity: Some(Bytes::new()) }
        );
    }

    #[test]
    fn ping_pong_and_error_round_trip_and_unknown_commands_are_other() {
        let mut out = BytesMut::new();
        encode_ping(&mut out, 30);
        assert_eq!(parse(&body_of(&out)).unwrap(), Command::Ping { ttl_deciseconds: 30, context: Bytes::new() });
        let mut out = BytesMut::new();
        encode_pong(&mut out, b"ctx");
        assert_eq!(parse(&body_of(&out)).unwrap(), Command::Pong);
        let mut out = BytesMut::new();
        encode_error(&mut out, "go away");
        assert_eq!(parse(&body_of(&out)).unwrap(), Command::Error { reason: Bytes::from_static(b"go away") });
        assert_eq!(parse(&Bytes::from_static(b"\x09SUBSCRIBE")).unwrap(), Command::Other);
    }

    #[test]
    fn truncated_commands_are_typed_errors() {
        for body in [
            &b""[..],
            b"\x05REA",
            b"\x05READY\x0bSocket-Type\x00\x00",
            b"\x05READY\x01X\x00\x00\x00\x09ab",
            b"\x04PING\x00",
        ] {
            assert!(matches!(parse(&Bytes::copy_from_slice(body)), Err(WireError::Protocol(_))), "{body:?}");
        }
    }
}
