//! Request client.
