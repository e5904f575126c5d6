//! Console connections over TCP, for `nc 127.0.0.1 50101` and `telnet`.

use std::{
    fmt, io,
    net::{SocketAddr, TcpListener, TcpStream},
};

use async_io::Async;

use monitor_core::transport::{AcceptFuture, Connection, Transport};

use super::BindError;

/// Accepts console connections on a TCP port.
///
/// # Example
///
/// ```
/// use monitor_server::transport::TcpTransport;
///
/// // Port 0 picks any free port; `local_addr` tells which one.
/// let transport = TcpTransport::bind("127.0.0.1:0".parse().unwrap())?;
/// assert_ne!(transport.local_addr().port(), 0);
/// # Ok::<(), monitor_server::transport::BindError>(())
/// ```
#[must_use = "dropping a TcpTransport closes its listening socket"]
pub struct TcpTransport {
    listener: Async<TcpListener>,
    addr: SocketAddr,
}

impl TcpTransport {
    /// Starts listening on `addr`.
    ///
    /// Binding happens right here, not on the server thread, so a busy port
    /// or a missing privilege is reported to the caller at once. Rust's
    /// standard library sets `SO_REUSEADDR` on Unix, so a monitor that is
    /// restarted can take its port back even while connections of the
    /// previous run linger in `TIME_WAIT`.
    ///
    /// Port 0 asks the operating system for any free port; see
    /// [`local_addr`](Self::local_addr).
    pub fn bind(addr: SocketAddr) -> Result<Self, BindError> {
        let listener = TcpListener::bind(addr).map_err(|e| BindError::tcp(addr, e))?;
        let bound = listener.local_addr().map_err(|e| BindError::tcp(addr, e))?;
        let listener = Async::new(listener).map_err(|e| BindError::tcp(addr, e))?;
        Ok(Self {
            listener,
            addr: bound,
        })
    }

    /// The address the transport listens on, with the real port if port 0
    /// was asked for.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl fmt::Debug for TcpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpTransport")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl TcpTransport {
    /// Accepts the next client, with its stream ready for a console.
    async fn accept_stream(&self) -> io::Result<(Async<TcpStream>, SocketAddr)> {
        let (stream, peer) = self.listener.accept().await?;
        // A console writes a prompt and waits for the person: Nagle's
        // algorithm would hold small writes back for no gain. Failing to
        // set it only costs latency, so it does not fail the connection.
        let _ = stream.get_ref().set_nodelay(true);
        Ok((stream, peer))
    }
}

impl Transport for TcpTransport {
    fn accept(&self) -> AcceptFuture<'_> {
        Box::pin(async move {
            let (stream, peer) = self.accept_stream().await?;
            Ok(Connection {
                stream: Box::new(stream),
                peer: peer.to_string(),
            })
        })
    }

    fn local_addr(&self) -> String {
        self.addr.to_string()
    }
}

#[cfg(test)]
mod tests {
    use futures_lite::future;

    use super::*;

    #[test]
    fn accepted_streams_have_nodelay() {
        let transport = TcpTransport::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let _client = TcpStream::connect(transport.local_addr()).unwrap();
        let (stream, _) = future::block_on(transport.accept_stream()).unwrap();
        assert!(stream.get_ref().nodelay().unwrap());
    }
}
