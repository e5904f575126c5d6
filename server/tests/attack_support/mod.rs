//! What the attack tests share: a blocking TCP or Unix console client that
//! reads raw bytes, and a monitor over a small custom runtime.

#![allow(dead_code, unreachable_pub)]

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    time::{Duration, Instant},
};

/// The default prompt.
pub const PROMPT: &str = "monitor >>> ";

/// A blocking console client over any byte stream, keeping what it read
/// past the last marker.
pub struct Raw<S> {
    pub stream: S,
    pending: Vec<u8>,
}

/// A client over TCP.
pub type Tcp = Raw<TcpStream>;

impl Raw<TcpStream> {
    /// Connects with a 5 s read timeout.
    pub fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        Self::new(stream)
    }
}

#[cfg(unix)]
impl Raw<std::os::unix::net::UnixStream> {
    /// Connects with a 5 s read timeout.
    pub fn connect_unix(path: &std::path::Path) -> Self {
        let stream = std::os::unix::net::UnixStream::connect(path).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        Self::new(stream)
    }
}

impl<S: Read + Write> Raw<S> {
    pub fn new(stream: S) -> Self {
        Self {
            stream,
            pending: Vec::new(),
        }
    }

    /// Reads until `marker` and returns the text before it (CRLF as LF);
    /// `None` if the connection ends or stays silent for the read timeout.
    pub fn try_read_until(&mut self, marker: &str) -> Option<String> {
        loop {
            if let Some(at) = self
                .pending
                .windows(marker.len())
                .position(|w| w == marker.as_bytes())
            {
                let text = String::from_utf8_lossy(&self.pending[..at]).replace("\r\n", "\n");
                self.pending.drain(..at + marker.len());
                return Some(text);
            }
            let mut buf = [0u8; 64 * 1024];
            match self.stream.read(&mut buf) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
            }
        }
    }

    /// Like [`try_read_until`](Self::try_read_until), failing the test
    /// with what was read when the marker does not come.
    #[track_caller]
    pub fn read_until(&mut self, marker: &str) -> String {
        match self.try_read_until(marker) {
            Some(text) => text,
            None => panic!(
                "no {marker:?}; got {:?}",
                String::from_utf8_lossy(&self.pending)
            ),
        }
    }

    /// Sends `line` and a line end.
    pub fn send(&mut self, line: &str) {
        self.stream
            .write_all(format!("{line}\r\n").as_bytes())
            .unwrap();
    }

    /// Sends one line and returns the reply before the next prompt.
    #[track_caller]
    pub fn cmd(&mut self, line: &str) -> String {
        self.send(line);
        self.read_until(PROMPT)
    }

    /// Reads until the server hangs up (or the read timeout); returns
    /// everything not consumed yet.
    pub fn read_to_end(&mut self) -> String {
        let mut rest = Vec::new();
        let _ = self.stream.read_to_end(&mut rest);
        self.pending.extend_from_slice(&rest);
        String::from_utf8_lossy(&std::mem::take(&mut self.pending)).replace("\r\n", "\n")
    }
}

/// How long `f` took, and what it returned.
pub fn timed<T>(f: impl FnOnce() -> T) -> (Duration, T) {
    let started = Instant::now();
    let value = f();
    (started.elapsed(), value)
}
