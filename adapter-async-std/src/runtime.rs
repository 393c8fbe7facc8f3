//! The [`Runtime`] the drivers run on under async-std.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use futures::FutureExt;
use futures::future::BoxFuture;
use futures::io::{AsyncRead, AsyncWrite};
use reqchan_driver::Runtime;

/// async-io's reactor and timers (what async-std and smol both run on), with tasks
/// spawned on async-std's global executor by default, or on an executor of your own
/// ([`with_spawner`](Self::with_spawner): a smol program then starts no second one).
#[derive(Clone, Default)]
pub struct AsyncStdRuntime {
    spawner: Option<Spawner>,
}

/// Runs a driver task to completion in the background.
type Spawner = Arc<dyn Fn(BoxFuture<'static, ()>) + Send + Sync>;

impl std::fmt::Debug for AsyncStdRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let executor = if self.spawner.is_some() { "custom" } else { "async-std" };
        f.debug_struct("AsyncStdRuntime").field("executor", &executor).finish()
    }
}

impl AsyncStdRuntime {
    /// Driver tasks go to `spawn` instead of async-std's global executor, e.g.
    /// `AsyncStdRuntime::with_spawner(move |task| executor.spawn(task).detach())` for a
    /// `smol::Executor`. Sockets and timers stay on async-io's reactor.
    pub fn with_spawner(spawn: impl Fn(BoxFuture<'static, ()>) + Send + Sync + 'static) -> Self {
        Self { spawner: Some(Arc::new(spawn)) }
    }
}

/// async-std runs one global executor per process, so one registry key serves it.
const RUNTIME_KEY: u64 = u64::from_be_bytes(*b"asyncstd");

impl Runtime for AsyncStdRuntime {
    const NAME: &'static str = "async-std";

    type Sleep = Sleep;

    type Stream = AsyncStdStream;

    type Listener = AsyncStdListener;

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

    fn bind_tcp(&self, host: String, port: u16) -> BoxFuture<'static, io::Result<(AsyncStdListener, u16)>> {
        async move {
            let address = async_std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
                .await?
                .next()
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address for the host"))?;
            let listener = async_io::Async::<std::net::TcpListener>::bind(address)?;
            let port = listener.get_ref().local_addr()?.port();
            Ok((AsyncStdListener::Tcp(listener), port))
        }
        .boxed()
    }

    fn bind_unix(&self, path: PathBuf) -> BoxFuture<'static, io::Result<AsyncStdListener>> {
        async move { async_io::Async::<std::os::unix::net::UnixListener>::bind(path).map(AsyncStdListener::Unix) }
            .boxed()
    }

    fn poll_accept(&self, listener: &mut AsyncStdListener, cx: &mut Context<'_>) -> Poll<io::Result<AsyncStdStream>> {
        loop {
            let accepted = match listener {
                AsyncStdListener::Tcp(l) => l.get_ref().accept().and_then(|(stream, _)| {
                    stream.set_nodelay(true)?;
                    Ok(AsyncStdStream::Tcp(stream.into()))
                }),
                AsyncStdListener::Unix(l) => {
                    l.get_ref().accept().map(|(stream, _)| AsyncStdStream::Unix(stream.into()))
                }
            };
            match accepted {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                other => return Poll::Ready(other),
            }
            match listener {
                AsyncStdListener::Tcp(l) => ready!(l.poll_readable(cx))?,
                AsyncStdListener::Unix(l) => ready!(l.poll_readable(cx))?,
            }
        }
    }

    /// async-std's global executor is always there (it starts on first use).
    fn current() -> Option<Self> {
        Some(AsyncStdRuntime::default())
    }

    /// One key for async-std's global executor; one per custom spawner.
    fn key(&self) -> u64 {
        match &self.spawner {
            None => RUNTIME_KEY,
            Some(spawner) => Arc::as_ptr(spawner).cast::<()>() as usize as u64,
        }
    }

    fn sleep_until(&self, deadline: Instant) -> Sleep {
        Sleep(async_io::Timer::at(deadline))
    }

    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        match &self.spawner {
            Some(spawn) => spawn(Box::pin(future)),
            None => drop(async_std::task::spawn(future)),
        }
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

/// A listening socket on async-std's reactor.
#[derive(Debug)]
pub enum AsyncStdListener {
    /// TCP.
    Tcp(async_io::Async<std::net::TcpListener>),
    /// A Unix stream socket.
    Unix(async_io::Async<std::os::unix::net::UnixListener>),
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
