//! Starting an app from its configuration, running its schedules and
//! servers, and shutting it down.

use std::{
    fmt, io,
    net::{SocketAddr, TcpListener, ToSocketAddrs as _},
    os::unix::net::UnixListener,
    path::Path,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use async_channel::{Receiver, Sender};
use futures_lite::{FutureExt as _, future};
use monitor_core::{JoinError, JoinHandle, Spawner, TaskId, TaskIntrospect as _};
use monitor_server::{Monitor, MonitorBuilder};
use serde::Serialize;

use crate::{
    App, BoxError, Config,
    config::{ServerBind, ServerHandler},
    functions::{BoundServer, Functions, Listener, ProtocolFn, SchedulerFn},
    signals::{SignalTable, Signals},
    tracker::Tracker,
};

/// Why an app did not start. Nothing is left running when this is
/// returned: sockets bound so far are closed again.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// The configuration is wrong or names unregistered functions.
    #[error(transparent)]
    Config(#[from] crate::ConfigError),
    /// A module's init function failed.
    #[error("module `{module}` failed to initialise: {source}")]
    Module {
        /// The module's name.
        module: String,
        /// Its error.
        source: BoxError,
    },
    /// A server's socket could not be bound.
    #[error(
        "server `{server}` ({file} [server.{server}]): cannot listen on {bind}: {source}{hint}"
    )]
    Bind {
        /// The server.
        server: String,
        /// The configuration file.
        file: String,
        /// What it tried to bind.
        bind: String,
        /// What the OS said.
        source: io::Error,
        /// What to do about it.
        hint: &'static str,
    },
    /// A server factory returned an error.
    #[error("server `{server}`: factory `{factory}` failed: {source}")]
    Factory {
        /// The server.
        server: String,
        /// The factory's name.
        factory: String,
        /// Its error.
        source: BoxError,
    },
    /// A server factory did not return within `[app] start_timeout`.
    #[error(
        "server `{server}`: factory `{factory}` did not return within {} ([app] start_timeout); \
         a factory should bind its socket and return, leaving long work to the server's tasks",
        crate::config::format_duration(*after)
    )]
    FactoryTimeout {
        /// The server.
        server: String,
        /// The factory's name.
        factory: String,
        /// The timeout that passed.
        after: Duration,
    },
    /// The monitor could not start (its port in use, a bad `[monitor]`
    /// setting, the token variable unset).
    #[error("monitor: {0}")]
    Monitor(String),
    /// The command line named a command that is neither built in nor in
    /// `[commands]`.
    #[error("unknown command `{command}`; commands: {known}")]
    UnknownCommand {
        /// What was asked for.
        command: String,
        /// The commands there are, and where more can be added.
        known: String,
    },
    /// A configured command was run and failed.
    #[error("command `{command}` failed: {source}")]
    Command {
        /// The command.
        command: String,
        /// Its error.
        source: BoxError,
    },
}

/// How one run of a scheduler, listener or connection ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "message", rename_all = "lowercase")]
#[non_exhaustive]
pub enum RunOutcome {
    /// Returned `()` or `Ok(())`.
    Ok,
    /// Returned an error; its message.
    Failed(String),
    /// Panicked; the panic message.
    Panicked(String),
    /// Cancelled (from the monitor, or at shutdown after the grace period).
    Cancelled,
    /// Not started: the app is shutting down.
    Refused,
}

impl RunOutcome {
    pub(crate) fn from_join(result: Result<Result<(), BoxError>, JoinError>) -> Self {
        match result {
            Ok(Ok(())) => RunOutcome::Ok,
            Ok(Err(err)) => RunOutcome::Failed(err.to_string()),
            Err(JoinError::Panicked { message, .. }) => RunOutcome::Panicked(message),
            Err(_) => RunOutcome::Cancelled,
        }
    }

    /// `true` for [`RunOutcome::Ok`].
    pub fn is_ok(&self) -> bool {
        matches!(self, RunOutcome::Ok)
    }
}

impl fmt::Display for RunOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunOutcome::Ok => f.write_str("ok"),
            RunOutcome::Failed(message) => write!(f, "error: {message}"),
            RunOutcome::Panicked(message) => write!(f, "panicked: {message}"),
            RunOutcome::Cancelled => f.write_str("cancelled"),
            RunOutcome::Refused => f.write_str("refused (shutting down)"),
        }
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What every registered function gets: the configuration, the signal
/// bus, and a way to spawn tasks that shutdown waits for.
///
/// Cheap to clone.
#[derive(Clone)]
pub struct AppContext {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for AppContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppContext")
            .field("config", &self.shared.config.file)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Shared {
    pub(crate) config: Arc<Config>,
    pub(crate) functions: Arc<Functions>,
    pub(crate) tracker: Tracker,
    pub(crate) signals: SignalTable,
    pub(crate) schedules: Vec<Arc<Schedule>>,
    pub(crate) servers: Mutex<Vec<Arc<ServerState>>>,
    stop: Sender<()>,
    stopped: Receiver<()>,
}

impl AppContext {
    pub(crate) fn new(config: Config, functions: Arc<Functions>, spawner: Spawner) -> Self {
        let (stop, stopped) = async_channel::bounded(1);
        let signals = SignalTable::new(&config, &functions);
        let schedules = config
            .schedules
            .iter()
            .map(|(name, schedule)| {
                Arc::new(Schedule::new(
                    name.clone(),
                    schedule.func.clone(),
                    schedule.every,
                    Arc::clone(&functions.schedulers[&schedule.func]),
                ))
            })
            .collect();
        Self {
            shared: Arc::new(Shared {
                config: Arc::new(config),
                functions,
                tracker: Tracker::new(spawner),
                signals,
                schedules,
                servers: Mutex::default(),
                stop,
                stopped,
            }),
        }
    }

    /// The loaded configuration (read-only).
    pub fn config(&self) -> &Arc<Config> {
        &self.shared.config
    }

    /// The signal bus: `ctx.signals().emit("example-signal", "BOOM!")`.
    pub fn signals(&self) -> Signals {
        Signals::new(self.clone())
    }

    /// The spawner tasks run on.
    pub fn spawner(&self) -> &Spawner {
        self.shared.tracker.spawner()
    }

    /// Spawns a named, tracked task that shutdown waits for (and cancels
    /// after the grace period). `None` once shutdown has begun.
    #[track_caller]
    pub fn spawn<F>(&self, name: impl Into<String>, future: F) -> Option<JoinHandle<F::Output>>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.shared.tracker.spawn(name.into(), future)
    }

    /// `true` once shutdown has begun.
    pub fn is_stopping(&self) -> bool {
        self.shared.stop.is_closed()
    }

    /// Resolves when shutdown begins: a long-lived protocol can race its
    /// reads against it to say goodbye before the grace period ends.
    pub async fn stopping(&self) {
        // Nothing is ever sent: this returns when the channel is closed.
        let _ = self.shared.stopped.recv().await;
    }

    pub(crate) fn schedule(&self, name: &str) -> Option<&Arc<Schedule>> {
        self.shared.schedules.iter().find(|s| s.name == name)
    }
}

// ---------------------------------------------------------------------------
// Schedules

pub(crate) enum Control {
    RunNow,
    /// Re-read `paused`.
    Wake,
}

/// One run that has finished.
#[derive(Debug, Clone)]
pub(crate) struct LastRun {
    pub(crate) outcome: RunOutcome,
    pub(crate) duration: Duration,
    pub(crate) ended: Instant,
}

#[derive(Default)]
pub(crate) struct ScheduleProgress {
    pub(crate) next_run: Option<Instant>,
    pub(crate) running_since: Option<Instant>,
    pub(crate) last: Option<LastRun>,
}

pub(crate) struct Schedule {
    pub(crate) name: String,
    pub(crate) func: String,
    pub(crate) every: Duration,
    f: SchedulerFn,
    pub(crate) paused: AtomicBool,
    pub(crate) runs: AtomicU64,
    pub(crate) failures: AtomicU64,
    pub(crate) progress: Mutex<ScheduleProgress>,
    control: Sender<Control>,
    requests: Receiver<Control>,
}

impl Schedule {
    fn new(name: String, func: String, every: Duration, f: SchedulerFn) -> Self {
        let (control, requests) = async_channel::unbounded();
        Self {
            name,
            func,
            every,
            f,
            paused: AtomicBool::new(false),
            runs: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            progress: Mutex::default(),
            control,
            requests,
        }
    }

    /// Runs the function once now (also while paused).
    pub(crate) fn run_now(&self) {
        let _ = self.control.try_send(Control::RunNow);
    }

    /// Stops or restarts the periodic runs; `false` if it already was.
    pub(crate) fn set_paused(&self, paused: bool) -> bool {
        let changed = self.paused.swap(paused, Ordering::SeqCst) != paused;
        let _ = self.control.try_send(Control::Wake);
        changed
    }

    async fn run_loop(self: Arc<Self>, ctx: AppContext) {
        enum Event {
            Stop,
            Request(Control),
            Due,
        }
        /// Clears the progress however the loop ends, cancellation included.
        struct Stopped<'a>(&'a Schedule);
        impl Drop for Stopped<'_> {
            fn drop(&mut self) {
                let mut progress = lock(&self.0.progress);
                progress.next_run = None;
                progress.running_since = None;
            }
        }
        let _stopped = Stopped(&self);
        let mut next = Instant::now() + self.every;
        loop {
            let paused = self.paused.load(Ordering::SeqCst);
            lock(&self.progress).next_run = (!paused).then_some(next);
            let stop = async {
                ctx.stopping().await;
                Event::Stop
            };
            let request = async {
                match self.requests.recv().await {
                    Ok(control) => Event::Request(control),
                    Err(_) => Event::Stop,
                }
            };
            let tick = async {
                if paused {
                    std::future::pending::<()>().await;
                }
                async_io::Timer::at(next).await;
                Event::Due
            };
            match stop.or(request.or(tick)).await {
                Event::Stop => break,
                Event::Request(Control::Wake) => {
                    // Resumed after a pause: the next run is a full period
                    // away, not all the runs missed while paused at once.
                    let now = Instant::now();
                    if next <= now {
                        next = now + self.every;
                    }
                }
                Event::Request(Control::RunNow) => {
                    if !self.run_once(&ctx).await {
                        break;
                    }
                }
                Event::Due => {
                    if !self.run_once(&ctx).await {
                        break;
                    }
                    next += self.every;
                    let now = Instant::now();
                    if next <= now {
                        // A run longer than the period: skip the ticks it
                        // missed rather than running back to back.
                        next = now + self.every;
                    }
                }
            }
        }
    }

    /// One run as a child task; `false` when the app is shutting down.
    async fn run_once(&self, ctx: &AppContext) -> bool {
        let n = self.runs.fetch_add(1, Ordering::SeqCst) + 1;
        let started = Instant::now();
        lock(&self.progress).running_since = Some(started);
        let future = (self.f)(ctx.clone(), self.name.clone());
        let Some(handle) = ctx.spawn(format!("schedule:{} run {n}", self.name), future) else {
            self.runs.fetch_sub(1, Ordering::SeqCst);
            lock(&self.progress).running_since = None;
            return false;
        };
        let outcome = RunOutcome::from_join(handle.await);
        if !outcome.is_ok() {
            self.failures.fetch_add(1, Ordering::SeqCst);
        }
        let mut progress = lock(&self.progress);
        progress.running_since = None;
        progress.last = Some(LastRun {
            outcome,
            duration: started.elapsed(),
            ended: Instant::now(),
        });
        true
    }
}

// ---------------------------------------------------------------------------
// Servers

pub(crate) struct ServerState {
    pub(crate) name: String,
    pub(crate) handler: ServerHandler,
    pub(crate) address: String,
    pub(crate) local_addr: Option<SocketAddr>,
    pub(crate) live: AtomicUsize,
    pub(crate) total: AtomicU64,
    pub(crate) failures: AtomicU64,
    pub(crate) accepting: AtomicBool,
}

struct LiveConnection(Arc<ServerState>);

impl Drop for LiveConnection {
    fn drop(&mut self) {
        self.0.live.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn accept_loop(
    ctx: AppContext,
    state: Arc<ServerState>,
    listener: Listener,
    protocol: ProtocolFn,
) {
    state.accepting.store(true, Ordering::SeqCst);
    loop {
        let accepted = async { Some(listener.accept().await) }
            .or(async {
                ctx.stopping().await;
                None
            })
            .await;
        let Some(accepted) = accepted else { break };
        let connection = match accepted {
            Ok(connection) => connection,
            Err(_) => {
                // Out of file descriptors and the like: back off instead of
                // spinning; the next accept may succeed.
                state.failures.fetch_add(1, Ordering::SeqCst);
                async_io::Timer::after(Duration::from_millis(50)).await;
                continue;
            }
        };
        state.total.fetch_add(1, Ordering::SeqCst);
        state.live.fetch_add(1, Ordering::SeqCst);
        let live = LiveConnection(Arc::clone(&state));
        let name = format!("server:{}/{}", state.name, connection.peer());
        let run = protocol(ctx.clone(), connection);
        let counted = Arc::clone(&state);
        let spawned = ctx.spawn(name, async move {
            let _live = live;
            if run.await.is_err() {
                counted.failures.fetch_add(1, Ordering::SeqCst);
            }
        });
        if spawned.is_none() {
            break;
        }
    }
    // Dropping the listener here closes the socket: no new connections.
    state.accepting.store(false, Ordering::SeqCst);
    listener.remove_socket_file();
}

/// Servers bound during start-up. If start-up fails, dropping this closes
/// their sockets and removes the Unix socket files, so nothing is left.
struct Bound(Vec<(Arc<ServerState>, Listener, ProtocolFn)>);

impl Drop for Bound {
    fn drop(&mut self) {
        for (_, listener, _) in &self.0 {
            listener.remove_socket_file();
        }
    }
}

fn bind_error(config: &Config, server: &str, bind: &ServerBind, source: io::Error) -> AppError {
    let hint = match source.kind() {
        io::ErrorKind::AddrInUse => match bind {
            ServerBind::Tcp { .. } => {
                "; another process holds this port: stop it, or choose another port (0 picks any free one)"
            }
            ServerBind::Unix { .. } => {
                "; the socket file exists: remove it if no other process serves it, or choose another path"
            }
        },
        io::ErrorKind::PermissionDenied => {
            "; not allowed: ports below 1024 need privileges, socket directories need write access"
        }
        _ => "",
    };
    AppError::Bind {
        server: server.to_owned(),
        file: config
            .file
            .as_deref()
            .unwrap_or(Path::new("config"))
            .display()
            .to_string(),
        bind: bind.to_string(),
        source,
        hint,
    }
}

fn bind(bind: &ServerBind) -> io::Result<Listener> {
    match bind {
        ServerBind::Tcp { address, port } => {
            let addrs: Vec<SocketAddr> = (address.as_str(), *port).to_socket_addrs()?.collect();
            Listener::tcp(TcpListener::bind(&addrs[..])?)
        }
        ServerBind::Unix { path } => Listener::unix(UnixListener::bind(path)?),
    }
}

// ---------------------------------------------------------------------------
// Start and shutdown

/// A started app. Dropping it does not stop the tasks; call
/// [`Running::shutdown`].
#[must_use = "call .shutdown() to stop the app; the monitor closes when this is dropped"]
pub struct Running {
    ctx: AppContext,
    monitor: Option<Monitor>,
}

impl fmt::Debug for Running {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Running")
            .field("ctx", &self.ctx)
            .field("monitor", &self.monitor)
            .finish()
    }
}

/// What [`Running::shutdown`] did.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Tasks cancelled because the grace period ran out: id and name.
    pub cancelled: Vec<(TaskId, String)>,
    /// Tasks still running after cancelling (stuck inside a poll).
    pub stuck: Vec<TaskId>,
    /// How long shutdown took.
    pub took: Duration,
}

impl fmt::Display for ShutdownReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "shut down in {:.1?}", self.took)?;
        if self.cancelled.is_empty() {
            write!(f, "; every task finished within the grace period")?;
        } else {
            let names: Vec<String> = self
                .cancelled
                .iter()
                .map(|(id, name)| format!("{id} {name}"))
                .collect();
            write!(
                f,
                "; cancelled after the grace period: {}",
                names.join(", ")
            )?;
        }
        if !self.stuck.is_empty() {
            write!(
                f,
                "; {} task(s) did not stop (stuck in a poll)",
                self.stuck.len()
            )?;
        }
        Ok(())
    }
}

impl App {
    /// Checks `config`, initialises the modules, binds every server, starts
    /// the monitor (when `monitor` is given and `[monitor] enabled` is not
    /// false) and then starts the schedules and servers as tasks on
    /// `spawner`.
    ///
    /// Nothing is left running when this fails.
    ///
    /// # Errors
    ///
    /// Every [`AppError`]: the first problem found, in the order above.
    pub async fn start(
        &self,
        config: Config,
        spawner: Spawner,
        monitor: Option<MonitorBuilder>,
    ) -> Result<Running, AppError> {
        let ctx = self.prepare(config, spawner)?;
        let config = Arc::clone(ctx.config());

        // Bind everything first, so a port in use stops the start before
        // any task runs.
        let mut bound = Bound(Vec::new());
        for (name, server) in &config.servers {
            let (listener, protocol) = match &server.handler {
                ServerHandler::Protocol(protocol) => {
                    let listener = bind(&server.bind)
                        .map_err(|err| bind_error(&config, name, &server.bind, err))?;
                    (
                        listener,
                        Arc::clone(&ctx.shared.functions.protocols[protocol]),
                    )
                }
                ServerHandler::Factory(factory) => {
                    let (address, port) = match &server.bind {
                        ServerBind::Tcp { address, port } => (address.clone(), *port),
                        ServerBind::Unix { path } => (path.display().to_string(), 0),
                    };
                    let make = &ctx.shared.functions.factories[factory];
                    let timeout = config.app.start_timeout;
                    // A factory that never returns would hang the start
                    // with nothing said; dropping it is all the undoing a
                    // factory that has not returned a socket needs.
                    let made = future::or(
                        async { Some(make(ctx.clone(), name.clone(), address, port).await) },
                        async {
                            async_io::Timer::after(timeout).await;
                            None
                        },
                    )
                    .await
                    .ok_or_else(|| AppError::FactoryTimeout {
                        server: name.clone(),
                        factory: factory.clone(),
                        after: timeout,
                    })?;
                    let BoundServer { listener, protocol } =
                        made.map_err(|source| AppError::Factory {
                            server: name.clone(),
                            factory: factory.clone(),
                            source,
                        })?;
                    (listener, protocol)
                }
            };
            let local_addr = match &listener {
                Listener::Tcp(l) => l.get_ref().local_addr().ok(),
                Listener::Unix(_) => None,
            };
            let state = Arc::new(ServerState {
                name: name.clone(),
                handler: server.handler.clone(),
                address: listener.local_description(),
                local_addr,
                live: AtomicUsize::new(0),
                total: AtomicU64::new(0),
                failures: AtomicU64::new(0),
                accepting: AtomicBool::new(false),
            });
            bound.0.push((state, listener, protocol));
        }

        let monitor = match monitor {
            Some(builder) if config.monitor.enabled => {
                let builder = crate::monitor::configure(builder, &ctx, self.namespace.as_ref())?;
                Some(
                    builder
                        .start()
                        .map_err(|err| AppError::Monitor(err.to_string()))?,
                )
            }
            _ => None,
        };

        for (state, listener, protocol) in std::mem::take(&mut bound.0) {
            lock(&ctx.shared.servers).push(Arc::clone(&state));
            let name = format!("server:{}", state.name);
            // The tracker is open: nothing has closed it yet.
            let _ = ctx.spawn(name, accept_loop(ctx.clone(), state, listener, protocol));
        }
        for schedule in &ctx.shared.schedules {
            let name = format!("schedule:{}", schedule.name);
            let _ = ctx.spawn(name, Arc::clone(schedule).run_loop(ctx.clone()));
        }
        Ok(Running { ctx, monitor })
    }
}

impl Running {
    /// The context the app's functions get.
    pub fn context(&self) -> &AppContext {
        &self.ctx
    }

    /// The signal bus.
    pub fn signals(&self) -> Signals {
        self.ctx.signals()
    }

    /// The configuration.
    pub fn config(&self) -> &Arc<Config> {
        self.ctx.config()
    }

    /// The monitor, when one was started.
    pub fn monitor(&self) -> Option<&Monitor> {
        self.monitor.as_ref()
    }

    /// The TCP address a server listens on (the real port when the
    /// configuration said 0).
    pub fn server_addr(&self, server: &str) -> Option<SocketAddr> {
        lock(&self.ctx.shared.servers)
            .iter()
            .find(|s| s.name == server)
            .and_then(|s| s.local_addr)
    }

    /// A snapshot of what runs, as the monitor's `app` command shows it.
    pub fn status(&self) -> crate::AppStatus {
        crate::monitor::status(&self.ctx)
    }

    /// Stops the app: schedules stop, servers stop accepting and close
    /// their sockets, no new task is started; the tasks still running get
    /// `grace` to finish and are then cancelled (they show as `cancelled`
    /// in `ps-terminated`). The monitor stays up until `self` is dropped.
    pub async fn shutdown(&self, grace: Duration) -> ShutdownReport {
        let started = Instant::now();
        self.ctx.shared.stop.close();
        let tracker = &self.ctx.shared.tracker;
        let watched = tracker.close();
        let mut report = ShutdownReport::default();
        if !tracker.wait(grace).await {
            let registry = self.ctx.spawner().registry();
            for id in tracker.live() {
                let name = registry
                    .task(id)
                    .and_then(|t| t.name)
                    .unwrap_or_else(|| "?".into());
                if registry.cancel(id).is_ok() {
                    report.cancelled.push((id, name));
                }
            }
            // Cancelled tasks stop at their next poll; a task stuck inside
            // a poll cannot be stopped, and is reported rather than waited
            // for forever.
            if !tracker.wait(Duration::from_secs(5)).await {
                report.stuck = tracker.live();
            }
        }
        tracker.settle(&watched, Duration::from_secs(1)).await;
        report.took = started.elapsed();
        report
    }
}
