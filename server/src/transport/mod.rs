//! The socket transports people connect through, and the telnet line codec
//! every session speaks.
//!
//! [`Transport`](monitor_core::Transport) itself and the in-memory pipe live
//! in `monitor-core`; these are the ones that open ports and paths.

mod error;
mod stdio;
mod tcp;
pub mod telnet;
#[cfg(unix)]
mod unix;

pub use error::BindError;
pub use stdio::StdioTransport;
pub use tcp::TcpTransport;
#[cfg(unix)]
pub use unix::UnixTransport;
