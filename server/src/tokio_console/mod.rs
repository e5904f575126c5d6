//! The tokio-console bridge (feature `tokio-console`): serves
//! tokio-console's gRPC API from the monitor, so the stock `tokio-console`
//! client shows the tasks of *any* runtime — smol, async-std, tokio or your
//! own.
//!
//! Turn it on with [`MonitorBuilder::tokio_console`](crate::MonitorBuilder::tokio_console),
//! then run `tokio-console http://127.0.0.1:6669`.
//!
//! It runs on a thread of its own (`monitor-tokio-console`) with its own
//! current-thread tokio runtime, so it needs nothing from the application's
//! runtime and keeps answering while every worker is blocked. It reads
//! tasks only through [`TaskIntrospect`]; no `tracing` subscriber is
//! involved. While no client watches, it samples nothing and holds no
//! memory per task.
//!
//! # What the client shows, and where it comes from
//!
//! | tokio-console | source |
//! |---|---|
//! | ID, `task.id` | the monitor's task id (also the span id on the wire) |
//! | Name | the name given at spawn |
//! | Location | the spawn site (`file:line:column`) |
//! | Kind | `task` |
//! | Target | `async_monitor::task` for every task |
//! | Fields: `parent.task.id` | the task that spawned it (also `Task.parents`) |
//! | Fields: `size.bytes` | `size_of` the task's future, recorded at spawn; absent for hook-tracked tasks |
//! | Fields: `monitor.lints` | the monitor's lints that concern the task now (`blocking-poll,large-future`, as `ps` marks them); absent while none does; the task is sent again when they change |
//! | Polls, Busy | poll count and time inside `poll` (coarse clock, unbiased) |
//! | State running | a poll in progress, from its recorded start |
//! | Total, DONE | spawn time and end time from the registry |
//! | Idle | total − busy (scheduled time is not measured, so it is in Idle) |
//! | Scheduled | 0: not measured |
//! | Woken, last woken, self wakes | 0 / absent: wakes are not counted |
//! | Wakers (clones, drops) | the one clone the monitor keeps for `cancel` |
//! | first poll, last poll ended | absent: the registry does not record them |
//! | poll-time histogram | absent: the registry keeps poll-time histograms per spawn site (`sites`), not per task; sending a site's as the task's would be invented, and a per-task one would cost memory per task and a write on every long poll |
//! | `original_size.bytes` | absent: only tokio knows whether its runtime boxed a future |
//!
//! So of the client's own warnings, *never-yielded* works on real data and
//! *large-future* (`size.bytes` ≥ 1024) on real sizes; *lost-waker* cannot
//! fire (the monitor's own waker clone counts), *self-wakes* cannot (no
//! wakes counted) and *auto-boxed-future* cannot (no original size). The
//! monitor's own lints, including `stuck-worker`, `blocking-poll` and
//! `leak-suspect` that the client does not have, arrive in `monitor.lints`.
//!
//! # Limits
//!
//! Messages are cut to at most [`MAX_MESSAGE_BYTES`] (the stock client
//! refuses messages over 4 MiB), so a snapshot of any number of tasks gets
//! through. At most [`MAX_STREAMS`] streams are served at once. Each client
//! has two messages in flight; one that takes nothing for [`SEND_TIMEOUT`],
//! or falls four ticks behind, is disconnected, and the stock client then
//! reconnects and starts from a fresh snapshot. Every tick's messages are
//! built once and shared by all clients.

mod sampler;
mod service;

use std::{
    env, fmt,
    net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs},
    panic::AssertUnwindSafe,
    sync::Arc,
    thread,
    time::Duration,
};

use console_api::instrument::instrument_server::InstrumentServer;
use monitor_core::{TaskIntrospect, panic_message};
use tokio::sync::oneshot;

use crate::{MonitorError, transport::BindError};

/// Where the bridge listens by default, as console-subscriber does:
/// `127.0.0.1:6669`.
pub const DEFAULT_ADDR: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 6669);

/// The environment variable that moves the default address
/// (`TOKIO_CONSOLE_BIND=127.0.0.1:7000`), as for console-subscriber.
pub const BIND_ENV: &str = "TOKIO_CONSOLE_BIND";

/// How often clients get the changes: about once a second.
pub const UPDATE_INTERVAL: Duration = Duration::from_secs(1);

/// The largest message the bridge sends, in bytes. Larger snapshots are cut
/// into several messages; the stock client decodes at most 4 MiB each.
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// The most streams (updates, states, task details) served at once.
pub const MAX_STREAMS: usize = 64;

/// How long a client may take nothing before it is disconnected.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// The address to listen on: `explicit` if given, else `TOKIO_CONSOLE_BIND`
/// if set, else [`DEFAULT_ADDR`].
pub(crate) fn resolve_addr(explicit: Option<SocketAddr>) -> Result<SocketAddr, MonitorError> {
    if let Some(addr) = explicit {
        return Ok(addr);
    }
    match env::var(BIND_ENV) {
        Ok(value) => parse_bind(&value),
        Err(env::VarError::NotPresent) => Ok(DEFAULT_ADDR),
        Err(env::VarError::NotUnicode(_)) => Err(MonitorError::Config(format!(
            "{BIND_ENV} is not valid UTF-8; expected HOST:PORT such as 127.0.0.1:6669"
        ))),
    }
}

fn parse_bind(value: &str) -> Result<SocketAddr, MonitorError> {
    let bad = |why: String| {
        MonitorError::Config(format!(
            "{BIND_ENV}={value:?} is not an address to listen on ({why}); expected HOST:PORT \
             such as 127.0.0.1:6669"
        ))
    };
    value
        .to_socket_addrs()
        .map_err(|err| bad(err.to_string()))?
        .next()
        .ok_or_else(|| bad("it resolves to no address".into()))
}

/// The running bridge: its thread and how to stop it.
pub(crate) struct Bridge {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl fmt::Debug for Bridge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bridge")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Bridge {
    /// Binds `addr` on the caller's thread (a busy port is an error at
    /// once), then starts the bridge's thread.
    pub(crate) fn start(
        introspect: Arc<dyn TaskIntrospect>,
        addr: SocketAddr,
    ) -> Result<Self, MonitorError> {
        let listener = std::net::TcpListener::bind(addr).map_err(|e| BindError::tcp(addr, e))?;
        let bound = listener.local_addr().map_err(|e| BindError::tcp(addr, e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| BindError::tcp(addr, e))?;
        let (stop, stopped) = oneshot::channel();
        let thread = thread::Builder::new()
            .name("monitor-tokio-console".into())
            .spawn(move || run(introspect, listener, stopped))
            .map_err(MonitorError::Thread)?;
        Ok(Self {
            addr: bound,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The address actually bound.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving, closes every client connection and joins the thread.
    pub(crate) fn close(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.close();
    }
}

/// The bridge thread's body: a panic here ends the bridge, never the
/// application.
fn run(
    introspect: Arc<dyn TaskIntrospect>,
    listener: std::net::TcpListener,
    stopped: oneshot::Receiver<()>,
) {
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        serve(introspect, listener, stopped);
    }));
    if let Err(payload) = outcome {
        eprintln!(
            "monitor: the tokio-console bridge stopped after a panic: {}; the application is \
             unaffected",
            panic_message(&*payload)
        );
    }
}

fn serve(
    introspect: Arc<dyn TaskIntrospect>,
    listener: std::net::TcpListener,
    stopped: oneshot::Receiver<()>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("monitor: the tokio-console bridge could not start its runtime: {err}");
            return;
        }
    };
    let shared = service::Shared::new(introspect);
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(err) => {
                eprintln!("monitor: the tokio-console bridge could not listen: {err}");
                return;
            }
        };
        let incoming =
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
        let ticker = Arc::clone(&shared);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(UPDATE_INTERVAL);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                ticker.tick();
            }
        });
        let server = tonic::transport::Server::builder()
            // A peer that vanished without closing is noticed and dropped.
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .http2_keepalive_timeout(Some(Duration::from_secs(20)))
            .serve_with_incoming(InstrumentServer::new(service::Service(shared)), incoming);
        tokio::select! {
            served = server => {
                if let Err(err) = served {
                    eprintln!("monitor: the tokio-console bridge stopped: {err}");
                }
            }
            _ = stopped => {}
        }
    });
    // Dropping the runtime drops every connection and client task with it.
    drop(runtime);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_addresses_from_the_environment_are_parsed_or_explained() {
        assert_eq!(
            parse_bind("127.0.0.1:7000").unwrap(),
            "127.0.0.1:7000".parse().unwrap()
        );
        let err = parse_bind("nonsense").unwrap_err().to_string();
        assert!(
            err.contains("TOKIO_CONSOLE_BIND=\"nonsense\"") && err.contains("HOST:PORT"),
            "{err}"
        );
        let explicit: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert_eq!(resolve_addr(Some(explicit)).unwrap(), explicit);
    }
}
