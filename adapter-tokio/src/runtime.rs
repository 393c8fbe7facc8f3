//! The [`Runtime`] the drivers run on under tokio.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use futures::FutureExt;
use futures::future::BoxFuture;
use reqchan_driver::Runtime;
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::runtime::Handle;

use crate::stream::{TokioListener, TokioStream};

/// A tokio runtime, by its [`Handle`]: driver tasks are spawned on it and its timer
/// wakes them.
#[derive(Debug, Clone)]
pub struct TokioRuntime {
    handle: Handle,
}

impl TokioRuntime {
    /// The runtime behind `handle`.
    pub fn from_handle(handle: Handle) -> Self {
        Self { handle }
    }

    /// The runtime's handle.
    pub fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl Runtime for TokioRuntime {
    const NAME: &'static str = "tokio";

    type Sleep = tokio::time::Sleep;

    type Stream = TokioStream;

    type Listener = TokioListener;

    fn connect_tcp(&self, host: String, port: u16) -> BoxFuture<'static, io::Result<TokioStream>> {
        let handle = self.handle.clone();
        async move {
            // Spawned on our runtime: its reactor owns the socket whoever polls this.
            let connect = async move {
                let stream = TcpStream::connect((host.as_str(), port)).await?;
                stream.set_nodelay(true)?;
                Ok(TokioStream::Tcp(stream))
            };
            handle.spawn(connect).await.unwrap_or_else(|e| Err(io::Error::other(e)))
        }
        .boxed()
    }

    fn connect_unix(&self, path: PathBuf) -> BoxFuture<'static, io::Result<TokioStream>> {
        let handle = self.handle.clone();
        async move {
            let connect = async move { UnixStream::connect(path).await.map(TokioStream::Unix) };
            handle.spawn(connect).await.unwrap_or_else(|e| Err(io::Error::other(e)))
        }
        .boxed()
    }

    fn bind_tcp(&self, host: String, port: u16) -> BoxFuture<'static, io::Result<(TokioListener, u16)>> {
        let handle = self.handle.clone();
        async move {
            // Spawned on our runtime: its reactor owns the listener.
            let bind = async move {
                let listener = TcpListener::bind((host.as_str(), port)).await?;
                let port = listener.local_addr()?.port();
                Ok((TokioListener::Tcp(listener), port))
            };
            handle.spawn(bind).await.unwrap_or_else(|e| Err(io::Error::other(e)))
        }
        .boxed()
    }

    fn bind_unix(&self, path: PathBuf) -> BoxFuture<'static, io::Result<TokioListener>> {
        let handle = self.handle.clone();
        async move {
            let bind = async move { UnixListener::bind(path).map(TokioListener::Unix) };
            handle.spawn(bind).await.unwrap_or_else(|e| Err(io::Error::other(e)))
        }
        .boxed()
    }

    fn poll_accept(&self, listener: &mut TokioListener, cx: &mut Context<'_>) -> Poll<io::Result<TokioStream>> {
        Poll::Ready(match listener {
            TokioListener::Tcp(l) => ready!(l.poll_accept(cx)).and_then(|(stream, _)| {
                stream.set_nodelay(true)?;
                Ok(TokioStream::Tcp(stream))
            }),
            TokioListener::Unix(l) => ready!(l.poll_accept(cx)).map(|(stream, _)| TokioStream::Unix(stream)),
        })
    }

    fn current() -> Option<Self> {
        Handle::try_current().ok().map(Self::from_handle)
    }

    /// The runtime's `runtime::Id` (stable since tokio 1.49's `Handle::id`).
    fn key(&self) -> u64 {
        let id = self.handle.id();
        // `Id` is an opaque non-zero integer that displays as itself.
        id.to_string().parse().unwrap_or_else(|_| {
            use std::hash::{Hash, Hasher};
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            id.hash(&mut hasher);
            hasher.finish()
        })
    }

    fn sleep_until(&self, deadline: Instant) -> Self::Sleep {
        // The sleep registers with the timer of the runtime whose context is entered.
        let _context = self.handle.enter();
        tokio::time::sleep_until(deadline.into())
    }

    fn spawn<F>(&self, future: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        // Detached: the task ends by itself (or with the runtime).
        drop(self.handle.spawn(future));
    }
}
