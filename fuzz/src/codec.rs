//! `codec_decode`: arbitrary bytes through every decoder of the Salt codec.
//!
//! Checks, for every input:
//! - no decoder panics (dynamic [`Value`], the request envelope, typed serde decoders);
//! - a well-formed msgpack value always decodes to a [`Value`]: the only error is
//!   `NotMsgpack`;
//! - [`decode_request`] agrees with a reference built on the [`Value`] view of the same
//!   bytes (same error in the same order of checks, same crypt, version and load), and
//!   with [`split_request`], whose load bytes decode to the same load;
//! - round trip: whatever decodes re-encodes, decodes again to the same value (floats
//!   compared by their bits, so NaN is equal to itself), and re-encodes to the same
//!   bytes; a request re-encodes with version [`PROTOCOL_VERSION`];
//! - every error formats to a non-empty message.

use std::collections::BTreeMap;
use std::error::Error;
use std::fmt::Debug;

use reqchan_core::codec::{
    self, Crypt, DecodeError, EnvelopeError, PROTOCOL_VERSION, Request, Value, decode_reply, decode_request,
    decode_request_as, encode_reply, encode_request, split_request,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Runs one fuzz input; panics on a violated invariant.
pub fn run(data: &[u8]) {
    let value = decode_reply::<Value>(data);
    match &value {
        Ok(v) => value_round_trip(v),
        Err(DecodeError::NotMsgpack(_)) => {}
        Err(e) => panic!("well-formed msgpack refused as a Value: {e}"),
    }
    if let Err(e) = &value {
        check_message(e);
    }
    envelope(data, &value);
    typed(data);
}

pub use reqchan_sim::model::same;

fn value_round_trip(v: &Value) {
    let bytes = encode_reply(v).unwrap_or_else(|e| panic!("a decoded Value does not encode: {e}: {v:?}"));
    let again: Value = decode_reply(&bytes).unwrap_or_else(|e| panic!("an encoded Value does not decode: {e}: {v:?}"));
    assert!(same(v, &again), "Value round trip changed {v:?} into {again:?}");
    let bytes_again = encode_reply(&again).expect("encoded once, encodes again");
    assert_eq!(bytes, bytes_again, "Value encoding is not stable for {v:?}");
}

/// What [`decode_request`] must answer, derived from the bytes' [`Value`] view.
fn envelope_reference(value: &Result<Value, DecodeError>) -> Result<(Crypt, u64, Value), EnvelopeError> {
    let v = match value {
        Ok(v) => v,
        Err(DecodeError::NotMsgpack(e)) => return Err(EnvelopeError::NotMsgpack(e.clone())),
        Err(e) => panic!("checked by the caller: {e}"),
    };
    if v.as_map().is_none() {
        return Err(EnvelopeError::NotAMap);
    }
    let enc = v.get("enc").ok_or(EnvelopeError::MissingEnc)?;
    let load = v.get("load").ok_or(EnvelopeError::MissingLoad)?;
    let crypt = match enc.as_str() {
        Some("clear") => Crypt::Clear,
        Some("aes") => Crypt::Aes,
        // The description is free text: compared by variant only.
        _ => return Err(EnvelopeError::UnsupportedEnc { found: String::new() }),
    };
    let version = match v.get("version").ok_or(EnvelopeError::MissingVersion)? {
        Value::UInt(n) if *n >= PROTOCOL_VERSION => *n,
        Value::UInt(n) => return Err(EnvelopeError::VersionTooOld { version: *n as i64 }),
        Value::Int(n) => return Err(EnvelopeError::VersionTooOld { version: *n }),
        _ => return Err(EnvelopeError::InvalidVersion),
    };
    Ok((crypt, version, load.clone()))
}

fn envelope(data: &[u8], value: &Result<Value, DecodeError>) {
    let decoded = decode_request(data);
    let split = split_request(data);
    match (&decoded, envelope_reference(value)) {
        (Ok(r), Ok((crypt, version, load))) => {
            assert!(r.crypt == crypt && r.version == version && same(&r.load, &load), "{r:?} != reference");
        }
        (Err(EnvelopeError::UnsupportedEnc { found }), Err(EnvelopeError::UnsupportedEnc { .. })) => {
            assert!(found.chars().count() <= 64, "UnsupportedEnc description too long: {found:?}");
        }
        (Err(got), Err(want)) => assert_eq!(*got, want, "decode_request error differs from the reference"),
        (got, want) => panic!("decode_request gave {got:?}, the reference {want:?}"),
    }
    match (&split, &decoded) {
        (Ok(raw), Ok(r)) => {
            assert_eq!((raw.crypt, raw.version), (r.crypt, r.version));
            let load: Value = decode_reply(raw.load).expect("the raw load of a valid envelope decodes");
            assert!(same(&load, &r.load), "split_request's load bytes decode to {load:?}, not {:?}", r.load);
        }
        (Err(a), Err(b)) => assert_eq!(a, b, "split_request and decode_request disagree"),
        (a, b) => panic!("split_request {a:?} but decode_request {b:?}"),
    }
    match decoded {
        Ok(r) => request_round_trip(&r),
        Err(e) => check_message(&e),
    }
}

fn request_round_trip(r: &Request) {
    let bytes = encode_request(r.crypt, &r.load).unwrap_or_else(|e| panic!("a decoded load does not encode: {e}"));
    let again = decode_request(&bytes).unwrap_or_else(|e| panic!("an encoded request does not decode: {e}"));
    assert_eq!(again.crypt, r.crypt);
    assert_eq!(again.version, PROTOCOL_VERSION);
    assert!(same(&again.load, &r.load), "request round trip changed {:?} into {:?}", r.load, again.load);
    let bytes_again = encode_request(again.crypt, &again.load).expect("encoded once, encodes again");
    assert_eq!(bytes, bytes_again, "request encoding is not stable");
}

/// A minion's request load, as Salt sends it: optional fields, bytes as msgpack str.
#[derive(Debug, Serialize, Deserialize)]
struct MinionLoad {
    cmd: String,
    id: Option<String>,
    #[serde(default, with = "codec::salt_bytes")]
    tok: Vec<u8>,
    #[serde(default)]
    arg: Vec<Value>,
    #[serde(default)]
    kwargs: BTreeMap<String, Value>,
    #[serde(default)]
    jid: Option<String>,
    #[serde(default)]
    retcode: Option<i64>,
    #[serde(default)]
    success: Option<bool>,
    #[serde(default)]
    ratio: Option<f64>,
}

/// Externally tagged: every variant shape.
#[derive(Debug, Serialize, Deserialize)]
enum Shape {
    Unit,
    Newtype(u32),
    Tuple(i8, String),
    Struct { a: Option<u16>, b: Vec<bool> },
}

/// Internally tagged on `"cmd"`, as Salt dispatches: goes through serde's buffering.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "cmd")]
enum Command {
    #[serde(rename = "_auth")]
    Auth { id: String, token: Option<String> },
    #[serde(rename = "_return")]
    Return { id: String, jid: String, fun_args: Vec<Value> },
    #[serde(rename = "_pillar")]
    Pillar,
}

/// Untagged and recursive: also buffered, nested as deep as the input allows.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Loose {
    Flag(bool),
    Number(i64),
    Text(String),
    List(Vec<Loose>),
}

/// Bytes through [`codec::salt_bytes`].
#[derive(Debug, Serialize, Deserialize)]
#[serde(transparent)]
struct SaltBytes(#[serde(with = "codec::salt_bytes")] Vec<u8>);

fn typed(data: &[u8]) {
    typed_reply::<String>(data);
    typed_reply::<SaltBytes>(data);
    typed_reply::<bool>(data);
    typed_reply::<u8>(data);
    typed_reply::<u64>(data);
    typed_reply::<i64>(data);
    typed_reply::<f32>(data);
    typed_reply::<f64>(data);
    typed_reply::<char>(data);
    typed_reply::<()>(data);
    typed_reply::<Option<String>>(data);
    typed_reply::<Vec<Value>>(data);
    typed_reply::<BTreeMap<String, Value>>(data);
    typed_reply::<(u8, String)>(data);
    typed_reply::<MinionLoad>(data);
    typed_reply::<Shape>(data);
    typed_reply::<Command>(data);
    typed_reply::<Loose>(data);
    typed_request::<MinionLoad>(data);
    typed_request::<Command>(data);
    typed_request::<BTreeMap<String, Value>>(data);
}

/// Decodes a reply as `T`; on success, encode, decode, encode gives the same bytes.
fn typed_reply<T: Serialize + DeserializeOwned + Debug>(data: &[u8]) {
    match decode_reply::<T>(data) {
        Ok(t) => {
            let bytes = encode_reply(&t).unwrap_or_else(|e| panic!("decoded {t:?} does not encode: {e}"));
            let again: T = decode_reply(&bytes).unwrap_or_else(|e| panic!("encoded {t:?} does not decode: {e}"));
            let bytes_again = encode_reply(&again).expect("encoded once, encodes again");
            assert_eq!(
                bytes,
                bytes_again,
                "{} round trip is not stable: {t:?} then {again:?}",
                std::any::type_name::<T>()
            );
        }
        Err(e) => check_message(&e),
    }
}

/// Decodes a request with a load of type `T`; on success, the round trip is stable.
fn typed_request<T: Serialize + DeserializeOwned + Debug>(data: &[u8]) {
    match decode_request_as::<T>(data) {
        Ok(r) => {
            let bytes =
                encode_request(r.crypt, &r.load).unwrap_or_else(|e| panic!("decoded {r:?} does not encode: {e}"));
            let again = decode_request_as::<T>(&bytes).unwrap_or_else(|e| panic!("encoded {r:?} does not decode: {e}"));
            assert_eq!((again.crypt, again.version), (r.crypt, PROTOCOL_VERSION));
            let bytes_again = encode_request(again.crypt, &again.load).expect("encoded once, encodes again");
            assert_eq!(bytes, bytes_again, "request of {} round trip is not stable", std::any::type_name::<T>());
        }
        Err(e) => check_message(&e),
    }
}

/// Every error formats to a non-empty message, and so does its source chain.
fn check_message(e: &dyn Error) {
    let mut next = Some(e);
    while let Some(e) = next {
        assert!(!e.to_string().is_empty(), "empty message for {e:?}");
        next = e.source();
    }
}
