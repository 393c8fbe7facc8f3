//! The request token: names an accepted request until it is answered.

use std::fmt;

/// Identifies an accepted request until its reply is sent. Unique for the life of the
/// server; never derived from the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestToken(pub(crate) u64);

impl RequestToken {
    /// The token as a number (for logs).
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl fmt::Display for RequestToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}
