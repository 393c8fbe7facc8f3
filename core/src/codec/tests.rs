//! Codec tests against hand-computed msgpack bytes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::*;

/// `{"enc": "clear", "load": {"cmd": "ping"}, "version": 3}` as Salt writes it.
const PING: &[u8] = b"\x83\xa3enc\xa5clear\xa4load\x81\xa3cmd\xa4ping\xa7version\x03";

#[test]
fn encode_request_writes_a_map_in_enc_load_version_order() {
    let load = Value::map([("cmd", Value::from("ping"))]);
    assert_eq!(&encode_request(Crypt::Clear, &load).unwrap()[..], PING);

    #[derive(Serialize)]
    struct Cmd<'a> {
        cmd: &'a str,
    }
    assert_eq!(
        &encode_request(Crypt::Clear, &Cmd { cmd: "ping" }).unwrap()[..],
        PING,
        "structs inside the load are written as maps"
    );

    let aes = encode_request(Crypt::Aes, &Value::Binary(vec![1, 2])).unwrap();
    assert_eq!(&aes[..], b"\x83\xa3enc\xa3aes\xa4load\xc4\x02\x01\x02\xa7version\x03");
}

#[test]
fn decode_request_reads_salt_envelopes_in_any_key_order() {
    let request = decode_request(PING).unwrap();
    assert_eq!(request.crypt, Crypt::Clear);
    assert_eq!(request.version, 3);
    assert_eq!(request.load, Value::map([("cmd", Value::from("ping"))]));

    // version first, an extra key, version 4, str8 keys.
    let wire = b"\x84\xa7version\x04\xa2id\xa1m\xd9\x04load\xc0\xd9\x03enc\xa3aes";
    let request = decode_request(wire).unwrap();
    assert_eq!(request.crypt, Crypt::Aes);
    assert_eq!(request.version, 4);
    assert_eq!(request.load, Value::Nil);

    // map16 header with three entries; repeated "load": the last one wins (as in Python).
    let wire = b"\xde\x00\x04\xa3enc\xa5clear\xa4load\x01\xa4load\x02\xa7version\x03";
    assert_eq!(decode_request(wire).unwrap().load, Value::UInt(2));
}

#[test]
fn split_request_exposes_the_exact_load_bytes() {
    let raw = split_request(PING).unwrap();
    assert_eq!(raw.load, b"\x81\xa3cmd\xa4ping");
    #[derive(Deserialize, Debug, PartialEq)]
    struct Cmd {
        cmd: String,
    }
    assert_eq!(raw.decode_load::<Cmd>().unwrap().load, Cmd { cmd: "ping".into() });
    let err = decode_request_as::<Cmd>(b"\x83\xa3enc\xa5clear\xa4load\x01\xa7version\x03").unwrap_err();
    assert!(matches!(err, EnvelopeError::LoadMismatch { .. }), "{err}");
}

#[test]
fn every_malformed_envelope_gets_its_own_typed_reason() {
    use EnvelopeError::*;
    let cases: &[(&[u8], EnvelopeError)] = &[
        (b"", NotMsgpack(MsgpackError::Truncated { offset: 0 })),
        (b"\xc1", NotMsgpack(MsgpackError::ReservedMarker { offset: 0 })),
        (b"\x80\x80", NotMsgpack(MsgpackError::TrailingBytes { count: 1 })),
        (b"\x91\x01", NotAMap),
        (b"\xa5hello", NotAMap),
        (b"\x82\xa4load\x01\xa7version\x03", MissingEnc),
        (b"\x82\xa3enc\xa5clear\xa7version\x03", MissingLoad),
        (b"\x82\xa3enc\xa5clear\xa4load\x01", MissingVersion),
        (b"\x83\xa3enc\xa5clear\xa4load\x01\xa7version\x02", VersionTooOld { version: 2 }),
        (b"\x83\xa3enc\xa5clear\xa4load\x01\xa7version\xff", VersionTooOld { version: -1 }),
        (b"\x83\xa3enc\xa5clear\xa4load\x01\xa7version\xa13", InvalidVersion),
        (b"\x83\xa3enc\xa3rsa\xa4load\x01\xa7version\x03", UnsupportedEnc { found: "\"rsa\"".into() }),
        (b"\x83\xa3enc\x01\xa4load\x01\xa7version\x03", UnsupportedEnc { found: "UInt(1)".into() }),
        // A bin key "enc" is not the str key Salt looks up.
        (b"\x83\xc4\x03enc\xa5clear\xa4load\x01\xa7version\x03", MissingEnc),
    ];
    for (wire, expected) in cases {
        assert_eq!(&decode_request(wire).unwrap_err(), expected, "{wire:x?}");
        assert!(!expected.to_string().is_empty());
    }
}

#[test]
fn value_decodes_every_msgpack_type_from_hand_written_bytes() {
    let cases: &[(&[u8], Value)] = &[
        (b"\xc0", Value::Nil),
        (b"\xc3", Value::Bool(true)),
        (b"\xc2", Value::Bool(false)),
        (b"\x05", Value::UInt(5)),
        (b"\xff", Value::Int(-1)),
        (b"\xcc\xff", Value::UInt(255)),
        (b"\xd0\x05", Value::UInt(5)),
        (b"\xd0\x80", Value::Int(-128)),
        (b"\xcf\xff\xff\xff\xff\xff\xff\xff\xff", Value::UInt(u64::MAX)),
        (b"\xd3\x80\x00\x00\x00\x00\x00\x00\x00", Value::Int(i64::MIN)),
        (b"\xca\x3f\x80\x00\x00", Value::F32(1.0)),
        (b"\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00", Value::F64(1.0)),
        (b"\xa2hi", Value::String("hi".into())),
        (b"\xd9\x02hi", Value::String("hi".into())),
        (b"\xc4\x02\x01\x02", Value::Binary(vec![1, 2])),
        (b"\xd4\x05\xaa", Value::Ext(5, vec![0xaa])),
        (b"\xc7\x02\xfe\xaa\xbb", Value::Ext(-2, vec![0xaa, 0xbb])),
        (b"\x92\x01\xa1a", Value::Array(vec![Value::UInt(1), Value::String("a".into())])),
        (
            b"\x82\x01\x02\xa1k\xc0",
            Value::Map(vec![(Value::UInt(1), Value::UInt(2)), (Value::String("k".into()), Value::Nil)]),
        ),
    ];
    for (wire, expected) in cases {
        assert_eq!(&decode_reply::<Value>(wire).unwrap(), expected, "{wire:x?}");
    }
}

#[test]
fn invalid_utf8_str_decodes_as_binary_not_an_error() {
    // Salt-style: a str (0xa3) holding bytes that are not UTF-8.
    assert_eq!(decode_reply::<Value>(b"\xa3\xff\xfe\x00").unwrap(), Value::Binary(vec![0xff, 0xfe, 0x00]));
    // str8 and str16 forms, nested in a map as a key and as a value.
    let wire = b"\x81\xd9\x02\xc3\x28\xda\x00\x01\x80";
    assert_eq!(
        decode_reply::<Value>(wire).unwrap(),
        Value::Map(vec![(Value::Binary(vec![0xc3, 0x28]), Value::Binary(vec![0x80]))])
    );
    // Inside a request load.
    let wire = b"\x83\xa3enc\xa5clear\xa4load\x81\xa3sig\xa2\xff\xfe\xa7version\x03";
    let load = decode_request(wire).unwrap().load;
    assert_eq!(load.get("sig"), Some(&Value::Binary(vec![0xff, 0xfe])));
}

#[test]
fn typed_byte_fields_accept_str_bin_and_invalid_utf8_with_salt_bytes() {
    #[derive(Deserialize, Serialize, Debug, PartialEq)]
    struct Signed {
        #[serde(with = "salt_bytes")]
        sig: Vec<u8>,
    }
    for (wire, expected) in [
        (&b"\x81\xa3sig\xa2\xff\xfe"[..], vec![0xff, 0xfe]),
        (&b"\x81\xa3sig\xa2ok"[..], b"ok".to_vec()),
        (&b"\x81\xa3sig\xc4\x01\x07"[..], vec![7]),
        (&b"\x81\xa3sig\x92\x01\x02"[..], vec![1, 2]),
    ] {
        assert_eq!(decode_reply::<Signed>(wire).unwrap().sig, expected, "{wire:x?}");
    }
    // Encoding writes bin.
    assert_eq!(&encode_reply(&Signed { sig: vec![0xff] }).unwrap()[..], b"\x81\xa3sig\xc4\x01\xff");
}

#[test]
fn value_encodes_to_the_smallest_msgpack_forms() {
    let value = Value::Map(vec![
        (Value::from("s"), Value::from("x")),
        (Value::from("b"), Value::Binary(vec![0xff])),
        (Value::from("n"), Value::Int(-1)),
        (Value::from("u"), Value::UInt(300)),
        (Value::from("e"), Value::Ext(5, vec![0xaa])),
        (Value::from("a"), Value::Array(vec![Value::Nil, Value::Bool(true)])),
    ]);
    let wire = encode_reply(&value).unwrap();
    assert_eq!(
        &wire[..],
        b"\x86\xa1s\xa1x\xa1b\xc4\x01\xff\xa1n\xff\xa1u\xcd\x01\x2c\xa1e\xd4\x05\xaa\xa1a\x92\xc0\xc3"
    );
    assert_eq!(decode_reply::<Value>(&wire).unwrap(), value);
}

#[test]
fn salt_error_replies_decode_as_salt_would() {
    let bad: Value = decode_reply(BAD_LOAD_REPLY).unwrap();
    assert_eq!(bad, Value::map([("msg", Value::from("bad load"))]));
    let busy: BTreeMap<String, String> = decode_reply(SERVER_BUSY_REPLY).unwrap();
    assert_eq!(busy["msg"], "server busy");
    let exc: String = decode_reply(HANDLER_EXCEPTION_REPLY).unwrap();
    assert_eq!(exc, "Some exception handling minion payload");
    // Salt's answer to an unknown clear cmd: an empty map.
    let empty: BTreeMap<String, Value> = decode_reply(b"\x80").unwrap();
    assert!(empty.is_empty());
    let err = decode_reply::<u32>(b"\xa1x").unwrap_err();
    assert!(matches!(err, DecodeError::Mismatch { .. }), "{err}");
}

#[test]
fn huge_declared_lengths_fail_fast_without_allocating() {
    // The allocation side is checked in core/tests/server_codec_alloc.rs with a
    // counting allocator; here: each is a typed truncation error.
    for wire in [
        &b"\xdb\xff\xff\xff\xff abc"[..],
        b"\xc6\xff\xff\xff\xff\x00",
        b"\xc9\xff\xff\xff\xff\x01\x00",
        b"\xdd\xff\xff\xff\xff\x01\x02",
        b"\xdf\xff\xff\xff\xff\x01\x02",
        b"\x81\xa4load\xdd\x00\x01\x00\x00",
    ] {
        assert!(
            matches!(decode_reply::<Value>(wire), Err(DecodeError::NotMsgpack(MsgpackError::Truncated { .. }))),
            "{wire:x?}"
        );
        assert!(matches!(decode_request(wire), Err(EnvelopeError::NotMsgpack(MsgpackError::Truncated { .. }))));
    }
}

#[test]
fn nesting_is_bounded_even_for_100k_levels() {
    let mut deep = vec![0x91u8; 100_000];
    deep.push(0xc0);
    assert_eq!(decode_reply::<Value>(&deep), Err(DecodeError::NotMsgpack(MsgpackError::TooDeep { limit: MAX_DEPTH })));
    // Inside an envelope's load, too.
    let mut wire = b"\x83\xa3enc\xa5clear\xa7version\x03\xa4load".to_vec();
    wire.extend_from_slice(&deep);
    assert_eq!(decode_request(&wire), Err(EnvelopeError::NotMsgpack(MsgpackError::TooDeep { limit: MAX_DEPTH })));
    // The deepest accepted value decodes on a test thread's stack (run in debug too).
    let mut ok = vec![0x91u8; MAX_DEPTH - 1];
    ok.push(0x80);
    let mut value = decode_reply::<Value>(&ok).unwrap();
    for _ in 0..MAX_DEPTH - 1 {
        value = match value {
            Value::Array(mut items) => items.pop().unwrap(),
            other => panic!("expected an array, got {other:?}"),
        };
    }
    assert_eq!(value, Value::Map(vec![]));
}

#[test]
fn random_and_mutated_bytes_never_panic() {
    let mut rng = crate::rng::Rng::new(0x5eed_1234_abcd_0001);
    let seeds: &[&[u8]] = &[PING, BAD_LOAD_REPLY, b"\x93\xc4\x01\x00\xd4\x01\x02\xdb\x00\x00\x00\x01a"];
    for round in 0..50_000 {
        let mut bytes: Vec<u8> = if round % 2 == 0 {
            let len = rng.below(40) as usize;
            (0..len).map(|_| rng.next_u64() as u8).collect()
        } else {
            seeds[round % seeds.len()].to_vec()
        };
        // Flip, insert or truncate a few bytes.
        for _ in 0..rng.below(4) {
            if bytes.is_empty() {
                break;
            }
            let at = rng.below(bytes.len() as u64) as usize;
            match rng.below(3) {
                0 => bytes[at] = rng.next_u64() as u8,
                1 => bytes.insert(at, rng.next_u64() as u8),
                _ => bytes.truncate(at),
            }
        }
        let _ = decode_request(&bytes);
        let _ = decode_reply::<Value>(&bytes);
        let _ = decode_reply::<BTreeMap<String, Value>>(&bytes);
        // Whatever decodes must re-encode and decode to the same value.
        if let Ok(v) = decode_reply::<Value>(&bytes) {
            let again = encode_reply(&v).unwrap();
            let back = decode_reply::<Value>(&again).unwrap();
            assert!(same(&back, &v), "{bytes:x?}");
        }
    }
}

/// Equality that treats NaN as equal to itself.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::F32(x), Value::F32(y)) => x.to_bits() == y.to_bits() || x == y,
        (Value::F64(x), Value::F64(y)) => x.to_bits() == y.to_bits() || x == y,
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b)),
        (Value::Map(x), Value::Map(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|((ka, va), (kb, vb))| same(ka, kb) && same(va, vb))
        }
        _ => a == b,
    }
}
