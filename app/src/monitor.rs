//! What the app adds to the monitor: the `app`, `emit` and `schedule`
//! commands, registered like any user command, and `config` / `app` in the
//! console namespace.

use std::{fmt, sync::atomic::Ordering, time::Instant};

use monitor_core::dispatch::{Arg, Args, Command, CommandError};
use monitor_server::{MonitorBuilder, commands::MonitorContext, console::Namespace};
use serde::Serialize;

use crate::{
    AppContext, Emitted, NamespaceHook,
    config::{ServerHandler, format_duration},
    runner::{AppError, RunOutcome, lock},
};

/// What the app runs, as the monitor's `app` command shows it.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct AppStatus {
    /// The configuration file used.
    pub config_file: Option<String>,
    /// Modules, in initialisation order.
    pub modules: Vec<String>,
    /// Schedules.
    pub schedules: Vec<ScheduleStatus>,
    /// Servers.
    pub servers: Vec<ServerStatus>,
    /// Signals with subscribers.
    pub signals: Vec<SignalStatus>,
    /// `true` once shutdown has begun.
    pub stopping: bool,
}

/// One schedule in [`AppStatus`].
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ScheduleStatus {
    /// Its name.
    pub name: String,
    /// The scheduler function.
    pub func: String,
    /// The period.
    pub every: String,
    /// Paused with `schedule pause`.
    pub paused: bool,
    /// Milliseconds until the next periodic run; `None` while paused or
    /// stopped.
    pub next_run_in_ms: Option<u64>,
    /// Runs started.
    pub runs: u64,
    /// Runs that failed, panicked or were cancelled.
    pub failures: u64,
    /// `true` while a run is in progress.
    pub running: bool,
    /// The last finished run's outcome.
    pub last_outcome: Option<RunOutcome>,
    /// Its duration in milliseconds.
    pub last_duration_ms: Option<u64>,
    /// How long ago it ended, in milliseconds.
    pub last_ended_ms_ago: Option<u64>,
}

/// One server in [`AppStatus`].
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ServerStatus {
    /// Its name.
    pub name: String,
    /// `protocol NAME` or `factory NAME`.
    pub handler: String,
    /// Where it listens.
    pub address: String,
    /// Still accepting connections.
    pub accepting: bool,
    /// Connections open now.
    pub live_connections: usize,
    /// Connections accepted since start.
    pub total_connections: u64,
    /// Connections whose protocol returned an error, and failed accepts.
    pub failures: u64,
}

/// One signal in [`AppStatus`].
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct SignalStatus {
    /// The signal.
    pub signal: String,
    /// Times emitted.
    pub emits: u64,
    /// Its subscribers.
    pub subscribers: Vec<SubscriberStatus>,
}

/// One subscriber in [`SignalStatus`].
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct SubscriberStatus {
    /// The `[listen.NAME]` section.
    pub listener: String,
    /// The listener function.
    pub func: String,
    /// Deliveries handled.
    pub delivered: u64,
    /// Deliveries that failed, panicked or were cancelled.
    pub failed: u64,
    /// The last delivery's outcome.
    pub last_outcome: Option<RunOutcome>,
}

fn millis(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

pub(crate) fn status(ctx: &AppContext) -> AppStatus {
    let shared = &ctx.shared;
    let now = Instant::now();
    let schedules = shared
        .schedules
        .iter()
        .map(|s| {
            let progress = lock(&s.progress);
            ScheduleStatus {
                name: s.name.clone(),
                func: s.func.clone(),
                every: format_duration(s.every),
                paused: s.paused.load(Ordering::SeqCst),
                next_run_in_ms: progress
                    .next_run
                    .map(|next| millis(next.saturating_duration_since(now))),
                runs: s.runs.load(Ordering::SeqCst),
                failures: s.failures.load(Ordering::SeqCst),
                running: progress.running_since.is_some(),
                last_outcome: progress.last.as_ref().map(|l| l.outcome.clone()),
                last_duration_ms: progress.last.as_ref().map(|l| millis(l.duration)),
                last_ended_ms_ago: progress
                    .last
                    .as_ref()
                    .map(|l| millis(now.saturating_duration_since(l.ended))),
            }
        })
        .collect();
    let servers = lock(&shared.servers)
        .iter()
        .map(|s| ServerStatus {
            name: s.name.clone(),
            handler: match &s.handler {
                ServerHandler::Protocol(p) => format!("protocol {p}"),
                ServerHandler::Factory(f) => format!("factory {f}"),
            },
            address: s.address.clone(),
            accepting: s.accepting.load(Ordering::SeqCst),
            live_connections: s.live.load(Ordering::SeqCst),
            total_connections: s.total.load(Ordering::SeqCst),
            failures: s.failures.load(Ordering::SeqCst),
        })
        .collect();
    let signals = shared
        .signals
        .by_signal
        .iter()
        .map(|(signal, entry)| SignalStatus {
            signal: signal.clone(),
            emits: entry.emits.load(Ordering::SeqCst),
            subscribers: entry
                .subscribers
                .iter()
                .map(|sub| SubscriberStatus {
                    listener: sub.section.clone(),
                    func: sub.func.clone(),
                    delivered: sub.delivered.load(Ordering::SeqCst),
                    failed: sub.failed.load(Ordering::SeqCst),
                    last_outcome: lock(&sub.last).clone(),
                })
                .collect(),
        })
        .collect();
    AppStatus {
        config_file: ctx.config().file.as_ref().map(|p| p.display().to_string()),
        modules: ctx.config().app.modules.clone(),
        schedules,
        servers,
        signals,
        stopping: ctx.is_stopping(),
    }
}

impl fmt::Display for AppStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "config    {}",
            self.config_file.as_deref().unwrap_or("(none)")
        )?;
        writeln!(
            f,
            "modules   {}",
            if self.modules.is_empty() {
                "(none)".to_owned()
            } else {
                self.modules.join(", ")
            }
        )?;
        if self.stopping {
            writeln!(f, "state     shutting down")?;
        }
        writeln!(f, "\nschedules ({})", self.schedules.len())?;
        for s in &self.schedules {
            let next = match (s.paused, s.next_run_in_ms) {
                (true, _) => "paused".to_owned(),
                (false, Some(ms)) => format!("next in {ms}ms"),
                (false, None) => "stopped".to_owned(),
            };
            let last = match (&s.last_outcome, s.last_duration_ms) {
                (Some(outcome), Some(ms)) => format!("last {outcome} in {ms}ms"),
                _ => "never ran".to_owned(),
            };
            let running = if s.running { ", running now" } else { "" };
            writeln!(
                f,
                "  {:<16} every {:<6} {:<20} runs {:<5} {next}, {last}{running}",
                s.name, s.every, s.func, s.runs
            )?;
        }
        writeln!(f, "\nservers ({})", self.servers.len())?;
        for s in &self.servers {
            writeln!(
                f,
                "  {:<16} {:<22} {:<28} live {:<4} total {}{}",
                s.name,
                s.address,
                s.handler,
                s.live_connections,
                s.total_connections,
                if s.accepting { "" } else { " (closed)" }
            )?;
        }
        writeln!(f, "\nsignals ({})", self.signals.len())?;
        for s in &self.signals {
            let subs: Vec<String> = s
                .subscribers
                .iter()
                .map(|sub| {
                    let last = sub
                        .last_outcome
                        .as_ref()
                        .map_or(String::new(), |o| format!(" last {o}"));
                    format!(
                        "{}:{} ({} failed{last})",
                        sub.listener, sub.func, sub.failed
                    )
                })
                .collect();
            writeln!(
                f,
                "  {:<16} emitted {:<4} → {}",
                s.signal,
                s.emits,
                subs.join(", ")
            )?;
        }
        Ok(())
    }
}

/// Applies `[monitor]`, registers the app's commands and the console
/// namespace.
pub(crate) fn configure(
    mut builder: MonitorBuilder,
    ctx: &AppContext,
    hook: Option<&NamespaceHook>,
) -> Result<MonitorBuilder, AppError> {
    let m = &ctx.config().monitor;
    if let Some(host) = m.host {
        builder = builder.host(host);
    }
    if m.allow_remote {
        builder = builder.allow_remote(true);
    }
    if let Some(port) = m.port {
        builder = builder.port(port);
    }
    if let Some(path) = &m.unix_socket {
        builder = builder.unix_socket(path);
    }
    if let Some(port) = m.console_port {
        builder = builder.console_port(port);
    }
    if let Some(path) = &m.console_unix_socket {
        builder = builder.console_unix_socket(path);
    }
    if let Some(port) = m.http_port {
        #[cfg(feature = "http")]
        {
            builder = builder.http_port(port);
        }
        #[cfg(not(feature = "http"))]
        return Err(AppError::Monitor(format!(
            "[monitor] http_port = {port}: this build has no web UI; enable monitor-app's \
             `http` feature (on by default) or remove the key"
        )));
    }
    if let Some(port) = m.tokio_console_port {
        #[cfg(feature = "tokio-console")]
        {
            let host = m
                .host
                .unwrap_or(std::net::IpAddr::V4(monitor_server::MONITOR_HOST));
            builder = builder.tokio_console(std::net::SocketAddr::new(host, port));
        }
        #[cfg(not(feature = "tokio-console"))]
        return Err(AppError::Monitor(format!(
            "[monitor] tokio_console_port = {port}: this build has no tokio-console bridge; \
             enable monitor-app's `tokio-console` feature or remove the key"
        )));
    }
    if let Some(var) = &m.token_env {
        let token = std::env::var(var).map_err(|_| {
            AppError::Monitor(format!(
                "[monitor] token_env = \"{var}\" but the environment variable {var} is not set \
                 (or not UTF-8); export it, or remove token_env to run without a token"
            ))
        })?;
        builder = builder.auth_token(token);
    }

    let config = ctx.config().clone();
    let for_status = ctx.clone();
    let mut namespace = Namespace::new()
        .shared("config", "the loaded configuration (read-only)", config)
        .value(
            "app",
            "schedules, servers and signals right now",
            move || status(&for_status),
        );
    if let Some(hook) = hook {
        namespace = hook(namespace, ctx);
    }
    #[cfg(feature = "http")]
    {
        builder = builder.http_extension(crate::web::AppPage::new(ctx.clone()));
    }
    Ok(builder
        .namespace(namespace)
        .command(app_command(ctx.clone()))
        .command(emit_command(ctx.clone()))
        .command(schedule_command(ctx.clone())))
}

fn app_command(ctx: AppContext) -> Command<MonitorContext> {
    Command::new("app")
        .about(
            "Show what the app runs: config file, modules, schedules (period, next run, runs, \
             last outcome and duration), servers (address, live and total connections) and \
             signals (subscribers, emit counts).",
        )
        .arg(Arg::flag("json").help("print JSON instead of text"))
        .run(move |_: &mut MonitorContext, args: &Args, out| {
            let status = status(&ctx);
            if args.flag("json") {
                let json = serde_json::to_string(&status)
                    .map_err(|err| CommandError::new(format!("JSON encoding failed: {err}")))?;
                out.line(json);
            } else {
                out.write(status.to_string());
            }
            Ok(())
        })
}

fn emit_command(ctx: AppContext) -> Command<MonitorContext> {
    Command::new("emit")
        .about(
            "Emit a signal to its listeners and wait for them.\n\nEach listener runs as a task \
             named listen:SECTION/SIGNAL; an error or panic is reported, not propagated.",
        )
        .arg(Arg::string("SIGNAL").help("the signal, as named in [listen.*]"))
        .arg(
            Arg::string("MESSAGE")
                .optional()
                .default_value("")
                .help("the message listeners receive"),
        )
        .run_async(move |_: &mut MonitorContext, args: &Args| {
            let ctx = ctx.clone();
            let signal: String = args.get("SIGNAL").unwrap_or_default();
            let message: String = args.get("MESSAGE").unwrap_or_default();
            async move {
                let emitted = emit_signal(&ctx, &signal, message)
                    .await
                    .map_err(|err| CommandError::new(err.to_string()))?;
                Ok(format!("{emitted}\n"))
            }
        })
}

fn schedule_command(ctx: AppContext) -> Command<MonitorContext> {
    Command::new("schedule")
        .about(
            "Run a schedule now, or pause / resume its periodic runs.\n\nusage: schedule \
             run|pause|resume NAME. `run` works while paused and does not move the next \
             periodic run.",
        )
        .arg(Arg::string("ACTION").help("run, pause or resume"))
        .arg(Arg::string("NAME").help("the schedule, as named in [schedule.NAME]"))
        .run(move |_: &mut MonitorContext, args: &Args, out| {
            let action: String = args.get("ACTION").unwrap_or_default();
            let name: String = args.get("NAME").unwrap_or_default();
            let done = schedule_action(&ctx, &action, &name)
                .map_err(|err| CommandError::new(err.to_string()))?;
            out.line(done);
            Ok(())
        })
}

/// Why `schedule` or `emit` was refused, from the console or the web page
/// (which answers with the status [`Refused::kind`] names).
#[derive(Debug, thiserror::Error)]
pub(crate) enum Refused {
    /// The schedule is not configured.
    #[error("no schedule named `{name}`; schedules: {known}")]
    NoSchedule { name: String, known: String },
    /// Not run, pause or resume.
    #[error("unknown action `{0}`; expected run, pause or resume")]
    UnknownAction(String),
    /// Nothing subscribes to the signal.
    #[error("no listener subscribes to `{signal}`; subscribed signals: {known}")]
    NoSignal { signal: String, known: String },
    /// Shutdown has begun: schedules no longer run, listeners are refused.
    #[error("the app is shutting down: {0} is refused")]
    Stopping(String),
}

/// What kind of refusal: the web page's status for it.
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) enum RefusedKind {
    /// Something named does not exist (404).
    Unknown,
    /// Malformed (400).
    Invalid,
    /// Exists, but not now (409).
    Conflict,
}

impl Refused {
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn kind(&self) -> RefusedKind {
        match self {
            Refused::NoSchedule { .. } | Refused::NoSignal { .. } => RefusedKind::Unknown,
            Refused::UnknownAction(_) => RefusedKind::Invalid,
            Refused::Stopping(_) => RefusedKind::Conflict,
        }
    }
}

fn list(names: Vec<String>) -> String {
    if names.is_empty() {
        "(none)".to_owned()
    } else {
        names.join(", ")
    }
}

/// `schedule run|pause|resume NAME`, for the console command and the web
/// page alike; the answer is the line the console prints.
pub(crate) fn schedule_action(
    ctx: &AppContext,
    action: &str,
    name: &str,
) -> Result<String, Refused> {
    let Some(schedule) = ctx.schedule(name) else {
        return Err(Refused::NoSchedule {
            name: name.to_owned(),
            known: list(
                ctx.shared
                    .schedules
                    .iter()
                    .map(|s| s.name.clone())
                    .collect(),
            ),
        });
    };
    match action {
        "run" if ctx.is_stopping() => Err(Refused::Stopping(format!("schedule run {name}"))),
        "run" => {
            schedule.run_now();
            Ok(format!("schedule {name}: run requested"))
        }
        "pause" => Ok(format!(
            "schedule {name}: {}",
            if schedule.set_paused(true) {
                "paused"
            } else {
                "already paused"
            }
        )),
        "resume" => Ok(format!(
            "schedule {name}: {}",
            if schedule.set_paused(false) {
                "resumed"
            } else {
                "was not paused"
            }
        )),
        other => Err(Refused::UnknownAction(other.to_owned())),
    }
}

/// `emit SIGNAL [MESSAGE]`, for the console command and the web page alike:
/// delivers to every listener and waits for them.
pub(crate) async fn emit_signal(
    ctx: &AppContext,
    signal: &str,
    message: String,
) -> Result<Emitted, Refused> {
    let signals = ctx.signals();
    let known = signals.names();
    if !known.iter().any(|name| name == signal) {
        return Err(Refused::NoSignal {
            signal: signal.to_owned(),
            known: list(known),
        });
    }
    if ctx.is_stopping() {
        return Err(Refused::Stopping(format!("emit {signal}")));
    }
    Ok(signals.emit(signal, message).await)
}
