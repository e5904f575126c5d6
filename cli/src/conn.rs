//! The connection to a monitor: transport, prompt detection and replies.
//!
//! The monitor speaks a line-oriented telnet-style console: each line we
//! send is answered by free text (CRLF line ends) followed by the prompt
//! with no newline. The client reads the intro that way (learning the
//! prompt, see [`Connection::detect_prompt`]), then switches the session to
//! `.mode json`, where every line is answered by exactly one line holding a
//! JSON object that says whether the command failed — so errors are never
//! guessed from the text.

use crate::catalog::Outcome;

use std::{
    fmt,
    io::{self, Read, Write},
    net::{TcpStream, ToSocketAddrs},
    time::{Duration, Instant},
};

/// How long the stream must stay quiet after a candidate prompt before we
/// trust it. It only guards against a prompt cut between two reads whose
/// first part happens to look like a doubled prompt (`>>` of `>>> `); the
/// server writes the prompt in one go, so this is generous.
const PROMPT_SETTLE: Duration = Duration::from_millis(25);

/// The one line a monitor with a token sends before anything else
/// (without its line end). It sends no intro and no prompt until the
/// client answers `auth TOKEN`.
const CHALLENGE: &str = "Authentication required: send \"auth TOKEN\"";

/// How a monitor with a token answers a wrong one: `Authentication
/// failed.` while more attempts are allowed, `Authentication failed;
/// disconnecting.` after the last.
const AUTH_FAILED: &str = "Authentication failed";

#[cfg(unix)]
use std::path::PathBuf;

/// Where the monitor listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// A TCP host (name or address) and port.
    Tcp { host: String, port: u16 },
    /// A Unix domain socket.
    #[cfg(unix)]
    Unix(PathBuf),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // A bare IPv6 address needs brackets to be read back with a port.
            Self::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Self::Tcp { host, port } => write!(f, "{host}:{port}"),
            #[cfg(unix)]
            Self::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// Why talking to the monitor failed.
#[derive(Debug)]
pub(crate) enum Error {
    /// The connection could not be made.
    Connect { endpoint: String, source: io::Error },
    /// Nothing (or not enough) arrived in time.
    Timeout {
        waiting_for: &'static str,
        after: Duration,
    },
    /// The monitor closed the connection; `text` is what it sent last.
    Closed { text: String },
    /// The connection answered but never showed a prompt we could find.
    NoPrompt { received: String },
    /// The monitor asks for a token and none was given.
    TokenRequired,
    /// The token could not be sent, or the monitor refused it. The message
    /// never contains the token.
    Auth(String),
    /// A line we were asked to send cannot be sent as one line.
    BadLine,
    /// A session control (`.mode json`, …) that would change how replies
    /// are framed, which this client sets itself.
    SessionControl(String),
    /// A reply that is not the JSON object `.mode json` promises.
    Framing(String),
    /// Any other I/O failure.
    Io(io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect { endpoint, source } => {
                write!(f, "cannot connect to {endpoint}: ")?;
                match source.kind() {
                    io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound => {
                        let what = if source.kind() == io::ErrorKind::NotFound {
                            "no such socket"
                        } else {
                            "connection refused"
                        };
                        write!(
                            f,
                            "{what} — is the monitor running? (start it in the application with \
                             monitor_server::start_monitor(..) or MonitorBuilder::new(..).start(), \
                             or point monitor-cli at it with --host/--port/--unix)"
                        )
                    }
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
                        write!(f, "timed out (see --timeout)")
                    }
                    _ => write!(f, "{source}"),
                }
            }
            Self::Timeout { waiting_for, after } => write!(
                f,
                "no {waiting_for} within {}s; the monitor may be stuck or busy (see --timeout)",
                after.as_secs_f64()
            ),
            Self::Closed { text } => {
                write!(f, "the monitor closed the connection")?;
                let text = text.trim();
                if !text.is_empty() {
                    write!(f, ": {}", text.replace('\n', " "))?;
                }
                Ok(())
            }
            Self::NoPrompt { received } => write!(
                f,
                "connected, but found no prompt in what the server sent ({:?}); is this a \
                 monitor? If its prompt is unusual, give it with --prompt",
                truncate(received, 120)
            ),
            Self::TokenRequired => write!(
                f,
                "the monitor requires a token: pass --token or set MONITOR_TOKEN"
            ),
            Self::Auth(message) => write!(f, "authentication failed: {message}"),
            Self::BadLine => write!(f, "a command must be a single line"),
            Self::SessionControl(control) => write!(
                f,
                "\".{control}\" is a session control for raw connections (e.g. `nc`); \
                 monitor-cli sets the session's mode and width itself and does not pass it \
                 on (for JSON, use a command's --json)"
            ),
            Self::Framing(line) => write!(
                f,
                "the monitor's reply is not a JSON line ({:?}); is it an older monitor \
                 without `.mode json` version 2?",
                truncate(line, 120)
            ),
            Self::Io(err) => write!(f, "{err}"),
        }
    }
}

impl std::error::Error for Error {}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

/// What to do on connect.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// Limit for connecting and for each reply.
    pub(crate) timeout: Duration,
    /// The server's prompt, when known; otherwise it is detected.
    pub(crate) prompt: Option<String>,
    /// Sent as `auth TOKEN` when the monitor asks for it.
    pub(crate) token: Option<String>,
}

/// The answer to one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    /// What the command printed, with LF line ends: its text, or its JSON
    /// value on one line.
    pub(crate) text: String,
    /// The server closed the connection after this text (as `exit` does).
    pub(crate) closed: bool,
    /// The command failed: the last line of `text` is its error.
    pub(crate) failed: bool,
    /// The prompt for the next line (it changes in the console).
    pub(crate) prompt: Option<String>,
    /// `text` is one JSON value (the command's `--json` output).
    pub(crate) json: bool,
}

impl Reply {
    /// Splits a failed reply into what the command printed and its error
    /// (the last line), as the server's `ok` field says.
    pub(crate) fn outcome(&self) -> Outcome {
        if !self.failed {
            return Outcome::Success;
        }
        let trimmed = self.text.trim_end_matches('\n');
        let last_start = trimmed.rfind('\n').map_or(0, |i| i + 1);
        Outcome::Failure {
            output: self.text[..last_start].to_owned(),
            error: trimmed[last_start..].to_owned(),
        }
    }

    fn text(text: String, closed: bool) -> Self {
        Self {
            text,
            closed,
            failed: false,
            prompt: None,
            json: false,
        }
    }
}

/// One reply line of `.mode json` (version 2).
#[derive(serde::Deserialize)]
struct JsonReply {
    ok: bool,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    value: Option<Box<serde_json::value::RawValue>>,
    #[serde(default)]
    exit: bool,
    #[serde(default)]
    prompt: Option<String>,
}

enum Stream {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(std::os::unix::net::UnixStream),
}

impl Stream {
    fn set_read_timeout(&self, timeout: Duration) -> io::Result<()> {
        match self {
            Self::Tcp(s) => s.set_read_timeout(Some(timeout)),
            #[cfg(unix)]
            Self::Unix(s) => s.set_read_timeout(Some(timeout)),
        }
    }

    fn set_write_timeout(&self, timeout: Duration) -> io::Result<()> {
        match self {
            Self::Tcp(s) => s.set_write_timeout(Some(timeout)),
            #[cfg(unix)]
            Self::Unix(s) => s.set_write_timeout(Some(timeout)),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Tcp(s) => s.read(buf),
            #[cfg(unix)]
            Self::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Tcp(s) => s.write(buf),
            #[cfg(unix)]
            Self::Unix(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Tcp(s) => s.flush(),
            #[cfg(unix)]
            Self::Unix(s) => s.flush(),
        }
    }
}

/// The result of one read.
enum Filled {
    Data,
    Eof,
    TimedOut,
}

/// An open console session.
pub(crate) struct Connection {
    stream: Stream,
    prompt: Vec<u8>,
    /// Received bytes (telnet commands removed) not yet handed out.
    buf: Vec<u8>,
    telnet: TelnetFilter,
    /// Replies the server owes us that nobody read yet: a completion request
    /// that timed out leaves one behind, and it must be skipped before the
    /// next request or every later reply would be off by one.
    pending: usize,
    timeout: Duration,
    closed: bool,
    /// The session is in `.mode json`: one JSON line per reply.
    json: bool,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("prompt", &String::from_utf8_lossy(&self.prompt))
            .field("pending", &self.pending)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// Connects, authenticates if the monitor asks for a token, finds the
    /// prompt, and returns the session with the server's intro and any
    /// warnings for the user.
    pub(crate) fn open(
        endpoint: &Endpoint,
        options: &Options,
    ) -> Result<(Self, String, Vec<String>), Error> {
        let stream = connect(endpoint, options.timeout)?;
        stream
            .set_write_timeout(options.timeout)
            .map_err(Error::Io)?;
        let mut conn = Self {
            stream,
            prompt: Vec::new(),
            buf: Vec::new(),
            telnet: TelnetFilter::default(),
            pending: 0,
            timeout: options.timeout,
            closed: false,
            json: false,
        };
        let mut warnings = Vec::new();
        // A monitor with a token speaks first and then waits for `auth`:
        // anything else we sent (such as the empty line that finds the
        // prompt) would count as a failed attempt. So listen before talking.
        let greeting = conn.read_greeting(Instant::now() + options.timeout)?;
        match (greeting, &options.token) {
            (Greeting::Challenge, Some(token)) => conn.authenticate(token)?,
            (Greeting::Challenge, None) => return Err(Error::TokenRequired),
            (Greeting::Console, Some(_)) => warnings.push(
                "this monitor does not ask for a token; --token/MONITOR_TOKEN was not sent"
                    .to_owned(),
            ),
            (Greeting::Console, None) => {}
        }
        let deadline = Instant::now() + options.timeout;
        let intro = match &options.prompt {
            Some(prompt) => {
                conn.prompt = prompt.as_bytes().to_vec();
                conn.pending = 1;
                conn.read_reply(deadline, "prompt")?.text
            }
            None => conn.detect_prompt(deadline)?,
        };
        conn.control("mode json")?;
        conn.json = true;
        Ok((conn, intro, warnings))
    }

    /// Sends a session control (`.mode json`, `.width 120`) and checks that
    /// it was accepted.
    fn control(&mut self, control: &str) -> Result<(), Error> {
        self.drain()?;
        self.write_raw(format!(".{control}\r\n").as_bytes())?;
        self.pending += 1;
        // `.mode json` is answered in the new framing already.
        self.json = true;
        let reply = self.read_reply(Instant::now() + self.timeout, "reply")?;
        if reply.closed {
            return Err(Error::Closed { text: reply.text });
        }
        if reply.failed {
            return Err(Error::Framing(reply.text));
        }
        Ok(())
    }

    /// Tells the monitor how wide the terminal is, so tables fit it.
    pub(crate) fn set_width(&mut self, columns: u16) -> Result<(), Error> {
        self.control(&format!("width {columns}"))
    }

    /// The server's prompt.
    pub(crate) fn prompt(&self) -> String {
        String::from_utf8_lossy(&self.prompt).into_owned()
    }

    /// Sends one line and waits for its reply (up to `--timeout`).
    pub(crate) fn request(&mut self, line: &str) -> Result<Reply, Error> {
        self.request_within(line, self.timeout)
    }

    /// Sends one line and waits up to `timeout` for its reply. On a timeout
    /// the reply is still owed, and is skipped by the next request.
    pub(crate) fn request_within(&mut self, line: &str, timeout: Duration) -> Result<Reply, Error> {
        if line.contains(['\n', '\r']) {
            return Err(Error::BadLine);
        }
        if let Some(control) = line.trim_start().strip_prefix('.') {
            // `.mode json` stops the prompts this client waits for; it is
            // meant for scripts on a raw connection (`nc`).
            return Err(Error::SessionControl(control.to_owned()));
        }
        self.drain()?;
        self.write_raw(format!("{line}\r\n").as_bytes())?;
        self.pending += 1;
        self.read_reply(Instant::now() + timeout, "reply")
    }

    /// Reads and drops replies left over from timed-out requests.
    fn drain(&mut self) -> Result<(), Error> {
        while self.pending > 0 {
            let reply = self.read_reply(Instant::now() + self.timeout, "reply")?;
            if reply.closed {
                return Err(Error::Closed { text: reply.text });
            }
        }
        if self.closed {
            return Err(Error::Closed {
                text: String::new(),
            });
        }
        Ok(())
    }

    /// Learns the prompt without knowing it in advance.
    ///
    /// The server sends its intro then the prompt, and answers an empty line
    /// (with no previous command to repeat) with nothing but the prompt
    /// again. So right after connecting we send an empty line: the stream
    /// then ends with the prompt twice, after the intro's last newline, and
    /// that doubled tail gives the prompt away. The limitation: a prompt
    /// containing a newline is not found this way (use `--prompt`).
    fn detect_prompt(&mut self, deadline: Instant) -> Result<String, Error> {
        self.write_raw(b"\r\n")?;
        loop {
            if let Some(len) = doubled_tail(&self.buf) {
                let settle = deadline.min(Instant::now() + PROMPT_SETTLE);
                match self.fill(settle)? {
                    Filled::Data => continue,
                    Filled::Eof => return Err(self.closed_error()),
                    Filled::TimedOut => {
                        let end = self.buf.len() - 2 * len;
                        self.prompt = self.buf[end..end + len].to_vec();
                        let intro = decode(&self.buf[..end]);
                        self.buf.clear();
                        return Ok(intro);
                    }
                }
            }
            match self.fill(deadline)? {
                Filled::Data => {}
                Filled::Eof => return Err(self.closed_error()),
                Filled::TimedOut => {
                    return Err(Error::NoPrompt {
                        received: decode(&self.buf),
                    });
                }
            }
        }
    }

    fn closed_error(&mut self) -> Error {
        Error::Closed {
            text: decode(&std::mem::take(&mut self.buf)),
        }
    }

    /// Waits for what the server says on its own after the connection
    /// opens: the token challenge, or the start of the console (its intro,
    /// or the prompt when the intro is empty). Consumes the challenge line;
    /// leaves the console's first bytes in the buffer for prompt detection.
    fn read_greeting(&mut self, deadline: Instant) -> Result<Greeting, Error> {
        loop {
            if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let line = decode(&self.buf[..end]);
                if line.trim_end() == CHALLENGE {
                    self.buf.drain(..=end);
                    return Ok(Greeting::Challenge);
                }
                return Ok(Greeting::Console);
            }
            // Without a line end yet: still possibly the challenge, cut
            // between two reads, unless it already differs from it.
            if !could_start(CHALLENGE, &self.buf) {
                return Ok(Greeting::Console);
            }
            match self.fill(deadline)? {
                Filled::Data => {}
                Filled::Eof => return Err(self.closed_error()),
                // Prompt detection reports what did arrive, if anything.
                Filled::TimedOut if !self.buf.is_empty() => return Ok(Greeting::Console),
                Filled::TimedOut => {
                    return Err(Error::NoPrompt {
                        received: String::new(),
                    });
                }
            }
        }
    }

    /// Answers the challenge with `auth TOKEN` and waits for the verdict:
    /// the console's intro (left in the buffer) or `Authentication failed`.
    ///
    /// A refusal ends the session here rather than trying again: the token
    /// will not become right, and the server delays each further attempt.
    /// No message ever includes the token.
    fn authenticate(&mut self, token: &str) -> Result<(), Error> {
        if token.is_empty() || token.chars().any(char::is_control) {
            // A line break would end the `auth` line early and send the
            // rest as a command; no monitor accepts such a token anyway.
            return Err(Error::Auth(
                "the token is empty or contains a control character (check --token or \
                 MONITOR_TOKEN)"
                    .to_owned(),
            ));
        }
        // Quoted like any console line; the server accepts `auth 'TOKEN'`.
        self.write_raw(format!("auth {}\r\n", shell_words::quote(token)).as_bytes())?;
        // A refusal comes after a delay (1 s by default), so the wait starts
        // now rather than at connect time.
        let deadline = Instant::now() + self.timeout;
        loop {
            let verdict = match self.buf.iter().position(|&b| b == b'\n') {
                Some(end) => Some(decode(&self.buf[..end]).starts_with(AUTH_FAILED)),
                // An empty intro: the prompt alone, no line end.
                None if !could_start(AUTH_FAILED, &self.buf) => Some(false),
                None => None,
            };
            match verdict {
                Some(true) => {
                    return Err(Error::Auth(
                        "the monitor refused the token (check --token or MONITOR_TOKEN)".to_owned(),
                    ));
                }
                Some(false) => return Ok(()),
                None => {}
            }
            match self.fill(deadline)? {
                Filled::Data => {}
                Filled::Eof => return Err(self.closed_error()),
                Filled::TimedOut => {
                    return Err(Error::Timeout {
                        waiting_for: "answer to the token",
                        after: self.timeout,
                    });
                }
            }
        }
    }

    fn write_raw(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let written = self
            .stream
            .write_all(bytes)
            .and_then(|()| self.stream.flush());
        match written {
            Ok(()) => Ok(()),
            Err(err) if is_disconnect(&err) => {
                self.closed = true;
                Err(self.closed_error())
            }
            Err(err) if is_timeout(&err) => Err(Error::Timeout {
                waiting_for: "room to send",
                after: self.timeout,
            }),
            Err(err) => Err(Error::Io(err)),
        }
    }

    /// Reads one reply: up to the prompt in text mode, one JSON line in
    /// `.mode json`, or to the end of the connection.
    fn read_reply(&mut self, deadline: Instant, waiting_for: &'static str) -> Result<Reply, Error> {
        loop {
            if self.json {
                if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = self.buf.drain(..=end).collect();
                    self.pending = self.pending.saturating_sub(1);
                    return parse_json_reply(&decode(&line));
                }
            } else if !self.prompt.is_empty() && self.buf.ends_with(&self.prompt) {
                // The prompt is the last thing the server writes before it
                // waits for our next line, so it ends the buffer exactly.
                let end = self.buf.len() - self.prompt.len();
                let text = decode(&self.buf[..end]);
                self.buf.clear();
                self.pending = self.pending.saturating_sub(1);
                return Ok(Reply::text(text, false));
            }
            match self.fill(deadline)? {
                Filled::Data => {}
                Filled::Eof => {
                    self.pending = 0;
                    return Ok(Reply::text(decode(&std::mem::take(&mut self.buf)), true));
                }
                Filled::TimedOut => {
                    return Err(Error::Timeout {
                        waiting_for,
                        after: self.timeout,
                    });
                }
            }
        }
    }

    /// Reads once, waiting at most until `deadline`.
    fn fill(&mut self, deadline: Instant) -> Result<Filled, Error> {
        if self.closed {
            return Ok(Filled::Eof);
        }
        let mut chunk = [0u8; 8192];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(Filled::TimedOut);
            }
            self.stream.set_read_timeout(left).map_err(Error::Io)?;
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.closed = true;
                    return Ok(Filled::Eof);
                }
                Ok(n) => {
                    self.telnet.feed(&chunk[..n], &mut self.buf);
                    return Ok(Filled::Data);
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) if is_timeout(&err) => return Ok(Filled::TimedOut),
                Err(err) if is_disconnect(&err) => {
                    self.closed = true;
                    return Ok(Filled::Eof);
                }
                Err(err) => return Err(Error::Io(err)),
            }
        }
    }
}

/// Reads one `.mode json` line into a [`Reply`].
fn parse_json_reply(line: &str) -> Result<Reply, Error> {
    let line = line.trim_end();
    let parsed: JsonReply =
        serde_json::from_str(line).map_err(|_| Error::Framing(line.to_owned()))?;
    let json = parsed.value.is_some();
    let text = match (parsed.value, parsed.text) {
        // A JSON value is printed as the server wrote it, on one line.
        (Some(value), _) => format!("{}\n", value.get()),
        (None, Some(text)) => text,
        (None, None) => String::new(),
    };
    Ok(Reply {
        text,
        closed: parsed.exit,
        failed: !parsed.ok,
        prompt: parsed.prompt,
        json,
    })
}

fn is_timeout(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn is_disconnect(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::UnexpectedEof
    )
}

fn connect(endpoint: &Endpoint, timeout: Duration) -> Result<Stream, Error> {
    let failed = |source| Error::Connect {
        endpoint: endpoint.to_string(),
        source,
    };
    match endpoint {
        Endpoint::Tcp { host, port } => {
            let addrs = (host.as_str(), *port).to_socket_addrs().map_err(failed)?;
            let mut last = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
            // `localhost` may resolve to ::1 and 127.0.0.1 while the monitor
            // listens on one of them only: try each, as other clients do.
            for addr in addrs {
                match TcpStream::connect_timeout(&addr, timeout) {
                    Ok(stream) => {
                        // Commands are tiny single writes; don't let Nagle
                        // hold them back waiting for an ACK.
                        stream.set_nodelay(true).map_err(Error::Io)?;
                        return Ok(Stream::Tcp(stream));
                    }
                    Err(err) => last = err,
                }
            }
            Err(failed(last))
        }
        #[cfg(unix)]
        Endpoint::Unix(path) => std::os::unix::net::UnixStream::connect(path)
            .map(Stream::Unix)
            .map_err(failed),
    }
}

/// What a server sends first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Greeting {
    /// The token challenge: answer `auth TOKEN` before anything else.
    Challenge,
    /// The console itself (intro, prompt): no token needed.
    Console,
}

/// Whether the bytes received so far (no line end yet) may still turn out
/// to be the line `expected`; a trailing CR belongs to the line end.
fn could_start(expected: &str, received: &[u8]) -> bool {
    let received = received.strip_suffix(b"\r").unwrap_or(received);
    expected.as_bytes().starts_with(received)
}

/// The length of `s` when the text after the buffer's last newline is
/// exactly `s` twice.
fn doubled_tail(buf: &[u8]) -> Option<usize> {
    let start = buf.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let tail = &buf[start..];
    if tail.is_empty() || !tail.len().is_multiple_of(2) {
        return None;
    }
    let (first, second) = tail.split_at(tail.len() / 2);
    (first == second).then_some(first.len())
}

/// Server bytes as text, with the telnet CRLF line ends turned back to LF.
fn decode(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace("\r\n", "\n")
}

/// Removes telnet commands (IAC sequences) from the server's output.
///
/// Today's server never sends any, but it is a telnet-style console: a
/// future negotiation (or a proxy in between) must not show up as garbage
/// or break prompt matching. We never agree to options, so there is nothing
/// to answer: staying silent means "no" in telnet.
#[derive(Debug, Default)]
struct TelnetFilter {
    state: TelnetState,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum TelnetState {
    #[default]
    Data,
    Iac,
    Option,
    Sub,
    SubIac,
}

const IAC: u8 = 255;
const SB: u8 = 250;
const SE: u8 = 240;

impl TelnetFilter {
    fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        use TelnetState::*;
        for &byte in input {
            self.state = match (self.state, byte) {
                (Data, IAC) => Iac,
                (Data, _) => {
                    out.push(byte);
                    Data
                }
                (Iac, IAC) => {
                    out.push(IAC);
                    Data
                }
                (Iac, SB) => Sub,
                // WILL, WONT, DO, DONT take an option byte.
                (Iac, 251..=254) => Option,
                (Iac, _) | (Option, _) => Data,
                (Sub, IAC) => SubIac,
                (Sub, _) => Sub,
                (SubIac, SE) => Data,
                (SubIac, _) => Sub,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubled_tail_finds_the_prompt_after_the_intro() {
        let buf = b"Async Rust monitor: 1 task running\r\nType help\r\nmonitor >>> monitor >>> ";
        assert_eq!(doubled_tail(buf), Some("monitor >>> ".len()));
        assert_eq!(doubled_tail(b"intro\r\nmonitor >>> "), None);
        assert_eq!(doubled_tail(b"intro\r\n"), None);
        assert_eq!(doubled_tail(b"> > "), Some(2));
        assert_eq!(doubled_tail(b""), None);
    }

    #[test]
    fn telnet_commands_are_removed_and_escaped_iac_kept() {
        let mut filter = TelnetFilter::default();
        let mut out = Vec::new();
        filter.feed(b"a\xff\xfb\x01b\xff\xffc\xff\xfa\x1f\x00\x50", &mut out);
        // A subnegotiation split across reads.
        filter.feed(b"\x00\x18\xff\xf0d\xff\xf6e", &mut out);
        assert_eq!(out, b"ab\xffcde");
    }

    #[test]
    fn a_partial_challenge_is_waited_for() {
        assert!(could_start(CHALLENGE, b""));
        assert!(could_start(CHALLENGE, b"Authentication req"));
        assert!(could_start(
            CHALLENGE,
            b"Authentication required: send \"auth TOKEN\"\r"
        ));
        assert!(!could_start(CHALLENGE, b"Async Rust monitor"));
        assert!(!could_start(CHALLENGE, b"monitor >>> "));
    }

    #[test]
    fn endpoints_display_as_typed() {
        let tcp = |host: &str| Endpoint::Tcp {
            host: host.into(),
            port: 50101,
        };
        assert_eq!(tcp("127.0.0.1").to_string(), "127.0.0.1:50101");
        assert_eq!(tcp("::1").to_string(), "[::1]:50101");
        #[cfg(unix)]
        assert_eq!(
            Endpoint::Unix("/run/app.sock".into()).to_string(),
            "unix:/run/app.sock"
        );
    }

    #[test]
    fn refused_connections_name_the_address_and_the_fix() {
        let err = Error::Connect {
            endpoint: "127.0.0.1:50101".into(),
            source: io::ErrorKind::ConnectionRefused.into(),
        };
        let text = err.to_string();
        assert!(
            text.starts_with(
                "cannot connect to 127.0.0.1:50101: connection refused — is the monitor running?"
            ),
            "{text}"
        );
    }
}
