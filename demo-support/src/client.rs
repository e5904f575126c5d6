//! A small blocking console client, for scripts, tours and tests.
//!
//! It speaks exactly what a person with `nc` sees: it reads until the prompt,
//! sends a line, reads the reply up to the next prompt. Telnet negotiation is
//! not needed (the server never starts any), and CRLF line ends are turned
//! back into `\n`.

use std::{
    io::{self, Read, Write},
    net::{SocketAddr, TcpStream},
    time::{Duration, Instant},
};

use monitor_core::dispatch::DEFAULT_PROMPT;

/// A connected console session.
///
/// ```no_run
/// use demo_support::client::ConsoleClient;
///
/// let mut console = ConsoleClient::connect("127.0.0.1:50101".parse().unwrap())?;
/// println!("{}", console.intro());
/// println!("{}", console.command("ps")?);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct ConsoleClient {
    stream: TcpStream,
    prompt: String,
    intro: String,
    pending: Vec<u8>,
    timeout: Duration,
}

impl ConsoleClient {
    /// Connects over TCP, expecting the default prompt, and reads the intro.
    ///
    /// # Errors
    ///
    /// Connection errors, and [`io::ErrorKind::TimedOut`] when no prompt
    /// arrives within 10 s.
    pub fn connect(addr: SocketAddr) -> io::Result<Self> {
        Self::connect_with_prompt(addr, DEFAULT_PROMPT)
    }

    /// Connects over TCP to a monitor that uses a custom prompt.
    ///
    /// # Errors
    ///
    /// As [`ConsoleClient::connect`].
    pub fn connect_with_prompt(addr: SocketAddr, prompt: &str) -> io::Result<Self> {
        let timeout = Duration::from_secs(10);
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_nodelay(true)?;
        let mut client = Self {
            stream,
            prompt: prompt.to_owned(),
            intro: String::new(),
            pending: Vec::new(),
            timeout,
        };
        client.intro = client.read_reply()?;
        Ok(client)
    }

    /// Changes the prompt that ends a reply, for commands that switch to a
    /// console with its own prompt (`console` → `console >>> `).
    pub fn set_prompt(&mut self, prompt: &str) {
        self.prompt = prompt.to_owned();
    }

    /// What the server printed before the first prompt.
    pub fn intro(&self) -> &str {
        &self.intro
    }

    /// Sends one command line and returns the reply (without the prompt).
    ///
    /// # Errors
    ///
    /// I/O errors, and [`io::ErrorKind::TimedOut`] when no prompt follows
    /// within 10 s. After `exit`, the reply is what came before the server
    /// closed the connection.
    pub fn command(&mut self, line: &str) -> io::Result<String> {
        // One write per command: two small writes would wait out the
        // server's delayed ACK (Nagle), ~40 ms a command.
        let mut bytes = Vec::with_capacity(line.len() + 2);
        bytes.extend_from_slice(line.as_bytes());
        bytes.extend_from_slice(b"\r\n");
        self.stream.write_all(&bytes)?;
        self.read_reply()
    }

    fn read_reply(&mut self) -> io::Result<String> {
        let deadline = Instant::now() + self.timeout;
        let prompt = self.prompt.as_bytes();
        let mut buf = [0u8; 8192];
        // Only bytes that arrived since the last look can complete the
        // prompt: search from just before them, not from the start, so a
        // reply of megabytes is scanned once.
        let mut searched = 0;
        loop {
            if let Some(at) = find(&self.pending[searched..], prompt).map(|at| at + searched) {
                let reply: Vec<u8> = self.pending.drain(..at + prompt.len()).collect();
                let text = String::from_utf8_lossy(&reply[..at]).replace("\r\n", "\n");
                return Ok(text);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the monitor did not answer within 10 s",
                ));
            }
            self.stream.set_read_timeout(Some(left))?;
            let n = self.stream.read(&mut buf)?;
            if n == 0 {
                let text = String::from_utf8_lossy(&self.pending).replace("\r\n", "\n");
                self.pending.clear();
                return Ok(text);
            }
            searched = self
                .pending
                .len()
                .saturating_sub(prompt.len().saturating_sub(1));
            self.pending.extend_from_slice(&buf[..n]);
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        // An empty prompt ends every reply at once rather than panicking.
        return Some(0);
    }
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}
