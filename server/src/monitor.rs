//! The monitor: a thread of its own that serves console sessions.
//!
//! [`MonitorBuilder::start`] binds every transport on the caller's thread
//! (so a busy port is an error returned at once, never a hang), then starts
//! the `monitor` OS thread. That thread runs a small single-threaded event
//! loop (`async-executor` + `async-io`) that shares nothing with the
//! application's runtime: when every worker of the application is blocked,
//! `ps`, `where` and `help` still answer, because they only read the task
//! registry. Dropping the returned [`Monitor`] (or calling
//! [`Monitor::close`]) stops the loop, closes every session, joins the
//! thread and releases the port.
//!
//! The door is shut by default: loopback only, a non-loopback address only
//! with [`MonitorBuilder::allow_remote`] *and* an
//! [`auth_token`](MonitorBuilder::auth_token), bounded sessions, lines,
//! idle time and stalled writes, and every panic a client, command, hook
//! or transport can cause contained to where it happened. See
//! `docs/SECURITY.md` for the threat model and the tests behind each claim.

use std::{
    fmt,
    future::Future,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    panic::AssertUnwindSafe,
    path::{Path, PathBuf},
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    thread,
    time::Duration,
};

use async_executor::LocalExecutor;
use futures_lite::FutureExt as _;

use monitor_core::{
    Executor, TaskIntrospect,
    dispatch::{Command, Dispatcher, Hooks},
    panic_message,
    transport::{Connection, Transport},
};

use crate::{
    MonitorError, auth,
    commands::{self, MonitorContext},
    console::{ConsoleContext, Namespace},
    env::MonitorEnv,
    session,
    transport::TcpTransport,
};

/// The address the monitor listens on by default: loopback only.
pub const MONITOR_HOST: Ipv4Addr = Ipv4Addr::LOCALHOST;
/// The monitor's default TCP port (`nc 127.0.0.1 50101`).
///
/// It lies inside Linux's ephemeral port range, so on a busy host an
/// outgoing connection may hold it; [`MonitorBuilder::start`] then fails
/// with an error that says so, and `.port(0)` picks any free port.
pub const MONITOR_PORT: u16 = 50101;
/// The default TCP port of the namespace console: [`MONITOR_PORT`] + 1, as
/// the console's port follows the monitor's (see [`crate::env`]).
pub const CONSOLE_PORT: u16 = MONITOR_PORT + 1;

/// Sessions served at once by default, per listener (the TCP port, the
/// Unix socket, the console port… each have this many places); one more is
/// refused.
pub const DEFAULT_MAX_SESSIONS: usize = 16;
/// The longest line a client may send by default, in bytes.
pub const DEFAULT_MAX_LINE: usize = 4096;
/// How long a session may sit without sending anything by default.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// How long a write to a client may stall by default before the client is
/// considered gone (it stopped reading and its buffers are full).
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// The bytes a session may be sent per second by default, after a burst of
/// as many: enough for `ps` over tens of thousands of tasks every second,
/// while one client's appetite cannot take the monitor's loop or network.
pub const DEFAULT_OUTPUT_RATE: u64 = 4 << 20;
/// Lines a session may have served per second by default, after a burst of
/// as many: far more than anyone types or a script needs, far less than a
/// client pipelining lines could ask for.
pub const DEFAULT_LINE_RATE: u64 = 200;
/// How long a session waits after its first failed authentication attempt
/// by default; the wait doubles after each further failure.
pub const DEFAULT_AUTH_DELAY: Duration = Duration::from_secs(1);

/// How many commands may run on threads of their own at once (timed-out
/// ones still running included), per dispatcher: synchronous custom
/// commands, `where` (whose task dump may wait on the application's
/// runtime) and the console's `ls`/`get`/`set`.
pub(crate) const COMMAND_THREADS: usize = 16;

/// Installs user hooks into the dispatcher once it is built.
type InstallHooks = Box<dyn FnOnce(&mut Dispatcher<MonitorContext>) + Send>;

/// Configures and starts a [`Monitor`].
///
/// ```
/// use monitor_core::TaskRegistry;
/// use monitor_server::MonitorBuilder;
///
/// let monitor = MonitorBuilder::new(TaskRegistry::new())
///     .port(0) // any free port
///     .prompt("app >>> ")
///     .start()
///     .expect("monitor started");
/// println!("connect with: nc {}", monitor.tcp_addr().unwrap());
/// ```
#[must_use = "a MonitorBuilder does nothing until .start() is called"]
pub struct MonitorBuilder {
    introspect: Arc<dyn TaskIntrospect>,
    executor: Option<Arc<dyn Executor>>,
    host: Option<IpAddr>,
    port: Option<u16>,
    tcp: bool,
    allow_remote: bool,
    unix_path: Option<PathBuf>,
    transports: Vec<Arc<dyn Transport>>,
    namespace: Option<Namespace>,
    console_enabled: bool,
    console_port: Option<u16>,
    console_unix_path: Option<PathBuf>,
    console_transports: Vec<Arc<dyn Transport>>,
    prompt: Option<String>,
    intro: Option<String>,
    help_template: Option<String>,
    help_short_template: Option<String>,
    commands: Vec<Command<MonitorContext>>,
    hooks: Option<InstallHooks>,
    command_timeout: Option<Duration>,
    limits: Limits,
    auth_token: Option<String>,
    auth_delay: Duration,
    /// Settings from the environment; `None`: read the process's at start.
    env: Option<MonitorEnv>,
    /// `Some(None)`: serve tokio-console's API at the default address.
    #[cfg(feature = "tokio-console")]
    tokio_console: Option<Option<SocketAddr>>,
    #[cfg(feature = "http")]
    http: crate::http::HttpOptions,
}

/// A service other than the console that runs on the monitor's loop (the
/// HTTP listener): built on the monitor thread from what every session
/// shares, and dropped when the monitor closes.
pub(crate) type LocalService =
    Box<dyn FnOnce(Arc<Shared>) -> Pin<Box<dyn Future<Output = ()>>> + Send>;

/// Per-session limits, shared by the server's sessions.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_sessions: usize,
    pub(crate) max_line: usize,
    pub(crate) idle_timeout: Duration,
    pub(crate) write_timeout: Duration,
    /// Bytes per second sent to one session (and the burst).
    pub(crate) output_rate: u64,
    /// Lines per second served to one session (and the burst).
    pub(crate) line_rate: u64,
}

impl fmt::Debug for MonitorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MonitorBuilder")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tcp", &self.tcp)
            .field("unix_path", &self.unix_path)
            .field("commands", &self.commands.len())
            .field("limits", &self.limits)
            // Whether there is a token, never the token.
            .field("auth", &self.auth_token.is_some())
            .finish_non_exhaustive()
    }
}

impl MonitorBuilder {
    /// A monitor over `introspect` (normally a [`TaskRegistry`](monitor_core::TaskRegistry), or an
    /// adapter's wrapper around one) with every default: TCP on
    /// `127.0.0.1:50101`, no Unix socket, the built-in commands.
    pub fn new(introspect: Arc<impl TaskIntrospect>) -> Self {
        Self::from_dyn(introspect)
    }

    /// Like [`MonitorBuilder::new`] for an already type-erased introspector.
    pub fn from_dyn(introspect: Arc<dyn TaskIntrospect>) -> Self {
        Self {
            introspect,
            executor: None,
            host: None,
            port: None,
            tcp: true,
            allow_remote: false,
            unix_path: None,
            transports: Vec::new(),
            namespace: None,
            console_enabled: true,
            console_port: None,
            console_unix_path: None,
            console_transports: Vec::new(),
            prompt: None,
            intro: None,
            help_template: None,
            help_short_template: None,
            commands: Vec::new(),
            hooks: None,
            command_timeout: None,
            limits: Limits {
                max_sessions: DEFAULT_MAX_SESSIONS,
                max_line: DEFAULT_MAX_LINE,
                idle_timeout: DEFAULT_IDLE_TIMEOUT,
                write_timeout: DEFAULT_WRITE_TIMEOUT,
                output_rate: DEFAULT_OUTPUT_RATE,
                line_rate: DEFAULT_LINE_RATE,
            },
            auth_token: None,
            auth_delay: DEFAULT_AUTH_DELAY,
            #[cfg(feature = "tokio-console")]
            tokio_console: None,
            #[cfg(feature = "http")]
            http: crate::http::HttpOptions::default(),
            env: None,
        }
    }

    /// Takes the environment's settings from `env` instead of the
    /// process's variables (see [`env`](crate::env) for the variables and
    /// the precedence rule); [`MonitorEnv::default()`] ignores the
    /// environment altogether.
    pub fn env(mut self, env: MonitorEnv) -> Self {
        self.env = Some(env);
        self
    }

    /// The HTTP listener's port (web UI, JSON API, `/metrics`): default
    /// [`HTTP_PORT`](crate::http::HTTP_PORT) (50103), or any free port when
    /// the monitor's [`port`](Self::port) is 0; 0 picks any free port (see
    /// [`Monitor::http_addr`]). It listens on the monitor's
    /// [`host`](Self::host), under the same loopback rules and token. The
    /// listener is on by default when TCP is; after
    /// [`no_tcp`](Self::no_tcp), giving a port here turns it on.
    #[cfg(feature = "http")]
    pub fn http_port(mut self, port: u16) -> Self {
        self.http.port = Some(port);
        self
    }

    /// Turns the HTTP listener off.
    #[cfg(feature = "http")]
    pub fn no_http(mut self) -> Self {
        self.http.disabled = true;
        self
    }

    /// Also accepts `name` (optionally `name:port`) in the Host header of
    /// HTTP requests, for a monitor reached through a DNS name or a proxy.
    /// Without it only the bound address (and `localhost` on loopback) is
    /// accepted, which is what stops DNS-rebinding attacks.
    #[cfg(feature = "http")]
    pub fn http_host_name(mut self, name: impl Into<String>) -> Self {
        self.http.host_names.push(name.into());
        self
    }

    /// HTTP connections served at once (default
    /// [`DEFAULT_HTTP_MAX_CONNECTIONS`](crate::http::DEFAULT_HTTP_MAX_CONNECTIONS));
    /// one more is answered with 503.
    #[cfg(feature = "http")]
    pub fn http_max_connections(mut self, max: usize) -> Self {
        self.http.max_connections = Some(max);
        self
    }

    /// When a browser's login to the web UI ends: after `idle` without a
    /// request (default [`DEFAULT_LOGIN_IDLE`](crate::http::DEFAULT_LOGIN_IDLE),
    /// 30 minutes; an open task list refreshes itself and stays logged in),
    /// and `lifetime` after it began however busy (default
    /// [`DEFAULT_LOGIN_LIFETIME`](crate::http::DEFAULT_LOGIN_LIFETIME), 12
    /// hours). A request with an ended login is answered 401 with the login
    /// page (JSON for the API) saying why. Both must be longer than zero.
    #[cfg(feature = "http")]
    pub fn http_login_expiry(mut self, idle: Duration, lifetime: Duration) -> Self {
        self.http.login_expiry = crate::http::LoginExpiry { idle, lifetime };
        self
    }

    /// Adds a page (and metrics) of another crate to the web UI, served at
    /// `/x/{slug}`: see [`WebExtension`](crate::http::WebExtension).
    #[cfg(feature = "http")]
    pub fn http_extension(mut self, extension: impl crate::http::WebExtension) -> Self {
        self.http.extensions.push(Arc::new(extension));
        self
    }

    /// The application's runtime, used to run asynchronous commands. Without
    /// one they run on the monitor's own thread.
    pub fn executor(mut self, executor: Arc<dyn Executor>) -> Self {
        self.executor = Some(executor);
        self
    }

    /// The address to listen on (default `127.0.0.1`). A non-loopback
    /// address is refused unless [`allow_remote`](Self::allow_remote) is
    /// set and an [`auth_token`](Self::auth_token) is given: the console
    /// can cancel tasks and send signals.
    pub fn host(mut self, host: IpAddr) -> Self {
        self.host = Some(host);
        self
    }

    /// The TCP port (default `MONITOR_PORT` from the environment, else
    /// 50101; 0 picks any free port, see [`Monitor::tcp_addr`]).
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Permits listening on a non-loopback address, together with an
    /// [`auth_token`](Self::auth_token), which is then required. Anyone who
    /// can reach the port and knows the token can cancel tasks and signal
    /// the process; the console is plain text, so the token crosses the
    /// network in the clear: use a network you trust, or a tunnel.
    pub fn allow_remote(mut self, allow: bool) -> Self {
        self.allow_remote = allow;
        self
    }

    /// Turns the TCP listener off (for a Unix-socket-only or embedded
    /// monitor).
    pub fn no_tcp(mut self) -> Self {
        self.tcp = false;
        self
    }

    /// Also serves the console on a Unix domain socket at `path`, created
    /// with mode 0600. A stale socket file left by a crashed process is
    /// replaced; one a live process serves is an error.
    pub fn unix_socket(mut self, path: impl Into<PathBuf>) -> Self {
        self.unix_path = Some(path.into());
        self
    }

    /// Also serves sessions from a custom [`Transport`] (for example an
    /// in-memory one in tests).
    pub fn transport(mut self, transport: impl Transport) -> Self {
        self.transports.push(Arc::new(transport));
        self
    }

    /// Exposes values, tunables and actions to the console (aiomonitor's
    /// `locals`): the `console` command enters it, and it is also served on
    /// its own port (see [`console_port`](Self::console_port)).
    pub fn namespace(mut self, namespace: Namespace) -> Self {
        self.namespace = Some(namespace);
        self
    }

    /// Serves the console on its own TCP port, next to the monitor's
    /// (default on; it only listens when a [`namespace`](Self::namespace)
    /// is set and TCP is on). The `console` command works either way.
    pub fn console_enabled(mut self, enabled: bool) -> Self {
        self.console_enabled = enabled;
        self
    }

    /// The console's TCP port (default `MONITOR_CONSOLE_PORT`, else the
    /// monitor's port + 1 — 50102 — or any free port when the monitor's
    /// port is 0; see [`Monitor::console_addr`]).
    pub fn console_port(mut self, port: u16) -> Self {
        self.console_port = Some(port);
        self
    }

    /// Also serves the console on a Unix domain socket at `path` (mode
    /// 0600).
    pub fn console_unix_socket(mut self, path: impl Into<PathBuf>) -> Self {
        self.console_unix_path = Some(path.into());
        self
    }

    /// Also serves the console over a custom [`Transport`] (for example an
    /// in-memory one in tests).
    pub fn console_transport(mut self, transport: impl Transport) -> Self {
        self.console_transports.push(Arc::new(transport));
        self
    }

    /// The prompt (default `monitor >>> `).
    pub fn prompt(mut self, prompt: impl Into<String>) -> Self {
        self.prompt = Some(prompt.into());
        self
    }

    /// The intro shown on connect; `{tasknum}` is the number of live tasks
    /// and `{s}` is `s` unless that number is 1.
    pub fn intro(mut self, intro: impl Into<String>) -> Self {
        self.intro = Some(intro.into());
        self
    }

    /// The template for `help CMD`: `{cmd_name}`, `{arg_list}`, `{doc}`,
    /// `{doc_firstline}`.
    pub fn help_template(mut self, template: impl Into<String>) -> Self {
        self.help_template = Some(template.into());
        self
    }

    /// The template for each line of `help`, with the same fields.
    pub fn help_short_template(mut self, template: impl Into<String>) -> Self {
        self.help_short_template = Some(template.into());
        self
    }

    /// Adds a custom command next to the built-in ones.
    ///
    /// A synchronous command ([`Command::run`]) runs on a thread of its own
    /// with a clone of the session's [`MonitorContext`], under the
    /// [`command_timeout`](Self::command_timeout): one that blocks is
    /// answered `timed out` and left to finish on its thread, and neither
    /// the other sessions nor [`Monitor::close`] wait for it. At most 16
    /// such threads exist at once; mark a cheap command
    /// [`Command::local`] to run it on the monitor's thread instead.
    pub fn command(mut self, command: Command<MonitorContext>) -> Self {
        self.commands.push(command);
        self
    }

    /// Replaces the dispatcher's hooks (`precmd`, `postcmd`, `emptyline`,
    /// `default`).
    pub fn hooks(mut self, hooks: impl Hooks<MonitorContext>) -> Self {
        self.hooks = Some(Box::new(move |dispatcher| {
            dispatcher.set_hooks(hooks);
        }));
        self
    }

    /// How long a command may run before the console says it timed out
    /// (default 5 s): an asynchronous one is then cancelled, a synchronous
    /// one is left to finish on its thread.
    pub fn command_timeout(mut self, timeout: Duration) -> Self {
        self.command_timeout = Some(timeout);
        self
    }

    /// Requires every session, on every transport, to authenticate with
    /// `auth TOKEN` before anything else.
    ///
    /// Until then the client is told only `Authentication required: send
    /// "auth TOKEN"`: no intro, no prompt, no task count. The token is
    /// compared in constant time; each failed attempt is logged to stderr
    /// with the peer's address and answered only after a delay (see
    /// [`auth_delay`](Self::auth_delay)); the third failure, or 30 seconds
    /// without success, ends the session.
    ///
    /// Required, with [`allow_remote`](Self::allow_remote), to listen on a
    /// non-loopback address; optional otherwise. [`start`](Self::start)
    /// refuses a token shorter than 16 bytes, or one with whitespace,
    /// control characters, quotes or backslashes (the line may be
    /// shell-quoted, `auth 'TOKEN'`, like any console line): use a random
    /// one, such as the output of `openssl rand -hex 16`.
    pub fn auth_token(mut self, token: impl Into<String>) -> Self {
        self.auth_token = Some(token.into());
        self
    }

    /// How long a session waits after its first failed authentication
    /// attempt before it answers (default 1 s); the wait doubles after each
    /// further failure. It makes guessing slow; it must be longer than zero.
    pub fn auth_delay(mut self, delay: Duration) -> Self {
        self.auth_delay = delay;
        self
    }

    /// Sessions served at once on each listener (default 16). Each listener
    /// has its own places, so a flood on the TCP port leaves the Unix
    /// socket and the console port theirs.
    pub fn max_sessions(mut self, max: usize) -> Self {
        self.limits.max_sessions = max;
        self
    }

    /// The longest line accepted, in bytes (default 4096).
    pub fn max_line(mut self, bytes: usize) -> Self {
        self.limits.max_line = bytes;
        self
    }

    /// How long a session may stay silent before it is closed (default 5
    /// minutes).
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.limits.idle_timeout = timeout;
        self
    }

    /// How long a write to a client that stopped reading may stall before
    /// the session is closed (default 10 s).
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.limits.write_timeout = timeout;
        self
    }

    /// The most bytes a session is sent per second, after a burst of as
    /// many (default 4 MiB). A reply goes out whole; the next one waits
    /// until the session's budget has caught up, so a few bytes in (a
    /// heavy command and empty lines repeating it) cannot ask for an
    /// unbounded amount of output per second.
    pub fn max_output_rate(mut self, bytes_per_second: u64) -> Self {
        self.limits.output_rate = bytes_per_second;
        self
    }

    /// The most lines a session has served per second, after a burst of as
    /// many (default 200). A client pipelining lines waits for its turn;
    /// the other sessions are served meanwhile.
    pub fn max_line_rate(mut self, lines_per_second: u64) -> Self {
        self.limits.line_rate = lines_per_second;
        self
    }

    /// Also serves tokio-console's gRPC API, so the stock `tokio-console`
    /// client shows this application's tasks, whatever its runtime (feature
    /// `tokio-console`). `None` listens on `TOKIO_CONSOLE_BIND` when set,
    /// else on 127.0.0.1:6669, as console-subscriber does; port 0 picks any
    /// free port (see [`Monitor::tokio_console_addr`]). A non-loopback
    /// address needs [`allow_remote`](Self::allow_remote): the protocol has
    /// no authentication, and it shows every task's name and spawn site.
    ///
    /// What the client shows and which of its fields are real:
    /// [`tokio_console`](crate::tokio_console).
    ///
    /// ```no_run
    /// # let registry = monitor_core::TaskRegistry::new();
    /// let monitor = monitor_server::MonitorBuilder::new(registry)
    ///     .tokio_console(None) // then: tokio-console http://127.0.0.1:6669
    ///     .start()?;
    /// # Ok::<(), monitor_server::MonitorError>(())
    /// ```
    #[cfg(feature = "tokio-console")]
    pub fn tokio_console(mut self, addr: impl Into<Option<SocketAddr>>) -> Self {
        self.tokio_console = Some(addr.into());
        self
    }

    /// Binds the listeners and starts the monitor thread.
    ///
    /// # Errors
    ///
    /// Fails at once, without starting anything, when a listener cannot be
    /// bound (port in use, permission denied, bad socket path), when a
    /// setting is invalid, or when the thread cannot be spawned.
    pub fn start(mut self) -> Result<Monitor, MonitorError> {
        let env = match self.env.take() {
            Some(env) => env,
            None => MonitorEnv::from_process()?,
        };
        if !env.enabled {
            return Ok(Monitor::disabled());
        }
        self.apply_env(env)?;
        self.validate()?;
        let host = self.host.unwrap_or(IpAddr::V4(MONITOR_HOST));
        let port = self.port.unwrap_or(MONITOR_PORT);
        let console = match self.namespace.take() {
            Some(namespace) => {
                let namespace = Arc::new(namespace);
                let dispatcher = crate::console::dispatcher(
                    Arc::clone(&namespace),
                    self.executor.clone(),
                    self.command_timeout,
                )
                .map_err(|err| MonitorError::Config(format!("console namespace: {err}")))?;
                Some(ConsoleService {
                    dispatcher: Arc::new(dispatcher),
                    namespace,
                })
            }
            None => None,
        };
        let dispatcher = Arc::new(self.build_dispatcher()?);

        let mut transports: Vec<(Arc<dyn Transport>, Service)> = self
            .transports
            .drain(..)
            .map(|transport| (transport, Service::Monitor))
            .collect();
        let mut tcp_addr = None;
        if self.tcp {
            let tcp = TcpTransport::bind(SocketAddr::new(host, port))?;
            tcp_addr = Some(tcp.local_addr());
            transports.push((Arc::new(tcp), Service::Monitor));
        }
        let unix_path = bind_unix(self.unix_path.as_deref(), Service::Monitor, &mut transports)?;

        let mut console_addr = None;
        let mut console_unix_path = None;
        if console.is_some() {
            transports.extend(
                self.console_transports
                    .drain(..)
                    .map(|transport| (transport, Service::Console)),
            );
            if self.tcp && self.console_enabled {
                let port = match self.console_port {
                    Some(port) => port,
                    None => console_port_after(port)?,
                };
                let tcp = TcpTransport::bind(SocketAddr::new(host, port))?;
                console_addr = Some(tcp.local_addr());
                transports.push((Arc::new(tcp), Service::Console));
            }
            console_unix_path = bind_unix(
                self.console_unix_path.as_deref(),
                Service::Console,
                &mut transports,
            )?;
        } else if !self.console_transports.is_empty() || self.console_unix_path.is_some() {
            return Err(MonitorError::Config(
                "a console transport or socket was given but no namespace: add \
                 .namespace(Namespace::new()…) to serve a console"
                    .into(),
            ));
        }
        // One token check and one guess budget for every listener, HTTP
        // included: spreading guesses over protocols does not buy more.
        let auth = self
            .auth_token
            .take()
            .map(|token| Arc::new(auth::Auth::new(token, self.auth_delay)));
        #[cfg_attr(not(feature = "http"), allow(unused_mut))]
        let mut services: Vec<LocalService> = Vec::new();
        #[cfg(feature = "http")]
        let http_addr = match std::mem::take(&mut self.http).bind(
            self.tcp,
            host,
            port,
            auth.clone(),
            self.limits.write_timeout,
        )? {
            Some((addr, service)) => {
                services.push(service);
                Some(addr)
            }
            None => None,
        };
        if transports.is_empty() && services.is_empty() {
            return Err(MonitorError::Config(
                "nothing to listen on: TCP is off and no Unix socket or transport was given".into(),
            ));
        }

        #[cfg(feature = "tokio-console")]
        let tokio_console = match self.tokio_console {
            Some(addr) => {
                let addr = crate::tokio_console::resolve_addr(addr)?;
                if !addr.ip().is_loopback() && !self.allow_remote {
                    return Err(MonitorError::Config(format!(
                        "refusing to serve tokio-console on non-loopback address {addr}: its \
                         protocol has no authentication and shows every task; use \
                         127.0.0.1:6669 (the default), or call .allow_remote(true) if the \
                         network is trusted"
                    )));
                }
                Some(crate::tokio_console::Bridge::start(
                    Arc::clone(&self.introspect),
                    addr,
                )?)
            }
            None => None,
        };

        let shared = Arc::new(Shared {
            introspect: self.introspect,
            dispatcher,
            console,
            limits: self.limits,
            sessions: AtomicUsize::new(0),
            auth,
        });
        let (stop, stopped) = async_channel::bounded::<()>(1);
        let thread = thread::Builder::new()
            .name("monitor".into())
            .spawn(move || serve(shared, transports, services, stopped))
            .map_err(MonitorError::Thread)?;
        Ok(Monitor {
            tcp_addr,
            unix_path,
            console_addr,
            console_unix_path,
            #[cfg(feature = "http")]
            http_addr,
            stop: Some(stop),
            thread: Some(thread),
            #[cfg(feature = "tokio-console")]
            tokio_console,
        })
    }

    /// Fills what the code left unset from the environment (issue 20's
    /// precedence: code, then environment, then defaults).
    fn apply_env(&mut self, env: MonitorEnv) -> Result<(), MonitorError> {
        if self.host.is_none()
            && let Some(host) = env.host
        {
            self.host = Some(host);
            // The operator asked for this address; a non-loopback one still
            // needs a token (checked in `validate`).
            self.allow_remote = true;
        }
        self.port = self.port.or(env.port);
        if self.unix_path.is_none() {
            self.unix_path = env.unix;
        }
        if self.auth_token.is_none()
            && let Some(token) = env.token
        {
            // Named here, as the token's value must never be shown.
            auth::check_token(&token, self.limits.max_line)
                .map_err(|err| MonitorError::Config(format!("MONITOR_TOKEN: {err}")))?;
            self.auth_token = Some(token);
        }
        self.console_port = self.console_port.or(env.console_port);
        #[cfg(feature = "http")]
        if self.http.port.is_none() {
            self.http.port = env.http_port;
        }
        // TOKIO_CONSOLE_BIND is read where the bridge binds (only when it was
        // asked for), as console-subscriber reads it.
        Ok(())
    }

    fn validate(&self) -> Result<(), MonitorError> {
        let host = self.host.unwrap_or(IpAddr::V4(MONITOR_HOST));
        // `is_loopback` is false for IPv4-mapped addresses such as
        // ::ffff:127.0.0.1, which then need a token too: erring on the side
        // of asking is the safe way round.
        #[cfg(feature = "http")]
        let http = self.http.enabled(self.tcp);
        #[cfg(not(feature = "http"))]
        let http = false;
        // The HTTP listener binds the same host: the same rules apply.
        if (self.tcp || http) && !host.is_loopback() {
            if !self.allow_remote {
                return Err(MonitorError::Config(format!(
                    "refusing to listen on non-loopback address {}: the console can cancel \
                     tasks and signal the process; use 127.0.0.1 (the default), or call \
                     .allow_remote(true) and .auth_token(TOKEN) if the network is trusted",
                    host
                )));
            }
            if self.auth_token.is_none() {
                return Err(MonitorError::Config(format!(
                    "refusing to listen on non-loopback address {} without an auth token: \
                     call .auth_token(TOKEN) as well as .allow_remote(true)",
                    host
                )));
            }
        }
        let limits = &self.limits;
        if let Some(token) = &self.auth_token {
            auth::check_token(token, limits.max_line).map_err(MonitorError::Config)?;
        }
        if self.auth_delay.is_zero() {
            return Err(MonitorError::Config(
                "auth_delay must be longer than zero".into(),
            ));
        }
        if limits.max_sessions == 0 {
            return Err(MonitorError::Config(
                "max_sessions must be at least 1".into(),
            ));
        }
        if !(16..=1 << 20).contains(&limits.max_line) {
            return Err(MonitorError::Config(format!(
                "max_line must be between 16 bytes and 1 MiB, not {}",
                limits.max_line
            )));
        }
        if limits.output_rate < 1024 || limits.line_rate == 0 {
            return Err(MonitorError::Config(format!(
                "max_output_rate must be at least 1024 bytes a second (not {}) and max_line_rate \
                 at least one line a second (not {})",
                limits.output_rate, limits.line_rate
            )));
        }
        if limits.idle_timeout.is_zero() || limits.write_timeout.is_zero() {
            return Err(MonitorError::Config(
                "idle and write timeouts must be longer than zero".into(),
            ));
        }
        if self.command_timeout.is_some_and(|t| t.is_zero()) {
            return Err(MonitorError::Config(
                "command_timeout must be longer than zero".into(),
            ));
        }
        Ok(())
    }

    fn build_dispatcher(&mut self) -> Result<Dispatcher<MonitorContext>, MonitorError> {
        let config = |err: &dyn fmt::Display| MonitorError::Config(err.to_string());
        let mut dispatcher = Dispatcher::new();
        // Nothing that may wait on the application runs on the monitor's
        // one loop: a synchronous command that blocks would stop every
        // session, and `close`, until it returned.
        dispatcher.run_sync_on_threads(COMMAND_THREADS);
        for command in commands::builtin() {
            dispatcher.register(command).map_err(|e| config(&e))?;
        }
        for command in self.commands.drain(..) {
            dispatcher.register(command).map_err(|e| config(&e))?;
        }
        if let Some(executor) = self.executor.take() {
            dispatcher.set_executor(executor);
        }
        if let Some(timeout) = self.command_timeout {
            dispatcher.set_timeout(timeout);
        }
        if let Some(prompt) = self.prompt.take() {
            dispatcher.set_prompt(prompt);
        }
        if let Some(intro) = self.intro.take() {
            dispatcher.set_intro(&intro).map_err(|e| config(&e))?;
        }
        if let Some(template) = self.help_template.take() {
            dispatcher
                .set_help_template(&template)
                .map_err(|e| config(&e))?;
        }
        if let Some(template) = self.help_short_template.take() {
            dispatcher
                .set_help_short_template(&template)
                .map_err(|e| config(&e))?;
        }
        if let Some(install) = self.hooks.take() {
            install(&mut dispatcher);
        }
        Ok(dispatcher)
    }
}

/// The console's port when none is set: the monitor's + 1, so that
/// processes given ports two apart never collide; any free port when the
/// monitor's is 0.
fn console_port_after(port: u16) -> Result<u16, MonitorError> {
    match port {
        0 => Ok(0),
        _ => port.checked_add(1).ok_or_else(|| {
            MonitorError::Config(
                "the monitor's port is 65535, which leaves no next port for the console: set \
                 MONITOR_CONSOLE_PORT or .console_port(..)"
                    .into(),
            )
        }),
    }
}

/// Starts a monitor with every default over `introspect`, running
/// asynchronous commands on `executor`: the one-liner of aiomonitor's
/// `start_monitor(loop)`.
///
/// # Errors
///
/// See [`MonitorBuilder::start`].
pub fn start_monitor(
    introspect: Arc<impl TaskIntrospect>,
    executor: Arc<dyn Executor>,
) -> Result<Monitor, MonitorError> {
    MonitorBuilder::new(introspect).executor(executor).start()
}

/// What every session of one server shares.
pub(crate) struct Shared {
    pub(crate) introspect: Arc<dyn TaskIntrospect>,
    pub(crate) dispatcher: Arc<Dispatcher<MonitorContext>>,
    /// The console, when the application exposed a namespace.
    pub(crate) console: Option<ConsoleService>,
    pub(crate) limits: Limits,
    /// Console connections open on every listener together (those being
    /// refused included), for the HTTP API and metrics; each listener
    /// counts its own places.
    pub(crate) sessions: AtomicUsize,
    /// The token sessions must present first, if any.
    pub(crate) auth: Option<Arc<auth::Auth>>,
}

/// The console's dispatcher and the namespace its sessions read.
pub(crate) struct ConsoleService {
    pub(crate) dispatcher: Arc<Dispatcher<ConsoleContext>>,
    pub(crate) namespace: Arc<Namespace>,
}

/// Which console a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    /// The monitor's commands (`ps`, `where`, …).
    Monitor,
    /// The namespace console (`ls`, `get`, `set`, `call`).
    Console,
}

/// One listener as the server sees it: which console it serves, and its own
/// `max_sessions` places.
///
/// Places are counted per listener, not per monitor, so that a flood of
/// network connections (idle, slowloris-style, or guessing the token)
/// fills the TCP port's places only: the owner can still come in through
/// the 0600 Unix socket, and the console port stays open to the operator.
pub(crate) struct Listener {
    pub(crate) service: Service,
    /// Whether only the process's own user can connect (see
    /// [`Transport::is_local`]): such listeners also have a token-guess
    /// budget of their own.
    pub(crate) local: bool,
    sessions: AtomicUsize,
}

/// Binds a Unix socket for `service` when a path is given.
fn bind_unix(
    path: Option<&Path>,
    service: Service,
    transports: &mut Vec<(Arc<dyn Transport>, Service)>,
) -> Result<Option<PathBuf>, MonitorError> {
    let Some(path) = path else {
        return Ok(None);
    };
    #[cfg(unix)]
    {
        let unix = crate::transport::UnixTransport::bind(path)?;
        let bound = unix.path().to_path_buf();
        transports.push((Arc::new(unix), service));
        Ok(Some(bound))
    }
    #[cfg(not(unix))]
    {
        let _ = (path, service, transports);
        Err(MonitorError::Config(
            "Unix domain sockets are not available on this platform".into(),
        ))
    }
}

/// A running monitor. Dropping it stops the server.
///
/// A `Monitor` cannot be restarted: build a new one with
/// [`MonitorBuilder`]. [`close`](Monitor::close) is idempotent.
///
/// Keep it for as long as the monitor should listen — `let _monitor = …;`
/// keeps it to the end of the scope, while `let _ = …;` or a bare
/// `start()?;` drops it, and so stops it, at once; the latter is a warning:
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// fn main() -> Result<(), monitor_server::MonitorError> {
///     let registry = monitor_core::TaskRegistry::new();
///     monitor_server::MonitorBuilder::new(registry).port(0).start()?;
///     Ok(())
/// }
/// ```
#[must_use = "dropping the Monitor stops it at once; keep it alive, e.g. `let _monitor = ...;`"]
pub struct Monitor {
    tcp_addr: Option<SocketAddr>,
    unix_path: Option<PathBuf>,
    console_addr: Option<SocketAddr>,
    console_unix_path: Option<PathBuf>,
    #[cfg(feature = "http")]
    http_addr: Option<SocketAddr>,
    stop: Option<async_channel::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
    #[cfg(feature = "tokio-console")]
    tokio_console: Option<crate::tokio_console::Bridge>,
}

impl fmt::Debug for Monitor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Monitor")
            .field("tcp_addr", &self.tcp_addr)
            .field("unix_path", &self.unix_path)
            .field("console_addr", &self.console_addr)
            .field("console_unix_path", &self.console_unix_path)
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl Monitor {
    /// What `start` returns when `MONITOR=off`: nothing listens, and
    /// [`is_closed`](Self::is_closed) is true from the start.
    fn disabled() -> Self {
        Self {
            tcp_addr: None,
            unix_path: None,
            console_addr: None,
            console_unix_path: None,
            stop: None,
            thread: None,
            #[cfg(feature = "http")]
            http_addr: None,
            #[cfg(feature = "tokio-console")]
            tokio_console: None,
        }
    }

    /// The TCP address actually bound (with the real port when port 0 was
    /// asked for); `None` when TCP is off.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    /// The Unix socket path, when one was configured.
    pub fn unix_path(&self) -> Option<&Path> {
        self.unix_path.as_deref()
    }

    /// The console's TCP address, when it is served on its own port.
    pub fn console_addr(&self) -> Option<SocketAddr> {
        self.console_addr
    }

    /// The console's Unix socket path, when one was configured.
    pub fn console_unix_path(&self) -> Option<&Path> {
        self.console_unix_path.as_deref()
    }

    /// The address tokio-console clients connect to, when
    /// [`MonitorBuilder::tokio_console`] was asked for (with the real port
    /// when port 0 was).
    #[cfg(feature = "tokio-console")]
    pub fn tokio_console_addr(&self) -> Option<SocketAddr> {
        self.tokio_console.as_ref().map(|bridge| bridge.addr())
    }

    /// The HTTP listener's address (web UI at `http://{addr}/`), with the
    /// real port when port 0 was asked for; `None` when HTTP is off.
    #[cfg(feature = "http")]
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// `true` once [`close`](Monitor::close) has run, and for a monitor the
    /// environment switched off (`MONITOR=off`).
    pub fn is_closed(&self) -> bool {
        self.thread.is_none()
    }

    /// Stops accepting, closes every open session, joins the monitor thread
    /// and releases the port and socket file. Safe to call more than once.
    pub fn close(&mut self) {
        #[cfg(feature = "tokio-console")]
        if let Some(mut bridge) = self.tokio_console.take() {
            bridge.close();
        }
        // Dropping the sender wakes the server loop, which then returns.
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // A panic on the monitor thread has already been reported by the
            // panic hook; the application must not be taken down by it.
            let _ = thread.join();
        }
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.close();
    }
}

/// The monitor thread's body.
///
/// Everything a client or a custom command can make panic is caught
/// closer to it (a session, an accept loop); this outer net only logs a
/// panic that escaped, so an operator learns why the console went away.
/// The thread then ends, its loop and sessions are dropped, and the
/// application carries on: nothing of it runs on this thread.
fn serve(
    shared: Arc<Shared>,
    transports: Vec<(Arc<dyn Transport>, Service)>,
    services: Vec<LocalService>,
    stopped: async_channel::Receiver<()>,
) {
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        serve_sessions(shared, transports, services, stopped);
    }));
    if let Err(payload) = outcome {
        eprintln!(
            "monitor: the monitor thread stopped after a panic: {}; the console is closed, the \
             application is unaffected",
            panic_message(&*payload)
        );
    }
}

fn serve_sessions(
    shared: Arc<Shared>,
    transports: Vec<(Arc<dyn Transport>, Service)>,
    services: Vec<LocalService>,
    stopped: async_channel::Receiver<()>,
) {
    let executor = LocalExecutor::new();
    for service in services {
        let running = service(Arc::clone(&shared));
        executor
            .spawn(session::contained(
                running,
                stopped.clone(),
                "the HTTP listener".to_owned(),
            ))
            .detach();
    }
    let (connections, accepted) = async_channel::bounded::<(Connection, Arc<Listener>)>(1);
    for (transport, service) in transports {
        let who = format!("the listener on {}", describe(&*transport));
        let local =
            std::panic::catch_unwind(AssertUnwindSafe(|| transport.is_local())).unwrap_or(false);
        let listener = Arc::new(Listener {
            service,
            local,
            sessions: AtomicUsize::new(0),
        });
        let accepting = accept_loop(transport, listener, connections.clone());
        executor
            .spawn(session::contained(accepting, stopped.clone(), who))
            .detach();
    }
    drop(connections);
    async_io::block_on(executor.run(async {
        loop {
            let next = async { Some(accepted.recv().await.ok()) }
                .or(async {
                    // Resolves when `Monitor::close` drops the sender.
                    let _ = stopped.recv().await;
                    None
                })
                .await;
            let (connection, listener) = match next {
                Some(Some(accepted)) => accepted,
                // Every transport is done (a memory transport whose
                // connectors are gone, one that failed for good): no new
                // sessions, but the open ones go on until `close`.
                Some(None) => {
                    let _ = stopped.recv().await;
                    break;
                }
                None => break,
            };
            shared.sessions.fetch_add(1, Ordering::AcqRel);
            let previous = listener.sessions.fetch_add(1, Ordering::AcqRel);
            let slot = SessionSlot(Arc::clone(&shared), listener);
            let stop = stopped.clone();
            if previous >= shared.limits.max_sessions {
                executor
                    .spawn(session::refuse(connection, slot, stop))
                    .detach();
            } else {
                executor
                    .spawn(session::run(connection, slot, stop))
                    .detach();
            }
        }
        // Every task races the stop signal, so each ends at its next poll,
        // dropping its connection or listener inside its own panic guard.
        // The grace period only bounds `close` should one not.
        let drained = async {
            while !executor.is_empty() {
                async_io::Timer::after(Duration::from_millis(1)).await;
            }
        };
        drained
            .or(async {
                async_io::Timer::after(SHUTDOWN_GRACE).await;
            })
            .await;
    }));
    // Normally empty by now; whatever is left is dropped with it, which
    // closes the connections and releases the listeners.
    drop(executor);
}

/// How long [`Monitor::close`] waits for sessions to wind down before it
/// drops whatever is left.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

async fn accept_loop(
    transport: Arc<dyn Transport>,
    listener: Arc<Listener>,
    connections: async_channel::Sender<(Connection, Arc<Listener>)>,
) {
    loop {
        // A custom transport is foreign code running on the monitor's
        // thread: its panic must not take the other transports, or the
        // open sessions, with it.
        let accepted = AssertUnwindSafe(async { transport.accept().await })
            .catch_unwind()
            .await;
        match accepted {
            Ok(Ok(connection)) => {
                if connections
                    .send((connection, Arc::clone(&listener)))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Ok(Err(err)) if err.kind() == std::io::ErrorKind::NotConnected => return,
            Ok(Err(err)) => {
                // Typically EMFILE: back off instead of spinning.
                eprintln!("monitor: accept on {} failed: {err}", describe(&*transport));
                async_io::Timer::after(Duration::from_millis(100)).await;
            }
            Err(payload) => {
                // A transport that panicked once is in an unknown state;
                // calling it again could panic in a loop.
                eprintln!(
                    "monitor: the transport {} panicked in accept: {}; it accepts no more \
                     connections",
                    describe(&*transport),
                    panic_message(&*payload)
                );
                return;
            }
        }
    }
}

/// A transport's address for a log line, even if asking for it panics.
fn describe(transport: &dyn Transport) -> String {
    std::panic::catch_unwind(AssertUnwindSafe(|| transport.local_addr()))
        .unwrap_or_else(|_| "(a custom transport)".to_owned())
}

/// Holds one of a listener's `max_sessions` places; gives it back when
/// dropped.
pub(crate) struct SessionSlot(pub(crate) Arc<Shared>, pub(crate) Arc<Listener>);

impl Drop for SessionSlot {
    fn drop(&mut self) {
        self.1.sessions.fetch_sub(1, Ordering::AcqRel);
        self.0.sessions.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The monitor thread cannot be made to die through the public API
    /// (every panic a client, a command, a hook or a transport can cause is
    /// caught closer to it), so this builds a `Monitor` around a thread
    /// that has died, to check what `close` and `Drop` then do.
    #[test]
    fn close_returns_when_the_monitor_thread_has_died() {
        let (stop, _stopped) = async_channel::bounded::<()>(1);
        let thread = thread::Builder::new()
            .name("monitor".into())
            .spawn(|| panic!("the monitor thread died"))
            .unwrap();
        let mut monitor = Monitor {
            tcp_addr: None,
            unix_path: None,
            console_addr: None,
            console_unix_path: None,
            #[cfg(feature = "http")]
            http_addr: None,
            stop: Some(stop),
            thread: Some(thread),
            #[cfg(feature = "tokio-console")]
            tokio_console: None,
        };
        thread::sleep(Duration::from_millis(50));
        let started = std::time::Instant::now();
        monitor.close();
        assert!(monitor.is_closed());
        monitor.close();
        drop(monitor);
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
