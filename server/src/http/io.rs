//! What hyper needs from a runtime, provided by the monitor's own loop:
//! a connection type implementing `hyper::rt::{Read, Write}` over any
//! transport's stream (TCP in production, in-memory pipes in tests), and a `hyper::rt::Timer` over `async-io` timers.
//!
//! hyper-util ships these for tokio only; the monitor must not depend on the
//! application's runtime, so these few lines stand in for them.
//!
//! The connection also explains the requests hyper refuses by itself. When
//! a request's head is over the limit, has too many header fields or does
//! not parse, hyper answers 400 or 431 with an empty body before any
//! handler runs, and offers no hook to say more (hyper 1.x; an open pull
//! request, hyperium/hyper#3911, would add one). So this wrapper keeps the
//! start of what the client sent since the last answer, recognises hyper's
//! bodiless refusal when it is written, and sends in its place the same
//! status with a body naming what was wrong and what is accepted: JSON for
//! `/api` and `/metrics`, text otherwise (or when the path cannot be read).

use std::{
    future::Future,
    io,
    pin::Pin,
    task::{Context, Poll, ready},
    time::{Duration, Instant},
};

use async_io::Timer;
use futures_io::{AsyncRead, AsyncWrite};
use hyper::rt::{self, ReadBufCursor};
use monitor_core::transport::Stream;

use super::MAX_HEAD_BYTES;
use crate::pace::Pace;

/// Requests one connection is answered per second, after a burst of as
/// many: a client pipelining requests as fast as it can write them would
/// otherwise keep the monitor's loop to itself (the console's sessions
/// have the same rule, `max_line_rate`). Past the burst, the connection's
/// next bytes are read only when its budget allows another request.
pub(super) const MAX_REQUEST_RATE: u64 = 200;

/// The most header fields a request may have (hyper's default, set
/// explicitly so the number the refusal names is the one enforced).
pub(super) const MAX_HEADERS: usize = 100;

/// How much of what a client sent since the last answer is kept to explain
/// a refusal: the whole head hyper accepts, and a little more.
const RECORD_BYTES: usize = MAX_HEAD_BYTES + 1024;

/// One accepted HTTP connection, with a deadline on stalled reads and
/// writes: a client that sends nothing, or stops reading what it asked
/// for, for longer than the deadline is disconnected instead of holding
/// one of the bounded connection slots forever.
pub(super) struct HttpIo {
    stream: Box<dyn Stream>,
    read_timeout: Duration,
    write_timeout: Duration,
    read_stall: Option<Timer>,
    write_stall: Option<Timer>,
    /// The start of what the client sent since the last answer began (at
    /// most [`RECORD_BYTES`]), to explain a refusal of hyper's.
    sent: Vec<u8>,
    /// An explained refusal written in place of hyper's, and how much of
    /// it is out.
    refusal: Vec<u8>,
    refusal_sent: usize,
    /// Answers begun, paced at [`MAX_REQUEST_RATE`]; `pause` is the wait
    /// before the next read when the pace is ahead.
    answers: Pace,
    pause: Option<Timer>,
}

impl HttpIo {
    pub(super) fn new(
        stream: Box<dyn Stream>,
        read_timeout: Duration,
        write_timeout: Duration,
    ) -> Self {
        Self {
            stream,
            read_timeout,
            write_timeout,
            read_stall: None,
            write_stall: None,
            sent: Vec::new(),
            refusal: Vec::new(),
            refusal_sent: 0,
            answers: Pace::new(MAX_REQUEST_RATE, MAX_REQUEST_RATE),
            pause: None,
        }
    }

    /// Writes what is left of an explained refusal; ready once it is all
    /// out.
    fn poll_refusal(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.refusal_sent < self.refusal.len() {
            match Pin::new(&mut self.stream).poll_write(cx, &self.refusal[self.refusal_sent..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    self.write_stall = None;
                    self.refusal_sent += n;
                }
                Poll::Ready(Err(err)) => return Poll::Ready(Err(err)),
                Poll::Pending => {
                    ready!(stalled(
                        &mut self.write_stall,
                        self.write_timeout,
                        cx,
                        "stopped reading"
                    ))?;
                    return Poll::Pending;
                }
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// Fails with `TimedOut` once `stall` (started at the first `Pending`)
/// has fired; any progress clears it.
fn stalled(
    stall: &mut Option<Timer>,
    timeout: Duration,
    cx: &mut Context<'_>,
    what: &str,
) -> Poll<io::Result<()>> {
    let timer = stall.get_or_insert_with(|| Timer::after(timeout));
    match Pin::new(timer).poll(cx) {
        Poll::Ready(_) => Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("the client {what} for {timeout:?}"),
        ))),
        Poll::Pending => Poll::Pending,
    }
}

impl rt::Read for HttpIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // A connection over its request rate waits (on a timer) before
        // more of its requests are read.
        let wait = this.answers.wait(Instant::now());
        if !wait.is_zero() {
            let pause = this.pause.get_or_insert_with(|| Timer::after(wait));
            if Pin::new(pause).poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
        this.pause = None;
        // A copy through a stack buffer keeps this free of `unsafe`
        // (hyper hands out uninitialised memory); requests are small.
        let mut chunk = [0u8; 4096];
        let want = buf.remaining().min(chunk.len());
        match Pin::new(&mut this.stream).poll_read(cx, &mut chunk[..want]) {
            Poll::Ready(Ok(n)) => {
                this.read_stall = None;
                let keep = n.min(RECORD_BYTES.saturating_sub(this.sent.len()));
                this.sent.extend_from_slice(&chunk[..keep]);
                buf.put_slice(&chunk[..n]);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(err)) => Poll::Ready(Err(err)),
            Poll::Pending => {
                ready!(stalled(
                    &mut this.read_stall,
                    this.read_timeout,
                    cx,
                    "sent nothing"
                ))?;
                Poll::Pending
            }
        }
    }
}

impl rt::Write for HttpIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_refusal(cx))?;
        if buf.starts_with(b"HTTP/1.") {
            // An answer begins: what the client sends next belongs to a
            // later request.
            this.answers.charge(1, Instant::now());
            let sent = std::mem::take(&mut this.sent);
            if let Some(refusal) = explain_refusal(buf, &sent) {
                // hyper closes the connection after its refusal, flushing
                // (and shutting down) first: the explained one goes out
                // there.
                this.refusal = refusal;
                this.refusal_sent = 0;
                return Poll::Ready(Ok(buf.len()));
            }
        }
        match Pin::new(&mut this.stream).poll_write(cx, buf) {
            Poll::Ready(result) => {
                this.write_stall = None;
                Poll::Ready(result)
            }
            Poll::Pending => {
                ready!(stalled(
                    &mut this.write_stall,
                    this.write_timeout,
                    cx,
                    "stopped reading"
                ))?;
                Poll::Pending
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_refusal(cx))?;
        Pin::new(&mut this.stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_refusal(cx))?;
        Pin::new(&mut this.stream).poll_close(cx)
    }
}

/// When `answer` is one of hyper's own refusals (a complete 4xx head with an
/// empty body and no `Content-Type`: every answer of the monitor's handlers
/// has one), the same status with a body saying what was wrong with the
/// request that `sent` begins and what is accepted; `None` otherwise.
fn explain_refusal(answer: &[u8], sent: &[u8]) -> Option<Vec<u8>> {
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut response = httparse::Response::new(&mut headers);
    let Ok(httparse::Status::Complete(head_len)) = response.parse(answer) else {
        return None;
    };
    let status = response.code?;
    let bodiless = response.headers.iter().all(|header| {
        !header.name.eq_ignore_ascii_case("content-type")
            && (!header.name.eq_ignore_ascii_case("content-length") || header.value == b"0")
    });
    if !(400..500).contains(&status) || !bodiless || head_len != answer.len() {
        return None;
    }
    let reason = response.reason.unwrap_or("");
    let message = refusal_message(status, sent);
    // The path decides the format, as the router's errors do; a request
    // line that cannot be read gets text.
    let path = sent
        .split(|&byte| byte == b'\r' || byte == b'\n')
        .next()
        .and_then(|line| line.split(|&byte| byte == b' ').nth(1))
        .unwrap_or(b"");
    let is_api = [&b"/api"[..], b"/metrics"].iter().any(|prefix| {
        path.strip_prefix(*prefix)
            .is_some_and(|rest| rest.is_empty() || matches!(rest[0], b'/' | b'?'))
    });
    let (content_type, body) = if is_api {
        let body = serde_json::json!({ "error": message, "status": status });
        ("application/json", format!("{body}\n"))
    } else {
        (
            "text/plain; charset=utf-8",
            format!("{status} {reason}: {message}\n"),
        )
    };
    Some(
        format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\ncontent-length: \
             {}\r\nconnection: close\r\ncache-control: no-store\r\nx-content-type-options: \
             nosniff\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

/// What was wrong with the request `sent` begins, for a refusal with
/// `status`, and what is accepted.
fn refusal_message(status: u16, sent: &[u8]) -> String {
    let accepted = format!(
        "accepted: HTTP/1.1 (or 1.0) requests — a request line `METHOD /path HTTP/1.1`, header \
         lines `Name: value`, each line ending in CRLF, then an empty line — with at most \
         {MAX_HEAD_BYTES} bytes of request line and headers and at most {MAX_HEADERS} header \
         fields"
    );
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let parsed = httparse::Request::new(&mut headers).parse(sent);
    let what = match (status, parsed) {
        (431, Err(httparse::Error::TooManyHeaders)) => {
            format!("the request has more than {MAX_HEADERS} header fields")
        }
        (431, _) => format!(
            "the request line and headers take more than {MAX_HEAD_BYTES} bytes (the request \
             was cut off there)"
        ),
        (_, Err(httparse::Error::Token)) => {
            "the request line is malformed (a method or path with characters HTTP does not \
             allow there)"
                .to_owned()
        }
        (_, Err(httparse::Error::Version)) => {
            "the request line does not end in a known HTTP version (HTTP/1.0 or HTTP/1.1)"
                .to_owned()
        }
        (_, Err(httparse::Error::HeaderName)) => {
            "a header name is malformed (names are letters, digits and !#$%&'*+-.^_`|~, \
             followed directly by a colon)"
                .to_owned()
        }
        (_, Err(httparse::Error::HeaderValue)) => {
            "a header value contains a control character".to_owned()
        }
        (_, Err(httparse::Error::NewLine)) => "a line does not end in CRLF".to_owned(),
        _ => "the request could not be read (for example a Content-Length or \
              Transfer-Encoding header hyper refuses, or a target that is neither a path nor \
              an absolute URL)"
            .to_owned(),
    };
    format!("{what}; {accepted}")
}

/// hyper's timer (header read timeout, keep-alive) on `async-io`.
#[derive(Debug, Clone, Copy)]
pub(super) struct AsyncIoTimer;

struct Sleep(Timer);

impl Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

impl rt::Sleep for Sleep {}

impl rt::Timer for AsyncIoTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn rt::Sleep>> {
        Box::pin(Sleep(Timer::after(duration)))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn rt::Sleep>> {
        Box::pin(Sleep(Timer::at(deadline)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_bodiless_refusals_are_replaced() {
        let sent = b"GET /api/tasks HTTP/1.1\r\nBad Header: x\r\n\r\n";
        let hyper = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        let explained = String::from_utf8(explain_refusal(hyper, sent).unwrap()).unwrap();
        assert!(
            explained.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{explained}"
        );
        assert!(
            explained.contains("content-type: application/json"),
            "{explained}"
        );
        assert!(
            explained.contains("header name is malformed"),
            "{explained}"
        );
        // The handlers' own answers (they always have a Content-Type),
        // successes, answers with a body and partial heads pass through.
        for answer in [
            &b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"[..],
            b"HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 5\r\n\r\n",
            b"HTTP/1.1 431 Request Header Fields",
        ] {
            assert!(explain_refusal(answer, sent).is_none(), "{answer:?}");
        }
    }

    #[test]
    fn a_refusal_of_an_unreadable_request_is_text() {
        let hyper = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n";
        let explained =
            String::from_utf8(explain_refusal(hyper, b"\x16\x03\x01junk").unwrap()).unwrap();
        assert!(
            explained.contains("content-type: text/plain"),
            "{explained}"
        );
        assert!(explained.contains("at most 16384 bytes"), "{explained}");
    }
}
