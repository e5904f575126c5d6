//! One console session: bytes in, lines to the dispatcher, replies out.

use std::{io, panic::AssertUnwindSafe, time::Duration};

use futures_lite::{AsyncWriteExt, FutureExt as _, io::WriteHalf};

use super::SessionSlot;
use crate::{
    commands::MonitorContext,
    dispatch::Session,
    transport::{
        Connection, Stream,
        telnet::{Event, LineReader, encode_output},
    },
};

/// Answers a client over the session limit and hangs up.
pub(super) async fn refuse(connection: Connection, slot: SessionSlot) {
    let limit = slot.0.limits.max_sessions;
    let timeout = slot.0.limits.write_timeout;
    let mut stream = connection.stream;
    let message =
        format!("The monitor is serving its limit of {limit} sessions; try again later.\n");
    let _ = write_timed(&mut stream, &encode_output(&message), timeout).await;
    let _ = stream.close().await;
}

/// Serves one console session until the client leaves, idles out or stops
/// reading. A panic inside the session ends only this session.
pub(super) async fn run(connection: Connection, slot: SessionSlot) {
    let peer = connection.peer.clone();
    let outcome = AssertUnwindSafe(serve(connection, &slot))
        .catch_unwind()
        .await;
    if let Err(payload) = outcome {
        eprintln!(
            "monitor: session {peer} ended by a panic: {}",
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
                if out.text(&reply.text).await.is_err() {
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
                    "\nsession closed after {}s without input\n",
                    limits.idle_timeout.as_secs()
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

async fn idle(timeout: Duration) -> io::Result<Event> {
    async_io::Timer::after(timeout).await;
    Err(io::Error::new(io::ErrorKind::TimedOut, "idle timeout"))
}

/// The write half of a session, with a deadline on every write so a client
/// that stops reading is dropped instead of growing a buffer.
struct Writer {
    inner: WriteHalf<Box<dyn Stream>>,
    timeout: Duration,
}

impl Writer {
    async fn text(&mut self, text: &str) -> io::Result<()> {
        if text.is_empty() {
            return Ok(());
        }
        self.raw(&encode_output(text)).await
    }

    async fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        write_timed(&mut self.inner, bytes, self.timeout).await
    }
}

async fn write_timed<W: futures_io::AsyncWrite + Unpin>(
    writer: &mut W,
    bytes: &[u8],
    timeout: Duration,
) -> io::Result<()> {
    async {
        writer.write_all(bytes).await?;
        writer.flush().await
    }
    .or(async {
        async_io::Timer::after(timeout).await;
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "client stopped reading",
        ))
    })
    .await
}
