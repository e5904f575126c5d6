//! Starting a monitor wired to a tokio runtime.

use std::sync::Arc;

use monitor_core::{
    TaskRegistry,
    dispatch::{Arg, Args, Command, CommandError},
};
use monitor_server::{Monitor, MonitorBuilder, MonitorError, commands::MonitorContext};
use tokio::runtime::Handle;

use crate::{TokioExecutor, TokioIntrospect, runtime_stats};

/// A [`MonitorBuilder`] preconfigured for the runtime behind `handle`: it
/// reads the process-wide [`TaskRegistry`] through [`TokioIntrospect`]
/// (await stacks for `where` with the `taskdump` feature), runs
/// asynchronous commands on the runtime through [`TokioExecutor`], and adds
/// the `stats` command (tokio's runtime metrics, also a web page at
/// `/x/tokio` and `monitor_tokio_*` in `/metrics` with the `http` feature).
/// Everything else — port,
/// Unix socket, prompt, custom commands — is set on the returned builder.
///
/// ```no_run
/// # #[tokio::main] async fn main() -> Result<(), monitor_server::MonitorError> {
/// let monitor = monitor_tokio::monitor_builder(tokio::runtime::Handle::current())
///     .port(0)
///     .prompt("app >>> ")
///     .start()?;
/// println!("nc {}", monitor.tcp_addr().unwrap());
/// # Ok(()) }
/// ```
pub fn monitor_builder(handle: Handle) -> MonitorBuilder {
    let registry = Arc::clone(TaskRegistry::global());
    let builder = MonitorBuilder::new(Arc::new(TokioIntrospect::new(registry, handle.clone())))
        .executor(Arc::new(TokioExecutor::from_handle(handle.clone())));
    // The runtime's metrics also as a page and in /metrics.
    #[cfg(feature = "http")]
    let builder = builder.http_extension(crate::web::TokioWeb::new(handle.clone()));
    builder.command(stats_command(handle))
}

/// Starts a monitor with every default (127.0.0.1:50101) for the tokio
/// runtime this is called from — aiomonitor's `start_monitor(loop)`.
///
/// ```no_run
/// # #[tokio::main] async fn main() -> Result<(), monitor_server::MonitorError> {
/// let _monitor = monitor_tokio::start_monitor()?;
/// monitor_tokio::task().name("worker").spawn(async { /* … */ });
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// [`MonitorError::Config`] outside a tokio runtime, and every error of
/// [`MonitorBuilder::start`] (port in use, …).
pub fn start_monitor() -> Result<Monitor, MonitorError> {
    let handle = Handle::try_current().map_err(|_| {
        MonitorError::Config(
            "monitor_tokio::start_monitor() must be called from inside a tokio runtime; \
             elsewhere use monitor_tokio::monitor_builder(handle).start()"
                .into(),
        )
    })?;
    monitor_builder(handle).start()
}

/// The `stats` command: tokio's stable runtime metrics.
pub fn stats_command(handle: Handle) -> Command<MonitorContext> {
    Command::new("stats")
        .about(
            "Show the tokio runtime's metrics: workers, alive tasks, queue depths and per-worker \
             busy time. Read without the runtime's help, so it answers while workers are blocked.",
        )
        .arg(Arg::flag("json").help("print JSON instead of text"))
        .run(move |ctx: &mut MonitorContext, args: &Args, out| {
            let stats = runtime_stats(&handle);
            if args.flag("json") {
                ctx.reply_is_json();
                let json = serde_json::to_string(&stats)
                    .map_err(|err| CommandError::new(format!("JSON encoding failed: {err}")))?;
                out.line(json);
            } else {
                out.write(stats.to_string());
                out.line(format!(
                    "tracked tasks      {}",
                    ctx.introspect().live_count()
                ));
                if let Some(untracked) = ctx.introspect().untracked() {
                    out.line(monitor_server::commands::untracked_note(&untracked));
                }
            }
            Ok(())
        })
}
