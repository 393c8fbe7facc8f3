//! The reference models: one per state machine, shared by the core's property tests and
//! the fuzzers (`fuzz/` calls these same functions on libFuzzer's inputs).
//!
//! Each model decodes its input with `arbitrary` into a configuration and a sequence of
//! operations, drives the state machine like a driver would, predicts every
//! deterministic outcome, and checks every output and invariant after every input:
//!
//! - [`client`]: the request client (`client_ops`).
//! - [`server`]: the reply server (`server_ops`).
//!
//! Changing an operations grammar reinterprets the fuzz corpus: see `fuzz/README.md`.

pub mod client;
pub mod server;
mod support;

use reqchan_core::codec::Value;

/// Equality of two values with floats compared by their bits (so NaN equals itself).
pub fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::F32(x), Value::F32(y)) => x.to_bits() == y.to_bits(),
        (Value::F64(x), Value::F64(y)) => x.to_bits() == y.to_bits(),
        (Value::Array(xs), Value::Array(ys)) => xs.len() == ys.len() && xs.iter().zip(ys).all(|(x, y)| same(x, y)),
        (Value::Map(xs), Value::Map(ys)) => {
            xs.len() == ys.len() && xs.iter().zip(ys).all(|((kx, vx), (ky, vy))| same(kx, ky) && same(vx, vy))
        }
        _ => a == b,
    }
}
