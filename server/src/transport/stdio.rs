//! One console session on the process's own terminal (aioconsole's
//! `interact`): for command-line tools and local debugging, where opening
//! a port is more than is wanted.

use std::{
    fmt,
    io::{self, Read, Write},
    thread,
};

use futures_lite::{AsyncReadExt, AsyncWriteExt, future::block_on};
use monitor_core::{
    Transport,
    transport::{AcceptFuture, Connection, MemoryStream},
};

/// A [`Transport`] with exactly one connection: the process's standard
/// input and output (or any blocking reader and writer).
///
/// Two threads carry the bytes between the blocking streams and the
/// session, which the monitor serves like any other: the same commands,
/// limits and telnet line handling (output lines end in CR LF). When input
/// ends (Ctrl-D on an empty line, or the end of a pipe) the session ends;
/// the monitor keeps serving its other listeners.
///
/// ```no_run
/// use monitor_core::TaskRegistry;
/// use monitor_server::{MonitorBuilder, transport::StdioTransport};
///
/// let monitor = MonitorBuilder::new(TaskRegistry::new())
///     .no_tcp()
///     .transport(StdioTransport::new()?)
///     .start()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct StdioTransport {
    incoming: async_channel::Receiver<Connection>,
}

impl StdioTransport {
    /// The session on this process's standard input and output.
    ///
    /// # Errors
    ///
    /// When a thread to carry the bytes cannot be started.
    pub fn new() -> io::Result<Self> {
        Self::from_streams(io::stdin(), io::stdout())
    }

    /// The session on `input` and `output` (a pipe, a pty, a serial line).
    ///
    /// The thread reading `input` stays blocked in `read` until input
    /// arrives or ends, even after the monitor has closed: standard input
    /// offers no way to interrupt a read.
    ///
    /// # Errors
    ///
    /// When a thread to carry the bytes cannot be started.
    pub fn from_streams(
        mut input: impl Read + Send + 'static,
        mut output: impl Write + Send + 'static,
    ) -> io::Result<Self> {
        let (client, server) = MemoryStream::pair();
        let (mut from_session, mut to_session) = futures_lite::io::split(client);
        thread::Builder::new()
            .name("monitor-stdin".into())
            .spawn(move || {
                let mut buf = [0u8; 4096];
                loop {
                    let n = match input.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if block_on(write_flushed(&mut to_session, &buf[..n])).is_err() {
                        break;
                    }
                }
                // End of input: the session sees the end of its stream.
                let _ = block_on(to_session.close());
            })?;
        thread::Builder::new()
            .name("monitor-stdout".into())
            .spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = block_on(from_session.read(&mut buf)) {
                    if output
                        .write_all(&buf[..n])
                        .and_then(|()| output.flush())
                        .is_err()
                    {
                        break;
                    }
                }
            })?;
        // The only sender is dropped here: after this one connection,
        // `accept` fails and the server stops accepting on this transport.
        let (queue, incoming) = async_channel::bounded(1);
        let _ = queue.try_send(Connection {
            stream: Box::new(server),
            peer: "stdio".to_owned(),
        });
        Ok(Self { incoming })
    }
}

async fn write_flushed<W: futures_lite::AsyncWrite + Unpin>(
    writer: &mut W,
    bytes: &[u8],
) -> io::Result<()> {
    writer.write_all(bytes).await?;
    writer.flush().await
}

impl Transport for StdioTransport {
    fn accept(&self) -> AcceptFuture<'_> {
        Box::pin(async move {
            self.incoming.recv().await.map_err(|_| {
                io::Error::new(
                    io::ErrorKind::NotConnected,
                    "the standard streams carry one session, and it has been accepted",
                )
            })
        })
    }

    fn local_addr(&self) -> String {
        "stdio".to_owned()
    }
}

impl fmt::Debug for StdioTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StdioTransport").finish_non_exhaustive()
    }
}
