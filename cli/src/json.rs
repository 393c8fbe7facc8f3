//! JSON <-> msgpack [`Value`] for the command line.
//!
//! msgpack has bytes and JSON does not: bin values, and str values that are not UTF-8
//! (Salt packs Python bytes as str), print as `{"$bytes": "<base64>"}`, and the same
//! object in a payload becomes bin. Other choices, since JSON is poorer than msgpack:
//! map keys that are not strings print as their JSON text (`1`, `true`, `null`) or, for
//! bytes, as `$bytes:<base64>`; an ext value prints as `{"$ext": TYPE, "$bytes": ...}`;
//! a float that is NaN or infinite prints as `null`.

use reqchan_tokio::Value;
use serde_json::{Map, Number, Value as Json};

/// The key of the object that stands for bytes.
const BYTES: &str = "$bytes";

/// A JSON payload as a msgpack value.
pub(crate) fn to_msgpack(json: &Json) -> Result<Value, String> {
    Ok(match json {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Value::UInt(u),
            (_, Some(i), _) => Value::from(i),
            // An integer literal that fits neither i64 nor u64 would silently become a
            // float: refuse it instead.
            _ if !n.to_string().contains(['.', 'e', 'E']) => {
                return Err(format!("the integer {n} is outside the i64/u64 range"));
            }
            (_, _, Some(f)) if f.is_finite() => Value::F64(f),
            _ => return Err(format!("unsupported number {n}")),
        },
        Json::String(s) => Value::String(s.clone()),
        Json::Array(items) => Value::Array(items.iter().map(to_msgpack).collect::<Result<_, _>>()?),
        Json::Object(map) => {
            if let (1, Some(Json::String(encoded))) = (map.len(), map.get(BYTES)) {
                let bytes =
                    base64_decode(encoded).ok_or_else(|| format!("{BYTES} is not valid base64: {encoded:?}"))?;
                return Ok(Value::Binary(bytes));
            }
            let entries = map
                .iter()
                .map(|(k, v)| Ok((Value::String(k.clone()), to_msgpack(v)?)))
                .collect::<Result<_, String>>()?;
            Value::Map(entries)
        }
    })
}

/// A msgpack value as JSON (see the module docs for bytes, keys, ext and floats).
pub(crate) fn to_json(value: &Value) -> Json {
    match value {
        Value::Nil => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::UInt(u) => Json::from(*u),
        Value::F32(f) => float(f64::from(*f)),
        Value::F64(f) => float(*f),
        Value::String(s) => Json::String(s.clone()),
        Value::Binary(b) => bytes(b),
        Value::Array(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => {
            let mut map = Map::new();
            for (k, v) in entries {
                map.insert(key(k), to_json(v));
            }
            Json::Object(map)
        }
        Value::Ext(tag, data) => {
            let mut map = Map::new();
            map.insert("$ext".to_owned(), Json::from(*tag));
            map.insert(BYTES.to_owned(), Json::String(base64_encode(data)));
            Json::Object(map)
        }
    }
}

fn float(f: f64) -> Json {
    Number::from_f64(f).map_or(Json::Null, Json::Number)
}

fn bytes(b: &[u8]) -> Json {
    let mut map = Map::new();
    map.insert(BYTES.to_owned(), Json::String(base64_encode(b)));
    Json::Object(map)
}

fn key(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        Value::Binary(b) => format!("{BYTES}:{}", base64_encode(b)),
        other => to_json(other).to_string(),
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub(crate) fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64, padding optional; `None` if `text` is not base64.
pub(crate) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits & 0xff) as u8);
        }
    }
    // Leftover bits must be padding zeros, and a single leftover symbol is invalid.
    (bits < 6 && acc & ((1 << bits) - 1) == 0).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for (raw, encoded) in [
            (&b""[..], ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"\x00\xff", "AP8="),
            (b"\xff\xfe", "//4="),
        ] {
            assert_eq!(base64_encode(raw), encoded);
            assert_eq!(base64_decode(encoded).as_deref(), Some(raw));
        }
        assert_eq!(base64_decode("Zg"), Some(b"f".to_vec()));
        assert_eq!(base64_decode("Z"), None);
        assert_eq!(base64_decode("Z!=="), None);
    }

    #[test]
    fn json_payloads_become_msgpack() {
        let json: Json =
            serde_json::from_str(r#"{"cmd":"ping","n":-1,"x":1.5,"b":{"$bytes":"AP8="},"l":[null,true]}"#).unwrap();
        let value = to_msgpack(&json).unwrap();
        assert_eq!(value.get("n"), Some(&Value::Int(-1)));
        assert_eq!(value.get("x"), Some(&Value::F64(1.5)));
        assert_eq!(value.get("b"), Some(&Value::Binary(vec![0, 255])));
        assert_eq!(to_json(&value), json);
    }

    #[test]
    fn bytes_and_odd_keys_print_as_documented() {
        let value = Value::Map(vec![
            (Value::UInt(1), Value::Binary(vec![0xff, 0xfe])),
            (Value::Binary(vec![0xff]), Value::F64(f64::NAN)),
            (Value::String("e".into()), Value::Ext(5, vec![1])),
        ]);
        assert_eq!(
            to_json(&value).to_string(),
            r#"{"1":{"$bytes":"//4="},"$bytes:/w==":null,"e":{"$ext":5,"$bytes":"AQ=="}}"#
        );
    }
}
