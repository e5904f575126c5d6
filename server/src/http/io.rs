//! What hyper needs from a runtime, provided by the monitor's own loop:
//! a connection type implementing `hyper::rt::{Read, Write}` over any
//! transport's stream (TCP in production, in-memory pipes in tests), and a `hyper::rt::Timer` over `async-io` timers.
//!
//! hyper-util ships these for tokio only; the monitor must not depend on the
//! application's runtime, so these few lines stand in for them.

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
        }
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
        // A copy through a stack buffer keeps this free of `unsafe`
        // (hyper hands out uninitialised memory); requests are small.
        let mut chunk = [0u8; 4096];
        let want = buf.remaining().min(chunk.len());
        match Pin::new(&mut this.stream).poll_read(cx, &mut chunk[..want]) {
            Poll::Ready(Ok(n)) => {
                this.read_stall = None;
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
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_close(cx)
    }
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
