//! One console session: bytes in, lines to the dispatcher, replies out.

use std::{borrow::Cow, fmt::Write as _, io, panic::AssertUnwindSafe, time::Duration};

use futures_lite::{AsyncWriteExt, FutureExt as _, io::WriteHalf};

use super::{
    SessionSlot,
    auth::{self, Outcome},
};
use crate::{
    commands::MonitorContext,
    dispatch::Session,
    transport::{
        Connection, Stream,
        telnet::{Event, LineReader, encode_output},
    },
};

/// Answers a client over the session limit and hangs up.
pub(super) async fn refuse(connection: Connection, slot: SessionSlot, stop: Stop) {
    let limit = slot.0.limits.max_sessions;
    let timeout = slot.0.limits.write_timeout;
    let peer = connection.peer.clone();
    let answer = async move {
        let mut stream = connection.stream;
        let message =
            format!("The monitor is serving its limit of {limit} sessions; try again later.\n");
        let _ = write_timed(&mut stream, &encode_output(&message), timeout).await;
        let _ = stream.close().await;
    };
    contained(answer, stop, format!("session {peer}")).await;
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
            crate::task::panic_message(&*payload)
        );
    }
}

async fn serve(connection: Connection, slot: &SessionSlot) {
    let shared = &slot.0;
    let limits = shared.limits;
    let (reader, writer) = futures_lite::io::split(connection.stream);
    let mut reader = LineReader::new(reader, limits.max_line);
    let mut out = Writer {
        inner: writer,
        timeout: limits.write_timeout,
    };
    if let Some(auth) = &shared.auth {
        let outcome = auth::authenticate(
            &mut reader,
            &mut out,
            auth,
            &connection.peer,
            limits.idle_timeout,
        )
        .await;
        if let Outcome::Denied = outcome {
            let _ = out.inner.close().await;
            return;
        }
    }
    let context = MonitorContext::new(std::sync::Arc::clone(&shared.introspect), connection.peer);
    let mut session = Session::new(std::sync::Arc::clone(&shared.dispatcher), context);

    let intro = session.intro(shared.introspect.live_count());
    if out.text(&intro).await.is_err() || out.text(session.prompt()).await.is_err() {
        return;
    }
    loop {
        let event = reader.next_event().or(idle(limits.idle_timeout)).await;
        let written = match event {
            Ok(Event::Line(line)) => {
                let reply = session.handle_line(&line).await;
                if out.text(&neutralize_controls(&reply.text)).await.is_err() {
                    return;
                }
                if reply.exit {
                    let _ = out.inner.close().await;
                    return;
                }
                out.text(session.prompt()).await
            }
            Ok(Event::TooLong { limit }) => {
                let message = format!(
                    "error: line longer than {limit} bytes ignored; commands are short, check \
                     what is being pasted\n{}",
                    session.prompt()
                );
                out.text(&message).await
            }
            Ok(Event::InvalidUtf8) => {
                let message = format!(
                    "error: line is not valid UTF-8 and was ignored\n{}",
                    session.prompt()
                );
                out.text(&message).await
            }
            Ok(Event::Interrupt) => {
                let message = format!(
                    "\n(Ctrl-C does not stop the monitor session; press Ctrl-D or type exit to \
                     leave)\n{}",
                    session.prompt()
                );
                out.text(&message).await
            }
            Ok(Event::Reply(bytes)) => out.raw(&bytes).await,
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
        if written.is_err() {
            return;
        }
    }
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
}

impl Writer {
    pub(super) async fn text(&mut self, text: &str) -> io::Result<()> {
        if text.is_empty() {
            return Ok(());
        }
        self.raw(&encode_output(text)).await
    }

    async fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        write_timed(&mut self.inner, bytes, self.timeout).await
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
        let (mut server, _client) = crate::transport::MemoryStream::pair();
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
