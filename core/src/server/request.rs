//! A valid request, handed to the driver to start a handler for.

use std::ops::Range;

use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::id::RequestToken;
use crate::codec::{self, Crypt, EnvelopeError, Request, Value};

/// A validated request for the handler, from [`Server::poll_request`](super::Server::poll_request).
#[derive(Debug, Clone)]
pub struct IncomingRequest {
    /// Pass this back to [`Server::handle_result`](super::Server::handle_result).
    pub token: RequestToken,
    /// The envelope's `"enc"`.
    pub crypt: Crypt,
    /// The envelope's `"version"`.
    pub version: u64,
    payload: Bytes,
    load: Range<usize>,
}

impl IncomingRequest {
    pub(crate) fn new(token: RequestToken, payload: Bytes) -> Result<Self, EnvelopeError> {
        let raw = codec::split_request(&payload)?;
        let start = raw.load.as_ptr() as usize - payload.as_ptr() as usize;
        let load = start..start + raw.load.len();
        Ok(Self { token, crypt: raw.crypt, version: raw.version, load, payload })
    }

    /// The exact msgpack bytes of the request's `"load"` (a zero-copy slice).
    pub fn load_bytes(&self) -> Bytes {
        self.payload.slice(self.load.clone())
    }

    /// The whole request payload (the envelope map), as received.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// The load as a dynamic value. Cannot fail for a validated request, except for a
    /// load that is not valid for [`Value`] (none is known).
    pub fn load_value(&self) -> Result<Value, EnvelopeError> {
        self.decode_load::<Value>().map(|r| r.load)
    }

    /// The request with its load decoded to `T`.
    pub fn decode_load<T: DeserializeOwned>(&self) -> Result<Request<T>, EnvelopeError> {
        codec::RawRequest { crypt: self.crypt, version: self.version, load: &self.payload[self.load.clone()] }
            .decode_load()
    }
}
