//! The [`Runtime`] the drivers run on under async-std.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use futures::FutureExt;
use futures::future::BoxFuture;
use futures::io::{AsyncRead, AsyncWrite};
use reqchan_driver::Runtime;

/// async-std's global executor, with async-io's timer (the reactor async-std runs on).
#[derive(Debug, Clone, Copy, Default)]
pub struct AsyncStdRuntime;

/// async-std runs one global executor per process, so one registry key serves it.
const RUNTIME_KEY: u64 = u64::from_be_bytes(*b"asyncstd");

impl Runtime for AsyncStdRuntime {
    const NAME: &'static str = "async-std";

    type Sleep = Sleep;

    type Stream = AsyncStdStream;

    fn connect_tcp(&self, host: String, port: u16) -> BoxFuture<'static, io::Result<AsyncStdStream>> {
        async move {
            let stream = async_std::net::TcpStream::connect((host.as_str(), port)).await?;
            stream.set_nodelay(true)?;
            Ok(AsyncStdStream::Tcp(stream))
        }
        .boxed()
    }

    fn connect_unix(&self, path: PathBuf) -> BoxFuture<'static, io::Result<AsyncStdStream>> {
        async move { async_std::os::unix::net::UnixStream::connect(path).await.map(AsyncStdStream::Unix) }.boxed()
    }

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

/// A connected async-std stream (its types are already `futures` byte streams).
#[derive(Debug)]
pub enum AsyncStdStream {
    /// TCP.
    Tcp(async_std::net::TcpStream),
    /// A Unix stream socket.
    Unix(async_std::os::unix::net::UnixStream),
}

impl AsyncRead for AsyncStdStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Self::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for AsyncStdStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Self::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_flush(cx),
            Self::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Tcp(s) => Pin::new(s).poll_close(cx),
            Self::Unix(s) => Pin::new(s).poll_close(cx),
        }
    }
}
