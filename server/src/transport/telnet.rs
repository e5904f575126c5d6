//! Lines in, text out: the console's wire format, readable by `nc` and
//! `telnet` alike.
//!
//! Input is decoded by [`LineDecoder`], a synchronous state machine that
//! takes bytes in chunks of any size and turns them into [`Event`]s;
//! [`LineReader`] drives it from an [`AsyncRead`]. Output goes through
//! [`encode_output`].
//!
//! # What the decoder understands
//!
//! * **Line ends**: LF, CR LF, CR NUL and a bare CR. A line is reported as
//!   soon as its CR arrives; the LF or NUL that may follow is swallowed, so a
//!   CR LF split across two reads never makes an extra empty line.
//! * **Telnet commands** (RFC 854/855): bytes after IAC (255) are never
//!   text. Every option but one is refused (`DO x` is answered `WONT x`,
//!   `WILL x` with `DONT x`; `DONT`/`WONT` are not answered, so negotiation
//!   cannot loop), so the client stays in the plain NVT mode `nc` users get
//!   too. The exception is the window size (NAWS, RFC 1073): a client's
//!   `WILL NAWS` is accepted with `DO NAWS`, and its `SB NAWS` reports
//!   become [`Event::WindowSize`]. The server never starts negotiating on
//!   its own, so `nc` never sees a stray byte (a telnet client that does
//!   not offer its size can say `.width N`). Other subnegotiations
//!   (`SB … SE`) are skipped without being stored. `IAC IAC`
//!   is a literal 255 byte. `IP` (interrupt process) and `BRK` become
//!   [`Event::Interrupt`]; `EC` erases a character and `EL` the line, as
//!   NVT says; `AYT` (are you there) is answered with `[yes]`; everything
//!   else (`NOP`, `GA`, `DM`, `AO`, unknown commands) is ignored.
//! * **Control characters**, which a client in character mode (or a paste)
//!   may send: 0x03 (Ctrl-C) is [`Event::Interrupt`]; 0x04 (Ctrl-D) on an
//!   empty line is [`Event::Eof`] and ignored elsewhere; backspace (0x08)
//!   and DEL (0x7F) erase the previous character, because dropping them
//!   would run a command the person never meant to type; TAB is kept; all
//!   other C0 controls are dropped, so lines hold nothing that could upset
//!   a terminal when echoed back in an error message.
//! * **Limits**: a line may hold `max_line` bytes; a longer one is reported
//!   once as [`Event::TooLong`] and the rest of it is dropped up to its end.
//!   The decoder never buffers more than `max_line` bytes, whatever it is
//!   fed.
//!
//! Lines are checked to be UTF-8 when they end; a line that is not becomes
//! [`Event::InvalidUtf8`].

use std::{collections::VecDeque, fmt, io};

use futures_io::AsyncRead;
use futures_lite::AsyncReadExt;

/// Something the client said, as decoded by [`LineDecoder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A complete line, without its line end and without control
    /// characters other than TAB. May be empty.
    Line(String),
    /// The current line grew beyond `limit` bytes. It is dropped, up to and
    /// including its line end; this event comes once per such line, as soon
    /// as the limit is crossed.
    TooLong {
        /// The largest number of bytes a line may have.
        limit: usize,
    },
    /// A line ended that is not valid UTF-8; it is dropped.
    InvalidUtf8,
    /// The client asked to interrupt: telnet `IAC IP` or `IAC BRK`, or a
    /// raw Ctrl-C (0x03). The partial line is dropped. The console cannot
    /// interrupt a command, so the server tells the person how to leave
    /// instead (Ctrl-D or `exit`).
    Interrupt,
    /// The client is done: Ctrl-D (0x04) on an empty line, or the end of
    /// the stream ([`LineDecoder::finish`]). Telnet has no command that
    /// means "goodbye"; clients simply close the connection.
    Eof,
    /// Bytes the server must send to the client, unchanged and soon, to
    /// answer telnet negotiation.
    Reply(Vec<u8>),
    /// The client's terminal size, from telnet's window size option
    /// (NAWS); 0 means the client does not know that dimension.
    WindowSize {
        /// Columns.
        width: u16,
        /// Rows.
        height: u16,
    },
}

/// Telnet "interpret as command".
const IAC: u8 = 255;
const DONT: u8 = 254;
const DO: u8 = 253;
const WONT: u8 = 252;
const WILL: u8 = 251;
const SB: u8 = 250;
const EL: u8 = 248;
const EC: u8 = 247;
const AYT: u8 = 246;
const IP: u8 = 244;
const BRK: u8 = 243;
const SE: u8 = 240;
/// Telnet option: negotiate about window size (RFC 1073).
const NAWS: u8 = 31;

const NUL: u8 = 0x00;
const CTRL_C: u8 = 0x03;
const CTRL_D: u8 = 0x04;
const BS: u8 = 0x08;
const TAB: u8 = 0x09;
const LF: u8 = 0x0a;
const CR: u8 = 0x0d;
const DEL: u8 = 0x7f;

/// The answer to `IAC AYT`: visible, harmless, and ends its own line.
const AYT_REPLY: &[u8] = b"[yes]\r\n";

/// The longest subnegotiation that is skipped. We accept only the window
/// size (9 bytes on the wire) and refuse every other option, so a client
/// sends at most a short one it started before hearing the refusal. Past this many bytes the `IAC SB` was probably
/// a stray 0xFA in binary input, and decoding resumes rather than
/// swallowing the rest of the session waiting for `IAC SE`.
const MAX_SUBNEGOTIATION: usize = 1024;

/// The first allocation for a line's bytes; it doubles up to `max_line`.
const INITIAL_LINE_CAPACITY: usize = 64;

/// Where the decoder is in the telnet command syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Ordinary bytes.
    Data,
    /// After IAC.
    Command,
    /// After IAC WILL/WONT/DO/DONT, waiting for the option byte.
    Option(u8),
    /// Inside IAC SB; the count of bytes skipped so far.
    Sub(usize),
    /// Inside IAC SB, after IAC; the count of bytes skipped so far.
    SubCommand(usize),
}

/// Turns the bytes a console client sends into [`Event`]s.
///
/// It is a pure state machine: feed it chunks as they arrive, split
/// anywhere (even inside a telnet command or a CR LF), and it produces the
/// same events as for the whole input at once. See the
/// [module documentation](self) for what it understands.
///
/// # Example
///
/// ```
/// use monitor_server::transport::telnet::{Event, LineDecoder};
///
/// let mut decoder = LineDecoder::new(1024);
/// let mut events = Vec::new();
/// decoder.feed(b"ps\r", &mut events);
/// decoder.feed(b"\n\xff\xfd\x01help", &mut events); // LF, then IAC DO ECHO
/// decoder.finish(&mut events);
/// assert_eq!(
///     events,
///     [
///         Event::Line("ps".into()),
///         Event::Reply(vec![255, 252, 1]), // IAC WONT ECHO
///         Event::Line("help".into()),
///         Event::Eof,
///     ]
/// );
/// ```
#[derive(Debug, Clone)]
pub struct LineDecoder {
    max_line: usize,
    line: Vec<u8>,
    state: State,
    /// The current line crossed `max_line` and is dropped up to its end.
    discarding: bool,
    /// The last data byte was a CR, so a LF or NUL now is part of its line
    /// end.
    after_cr: bool,
    /// The client's `WILL NAWS` was acknowledged with `DO NAWS`.
    naws_accepted: bool,
    /// The first bytes of the current subnegotiation: the option and, for
    /// NAWS, the four size bytes.
    sub: [u8; 5],
}

impl LineDecoder {
    /// Creates a decoder for lines of at most `max_line` bytes (without
    /// their line end).
    pub fn new(max_line: usize) -> Self {
        Self {
            max_line,
            line: Vec::new(),
            state: State::Data,
            discarding: false,
            after_cr: false,
            naws_accepted: false,
            sub: [0; 5],
        }
    }

    /// The longest line, in bytes, that is reported as [`Event::Line`].
    pub fn max_line(&self) -> usize {
        self.max_line
    }

    /// Bytes allocated for the line being received; never more than
    /// [`max_line`](Self::max_line), however long the input.
    pub fn buffer_capacity(&self) -> usize {
        self.line.capacity()
    }

    /// Decodes `bytes`, appending what they mean to `events`.
    ///
    /// A chunk can complete several lines, or none; bytes of an incomplete
    /// line or telnet command are kept for the next call.
    pub fn feed(&mut self, bytes: &[u8], events: &mut Vec<Event>) {
        for &byte in bytes {
            self.byte(byte, events);
        }
    }

    /// Handles the end of the input stream: reports a last line that lacks
    /// its line end (`printf ps | nc ...` sends one), then [`Event::Eof`].
    ///
    /// The decoder is reset and could decode a new stream afterwards.
    pub fn finish(&mut self, events: &mut Vec<Event>) {
        if !self.line.is_empty() {
            self.end_line(events);
        }
        self.line.clear();
        self.state = State::Data;
        self.discarding = false;
        self.after_cr = false;
        self.naws_accepted = false;
        events.push(Event::Eof);
    }

    fn byte(&mut self, byte: u8, events: &mut Vec<Event>) {
        match self.state {
            State::Data if byte == IAC => self.state = State::Command,
            State::Data => self.data(byte, events),
            State::Command => {
                self.state = State::Data;
                self.command(byte, events);
            }
            State::Option(verb) => {
                self.state = State::Data;
                self.negotiate(verb, byte, events);
            }
            State::Sub(skipped) if byte == IAC => self.state = State::SubCommand(skipped),
            State::Sub(skipped) if skipped >= MAX_SUBNEGOTIATION => {
                self.state = State::Data;
                self.data(byte, events);
            }
            State::Sub(skipped) => self.sub_byte(skipped, byte),
            State::SubCommand(skipped) => match byte {
                SE => {
                    self.state = State::Data;
                    self.end_subnegotiation(skipped, events);
                }
                // An escaped 255 inside the subnegotiation.
                IAC => self.sub_byte(skipped, IAC),
                // Not allowed here; the client forgot IAC SE. End the
                // subnegotiation and obey the command.
                _ => {
                    self.state = State::Data;
                    self.command(byte, events);
                }
            },
        }
    }

    /// `IAC verb option`: accept the client's window size, refuse
    /// everything else, and answer only requests to enable: DONT and WONT
    /// already match our state, and answering them is how negotiation
    /// loops start (RFC 854).
    fn negotiate(&mut self, verb: u8, option: u8, events: &mut Vec<Event>) {
        match (verb, option) {
            // Acknowledge once; a repeated WILL is not answered again.
            (WILL, NAWS) if !self.naws_accepted => {
                self.naws_accepted = true;
                events.push(Event::Reply(vec![IAC, DO, NAWS]));
            }
            (WILL, NAWS) => {}
            (WONT, NAWS) => self.naws_accepted = false,
            (DO, _) => events.push(Event::Reply(vec![IAC, WONT, option])),
            (WILL, _) => events.push(Event::Reply(vec![IAC, DONT, option])),
            _ => {}
        }
    }

    /// One byte of a subnegotiation: the first few are kept (for NAWS), the
    /// rest only counted.
    fn sub_byte(&mut self, skipped: usize, byte: u8) {
        if let Some(slot) = self.sub.get_mut(skipped) {
            *slot = byte;
        }
        self.state = State::Sub(skipped + 1);
    }

    /// `IAC SE` after `len` bytes of subnegotiation.
    fn end_subnegotiation(&mut self, len: usize, events: &mut Vec<Event>) {
        if len == self.sub.len() && self.sub[0] == NAWS {
            let [_, w1, w0, h1, h0] = self.sub;
            events.push(Event::WindowSize {
                width: u16::from_be_bytes([w1, w0]),
                height: u16::from_be_bytes([h1, h0]),
            });
        }
    }

    /// The byte after an IAC.
    fn command(&mut self, byte: u8, events: &mut Vec<Event>) {
        match byte {
            IAC => self.data(IAC, events),
            DO | DONT | WILL | WONT => self.state = State::Option(byte),
            SB => self.state = State::Sub(0),
            IP | BRK => self.interrupt(events),
            AYT => events.push(Event::Reply(AYT_REPLY.to_vec())),
            EC => self.erase_char(),
            EL => {
                self.line.clear();
                self.discarding = false;
            }
            // NOP, DM, AO, GA, a stray SE, and undefined commands.
            _ => {}
        }
    }

    /// A byte that is not part of a telnet command.
    fn data(&mut self, byte: u8, events: &mut Vec<Event>) {
        if std::mem::take(&mut self.after_cr) && (byte == LF || byte == NUL) {
            return;
        }
        match byte {
            LF => self.end_line(events),
            CR => {
                self.end_line(events);
                self.after_cr = true;
            }
            CTRL_C => self.interrupt(events),
            CTRL_D if self.line.is_empty() && !self.discarding => events.push(Event::Eof),
            BS | DEL => self.erase_char(),
            TAB => self.push(byte, events),
            0x00..=0x1f => {}
            _ => self.push(byte, events),
        }
    }

    fn push(&mut self, byte: u8, events: &mut Vec<Event>) {
        if self.discarding {
            return;
        }
        if self.line.len() >= self.max_line {
            events.push(Event::TooLong {
                limit: self.max_line,
            });
            self.discarding = true;
            self.line.clear();
            return;
        }
        if self.line.len() == self.line.capacity() {
            // Grow by hand: `push` alone could double the buffer past
            // `max_line`.
            let target = (self.line.capacity() * 2)
                .max(INITIAL_LINE_CAPACITY)
                .min(self.max_line);
            self.line.reserve_exact(target - self.line.len());
        }
        self.line.push(byte);
    }

    fn end_line(&mut self, events: &mut Vec<Event>) {
        if std::mem::take(&mut self.discarding) {
            // Already reported as `TooLong`.
            return;
        }
        // Convert a copy, so the buffer and its allocation stay with the
        // decoder for the next line.
        events.push(match std::str::from_utf8(&self.line) {
            Ok(line) => Event::Line(line.to_owned()),
            Err(_) => Event::InvalidUtf8,
        });
        self.line.clear();
    }

    fn interrupt(&mut self, events: &mut Vec<Event>) {
        self.line.clear();
        self.discarding = false;
        events.push(Event::Interrupt);
    }

    /// Removes the last character: its UTF-8 continuation bytes and the
    /// byte that starts it (at most four bytes, should the line not be
    /// UTF-8).
    fn erase_char(&mut self) {
        for _ in 0..4 {
            match self.line.pop() {
                Some(byte) if byte & 0xc0 == 0x80 => continue,
                _ => break,
            }
        }
    }
}

/// How many bytes [`LineReader`] asks the stream for at once.
const READ_CHUNK: usize = 4096;

/// Reads [`Event`]s from a console client's stream.
///
/// Memory stays bounded whatever the client sends: one chunk of input,
/// one line of at most `max_line` bytes, and the events decoded from one
/// chunk.
///
/// # Example
///
/// ```
/// use futures_lite::future;
/// use monitor_server::transport::telnet::{Event, LineReader};
///
/// future::block_on(async {
///     let mut reader = LineReader::new(&b"ps\r\n\x04"[..], 1024);
///     assert_eq!(reader.next_event().await?, Event::Line("ps".into()));
///     assert_eq!(reader.next_event().await?, Event::Eof);
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct LineReader<R> {
    reader: R,
    decoder: LineDecoder,
    pending: VecDeque<Event>,
    decoded: Vec<Event>,
    chunk: Box<[u8]>,
    at_end: bool,
}

impl<R: AsyncRead + Unpin> LineReader<R> {
    /// Reads from `reader`, with lines of at most `max_line` bytes.
    pub fn new(reader: R, max_line: usize) -> Self {
        Self {
            reader,
            decoder: LineDecoder::new(max_line),
            pending: VecDeque::new(),
            decoded: Vec::new(),
            chunk: vec![0; READ_CHUNK].into_boxed_slice(),
            at_end: false,
        }
    }

    /// Waits for the next event.
    ///
    /// At the end of the stream a last unterminated line is reported, then
    /// [`Event::Eof`], which is repeated by every later call.
    ///
    /// Cancel-safe: if the future is dropped before it completes (say, the
    /// server is shutting down), no input is lost.
    ///
    /// # Errors
    ///
    /// Whatever reading the stream fails with, except
    /// [`io::ErrorKind::Interrupted`], which is retried.
    pub async fn next_event(&mut self) -> io::Result<Event> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(event);
            }
            if self.at_end {
                return Ok(Event::Eof);
            }
            let n = match self.reader.read(&mut self.chunk).await {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                self.at_end = true;
                self.decoder.finish(&mut self.decoded);
            } else {
                self.decoder.feed(&self.chunk[..n], &mut self.decoded);
            }
            self.pending.extend(self.decoded.drain(..));
        }
    }

    /// The underlying stream.
    pub fn get_ref(&self) -> &R {
        &self.reader
    }

    /// The underlying stream. Reading from it directly skips the decoder.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.reader
    }

    /// Returns the underlying stream; undelivered events are lost.
    pub fn into_inner(self) -> R {
        self.reader
    }
}

impl<R> fmt::Debug for LineReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineReader")
            .field("decoder", &self.decoder)
            .field("pending", &self.pending)
            .field("at_end", &self.at_end)
            .finish_non_exhaustive()
    }
}

/// Encodes console output for the wire: every line end becomes CR LF, as
/// the telnet NVT requires (`nc` users' terminals do not mind).
///
/// `\n` and `\r\n` become CR LF, and a lone `\r` becomes CR NUL, so a
/// telnet client moves to the start of the line without starting a new
/// one. Each call stands alone: text should not end in the middle of a
/// `\r\n`.
///
/// ```
/// use monitor_server::transport::telnet::encode_output;
///
/// assert_eq!(encode_output("a\nb\r\nc"), b"a\r\nb\r\nc");
/// ```
pub fn encode_output(text: &str) -> Vec<u8> {
    encode_output_bytes(text.as_bytes())
}

/// Like [`encode_output`], for bytes that need not be UTF-8: also doubles
/// every 0xFF byte, which telnet would read as the start of a command
/// (IAC). UTF-8 text never contains 0xFF, which is why [`encode_output`]
/// needs no such care.
pub fn encode_output_bytes(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 32 + 2);
    let mut rest = 0;
    // Copy the runs between special bytes in bulk: a `ps --json` over
    // 100 000 tasks is tens of megabytes with one special byte per line.
    while let Some(found) = memchr::memchr3(LF, CR, IAC, &bytes[rest..]) {
        let i = rest + found;
        out.extend_from_slice(&bytes[rest..i]);
        match bytes[i] {
            LF => {
                if i == 0 || bytes[i - 1] != CR {
                    out.push(CR);
                }
                out.push(LF);
            }
            CR => {
                out.push(CR);
                if bytes.get(i + 1) != Some(&LF) {
                    out.push(NUL);
                }
            }
            _ => out.extend_from_slice(&[IAC, IAC]),
        }
        rest = i + 1;
    }
    out.extend_from_slice(&bytes[rest..]);
    out
}
