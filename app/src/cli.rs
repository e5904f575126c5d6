//! `APP [-c FILE] run | check | COMMAND [ARGS]…`

use std::{ffi::OsString, fmt::Write as _, io::Write, path::PathBuf, process::ExitCode, sync::Arc};

use async_signal::{Signal, Signals as ProcessSignals};
use futures_lite::StreamExt as _;
use monitor_core::Spawner;
use monitor_server::MonitorBuilder;

use crate::{
    App, AppContext, AppError, Config, ConfigSource,
    config::{ServerHandler, format_duration},
    runner::RunOutcome,
};

impl App {
    /// The whole command line of an app binary, from the process's
    /// arguments; returns the exit code for `main` to return.
    ///
    /// - `run`: starts everything (and the monitor from `monitor`, with
    ///   `[monitor]` applied) and runs until SIGINT or SIGTERM, then shuts
    ///   down gracefully (see [`Running::shutdown`](crate::Running::shutdown)).
    /// - `check`: validates the file and prints what `run` would start;
    ///   exits non-zero, with the reason, when something is wrong.
    /// - any `[commands]` name: runs that registered command with the
    ///   remaining arguments.
    ///
    /// Blocks the calling thread; tasks run on `spawner`'s executor. Call it
    /// from `main`, not from inside an async runtime's worker.
    ///
    /// ```no_run
    /// fn main() -> std::process::ExitCode {
    ///     let runtime = tokio::runtime::Runtime::new().unwrap();
    ///     let spawner = monitor_core::Spawner::new(
    ///         monitor_tokio::TokioExecutor::from_handle(runtime.handle().clone()),
    ///         monitor_core::TaskRegistry::global().clone(),
    ///     );
    ///     let monitor = monitor_tokio::monitor_builder(runtime.handle().clone());
    ///     monitor_app::App::builder().build().main(spawner, Some(monitor))
    /// }
    /// ```
    pub fn main(&self, spawner: Spawner, monitor: Option<MonitorBuilder>) -> ExitCode {
        self.main_with(
            std::env::args_os(),
            spawner,
            monitor,
            &mut std::io::stdout(),
            &mut std::io::stderr(),
        )
    }

    /// [`App::main`] with explicit arguments (the first is the program
    /// name) and output streams, for tests and embedding.
    pub fn main_with<I, T>(
        &self,
        args: I,
        spawner: Spawner,
        monitor: Option<MonitorBuilder>,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> ExitCode
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let matches = match self.cli_definition().try_get_matches_from(args) {
            Ok(matches) => matches,
            Err(e) => {
                let text = e.render().to_string();
                let _ = if e.use_stderr() {
                    err.write_all(text.as_bytes())
                } else {
                    out.write_all(text.as_bytes())
                };
                return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
            }
        };
        let source = match matches.get_one::<PathBuf>("config") {
            Some(path) => ConfigSource::File(path.clone()),
            None => self.search.clone(),
        };
        let result = match matches.subcommand() {
            Some(("check", _)) => self.cli_check(&source, out),
            Some(("run", _)) => self.cli_run(&source, spawner, monitor, out, err),
            Some((name, sub)) => {
                let args = sub
                    .get_many::<OsString>("")
                    .into_iter()
                    .flatten()
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect();
                self.cli_command(&source, name, args, spawner)
            }
            None => unreachable!("clap requires a subcommand"),
        };
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                let _ = writeln!(err, "{}: {e}", self.name);
                ExitCode::FAILURE
            }
        }
    }

    fn cli_definition(&self) -> clap::Command {
        clap::Command::new(self.name.clone())
            .about("Runs the app's schedulers, servers and signal listeners from a TOML file")
            .arg(
                clap::Arg::new("config")
                    .short('c')
                    .long("config")
                    .value_name("FILE")
                    .value_parser(clap::value_parser!(PathBuf))
                    .help(format!(
                        "configuration file (default: the first of {} that exists)",
                        match &self.search {
                            ConfigSource::Search { paths, .. } => paths
                                .iter()
                                .map(|p| p.display().to_string())
                                .collect::<Vec<_>>()
                                .join(", "),
                            ConfigSource::File(path) => path.display().to_string(),
                        }
                    )),
            )
            .subcommand_required(true)
            .allow_external_subcommands(true)
            .subcommand(
                clap::Command::new("run")
                    .about("Run until SIGINT/SIGTERM, then shut down gracefully"),
            )
            .subcommand(
                clap::Command::new("check")
                    .about("Validate the configuration and print what `run` would start"),
            )
    }

    fn load_checked(&self, source: &ConfigSource) -> Result<Config, AppError> {
        let config = Config::load(source)?;
        self.check(&config)?;
        Ok(config)
    }

    fn cli_check(&self, source: &ConfigSource, out: &mut dyn Write) -> Result<(), AppError> {
        let config = self.load_checked(source)?;
        let _ = out.write_all(plan(&config).as_bytes());
        Ok(())
    }

    fn cli_command(
        &self,
        source: &ConfigSource,
        name: &str,
        args: Vec<String>,
        spawner: Spawner,
    ) -> Result<(), AppError> {
        let config = self.load_checked(source)?;
        let Some(func) = config.commands.get(name).cloned() else {
            let mut known = vec!["run".to_owned(), "check".to_owned()];
            known.extend(config.commands.keys().cloned());
            return Err(AppError::UnknownCommand {
                command: name.to_owned(),
                known: format!(
                    "{} (more can be added under [commands] in {})",
                    known.join(", "),
                    config
                        .file
                        .as_deref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                ),
            });
        };
        let ctx = self.prepare(config, spawner)?;
        let run = (ctx.shared.functions.commands[&func])(ctx.clone(), args);
        let handle = ctx
            .spawn(format!("command:{name}"), run)
            .expect("a fresh app accepts tasks");
        match RunOutcome::from_join(async_io::block_on(handle)) {
            RunOutcome::Ok => Ok(()),
            other => Err(AppError::Command {
                command: name.to_owned(),
                source: other.to_string().into(),
            }),
        }
    }

    fn cli_run(
        &self,
        source: &ConfigSource,
        spawner: Spawner,
        monitor: Option<MonitorBuilder>,
        out: &mut dyn Write,
        err: &mut dyn Write,
    ) -> Result<(), AppError> {
        // Take over SIGINT/SIGTERM before anything starts, so a signal
        // during start-up shuts down gracefully too instead of killing.
        let mut signals = ProcessSignals::new([Signal::Int, Signal::Term]).map_err(|e| {
            AppError::Monitor(format!("cannot install SIGINT/SIGTERM handlers: {e}"))
        })?;
        let config = self.load_checked(source)?;
        let grace = config.app.grace;
        async_io::block_on(async {
            let running = self.start(config, spawner, monitor).await?;
            let mut started = String::new();
            let status = running.status();
            let _ = writeln!(
                started,
                "{} running: {} schedule(s), {} server(s), {} signal(s) from {}",
                self.name,
                status.schedules.len(),
                status.servers.len(),
                status.signals.len(),
                status.config_file.as_deref().unwrap_or("?")
            );
            for server in &status.servers {
                let _ = writeln!(started, "server {} on {}", server.name, server.address);
            }
            if let Some(monitor) = running.monitor() {
                if let Some(addr) = monitor.tcp_addr() {
                    let _ = writeln!(started, "monitor: nc {} {}", addr.ip(), addr.port());
                }
                if let Some(addr) = monitor.console_addr() {
                    let _ = writeln!(started, "console: nc {} {}", addr.ip(), addr.port());
                }
                #[cfg(feature = "http")]
                if let Some(addr) = monitor.http_addr() {
                    let _ = writeln!(started, "web UI: http://{addr}/x/app");
                }
            }
            let _ = out.write_all(started.as_bytes());
            let _ = out.flush();

            let signal = signals.next().await;
            let which = match signal {
                Some(Ok(Signal::Int)) => "SIGINT",
                Some(Ok(Signal::Term)) => "SIGTERM",
                _ => "a signal",
            };
            let _ = writeln!(
                err,
                "{}: {which} received; stopping (grace {})",
                self.name,
                format_duration(grace)
            );
            let report = running.shutdown(grace).await;
            let _ = writeln!(err, "{}: {report}", self.name);
            Ok(())
        })
    }

    /// Checks `config` and initialises its modules, in order, without
    /// starting any server or schedule: the context a configured command
    /// (or a test) works with.
    ///
    /// # Errors
    ///
    /// [`AppError::Config`] and [`AppError::Module`].
    pub fn prepare(&self, config: Config, spawner: Spawner) -> Result<AppContext, AppError> {
        self.check(&config)?;
        let ctx = AppContext::new(config, Arc::clone(&self.functions), spawner);
        for module in &ctx.config().app.modules {
            let init = &ctx.shared.functions.modules[module];
            init(&ctx).map_err(|source| AppError::Module {
                module: module.clone(),
                source,
            })?;
        }
        Ok(ctx)
    }
}

/// What `run` would start, for `check`.
fn plan(config: &Config) -> String {
    let mut text = String::new();
    let file = config
        .file
        .as_deref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let _ = writeln!(text, "{file}: ok");
    if !config.app.modules.is_empty() {
        let _ = writeln!(text, "modules   {}", config.app.modules.join(", "));
    }
    for (name, s) in &config.schedules {
        let _ = writeln!(
            text,
            "schedule  {name}: every {} calls {}",
            format_duration(s.every),
            s.func
        );
    }
    for (name, s) in &config.servers {
        let handler = match &s.handler {
            ServerHandler::Protocol(p) => format!("protocol {p}"),
            ServerHandler::Factory(f) => format!("factory {f}"),
        };
        let _ = writeln!(text, "server    {name}: {} with {handler}", s.bind);
    }
    for (section, signals) in &config.listeners {
        for (signal, funcs) in signals {
            let _ = writeln!(text, "listen    {section}: {signal} → {}", funcs.join(", "));
        }
    }
    for (name, func) in &config.commands {
        let _ = writeln!(text, "command   {name} → {func}");
    }
    let m = &config.monitor;
    if m.enabled {
        let host = m.host.map_or("127.0.0.1".to_owned(), |h| h.to_string());
        let main_port = m.port.unwrap_or(monitor_server::MONITOR_PORT);
        let port = main_port.to_string();
        // The console's port follows the monitor's (+ 1; any free one for 0).
        let console = match (m.console_port, main_port) {
            (Some(p), _) => p.to_string(),
            (None, 0) => "0".to_owned(),
            (None, p) => p.saturating_add(1).to_string(),
        };
        let mut line = format!("monitor   {host}:{port}, console port {console}");
        if let Some(path) = &m.unix_socket {
            let _ = write!(line, ", unix {}", path.display());
        }
        if let Some(var) = &m.token_env {
            let _ = write!(line, ", token from ${var}");
        }
        let _ = writeln!(text, "{line}");
        if let Some(port) = m.http_port {
            let _ = writeln!(text, "web UI    {host}:{port}");
        }
        if let Some(port) = m.tokio_console_port {
            let _ = writeln!(text, "tokio-console {host}:{port}");
        }
    } else {
        let _ = writeln!(text, "monitor   disabled");
    }
    text
}
