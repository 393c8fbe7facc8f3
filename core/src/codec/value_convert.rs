//! What serde_json users expect of a dynamic value: conversions from Rust scalars,
//! typed accessors, indexing by key and position, and `Display` as JSON.

use std::fmt::{self, Write};
use std::ops::Index;

use super::value::Value;

/// The value indexing yields for a missing key or position, as serde_json does.
static NIL: Value = Value::Nil;

impl Value {
    /// The integer, if this is an integer that fits a `u64`.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Self::UInt(u) => Some(u),
            Self::Int(i) => u64::try_from(i).ok(),
            _ => None,
        }
    }

    /// The number as an `f64`: a float, or an integer (rounded to the nearest `f64`).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Self::F64(f) => Some(f),
            Self::F32(f) => Some(f64::from(f)),
            Self::UInt(u) => Some(u as f64),
            Self::Int(i) => Some(i as f64),
            _ => None,
        }
    }

    /// The boolean, if this is a [`Value::Bool`].
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Self::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The items, if this is a [`Value::Array`].
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Self::Array(items) => Some(items),
            _ => None,
        }
    }

    /// Whether this is [`Value::Nil`].
    pub fn is_nil(&self) -> bool {
        matches!(self, Self::Nil)
    }
}

macro_rules! from_unsigned {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(u: $t) -> Self {
                Self::UInt(u64::from(u))
            }
        }
    )*};
}

macro_rules! from_signed {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(i: $t) -> Self {
                Self::from(i64::from(i))
            }
        }
    )*};
}

from_unsigned!(u8, u16, u32);
from_signed!(i8, i16, i32);

impl From<usize> for Value {
    fn from(u: usize) -> Self {
        // usize is at most 64 bits on every target Rust supports.
        Self::UInt(u as u64)
    }
}

impl From<isize> for Value {
    fn from(i: isize) -> Self {
        Self::from(i as i64)
    }
}

impl From<f32> for Value {
    fn from(f: f32) -> Self {
        Self::F32(f)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Self::F64(f)
    }
}

impl From<&[u8]> for Value {
    fn from(bytes: &[u8]) -> Self {
        Self::Binary(bytes.to_vec())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(value: Option<T>) -> Self {
        value.map_or(Self::Nil, Into::into)
    }
}

/// `value["key"]`: the value under a string key in a map (the last if repeated), or
/// `Nil` when there is none or this is not a map. Never panics.
impl Index<&str> for Value {
    type Output = Value;

    fn index(&self, key: &str) -> &Value {
        self.get(key).unwrap_or(&NIL)
    }
}

/// `value[i]`: the item at position `i` in an array, or `Nil` when there is none or
/// this is not an array. Never panics.
impl Index<usize> for Value {
    type Output = Value;

    fn index(&self, position: usize) -> &Value {
        self.as_array().and_then(|items| items.get(position)).unwrap_or(&NIL)
    }
}

/// JSON, on one line. JSON is poorer than msgpack, so: bytes print as
/// `{"$bytes":"<base64>"}`, an ext value as `{"$ext":TYPE,"$bytes":"<base64>"}`, a map
/// key that is not a string as its JSON text in a string, and a NaN or infinite float as
/// `null` (the same conventions as the `reqchan` CLI).
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Nil => f.write_str("null"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Int(i) => write!(f, "{i}"),
            Self::UInt(u) => write!(f, "{u}"),
            Self::F32(x) => float(f, f64::from(*x)),
            Self::F64(x) => float(f, *x),
            Self::String(s) => string(f, s),
            Self::Binary(b) => write!(f, "{{\"$bytes\":\"{}\"}}", Base64(b)),
            Self::Ext(tag, data) => write!(f, "{{\"$ext\":{tag},\"$bytes\":\"{}\"}}", Base64(data)),
            Self::Array(items) => {
                f.write_char('[')?;
                for (n, item) in items.iter().enumerate() {
                    if n > 0 {
                        f.write_char(',')?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_char(']')
            }
            Self::Map(entries) => {
                f.write_char('{')?;
                for (n, (key, value)) in entries.iter().enumerate() {
                    if n > 0 {
                        f.write_char(',')?;
                    }
                    match key {
                        Self::String(s) => string(f, s)?,
                        other => string(f, &other.to_string())?,
                    }
                    write!(f, ":{value}")?;
                }
                f.write_char('}')
            }
        }
    }
}

fn float(f: &mut fmt::Formatter<'_>, x: f64) -> fmt::Result {
    if !x.is_finite() {
        return f.write_str("null");
    }
    // `{:?}` keeps a fraction (`1.0`, not `1`), so the number reads back as a float.
    write!(f, "{x:?}")
}

fn string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if u32::from(c) < 0x20 => write!(f, "\\u{:04x}", u32::from(c))?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

/// Standard base64 with padding.
struct Base64<'a>(&'a [u8]);

impl fmt::Display for Base64<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for chunk in self.0.chunks(3) {
            let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for k in 0..4 {
                if k <= chunk.len() {
                    f.write_char(char::from(ALPHABET[(n >> (18 - 6 * k)) as usize & 63]))?;
                } else {
                    f.write_char('=')?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_integer_width_converts_to_the_normalised_variant() {
        assert_eq!(Value::from(7u8), Value::UInt(7));
        assert_eq!(Value::from(7u16), Value::UInt(7));
        assert_eq!(Value::from(7u32), Value::UInt(7));
        assert_eq!(Value::from(7usize), Value::UInt(7));
        assert_eq!(Value::from(-7i8), Value::Int(-7));
        assert_eq!(Value::from(7i16), Value::UInt(7));
        assert_eq!(Value::from(-7i32), Value::Int(-7));
        assert_eq!(Value::from(-7isize), Value::Int(-7));
        assert_eq!(Value::from(1.5f32), Value::F32(1.5));
        assert_eq!(Value::from(1.5f64), Value::F64(1.5));
        assert_eq!(Value::from(None::<u8>), Value::Nil);
        assert_eq!(Value::from(Some(true)), Value::Bool(true));
    }

    #[test]
    fn accessors_read_what_they_can_represent() {
        assert_eq!(Value::UInt(u64::MAX).as_u64(), Some(u64::MAX));
        assert_eq!(Value::Int(-1).as_u64(), None);
        assert_eq!(Value::UInt(3).as_f64(), Some(3.0));
        assert_eq!(Value::F32(0.5).as_f64(), Some(0.5));
        assert_eq!(Value::String("1".into()).as_f64(), None);
        assert_eq!(Value::Bool(false).as_bool(), Some(false));
        assert_eq!(Value::Nil.as_bool(), None);
    }

    #[test]
    fn indexing_never_panics_and_yields_nil_when_absent() {
        let value = Value::map([("ret", Value::Array(vec![1u8.into(), "two".into()]))]);
        assert_eq!(value["ret"][1].as_str(), Some("two"));
        assert_eq!(value["ret"][0].as_u64(), Some(1));
        assert!(value["missing"].is_nil());
        assert!(value["ret"][9].is_nil());
        assert!(value[0].is_nil(), "a map has no positions");
        assert!(Value::UInt(1)["key"].is_nil());
    }

    #[test]
    fn display_is_json() {
        let value = Value::Map(vec![
            (Value::from("a\"b\n"), Value::Array(vec![Value::Nil, true.into(), (-3i8).into(), 2.5f64.into()])),
            (Value::UInt(1), Value::Binary(b"hi!?".to_vec())),
            (Value::from("f"), Value::F64(f64::NAN)),
            (Value::from("e"), Value::Ext(5, vec![0xff])),
            (Value::from("one"), Value::F64(1.0)),
        ]);
        assert_eq!(
            value.to_string(),
            r#"{"a\"b\n":[null,true,-3,2.5],"1":{"$bytes":"aGkhPw=="},"f":null,"e":{"$ext":5,"$bytes":"/w=="},"one":1.0}"#
        );
        assert_eq!(Value::from("\u{1}").to_string(), r#""\u0001""#);
    }
}
