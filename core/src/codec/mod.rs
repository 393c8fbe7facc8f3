//! Salt envelope codec.
