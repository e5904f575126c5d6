//! Building blocks the contracts share: bounded waits, probes that record
//! when a future is dropped, gates that block a worker, a monitor harness
//! and a console client.
//!
//! They are public so a runtime's own extra tests can use them too.

use std::{
    fmt,
    future::Future,
    io::{self, Read as _, Write as _},
    net::{SocketAddr, TcpStream},
    pin::{Pin, pin},
    sync::{
        Arc, Condvar, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll, Wake, Waker},
    thread,
    time::{Duration, Instant},
};

use futures_lite::{AsyncReadExt as _, AsyncWriteExt as _};
use monitor_core::{
    BoxedFuture, Executor, Spawner, TaskRegistry,
    transport::{MemoryConnector, MemoryStream, MemoryTransport},
};
use monitor_server::{Monitor, MonitorBuilder};

use crate::runtime::RuntimeUnderTest;

/// How long contracts wait for something that should take microseconds.
/// Generous, because two test threads share two cores with the runtime's
/// workers; a correct runtime never gets near it, a broken one fails with a
/// message instead of hanging.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// The console's default prompt.
pub const PROMPT: &str = "monitor >>> ";

/// Polls `check` every millisecond until it returns `Some`, and panics with
/// `what` if that takes longer than [`PATIENCE`].
#[track_caller]
pub fn eventually<T>(what: impl fmt::Display, check: impl FnMut() -> Option<T>) -> T {
    eventually_within(PATIENCE, what, check)
}

/// [`eventually`] with an explicit deadline.
#[track_caller]
pub fn eventually_within<T>(
    timeout: Duration,
    what: impl fmt::Display,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        thread::sleep(Duration::from_millis(1));
    }
}

/// Drives `future` on the calling thread for at most `timeout`; `None` if it
/// did not finish. Independent of any runtime: used for the client side of
/// in-memory console connections.
pub fn block_on_timeout<F: Future>(future: F, timeout: Duration) -> Option<F::Output> {
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(Unparker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let deadline = Instant::now() + timeout;
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return Some(output);
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        // Spurious unparks only cost an extra poll.
        thread::park_timeout(deadline - now);
    }
}

struct Unparker(thread::Thread);

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// A fresh registry and a [`Spawner`] on the runtime's executor: each
/// contract gets its own registry, so contracts running in parallel never
/// see each other's tasks.
pub fn spawner(rt: &dyn RuntimeUnderTest) -> Spawner {
    Spawner::from_arc(rt.executor(), TaskRegistry::new())
}

/// Like [`spawner`], with a registry that times polls with the precise
/// clock.
///
/// For contracts that compare busy time with real time. The default coarse
/// clock is a global refreshed by a background thread every millisecond;
/// on a loaded machine that thread can be held off the CPU for tens of
/// milliseconds, and a poll that ends meanwhile reads a stale time (busy
/// time of 9 ms after 30 ms of polling has been seen with 9 runnable
/// threads on 2 cores). That is the scheduler, not the runtime under test.
pub fn precise_spawner(rt: &dyn RuntimeUnderTest) -> Spawner {
    Spawner::from_arc(
        rt.executor(),
        TaskRegistry::builder().precise_timing(true).build(),
    )
}

/// Like [`spawner`], with a history bound.
pub fn spawner_with_history(rt: &dyn RuntimeUnderTest, capacity: usize) -> Spawner {
    Spawner::from_arc(
        rt.executor(),
        TaskRegistry::builder().history_capacity(capacity).build(),
    )
}

/// Records when the guard made by [`drop_probe`] is dropped.
#[derive(Debug, Clone, Default)]
pub struct DropProbe {
    inner: Arc<(Mutex<Option<Instant>>, Condvar)>,
}

/// Moved into a future; dropping it (with the future) notifies its probe.
#[derive(Debug)]
pub struct DropGuard(DropProbe);

/// A probe and the guard to move into the future under test.
pub fn drop_probe() -> (DropProbe, DropGuard) {
    let probe = DropProbe::default();
    (probe.clone(), DropGuard(probe))
}

impl DropProbe {
    /// `true` once the guard has been dropped.
    pub fn dropped(&self) -> bool {
        self.inner
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// Waits up to `timeout` for the guard to be dropped; returns when it
    /// was, or `None`.
    pub fn wait(&self, timeout: Duration) -> Option<Instant> {
        let (lock, dropped) = &*self.inner;
        let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, _) = dropped
            .wait_timeout_while(guard, timeout, |at| at.is_none())
            .unwrap_or_else(|e| e.into_inner());
        *guard
    }
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        let (lock, dropped) = &*self.0.inner;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        dropped.notify_all();
    }
}

/// Blocks threads until opened: how contracts hold a worker inside a poll.
///
/// Opened when the last [`GateKey`] is dropped too, so a contract that
/// fails while workers are blocked releases them as it unwinds (a runtime
/// cannot shut down while a worker is stuck).
#[derive(Debug, Clone, Default)]
pub struct Gate {
    inner: Arc<(Mutex<bool>, Condvar)>,
}

/// Opens its [`Gate`] when dropped.
#[derive(Debug)]
pub struct GateKey(Gate);

impl Gate {
    /// A closed gate and the key that opens it.
    pub fn new() -> (Gate, GateKey) {
        let gate = Gate::default();
        (gate.clone(), GateKey(gate))
    }

    /// Blocks the calling thread until the gate opens, or at most
    /// [`PATIENCE`] times two (so a forgotten gate cannot wedge a runtime
    /// forever). This is deliberate blocking inside a poll.
    pub fn wait(&self) {
        let (lock, opened) = &*self.inner;
        let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        let _ = opened
            .wait_timeout_while(guard, PATIENCE * 2, |open| !*open)
            .unwrap_or_else(|e| e.into_inner());
    }

    fn open(&self) {
        let (lock, opened) = &*self.inner;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        opened.notify_all();
    }
}

impl GateKey {
    /// Opens the gate.
    pub fn open(self) {
        drop(self);
    }
}

impl Drop for GateKey {
    fn drop(&mut self) {
        self.0.open();
    }
}

/// A one-shot, runtime-independent wake-up: the future made by
/// [`signal`] completes once [`Trigger::fire`] is called.
#[derive(Debug)]
pub struct Trigger(Arc<SignalState>);

/// Completes when its [`Trigger`] fires (or is dropped).
#[derive(Debug)]
pub struct Signalled(Arc<SignalState>);

#[derive(Debug, Default)]
struct SignalState {
    fired: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

/// A trigger and the future it completes.
pub fn signal() -> (Trigger, Signalled) {
    let state = Arc::new(SignalState::default());
    (Trigger(Arc::clone(&state)), Signalled(state))
}

impl Trigger {
    /// Completes the [`Signalled`] future and wakes its task.
    pub fn fire(self) {
        drop(self);
    }
}

impl Drop for Trigger {
    fn drop(&mut self) {
        self.0.fired.store(true, Ordering::Release);
        if let Some(waker) = self
            .0
            .waker
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            waker.wake();
        }
    }
}

impl Future for Signalled {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0.fired.load(Ordering::Acquire) {
            return Poll::Ready(());
        }
        *self.0.waker.lock().unwrap_or_else(|e| e.into_inner()) = Some(cx.waker().clone());
        if self.0.fired.load(Ordering::Acquire) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

thread_local! {
    static IN_MARKED_POLL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Wraps an executor so every future it runs is marked while polled; see
/// [`MarkingExecutor::in_marked_poll`]. Proves that a future reached the
/// runtime through [`Executor::spawn`] rather than being polled elsewhere.
pub struct MarkingExecutor(pub Arc<dyn Executor>);

impl fmt::Debug for MarkingExecutor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MarkingExecutor").finish_non_exhaustive()
    }
}

impl MarkingExecutor {
    /// `true` inside the poll of a future spawned through a
    /// `MarkingExecutor`.
    pub fn in_marked_poll() -> bool {
        IN_MARKED_POLL.with(std::cell::Cell::get)
    }
}

struct Marked(BoxedFuture);

impl Future for Marked {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let outer = IN_MARKED_POLL.with(|mark| mark.replace(true));
        let result = self.0.as_mut().poll(cx);
        IN_MARKED_POLL.with(|mark| mark.set(outer));
        result
    }
}

impl Executor for MarkingExecutor {
    fn spawn(&self, future: BoxedFuture) {
        self.0.spawn(Box::pin(Marked(future)));
    }
}

/// A monitor over a fresh registry, with tasks spawned on the runtime under
/// test and asynchronous commands run on it, reachable through an in-memory
/// transport (and TCP on a free port when asked for).
#[derive(Debug)]
pub struct Harness {
    /// Spawns tracked tasks on the runtime under test.
    pub spawner: Spawner,
    /// The registry the monitor shows.
    pub registry: Arc<TaskRegistry>,
    /// The running monitor.
    pub monitor: Monitor,
    /// Opens in-memory console sessions.
    pub connector: MemoryConnector,
}

impl Harness {
    /// A monitor on an in-memory transport only.
    pub fn new(
        rt: &dyn RuntimeUnderTest,
        configure: impl FnOnce(MonitorBuilder) -> MonitorBuilder,
    ) -> Self {
        Self::build(rt, false, configure)
    }

    /// A monitor on an in-memory transport and TCP on a free loopback port.
    pub fn with_tcp(
        rt: &dyn RuntimeUnderTest,
        configure: impl FnOnce(MonitorBuilder) -> MonitorBuilder,
    ) -> Self {
        Self::build(rt, true, configure)
    }

    fn build(
        rt: &dyn RuntimeUnderTest,
        tcp: bool,
        configure: impl FnOnce(MonitorBuilder) -> MonitorBuilder,
    ) -> Self {
        let registry = TaskRegistry::new();
        let spawner = Spawner::from_arc(rt.executor(), Arc::clone(&registry));
        let (transport, connector) = MemoryTransport::new();
        let builder = MonitorBuilder::new(Arc::clone(&registry))
            .transport(transport)
            .executor(rt.executor());
        let builder = if tcp {
            builder.port(0)
        } else {
            builder.no_tcp()
        };
        let monitor = configure(builder)
            .start()
            .unwrap_or_else(|err| panic!("[{}] the monitor did not start: {err}", rt.name()));
        Self {
            spawner,
            registry,
            monitor,
            connector,
        }
    }

    /// Opens an in-memory session and reads its intro.
    pub fn console(&self) -> Console {
        Console::memory(
            self.connector
                .connect()
                .expect("the memory transport is open"),
        )
    }

    /// Opens a TCP session to the monitor's port and reads its intro.
    ///
    /// # Panics
    ///
    /// When the harness was built without TCP.
    pub fn tcp_console(&self) -> Console {
        Console::tcp(self.monitor.tcp_addr().expect("harness built with TCP"))
    }
}

/// The byte pipe under a [`Console`].
trait Wire: Send {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// `Ok(0)` at end of file; `TimedOut` when nothing came in time.
    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize>;
}

impl Wire for MemoryStream {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        block_on_timeout(
            async {
                self.write_all(bytes).await?;
                self.flush().await
            },
            PATIENCE,
        )
        .unwrap_or_else(|| Err(io::ErrorKind::TimedOut.into()))
    }

    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        block_on_timeout(self.read(buf), timeout)
            .unwrap_or_else(|| Err(io::ErrorKind::TimedOut.into()))
    }
}

impl Wire for TcpStream {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.write_all(bytes)?;
        self.flush()
    }

    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<usize> {
        self.set_read_timeout(Some(timeout))?;
        match self.read(buf) {
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                Err(io::ErrorKind::TimedOut.into())
            }
            other => other,
        }
    }
}

/// A console client that sends lines and reads replies up to the prompt,
/// over an in-memory connection or TCP.
pub struct Console {
    wire: Box<dyn Wire>,
    pending: Vec<u8>,
    raw: Vec<u8>,
    intro: String,
    eof: bool,
    /// How much of `pending` has been searched for the prompt.
    scanned: usize,
}

impl fmt::Debug for Console {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Console")
            .field("intro", &self.intro)
            .field("pending", &String::from_utf8_lossy(&self.pending))
            .finish_non_exhaustive()
    }
}

impl Console {
    /// A session over an in-memory stream; reads the intro.
    pub fn memory(stream: MemoryStream) -> Self {
        Self::start(Box::new(stream))
    }

    /// A session over TCP; reads the intro.
    ///
    /// # Panics
    ///
    /// When the connection fails.
    pub fn tcp(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect_timeout(&addr, PATIENCE)
            .unwrap_or_else(|err| panic!("could not connect to the monitor at {addr}: {err}"));
        Self::start(Box::new(stream))
    }

    fn start(wire: Box<dyn Wire>) -> Self {
        let mut console = Self {
            wire,
            pending: Vec::new(),
            raw: Vec::new(),
            intro: String::new(),
            eof: false,
            scanned: 0,
        };
        console.intro = console.read_until_prompt();
        console
    }

    /// What the server said before the first prompt.
    pub fn intro(&self) -> &str {
        &self.intro
    }

    /// Every byte received so far, unmodified (to check line endings and
    /// telnet replies).
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// Sends one line and returns the reply without the prompt, with CRLF
    /// turned into LF.
    pub fn cmd(&mut self, line: &str) -> String {
        self.send_raw(format!("{line}\n").as_bytes());
        self.read_until_prompt()
    }

    /// Sends bytes as they are.
    ///
    /// # Panics
    ///
    /// When the connection is broken.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.wire
            .send(bytes)
            .unwrap_or_else(|err| panic!("sending to the console failed: {err}"));
    }

    /// Reads until the next prompt and returns what came before it; at end
    /// of file, returns what came before the end.
    ///
    /// # Panics
    ///
    /// When no prompt arrives within [`PATIENCE`].
    pub fn read_until_prompt(&mut self) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            // Only the bytes not searched yet (plus a prompt's length of
            // overlap): a 10 000-task reply arrives in many reads.
            let from = self.scanned.saturating_sub(PROMPT.len());
            if let Some(at) = find(&self.pending[from..], PROMPT.as_bytes()) {
                let at = from + at;
                let reply = self.pending[..at].to_vec();
                self.pending.drain(..at + PROMPT.len());
                self.scanned = 0;
                return text(&reply);
            }
            self.scanned = self.pending.len();
            if self.eof {
                return text(&std::mem::take(&mut self.pending));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no prompt within {PATIENCE:?}; received so far: {:?}",
                tail(&self.pending)
            );
            // A timed-out read loops back to the deadline check.
            let _ = self.read_some(left);
        }
    }

    fn read_some(&mut self, timeout: Duration) -> io::Result<usize> {
        let mut buf = [0u8; 16 * 1024];
        match self.wire.recv(&mut buf, timeout) {
            Ok(0) => {
                self.eof = true;
                Ok(0)
            }
            Ok(n) => {
                self.pending.extend_from_slice(&buf[..n]);
                self.raw.extend_from_slice(&buf[..n]);
                Ok(n)
            }
            Err(err) if err.kind() == io::ErrorKind::TimedOut => Err(err),
            Err(_) => {
                // A reset connection is as final as end of file.
                self.eof = true;
                Ok(0)
            }
        }
    }

    /// Reads until the server closes the session and returns everything
    /// after the last prompt.
    ///
    /// # Panics
    ///
    /// When the session stays open for longer than [`PATIENCE`].
    pub fn read_to_end(&mut self) -> String {
        let deadline = Instant::now() + PATIENCE;
        while !self.eof {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "the session did not close within {PATIENCE:?}; received: {:?}",
                tail(&self.pending)
            );
            let _ = self.read_some(left);
        }
        text(&std::mem::take(&mut self.pending))
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// The end of a long reply, for failure messages.
fn tail(bytes: &[u8]) -> String {
    const KEEP: usize = 400;
    let text = text(bytes);
    match text.char_indices().rev().nth(KEEP) {
        Some((at, _)) => format!("…{}", &text[at..]),
        None => text,
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace("\r\n", "\n")
}

/// Parses a `--json` reply.
///
/// # Panics
///
/// When the reply is not JSON.
#[track_caller]
pub fn json(reply: &str) -> serde_json::Value {
    serde_json::from_str(reply.trim())
        .unwrap_or_else(|err| panic!("not JSON ({err}): {:?}", tail(reply.as_bytes())))
}

/// States that a contract does not apply to `rt` and why, after the
/// contract has checked that the runtime declares the missing capability.
/// Printed so that a passing-but-not-applicable test is visible with
/// `--nocapture`, never silent in the code.
pub fn not_applicable(rt: &dyn RuntimeUnderTest, contract: &str, reason: &str) {
    eprintln!(
        "[{}] contract {contract} does not apply: {reason}",
        rt.name()
    );
}
