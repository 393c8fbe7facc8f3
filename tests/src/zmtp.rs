//! ZMTP bytes written by hand, for peers that misbehave on purpose (RFC 23/37).

/// A 64-octet greeting: ZMTP `major.minor` with `mechanism`, as a client.
pub fn greeting(major: u8, minor: u8, mechanism: &str) -> Vec<u8> {
    let mut bytes = vec![0u8; 64];
    bytes[0] = 0xFF;
    bytes[9] = 0x7F;
    bytes[10] = major;
    bytes[11] = minor;
    let name = mechanism.as_bytes();
    bytes[12..12 + name.len().min(20)].copy_from_slice(&name[..name.len().min(20)]);
    bytes
}

/// The greeting of a ZMTP 3.1 peer with the NULL mechanism.
pub fn null_greeting() -> Vec<u8> {
    greeting(3, 1, "NULL")
}

/// A READY command announcing `socket_type`.
pub fn ready(socket_type: &str) -> Vec<u8> {
    let mut body = vec![5];
    body.extend_from_slice(b"READY");
    body.push(11);
    body.extend_from_slice(b"Socket-Type");
    body.extend_from_slice(&(socket_type.len() as u32).to_be_bytes());
    body.extend_from_slice(socket_type.as_bytes());
    frame(0x04, &body)
}

/// One frame: `flags` (MORE 0x01, COMMAND 0x04; LONG is added when needed) and `body`.
pub fn frame(flags: u8, body: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(body.len() + 9);
    match u8::try_from(body.len()) {
        Ok(size) => bytes.extend_from_slice(&[flags, size]),
        Err(_) => {
            bytes.push(flags | 0x02);
            bytes.extend_from_slice(&(body.len() as u64).to_be_bytes());
        }
    }
    bytes.extend_from_slice(body);
    bytes
}

/// A long-frame header declaring `size` bytes, with no body.
pub fn long_header(size: u64) -> Vec<u8> {
    let mut bytes = vec![0x02];
    bytes.extend_from_slice(&size.to_be_bytes());
    bytes
}

/// A greeting and READY of a `socket_type` peer: the handshake of a well-formed client.
pub fn handshake(socket_type: &str) -> Vec<u8> {
    let mut bytes = null_greeting();
    bytes.extend_from_slice(&ready(socket_type));
    bytes
}
