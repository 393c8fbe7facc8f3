//! The demo echo handler: replies with the request's load, byte for byte.

use std::fmt;

use reqchan_tokio::Crypt;
use reqchan_tokio::server::{self, IncomingRequest, Reply, ServerError, ServerHandle, ServerOptions, SocketKind};

/// Why [`echo`] did not echo.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EchoError {
    /// The request is `"aes"`: the echo server holds no session key.
    Encrypted,
}

impl fmt::Display for EchoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Encrypted => f.write_str("the echo server answers clear requests only"),
        }
    }
}

impl std::error::Error for EchoError {}

/// The echo handler: replies with the request's `load`, byte for byte. `"aes"`
/// requests fail (answered with Salt's handler-exception reply).
pub async fn echo(request: IncomingRequest) -> Result<Reply, EchoError> {
    match request.crypt {
        Crypt::Clear => Ok(Reply::msgpack(request.load_bytes())),
        _ => Err(EchoError::Encrypted),
    }
}

/// Starts an echo server on `endpoint` (e.g. `tcp://127.0.0.1:0` for a free port) with
/// default options; malformed requests get `{"msg": "bad load"}`.
pub async fn spawn_echo(endpoint: &str, kind: SocketKind) -> Result<ServerHandle, ServerError> {
    server::bind(endpoint, kind, ServerOptions::default(), echo).await
}
