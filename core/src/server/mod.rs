//! Reply server.
