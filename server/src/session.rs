//! One console session: bytes in, lines to the dispatcher, replies out.

use std::{
    borrow::Cow,
    fmt::Write as _,
    io,
    panic::AssertUnwindSafe,
    sync::Arc,
    time::{Duration, Instant},
};

use futures_lite::{AsyncWriteExt, FutureExt as _, io::WriteHalf};

use monitor_core::{
    dispatch::{ReplyStream, Session},
    panic_message,
    transport::{Connection, Stream},
};

use crate::{
    auth::{self, Outcome},
    commands::MonitorContext,
    console::ConsoleContext,
    monitor::{Service, SessionSlot},
    pace::Pace,
    transport::telnet::{Event, LineReader, encode_output},
};

/// Answers a client over the session limit and hangs up.
pub(super) async fn refuse(connection: Connection, slot: SessionSlot, stop: Stop) {
    let message = refusal(&slot.0);
    let timeout = slot.0.limits.write_timeout;
    let peer = connection.peer.clone();
    let answer = async move {
        let mut stream = connection.stream;
        let _ = write_timed(&mut stream, &encode_output(&message), timeout).await;
        let _ = stream.close().await;
    };
    contained(answer, stop, format!("session {peer}")).await;
}

/// What a client over the session limit is told.
///
/// With a token, a client that has not authenticated learns nothing but
/// the challenge; a refusal that named the service and its limit would tell
/// a scanner what is listening, so it is neutral. Without a token there is
/// nothing to hide and the operator learns why.
fn refusal(shared: &crate::monitor::Shared) -> String {
    if shared.auth.is_some() {
        "Busy; try again later.\n".to_owned()
    } else {
        let limit = shared.limits.max_sessions;
        let plural = if limit == 1 { "" } else { "s" };
        format!("The monitor is serving its limit of {limit} session{plural}; try again later.\n")
    }
}

/// Serves one console session until the client leaves, idles out or stops
/// reading. A panic inside the session ends only this session.
pub(super) async fn run(connection: Connection, slot: SessionSlot, stop: Stop) {
    let peer = connection.peer.clone();
    contained(serve(connection, &slot), stop, format!("session {peer}")).await;
}

/// The monitor is closing: resolves when [`Monitor::close`](super::Monitor::close)
/// drops the sending end.
pub(super) type Stop = async_channel::Receiver<()>;

/// Runs `work` until it ends or the monitor closes, whichever is first,
/// with every panic caught and logged, including one raised while `work`
/// is dropped.
///
/// That last part is why sessions do not simply let the executor drop them
/// at shutdown: `async-task` drops a pending task's future under an
/// abort-on-panic guard, so a stream or a command whose destructor panics
/// would abort the whole application. Dropped here instead, inside
/// `catch_unwind`, it costs a log line.
pub(super) async fn contained(
    work: impl std::future::Future<Output = ()>,
    stop: Stop,
    who: String,
) {
    let stopped = async move {
        let _ = stop.recv().await;
    };
    // `work` is dropped at the end of this block, still inside the guard.
    let guarded = async move { work.or(stopped).await };
    if let Err(payload) = AssertUnwindSafe(guarded).catch_unwind().await {
        eprintln!(
            "monitor: {who} ended by a panic: {}",
            panic_message(&*payload)
        );
    }
}

/// How replies are framed for the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// What a person with `nc` or `telnet` sees: reply text, then a prompt.
    Text,
    /// For scripts: one JSON object per line and no prompt (`.mode json`).
    Json,
}

/// One reply on its way to the client, whatever produced it.
struct Answer {
    text: String,
    is_error: bool,
    exit: bool,
    /// The rest of a streamed reply, written chunk by chunk after `text`.
    stream: Option<ReplyStream>,
    /// `text` and `stream` together are one JSON value (a `--json` reply).
    json: bool,
    /// The command that failed, for `.mode json`'s error fields; `None`
    /// for lines that named no command.
    command: Option<String>,
}

impl Answer {
    fn error(text: String) -> Self {
        Self {
            text,
            is_error: true,
            exit: false,
            stream: None,
            json: false,
            command: None,
        }
    }

    fn ok(text: String) -> Self {
        Self {
            is_error: false,
            ..Self::error(text)
        }
    }
}

/// The per-connection state: the monitor session, and the console
/// sub-session while one is open.
struct Conversation {
    monitor: Session<MonitorContext>,
    console: Option<Session<ConsoleContext>>,
    /// The connection came in on a console listener: leaving the console
    /// ends it instead of returning to the monitor.
    console_only: bool,
    framing: Framing,
    /// When an empty line last repeated a command.
    last_repeat: Option<Instant>,
}

impl Conversation {
    fn prompt(&self) -> &str {
        match &self.console {
            Some(console) => console.prompt(),
            None => self.monitor.prompt(),
        }
    }

    fn open_console(&mut self, shared: &crate::monitor::Shared) -> Option<String> {
        let service = shared.console.as_ref()?;
        let context = ConsoleContext::new(Arc::clone(&service.namespace));
        let console = Session::new(Arc::clone(&service.dispatcher), context);
        let intro = console.intro(service.namespace.len());
        self.console = Some(console);
        Some(intro)
    }

    async fn handle(&mut self, line: &str, shared: &crate::monitor::Shared) -> Answer {
        if let Some(control) = line.trim_start().strip_prefix('.') {
            return self.control(control);
        }
        if line.trim().is_empty() && !self.may_repeat() {
            return Answer::ok(String::new());
        }
        let (reply, stream, json, command) = match &mut self.console {
            Some(console) => {
                let reply = console.handle_line(line).await;
                let command = reply
                    .is_error
                    .then(|| command_name(console.dispatcher(), line))
                    .flatten();
                (reply, console.take_stream(), false, command)
            }
            None => {
                let reply = self.monitor.handle_line(line).await;
                let json = self.monitor.context_mut().take_json_reply();
                let command = reply
                    .is_error
                    .then(|| command_name(self.monitor.dispatcher(), line))
                    .flatten();
                (reply, self.monitor.take_stream(), json, command)
            }
        };
        let mut answer = Answer {
            text: reply.text,
            is_error: reply.is_error,
            exit: reply.exit,
            stream,
            json,
            command,
        };
        if answer.exit && self.console.is_some() && !self.console_only {
            // `exit` in the console returns to the monitor.
            self.console = None;
            answer.exit = false;
        } else if self.console.is_none()
            && self.monitor.context_mut().take_console_request()
            && let Some(intro) = self.open_console(shared)
        {
            answer.text.push_str(&intro);
        }
        answer
    }

    /// Whether an empty line may repeat the last command now: at most once
    /// per [`REPEAT_INTERVAL`].
    ///
    /// An empty line repeats the last command (Python's `cmd` does so), so
    /// without a bound `ps` and fifty empty lines, 53 bytes in, would ask
    /// for fifty tables. A person pressing Enter to refresh a listing is
    /// served; faster empty lines get the prompt back and nothing else.
    fn may_repeat(&mut self) -> bool {
        let now = Instant::now();
        let allowed = self
            .last_repeat
            .is_none_or(|last| now.duration_since(last) >= REPEAT_INTERVAL);
        if allowed {
            self.last_repeat = Some(now);
        }
        allowed
    }

    /// Session controls: lines starting with `.` never reach a command.
    fn control(&mut self, control: &str) -> Answer {
        let words: Vec<&str> = control.split_whitespace().collect();
        match words.as_slice() {
            ["mode", "json"] => {
                self.framing = Framing::Json;
                Answer::ok(String::new())
            }
            ["mode", "text"] => {
                self.framing = Framing::Text;
                Answer::ok("Text mode: replies are followed by the prompt.\n".to_owned())
            }
            ["width", rest @ ..] => self.width_control(rest),
            _ => Answer::error(format!(
                "unknown session control \".{control}\"; accepted: .mode json, .mode text, \
                 .width [N]\n"
            )),
        }
    }

    /// `.width` tells the width tables are laid out for; `.width N` sets
    /// it (monitor-cli sends its terminal's).
    fn width_control(&mut self, words: &[&str]) -> Answer {
        let current = self.monitor.context().width();
        match words {
            [] => Answer::ok(format!(
                "Tables are laid out for {current} columns; set with .width N \
                 ({MIN_WIDTH}..={MAX_WIDTH}), or see everything with ps --wide.\n"
            )),
            [n] => match n.parse::<usize>() {
                Ok(width) if (MIN_WIDTH..=MAX_WIDTH).contains(&width) => {
                    self.monitor.context_mut().set_width(width);
                    Answer::ok(String::new())
                }
                _ => Answer::error(format!(
                    "invalid width \"{n}\" (expected a number of columns from {MIN_WIDTH} to \
                     {MAX_WIDTH}); the width stays {current}\n"
                )),
            },
            _ => Answer::error("usage: .width [N]\n".to_owned()),
        }
    }

    /// The client's terminal reported its size (telnet NAWS): tables follow
    /// it, within the bounds `.width` accepts; 0 (unknown) is ignored.
    fn window_resized(&mut self, width: u16) {
        if width > 0 {
            let width = usize::from(width).clamp(MIN_WIDTH, MAX_WIDTH);
            self.monitor.context_mut().set_width(width);
        }
    }
}

/// The narrowest session width accepted: narrower, tables are stubs.
const MIN_WIDTH: usize = 20;
/// The widest session width accepted.
const MAX_WIDTH: usize = 1000;

async fn serve(connection: Connection, slot: &SessionSlot) {
    let shared = &slot.0;
    let listener = &slot.1;
    let limits = shared.limits;
    let (reader, writer) = futures_lite::io::split(connection.stream);
    let mut reader = LineReader::new(reader, limits.max_line);
    let mut out = Writer {
        inner: writer,
        timeout: limits.write_timeout,
        output: Pace::new(limits.output_rate, limits.output_rate),
    };
    if let Some(auth) = &shared.auth {
        let outcome = auth::authenticate(
            &mut reader,
            &mut out,
            auth,
            listener.local,
            &connection.peer,
            limits.idle_timeout,
        )
        .await;
        if let Outcome::Denied = outcome {
            let _ = out.inner.close().await;
            return;
        }
    }
    let context = MonitorContext::new(
        Arc::clone(&shared.introspect),
        connection.peer,
        shared.console.is_some(),
    );
    let mut talk = Conversation {
        monitor: Session::new(Arc::clone(&shared.dispatcher), context),
        console: None,
        console_only: listener.service == Service::Console,
        framing: Framing::Text,
        last_repeat: None,
    };

    let intro = if talk.console_only {
        talk.open_console(shared).unwrap_or_default()
    } else {
        talk.monitor.intro(shared.introspect.live_count())
    };
    if out.text(&intro).await.is_err() || out.text(talk.prompt()).await.is_err() {
        return;
    }
    let mut lines = Pace::new(limits.line_rate, limits.line_rate);
    loop {
        end_turn(&mut lines).await;
        let event = reader.next_event().or(idle(limits.idle_timeout)).await;
        let mut answer = match event {
            Ok(Event::Line(line)) => talk.handle(&line, shared).await,
            Ok(Event::TooLong { limit }) => Answer::error(format!(
                "error: line longer than {limit} bytes ignored; commands are short, check what \
                 is being pasted\n"
            )),
            Ok(Event::InvalidUtf8) => {
                Answer::error("error: line is not valid UTF-8 and was ignored\n".to_owned())
            }
            Ok(Event::Interrupt) => Answer::error(
                "\n(Ctrl-C does not stop the monitor session; press Ctrl-D or type exit to \
                 leave)\n"
                    .to_owned(),
            ),
            Ok(Event::WindowSize { width, .. }) => {
                talk.window_resized(width);
                continue;
            }
            Ok(Event::Reply(bytes)) => {
                if out.raw(&bytes).await.is_err() {
                    return;
                }
                continue;
            }
            Ok(Event::Eof) => {
                let _ = out.inner.close().await;
                return;
            }
            Err(err) if err.kind() == io::ErrorKind::TimedOut => {
                let message = format!(
                    "\nsession closed after {} without input\n",
                    readable(limits.idle_timeout)
                );
                let _ = out.text(&message).await;
                let _ = out.inner.close().await;
                return;
            }
            Err(_) => return,
        };
        if send(&mut out, &talk, &mut answer).await.is_err() {
            return;
        }
        if answer.exit {
            let _ = out.inner.close().await;
            return;
        }
    }
}

/// How often an empty line may repeat the last command; see
/// `Conversation::may_repeat`.
const REPEAT_INTERVAL: Duration = Duration::from_secs(1);

/// Ends a session's turn before it reads its next line: every line (or
/// telnet reply) it was served is charged to its line rate, and the loop
/// goes to the other sessions.
///
/// Without this a client that pipelines lines never lets the session's
/// future return `Pending` (its lines are already buffered, its replies
/// fit in the socket), and the monitor's one loop serves nobody else.
async fn end_turn(lines: &mut Pace) {
    let now = Instant::now();
    lines.charge(1, now);
    if lines.wait(now).is_zero() {
        futures_lite::future::yield_now().await;
    } else {
        lines.ready().await;
    }
}

/// Writes one answer in the session's framing — its text, then a streamed
/// rest chunk by chunk (each produced only once the previous one has been
/// written, so a reply of any size is never held whole) — followed by the
/// prompt in text mode.
async fn send(out: &mut Writer, talk: &Conversation, answer: &mut Answer) -> io::Result<()> {
    let stream = answer.stream.take();
    match talk.framing {
        Framing::Text => {
            out.text(&neutralize_controls(&answer.text)).await?;
            for chunk in stream.into_iter().flatten() {
                out.text(&neutralize_controls(&chunk)).await?;
            }
            if answer.exit {
                return Ok(());
            }
            out.text(talk.prompt()).await
        }
        Framing::Json => send_json(out, talk, answer, stream).await,
    }
}

/// The command a line ran, as the dispatcher resolves its first word.
fn command_name<C>(
    dispatcher: &monitor_core::dispatch::Dispatcher<C>,
    line: &str,
) -> Option<String> {
    match dispatcher.resolve_line(line) {
        monitor_core::dispatch::Precmd::Run { command, .. } => Some(command),
        _ => None,
    }
}

/// Writes one answer in `.mode json`: exactly one line, one JSON object,
/// however the reply was produced.
///
/// `{"v":2,"ok":true,"value":…}` for a JSON reply (`--json`), the value
/// itself rather than a string holding it; `{"v":2,"ok":true,"text":"…"}`
/// for text; `{"v":2,"ok":false,"error":{"command":…,"message":…},"text":…}`
/// for an error; each with `"exit"`, `"console"` and the `"prompt"` text
/// mode would show next (so a client can show it). A streamed reply is
/// written into its object chunk by chunk (a value's chunks raw, a text's
/// escaped), so it is never held whole here either. serde_json escapes
/// every control character, so an object never spans lines.
async fn send_json(
    out: &mut Writer,
    talk: &Conversation,
    answer: &Answer,
    stream: Option<ReplyStream>,
) -> io::Result<()> {
    let tail = format!(
        ",\"exit\":{},\"console\":{},\"prompt\":{}}}\n",
        answer.exit,
        talk.console.is_some(),
        serde_json::Value::from(talk.prompt())
    );
    if answer.is_error {
        let message = answer.text.trim_end().lines().last().unwrap_or_default();
        let message = answer
            .command
            .as_deref()
            .and_then(|name| message.strip_prefix(name)?.strip_prefix(": "))
            .unwrap_or(message);
        let head = serde_json::json!({
            "v": JSON_FRAMING_VERSION,
            "ok": false,
            "error": { "command": answer.command, "message": message },
            "text": answer.text,
        })
        .to_string();
        return out
            .text(&format!("{}{tail}", &head[..head.len() - 1]))
            .await;
    }
    let head = format!("{{\"v\":{JSON_FRAMING_VERSION},\"ok\":true,");
    let value_whole = !answer.text.trim().is_empty()
        && serde_json::from_str::<serde::de::IgnoredAny>(&answer.text).is_ok();
    if answer.json && (stream.is_some() || value_whole) {
        out.text(&format!("{head}\"value\":")).await?;
        out.text(answer.text.trim_end()).await?;
        for chunk in stream.into_iter().flatten() {
            out.text(chunk.trim_end()).await?;
        }
        return out.text(&tail).await;
    }
    out.text(&format!("{head}\"text\":\"")).await?;
    out.text(&json_escaped(&answer.text)).await?;
    for chunk in stream.into_iter().flatten() {
        out.text(&json_escaped(&chunk)).await?;
    }
    out.text(&format!("\"{tail}")).await
}

/// The version in every `.mode json` object: 2 since a reply is always
/// exactly one object and JSON replies are values.
const JSON_FRAMING_VERSION: u32 = 2;

/// `text` escaped for the inside of a JSON string (without the quotes).
fn json_escaped(text: &str) -> String {
    let quoted = serde_json::Value::from(text).to_string();
    quoted[1..quoted.len() - 1].to_owned()
}

/// `5 min`, `90s`, `300.0ms`: a timeout as configured, without rounding a
/// short one down to `0s`.
fn readable(timeout: Duration) -> String {
    let secs = timeout.as_secs();
    match (secs, timeout.subsec_nanos()) {
        (1.., 0) if secs.is_multiple_of(60) => format!("{} min", secs / 60),
        (1.., 0) => format!("{secs}s"),
        _ => crate::format::duration_ns(u64::try_from(timeout.as_nanos()).unwrap_or(u64::MAX)),
    }
}

async fn idle(timeout: Duration) -> io::Result<Event> {
    async_io::Timer::after(timeout).await;
    Err(io::Error::new(io::ErrorKind::TimedOut, "idle timeout"))
}

/// The write half of a session, with a deadline on every write so a client
/// that stops reading is dropped instead of growing a buffer.
pub(super) struct Writer {
    inner: WriteHalf<Box<dyn Stream>>,
    timeout: Duration,
    /// The session's output rate: a write waits until the ones before it
    /// are paid off, so the bytes one client can ask for per second are
    /// bounded however cheap its requests are.
    output: Pace,
}

impl Writer {
    pub(super) async fn text(&mut self, text: &str) -> io::Result<()> {
        if text.is_empty() {
            return Ok(());
        }
        self.raw(&encode_output(text)).await
    }

    async fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.output.ready().await;
        write_timed(&mut self.inner, bytes, self.timeout).await?;
        let sent = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
        self.output.charge(sent, Instant::now());
        Ok(())
    }
}

/// Writes all of `bytes`, failing when the client accepts nothing for
/// `timeout`.
///
/// The deadline is on progress, not on the whole reply: a slow link that
/// keeps reading gets all of a long `ps`, a client that stopped reading is
/// dropped `timeout` after its buffers filled up. Either way the session
/// holds at most the one reply it is writing.
async fn write_timed<W: futures_io::AsyncWrite + Unpin>(
    writer: &mut W,
    mut bytes: &[u8],
    timeout: Duration,
) -> io::Result<()> {
    while !bytes.is_empty() {
        let written = within(timeout, writer.write(bytes)).await?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        bytes = &bytes[written..];
    }
    within(timeout, writer.flush()).await
}

async fn within<T>(
    timeout: Duration,
    io: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    io.or(async {
        async_io::Timer::after(timeout).await;
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "client stopped reading",
        ))
    })
    .await
}

/// Shows control characters in command output as `\xNN` instead of sending
/// them to the person's terminal.
///
/// Replies carry text the console does not control: task names, spawn
/// locations, panic messages of terminated tasks, which may quote a
/// request's bytes. An escape sequence in one of them would otherwise be
/// run by the terminal at the other end (retitle it, rewrite what is on
/// screen, or, in some terminals, write the clipboard). Line feeds and
/// tabs are layout and stay; JSON output has its own escaping and never
/// holds raw controls.
pub(super) fn neutralize_controls(text: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.contains(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut clean = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if unsafe_char(c) {
            // Every control character is below U+00A0, so two digits do.
            let _ = write!(clean, "\\x{:02x}", u32::from(c));
        } else {
            clean.push(c);
        }
    }
    Cow::Owned(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_read_as_configured() {
        assert_eq!(readable(Duration::from_secs(300)), "5 min");
        assert_eq!(readable(Duration::from_secs(90)), "90s");
        assert_eq!(readable(Duration::from_millis(300)), "300.0ms");
    }

    #[test]
    fn controls_are_shown_not_sent() {
        assert_eq!(neutralize_controls("a\tb\nc"), "a\tb\nc");
        assert_eq!(
            neutralize_controls("name\x1b]0;pwned\x07\r\u{9b}2J"),
            "name\\x1b]0;pwned\\x07\\x0d\\x9b2J"
        );
        assert!(matches!(neutralize_controls("plain ✓"), Cow::Borrowed(_)));
    }

    #[test]
    fn a_stalled_writer_times_out_with_bounded_progress() {
        let (mut server, _client) = monitor_core::transport::MemoryStream::pair();
        let big = vec![b'x'; 1 << 20];
        let started = std::time::Instant::now();
        let err = futures_lite::future::block_on(write_timed(
            &mut server,
            &big,
            Duration::from_millis(100),
        ))
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
