//! Why a transport could not start listening.

use std::{io, net::SocketAddr, path::PathBuf};

/// A transport could not start listening.
///
/// Every message names the address and says what to do about the problem,
/// because it is usually shown to a person who just started the application
/// (`cannot listen on 127.0.0.1:50101: the port is in use by another
/// process; ...`). The operating system's error, where there is one, is kept
/// as the [source](std::error::Error::source).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BindError {
    /// Another socket is already listening on the TCP port.
    #[error(
        "cannot listen on {addr}: the port is in use by another process; \
         choose another port, or port 0 for any free port"
    )]
    AddrInUse {
        /// The address that was asked for.
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// The process may not listen on the TCP address.
    #[error(
        "cannot listen on {addr}: permission denied (ports below 1024 need privileges); \
         choose a port of 1024 or above"
    )]
    PermissionDenied {
        /// The address that was asked for.
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// The IP address does not belong to any interface of this machine.
    #[error(
        "cannot listen on {addr}: the address is not available on this machine; \
         use 127.0.0.1 for local connections only, or 0.0.0.0 for all interfaces"
    )]
    AddrNotAvailable {
        /// The address that was asked for.
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// Any other failure to listen on a TCP address.
    #[error("cannot listen on {addr}: {source}")]
    Tcp {
        /// The address that was asked for.
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// The directory that should hold the Unix socket does not exist.
    #[error(
        "cannot listen on {}: directory {} does not exist; create it or choose another path",
        .path.display(), .dir.display()
    )]
    DirectoryMissing {
        /// The socket path that was asked for.
        path: PathBuf,
        /// The missing directory.
        dir: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// The Unix socket path does not fit into a socket address.
    #[error(
        "cannot listen on {}: the path is {len} bytes, too long for a Unix socket \
         (at most {max} bytes); choose a shorter path",
        .path.display()
    )]
    PathTooLong {
        /// The socket path that was asked for.
        path: PathBuf,
        /// Its length in bytes.
        len: usize,
        /// The longest path this platform accepts.
        max: usize,
    },

    /// Another process is accepting connections on the Unix socket.
    #[error(
        "cannot listen on {}: the socket is in use, a live process is already serving it; \
         stop that process or choose another path",
        .path.display()
    )]
    SocketInUse {
        /// The socket path that was asked for.
        path: PathBuf,
    },

    /// Something other than a socket exists at the path; it is left alone.
    #[error(
        "cannot listen on {}: the path exists and is not a socket; \
         it was left untouched, remove it or choose another path",
        .path.display()
    )]
    NotASocket {
        /// The socket path that was asked for.
        path: PathBuf,
    },

    /// The process may not create (or probe) the Unix socket.
    #[error(
        "cannot listen on {}: permission denied; choose a directory this user may write to",
        .path.display()
    )]
    PathPermissionDenied {
        /// The socket path that was asked for.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// Any other failure to listen on a Unix socket.
    #[error("cannot listen on {}: {source}", .path.display())]
    Unix {
        /// The socket path that was asked for.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
}

impl BindError {
    /// Classifies an error from binding a TCP listener.
    pub(crate) fn tcp(addr: SocketAddr, source: io::Error) -> Self {
        match source.kind() {
            io::ErrorKind::AddrInUse => Self::AddrInUse { addr, source },
            io::ErrorKind::PermissionDenied => Self::PermissionDenied { addr, source },
            io::ErrorKind::AddrNotAvailable => Self::AddrNotAvailable { addr, source },
            _ => Self::Tcp { addr, source },
        }
    }
}
