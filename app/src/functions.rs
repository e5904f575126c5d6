//! The registry of named functions the configuration refers to.
//!
//! Python's aio.app imports `my.module.func` by its dotted name; Rust cannot,
//! so the application registers each function under a name with
//! [`AppBuilder`](crate::AppBuilder) and the configuration uses that name.

use std::{
    collections::BTreeMap,
    fmt,
    future::Future,
    io,
    net::{TcpListener, TcpStream},
    os::unix::net::{UnixListener, UnixStream},
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use async_io::Async;
use futures_lite::{AsyncRead, AsyncWrite};

use crate::AppContext;

/// The error type registered functions return: anything that is an error.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// What a registered function may return: `()` or `Result<(), E>`.
///
/// An `Err` is recorded as the run's outcome (shown by the monitor's `app`
/// command) and does not stop anything else.
pub trait Outcome: Send + 'static {
    /// Converts into the runner's result.
    fn into_result(self) -> Result<(), BoxError>;
}

impl Outcome for () {
    fn into_result(self) -> Result<(), BoxError> {
        Ok(())
    }
}

impl<E: Into<BoxError> + Send + 'static> Outcome for Result<(), E> {
    fn into_result(self) -> Result<(), BoxError> {
        self.map_err(Into::into)
    }
}

pub(crate) type ModuleFn = Arc<dyn Fn(&AppContext) -> Result<(), BoxError> + Send + Sync>;
pub(crate) type SchedulerFn =
    Arc<dyn Fn(AppContext, String) -> BoxFuture<Result<(), BoxError>> + Send + Sync>;
pub(crate) type ListenerFn =
    Arc<dyn Fn(AppContext, String, String) -> BoxFuture<Result<(), BoxError>> + Send + Sync>;
/// A protocol: handles one accepted connection.
pub(crate) type ProtocolFn =
    Arc<dyn Fn(AppContext, Connection) -> BoxFuture<Result<(), BoxError>> + Send + Sync>;
pub(crate) type FactoryFn = Arc<
    dyn Fn(AppContext, String, String, u16) -> BoxFuture<Result<BoundServer, BoxError>>
        + Send
        + Sync,
>;
pub(crate) type CommandFn =
    Arc<dyn Fn(AppContext, Vec<String>) -> BoxFuture<Result<(), BoxError>> + Send + Sync>;

/// Wraps a user protocol function into the runner's form.
pub(crate) fn protocol<F, Fut>(f: F) -> ProtocolFn
where
    F: Fn(AppContext, Connection) -> Fut + Send + Sync + 'static,
    Fut: Future + Send + 'static,
    Fut::Output: Outcome,
{
    Arc::new(move |ctx, conn| {
        let fut = f(ctx, conn);
        Box::pin(async move { fut.await.into_result() })
    })
}

/// Every registered function, by kind and name.
#[derive(Default, Clone)]
pub(crate) struct Functions {
    pub(crate) modules: BTreeMap<String, ModuleFn>,
    pub(crate) schedulers: BTreeMap<String, SchedulerFn>,
    pub(crate) listeners: BTreeMap<String, ListenerFn>,
    pub(crate) protocols: BTreeMap<String, ProtocolFn>,
    pub(crate) factories: BTreeMap<String, FactoryFn>,
    pub(crate) commands: BTreeMap<String, CommandFn>,
}

impl fmt::Debug for Functions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Functions")
            .field("modules", &self.modules.keys().collect::<Vec<_>>())
            .field("schedulers", &self.schedulers.keys().collect::<Vec<_>>())
            .field("listeners", &self.listeners.keys().collect::<Vec<_>>())
            .field("protocols", &self.protocols.keys().collect::<Vec<_>>())
            .field("factories", &self.factories.keys().collect::<Vec<_>>())
            .field("commands", &self.commands.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A socket a server accepts connections on.
#[derive(Debug)]
#[non_exhaustive]
pub enum Listener {
    /// TCP.
    Tcp(Async<TcpListener>),
    /// A Unix socket.
    Unix(Async<UnixListener>),
}

impl Listener {
    /// Wraps a bound std TCP listener (made non-blocking here).
    ///
    /// # Errors
    ///
    /// When the socket cannot be registered with the reactor.
    pub fn tcp(listener: TcpListener) -> io::Result<Self> {
        Async::new(listener).map(Listener::Tcp)
    }

    /// Wraps a bound std Unix listener.
    ///
    /// # Errors
    ///
    /// When the socket cannot be registered with the reactor.
    pub fn unix(listener: UnixListener) -> io::Result<Self> {
        Async::new(listener).map(Listener::Unix)
    }

    /// Where it listens: `127.0.0.1:8888` or `unix:/path`.
    pub fn local_description(&self) -> String {
        match self {
            Listener::Tcp(l) => l
                .get_ref()
                .local_addr()
                .map_or_else(|_| "tcp:?".into(), |a| a.to_string()),
            Listener::Unix(l) => l
                .get_ref()
                .local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(|p| format!("unix:{}", p.display())))
                .unwrap_or_else(|| "unix:?".into()),
        }
    }

    /// Removes a Unix socket's file, so the path can be bound again.
    pub(crate) fn remove_socket_file(&self) {
        if let Listener::Unix(l) = self
            && let Ok(addr) = l.get_ref().local_addr()
            && let Some(path) = addr.as_pathname()
        {
            let _ = std::fs::remove_file(path);
        }
    }

    pub(crate) async fn accept(&self) -> io::Result<Connection> {
        match self {
            Listener::Tcp(l) => {
                let (stream, peer) = l.accept().await?;
                Ok(Connection::new(Stream::Tcp(stream), peer.to_string()))
            }
            Listener::Unix(l) => {
                let (stream, peer) = l.accept().await?;
                let peer = peer
                    .as_pathname()
                    .map_or_else(|| "unix:peer".into(), |p| format!("unix:{}", p.display()));
                Ok(Connection::new(Stream::Unix(stream), peer))
            }
        }
    }
}

/// What a server factory returns: a socket it bound itself and the
/// protocol that handles each connection on it.
///
/// The runner then accepts on it exactly as for a `protocol =` server, so
/// the server's connections are tracked tasks either way.
#[must_use = "a BoundServer does nothing until the runner accepts on it"]
pub struct BoundServer {
    pub(crate) listener: Listener,
    pub(crate) protocol: ProtocolFn,
}

impl fmt::Debug for BoundServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundServer")
            .field("listener", &self.listener)
            .finish_non_exhaustive()
    }
}

impl BoundServer {
    /// A bound listener and the protocol for its connections.
    ///
    /// ```no_run
    /// use monitor_app::{AppContext, BoundServer, Connection, Listener};
    ///
    /// # fn f() -> std::io::Result<BoundServer> {
    /// let socket = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// Ok(BoundServer::new(Listener::tcp(socket)?, |_ctx: AppContext, _conn: Connection| async {}))
    /// # }
    /// ```
    pub fn new<F, Fut>(listener: Listener, protocol: F) -> Self
    where
        F: Fn(AppContext, Connection) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: Outcome,
    {
        Self {
            listener,
            protocol: self::protocol(protocol),
        }
    }
}

#[derive(Debug)]
enum Stream {
    Tcp(Async<TcpStream>),
    Unix(Async<UnixStream>),
}

/// One accepted connection, handed to a server protocol. Reads and writes
/// like any `futures` stream.
#[derive(Debug)]
pub struct Connection {
    stream: Stream,
    peer: String,
}

impl Connection {
    fn new(stream: Stream, peer: String) -> Self {
        Self { stream, peer }
    }

    /// The peer: `127.0.0.1:54012` for TCP.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// The TCP stream, when this is a TCP connection (for socket options).
    pub fn tcp(&self) -> Option<&Async<TcpStream>> {
        match &self.stream {
            Stream::Tcp(s) => Some(s),
            Stream::Unix(_) => None,
        }
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.stream {
            Stream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.stream {
            Stream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Unix(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.stream {
            Stream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Stream::Unix(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.stream {
            Stream::Tcp(s) => Pin::new(s).poll_close(cx),
            Stream::Unix(s) => Pin::new(s).poll_close(cx),
        }
    }
}
