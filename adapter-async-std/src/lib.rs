//! async-std adapter for reqchan.

mod runtime;

pub use runtime::AsyncStdRuntime;
