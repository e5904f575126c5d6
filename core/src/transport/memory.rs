//! Console connections through in-process pipes, for tests and for
//! embedding the console in another program (a GUI, an admin endpoint).

use std::{
    fmt, io,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
};

use futures_io::{AsyncRead, AsyncWrite};

use super::{AcceptFuture, Connection, Transport};

/// Bytes buffered in each direction of a [`MemoryStream`] before the writer
/// waits for the reader: a screenful of `ps` output fits, a stuck reader
/// cannot make the writer allocate without bound.
const PIPE_CAPACITY: usize = 64 * 1024;

/// Accepts console connections made with its [`MemoryConnector`]s.
///
/// # Example
///
/// ```
/// use futures_lite::{AsyncReadExt, AsyncWriteExt, future};
/// use monitor_core::transport::{MemoryTransport, Transport};
///
/// future::block_on(async {
///     let (transport, connector) = MemoryTransport::new();
///     let mut client = connector.connect()?;
///     let mut conn = transport.accept().await?;
///     assert_eq!(conn.peer, "memory#1");
///
///     client.write_all(b"ping").await?;
///     let mut buf = [0; 4];
///     conn.stream.read_exact(&mut buf).await?;
///     assert_eq!(&buf, b"ping");
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct MemoryTransport {
    incoming: async_channel::Receiver<Connection>,
}

/// Opens connections to a [`MemoryTransport`].
///
/// Clones share the transport. Once every connector is dropped and the
/// queued connections are accepted, [`accept`](Transport::accept) fails with
/// [`io::ErrorKind::NotConnected`], which stops the server's accept loop for
/// this transport.
#[derive(Clone)]
pub struct MemoryConnector {
    queue: async_channel::Sender<Connection>,
    next_id: Arc<AtomicU64>,
}

/// One end of an in-memory connection: what the client of a
/// [`MemoryTransport`] reads and writes, and what the server gets in its
/// [`Connection`].
///
/// Closing or dropping one end makes reads at the other end return end of
/// file once the buffered bytes are consumed; writing to an end whose peer
/// is gone fails with [`io::ErrorKind::BrokenPipe`].
pub struct MemoryStream {
    reader: piper::Reader,
    writer: piper::Writer,
}

impl MemoryTransport {
    /// Creates a transport and the connector that opens connections to it.
    pub fn new() -> (MemoryTransport, MemoryConnector) {
        // Unbounded so that `connect` never has to wait: a connection that
        // nobody accepts costs its pipes and nothing else.
        let (queue, incoming) = async_channel::unbounded();
        (
            MemoryTransport { incoming },
            MemoryConnector {
                queue,
                next_id: Arc::new(AtomicU64::new(1)),
            },
        )
    }
}

impl MemoryConnector {
    /// Opens a connection and returns the client's end of it.
    ///
    /// The server's end waits for [`accept`](Transport::accept), with the
    /// peer name `memory#N` (N counts from 1 per transport).
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::ConnectionRefused`] if the transport was dropped.
    pub fn connect(&self) -> io::Result<MemoryStream> {
        let (client, server) = MemoryStream::pair();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let conn = Connection {
            stream: Box::new(server),
            peer: format!("memory#{id}"),
        };
        self.queue.try_send(conn).map_err(|_| {
            io::Error::new(
                io::ErrorKind::ConnectionRefused,
                "the memory transport was dropped",
            )
        })?;
        Ok(client)
    }
}

impl MemoryStream {
    /// Creates two connected ends, each reading what the other writes.
    pub fn pair() -> (MemoryStream, MemoryStream) {
        let (a_reader, b_writer) = piper::pipe(PIPE_CAPACITY);
        let (b_reader, a_writer) = piper::pipe(PIPE_CAPACITY);
        (
            MemoryStream {
                reader: a_reader,
                writer: a_writer,
            },
            MemoryStream {
                reader: b_reader,
                writer: b_writer,
            },
        )
    }
}

impl Transport for MemoryTransport {
    fn accept(&self) -> AcceptFuture<'_> {
        Box::pin(async move {
            self.incoming.recv().await.map_err(|_| {
                io::Error::new(
                    io::ErrorKind::NotConnected,
                    "every memory connector was dropped; no more connections can arrive",
                )
            })
        })
    }

    fn local_addr(&self) -> String {
        "memory".to_owned()
    }
}

impl AsyncRead for MemoryStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.reader).poll_read(cx, buf)
    }
}

impl AsyncWrite for MemoryStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.writer).poll_write(cx, buf) {
            // The pipe reports a closed peer as a zero-length write; callers
            // such as `write_all` would turn that into a puzzling
            // `WriteZero`, so say what happened, like a socket would.
            Poll::Ready(Ok(0)) if !buf.is_empty() => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the other end of the memory connection is closed",
            ))),
            other => other,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.writer).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Closes only the outgoing direction, like `shutdown(SHUT_WR)`: the
        // peer sees end of file and may still send its last words.
        Pin::new(&mut self.writer).poll_close(cx)
    }
}

impl fmt::Debug for MemoryTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryTransport")
            .field("queued", &self.incoming.len())
            .finish()
    }
}

impl fmt::Debug for MemoryConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryConnector")
            .field("closed", &self.queue.is_closed())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for MemoryStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStream")
            .field("unread", &self.reader.len())
            .field("unsent", &self.writer.len())
            .finish()
    }
}
