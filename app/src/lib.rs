//! # monitor-app
//!
//! aio.app for Rust: an application runner that reads a configuration file
//! and starts the app's modules, schedulers, servers and signal listeners —
//! each one a named, tracked task that the monitor's `ps`, `where`, `cancel`
//! and console can see and drive.
//!
//! Rust cannot import `my.module.func` by name, so the application
//! registers its functions under names with [`App::builder`], and the TOML
//! configuration (see [`config`]) refers to those names. Everything is
//! spawned through a [`monitor_core::Spawner`] and uses `async-io` for
//! timers and sockets, so the same app runs on tokio, smol, async-std or a
//! custom executor.
//!
//! | what starts | task name in `ps` |
//! |---|---|
//! | `[schedule.NAME]` | `schedule:NAME`, each run `schedule:NAME run N` (a child) |
//! | `[server.NAME]` | `server:NAME`, each connection `server:NAME/PEER` |
//! | `[listen.NAME]` | one `listen:NAME/SIGNAL` per delivery of an emitted signal |
//!
//! ```
//! use std::path::Path;
//! use monitor_app::{App, AppContext, Config};
//!
//! let app = App::builder()
//!     .scheduler("example.tick", |_ctx: AppContext, name: String| async move {
//!         println!("tick from {name}");
//!     })
//!     .listener("example.print", |_ctx: AppContext, _signal: String, message: String| async move {
//!         println!("{message}");
//!     })
//!     .build();
//!
//! let config = Config::parse(
//!     "[schedule.tick]\nevery = 2\nfunc = \"example.tick\"\n\
//!      [listen.example]\nexample-signal = \"example.print\"\n",
//!     Path::new("app.toml"),
//! )?;
//! app.check(&config)?;
//! # Ok::<(), monitor_app::ConfigError>(())
//! ```
//!
//! A binary hands its command line to [`App::main`], which implements
//! `APP [-c FILE] run | check | COMMAND [ARGS]…`; `app/examples/aio.rs` is
//! a complete one.
#![deny(missing_docs)]

mod cli;
pub mod config;
mod functions;
mod monitor;
mod runner;
mod signals;
mod tracker;
#[cfg(feature = "http")]
mod web;

use std::{collections::BTreeMap, future::Future, sync::Arc};

pub use config::{Config, ConfigError, ConfigSource, DEFAULT_SEARCH_PATH};
pub use functions::{BoundServer, BoxError, Connection, Listener, Outcome};
pub use monitor::{AppStatus, ScheduleStatus, ServerStatus, SignalStatus, SubscriberStatus};
pub use runner::{AppContext, AppError, RunOutcome, Running, ShutdownReport};
pub use signals::{Delivery, Emitted, Signals};

use functions::Functions;
use monitor_server::console::Namespace;

/// Adds entries to the console namespace next to `config` and `app`.
type NamespaceHook = Arc<dyn Fn(Namespace, &AppContext) -> Namespace + Send + Sync>;

/// An application: the functions its configuration can name.
///
/// Cheap to clone. Made by [`App::builder`]; started by [`App::start`] or,
/// from a binary, [`App::main`].
#[derive(Clone)]
pub struct App {
    functions: Arc<Functions>,
    namespace: Option<NamespaceHook>,
    search: ConfigSource,
    name: String,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("name", &self.name)
            .field("functions", &self.functions)
            .field("search", &self.search)
            .finish_non_exhaustive()
    }
}

impl App {
    /// Starts registering functions.
    pub fn builder() -> AppBuilder {
        AppBuilder {
            functions: Functions::default(),
            namespace: None,
            search: ConfigSource::default_search(),
            name: "app".into(),
        }
    }

    /// Checks that every function the configuration names is registered
    /// with the right kind (a protocol name under `protocol =`, …).
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the file, line, key, the unknown
    /// name and the registered names of that kind.
    pub fn check(&self, config: &Config) -> Result<(), ConfigError> {
        let f = &self.functions;
        for module in &config.app.modules {
            require(
                config,
                &format!("app.modules.{module}"),
                "[app] modules",
                module,
                "module",
                &f.modules,
            )?;
        }
        for (name, schedule) in &config.schedules {
            require(
                config,
                &format!("schedule.{name}.func"),
                &format!("[schedule.{name}] func"),
                &schedule.func,
                "scheduler",
                &f.schedulers,
            )?;
        }
        for (name, server) in &config.servers {
            match &server.handler {
                config::ServerHandler::Protocol(protocol) => require(
                    config,
                    &format!("server.{name}.protocol"),
                    &format!("[server.{name}] protocol"),
                    protocol,
                    "server protocol",
                    &f.protocols,
                )?,
                config::ServerHandler::Factory(factory) => require(
                    config,
                    &format!("server.{name}.factory"),
                    &format!("[server.{name}] factory"),
                    factory,
                    "server factory",
                    &f.factories,
                )?,
            }
        }
        for (section, signals) in &config.listeners {
            for (signal, funcs) in signals {
                for func in funcs {
                    require(
                        config,
                        &format!("listen.{section}.{signal}"),
                        &format!("[listen.{section}] {signal}"),
                        func,
                        "listener",
                        &f.listeners,
                    )?;
                }
            }
        }
        for (name, func) in &config.commands {
            require(
                config,
                &format!("commands.{name}"),
                &format!("[commands] {name}"),
                func,
                "command",
                &f.commands,
            )?;
        }
        Ok(())
    }

    /// Where [`App::main`] looks for the configuration without `-c`.
    pub fn search_path(&self) -> &ConfigSource {
        &self.search
    }
}

fn require<T>(
    config: &Config,
    key: &str,
    shown_key: &str,
    name: &str,
    kind: &str,
    registered: &BTreeMap<String, T>,
) -> Result<(), ConfigError> {
    if registered.contains_key(name) {
        return Ok(());
    }
    let known = if registered.is_empty() {
        format!("no {kind} functions are registered")
    } else {
        format!(
            "registered {kind} functions: {}",
            registered.keys().cloned().collect::<Vec<_>>().join(", ")
        )
    };
    Err(config.error_at(
        key,
        format!(
            "{shown_key} = \"{name}\": no {kind} function is registered under that name; {known}"
        ),
    ))
}

/// Registers the functions a configuration can name; made by
/// [`App::builder`].
///
/// A later registration under the same name and kind replaces the earlier
/// one. The same name may be used for different kinds.
#[must_use = "an AppBuilder does nothing until .build()"]
pub struct AppBuilder {
    functions: Functions,
    namespace: Option<NamespaceHook>,
    search: ConfigSource,
    name: String,
}

impl std::fmt::Debug for AppBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppBuilder")
            .field("name", &self.name)
            .field("functions", &self.functions)
            .finish_non_exhaustive()
    }
}

impl AppBuilder {
    /// The program name shown in usage and help (default `app`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Replaces where the configuration is looked for without `-c`
    /// (default: [`DEFAULT_SEARCH_PATH`] from the working directory).
    pub fn search_path(mut self, source: ConfigSource) -> Self {
        self.search = source;
        self
    }

    /// A module, listed in `[app] modules`: its init function runs once, in
    /// the listed order, before any server or schedule starts. An error
    /// stops the start-up.
    pub fn module<F, R>(mut self, name: &str, init: F) -> Self
    where
        F: Fn(&AppContext) -> R + Send + Sync + 'static,
        R: Outcome,
    {
        self.functions
            .modules
            .insert(name.into(), Arc::new(move |ctx| init(ctx).into_result()));
        self
    }

    /// A scheduler function, named by `[schedule.NAME] func`; called with
    /// the schedule's name on every period.
    pub fn scheduler<F, Fut>(mut self, name: &str, f: F) -> Self
    where
        F: Fn(AppContext, String) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: Outcome,
    {
        self.functions.schedulers.insert(
            name.into(),
            Arc::new(move |ctx, schedule| {
                let fut = f(ctx, schedule);
                Box::pin(async move { fut.await.into_result() })
            }),
        );
        self
    }

    /// A listener, named in `[listen.NAME]`; called with the signal and
    /// the message for every emit of a subscribed signal.
    pub fn listener<F, Fut>(mut self, name: &str, f: F) -> Self
    where
        F: Fn(AppContext, String, String) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: Outcome,
    {
        self.functions.listeners.insert(
            name.into(),
            Arc::new(move |ctx, signal, message| {
                let fut = f(ctx, signal, message);
                Box::pin(async move { fut.await.into_result() })
            }),
        );
        self
    }

    /// A server protocol, named by `[server.NAME] protocol`: the runner
    /// binds the address and calls `f` for each accepted connection, as a
    /// task of its own.
    pub fn protocol<F, Fut>(mut self, name: &str, f: F) -> Self
    where
        F: Fn(AppContext, Connection) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: Outcome,
    {
        self.functions
            .protocols
            .insert(name.into(), functions::protocol(f));
        self
    }

    /// A server factory, named by `[server.NAME] factory`: called with the
    /// server's name, address and port (for `unix = PATH`: the path and 0),
    /// it binds the socket itself and returns it with its protocol.
    pub fn factory<F, Fut, E>(mut self, name: &str, f: F) -> Self
    where
        F: Fn(AppContext, String, String, u16) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<BoundServer, E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        self.functions.factories.insert(
            name.into(),
            Arc::new(move |ctx, server, address, port| {
                let fut = f(ctx, server, address, port);
                Box::pin(async move { fut.await.map_err(Into::into) })
            }),
        );
        self
    }

    /// A command-line command, named in `[commands] NAME = "func"` and run
    /// as `APP NAME ARGS…` with the arguments after its name. Modules are
    /// initialised first; no server or schedule starts.
    pub fn command<F, Fut>(mut self, name: &str, f: F) -> Self
    where
        F: Fn(AppContext, Vec<String>) -> Fut + Send + Sync + 'static,
        Fut: Future + Send + 'static,
        Fut::Output: Outcome,
    {
        self.functions.commands.insert(
            name.into(),
            Arc::new(move |ctx, args| {
                let fut = f(ctx, args);
                Box::pin(async move { fut.await.into_result() })
            }),
        );
        self
    }

    /// Adds the application's own entries to the console namespace, next
    /// to `config` and `app` which the runner always adds.
    pub fn console(
        mut self,
        add: impl Fn(Namespace, &AppContext) -> Namespace + Send + Sync + 'static,
    ) -> Self {
        self.namespace = Some(Arc::new(add));
        self
    }

    /// The application.
    pub fn build(self) -> App {
        App {
            functions: Arc::new(self.functions),
            namespace: self.namespace,
            search: self.search,
            name: self.name,
        }
    }
}
