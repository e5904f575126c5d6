//! Where console connections come from.
//!
//! A console server (`monitor-server`) accepts sessions from any
//! [`Transport`]. This crate defines the trait and the in-memory pipe, for
//! tests and for embedding the console in another program; the TCP and Unix
//! socket transports live in `monitor-server`.

use std::{fmt, future::Future, io, pin::Pin};

mod memory;

pub use memory::{MemoryConnector, MemoryStream, MemoryTransport};

/// The byte-stream traits every transport's connections implement: the
/// `futures-io` ones the async ecosystem shares (tokio's streams get them
/// through `tokio-util`'s `compat`), re-exported so a transport author
/// names them through this crate.
pub use futures_io::{AsyncRead, AsyncWrite};

/// A byte stream that can be read and written asynchronously.
///
/// Blanket-implemented for everything that is `AsyncRead + AsyncWrite +
/// Unpin + Send`, so transports can hand out their native stream types boxed.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for T {}

/// One accepted console connection.
pub struct Connection {
    /// The bytes to and from the client.
    pub stream: Box<dyn Stream>,
    /// Who is on the other end, for logs and the `sessions` listing
    /// (`127.0.0.1:51234`, `unix:/run/app.sock`, `memory#3`).
    pub peer: String,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("peer", &self.peer)
            .finish_non_exhaustive()
    }
}

/// A future returned by [`Transport::accept`].
pub type AcceptFuture<'a> = Pin<Box<dyn Future<Output = io::Result<Connection>> + Send + 'a>>;

/// A source of console connections.
///
/// The monitor's server thread calls [`accept`](Transport::accept) in a loop
/// and serves every connection it gets as one console session. A transport
/// is already bound when it is handed to the server, so binding errors reach
/// the caller of `start` instead of a background thread.
///
/// # Example
///
/// A transport that serves exactly the connections queued in it:
///
/// ```
/// use std::{io, sync::Mutex};
///
/// use monitor_core::transport::{AcceptFuture, Connection, Transport};
///
/// struct Queued(Mutex<Vec<Connection>>);
///
/// impl Transport for Queued {
///     fn accept(&self) -> AcceptFuture<'_> {
///         Box::pin(async move {
///             self.0.lock().unwrap().pop().ok_or_else(|| {
///                 io::Error::new(io::ErrorKind::NotConnected, "no more connections")
///             })
///         })
///     }
///
///     fn local_addr(&self) -> String {
///         "queued".to_owned()
///     }
/// }
/// ```
pub trait Transport: Send + Sync + 'static {
    /// Waits for the next client.
    ///
    /// An error is reported and the server keeps accepting, except when the
    /// transport can never produce another connection
    /// ([`io::ErrorKind::NotConnected`]), which stops this transport.
    fn accept(&self) -> AcceptFuture<'_>;

    /// Where clients connect, for messages such as
    /// `monitor listening on 127.0.0.1:50101`.
    fn local_addr(&self) -> String;

    /// Whether only the process's own user can connect (a Unix socket with
    /// mode 0600); the default is `false`.
    ///
    /// The server gives every listener its own session places; an owner-only
    /// one also gets its own budget of token guesses, so that a flood on a
    /// network port can neither fill it nor slow the owner's login down.
    /// Answer `true` only when the operating system enforces who connects.
    fn is_local(&self) -> bool {
        false
    }
}
