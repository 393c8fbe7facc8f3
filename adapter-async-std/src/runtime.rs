//! The [`Runtime`] the drivers run on under async-std.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use reqchan_driver::Runtime;

/// async-std's global executor, with async-io's timer (the reactor async-std runs on).
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncStdRuntime;

/// async-std runs one global executor per process, so one registry key serves it.
const RUNTIME_KEY: u64 = u64::from_be_bytes(*b"asyncstd");

impl Runtime for AsyncStdRuntime {
    const NAME: &'static str = "async-std";

    type Sleep = Sleep;

    /// async-std's global executor is always there (it starts on first use).
    fn current() -> Option<Self> {
        Some(AsyncStdRuntime)
    }

    fn key(&self) -> u64 {
        RUNTIME_KEY
    }

    fn sleep_until(&self, deadline: Instant) -> Sleep {
        Sleep(async_io::Timer::at(deadline))
    }

    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        async_std::task::spawn(future);
    }
}

/// A timer that fires at a fixed instant.
#[derive(Debug)]
pub struct Sleep(async_io::Timer);

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}
