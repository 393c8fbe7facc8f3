//! The socket types this wire speaks, and which may talk to which (RFC 28, RFC 37).

use std::fmt;

/// A ZeroMQ socket type, as announced in READY's `Socket-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SocketType {
    /// REQ.
    Req,
    /// REP.
    Rep,
    /// DEALER.
    Dealer,
    /// ROUTER.
    Router,
}

impl SocketType {
    /// The name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Self::Req => "REQ",
            Self::Rep => "REP",
            Self::Dealer => "DEALER",
            Self::Router => "ROUTER",
        }
    }

    /// The type a `Socket-Type` value names (names are compared case-sensitively, as
    /// libzmq does).
    pub fn from_name(name: &[u8]) -> Option<Self> {
        match name {
            b"REQ" => Some(Self::Req),
            b"REP" => Some(Self::Rep),
            b"DEALER" => Some(Self::Dealer),
            b"ROUTER" => Some(Self::Router),
            _ => None,
        }
    }

    /// Whether a socket of this type may talk to a peer of type `peer`.
    pub fn accepts(self, peer: SocketType) -> bool {
        use SocketType::*;
        matches!(
            (self, peer),
            (Req, Rep | Router)
                | (Rep, Req | Dealer)
                | (Dealer, Rep | Dealer | Router)
                | (Router, Req | Dealer | Router)
        )
    }
}

impl fmt::Display for SocketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compatibility_is_symmetric_and_follows_the_rfcs() {
        let all = [SocketType::Req, SocketType::Rep, SocketType::Dealer, SocketType::Router];
        for a in all {
            assert_eq!(SocketType::from_name(a.name().as_bytes()), Some(a));
            for b in all {
                assert_eq!(a.accepts(b), b.accepts(a), "{a} and {b}");
            }
        }
        assert!(SocketType::Dealer.accepts(SocketType::Router));
        assert!(SocketType::Dealer.accepts(SocketType::Rep));
        assert!(SocketType::Router.accepts(SocketType::Req));
        assert!(!SocketType::Req.accepts(SocketType::Req));
        assert!(!SocketType::Rep.accepts(SocketType::Router));
        assert_eq!(SocketType::from_name(b"dealer"), None, "case-sensitive");
    }
}
