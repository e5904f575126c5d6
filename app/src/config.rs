//! The configuration file: finding it, parsing it, and the read-only
//! [`Config`] the application sees.
//!
//! The file is TOML with the sections of aio.app's `aio.conf`, written the
//! TOML way (`[schedule.NAME]` instead of `[schedule:NAME]`):
//!
//! ```toml
//! [app]
//! modules = ["example.setup"]     # initialised in this order
//! grace = "5s"                    # how long running tasks get at shutdown
//! start_timeout = "30s"           # how long a server factory may take to bind
//!
//! [schedule.tick]
//! every = 2                       # seconds, or "500ms", "2s", "1m30s"
//! func = "example.tick"
//!
//! [server.echo]
//! protocol = "example.echo"       # or: factory = "example.factory"
//! address = "127.0.0.1"
//! port = 8888                     # or: unix = "/run/app/echo.sock"
//!
//! [listen.example]
//! example-signal = "example.print"
//! example-signal-2 = ["example.print", "example.count"]
//!
//! [commands]
//! hello = "example.hello"
//!
//! [monitor]
//! port = 50101
//! console_port = 50102
//! token_env = "MONITOR_TOKEN"
//! ```
//!
//! Unknown sections and keys are errors, not silently ignored: a typo in a
//! key would otherwise change what runs without anyone noticing.

use std::{
    collections::BTreeMap,
    fmt, io,
    net::IpAddr,
    ops::Range,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::{
    Deserialize, Deserializer, Serialize, Serializer,
    de::{self, SeqAccess, Visitor},
};
use toml::Spanned;

/// Where `run` and `check` look for the configuration when no `-c FILE` is
/// given, in order; the first file that exists wins. Relative entries are
/// taken from the working directory.
pub const DEFAULT_SEARCH_PATH: [&str; 3] = ["app.toml", "etc/app.toml", "/etc/app.toml"];

/// How long running tasks get to finish at shutdown when `[app] grace` is
/// not set.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(5);

/// How long a server factory may take to bind and return when
/// `[app] start_timeout` is not given.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a configuration could not be loaded or does not fit the application.
///
/// Every message names the file, the line when the parser knows it, the
/// key, and what would have been accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No file was given and none of the search path exists.
    #[error(
        "no configuration file found: looked for {} (first found wins); pass -c FILE to use another",
        .searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
    )]
    NotFound {
        /// The files looked for, in order.
        searched: Vec<PathBuf>,
    },
    /// The file exists (or was named with `-c`) but cannot be read.
    #[error("cannot read configuration file {}{}: {source}", .path.display(), if *.named { " (given with -c)" } else { "" })]
    Read {
        /// The file.
        path: PathBuf,
        /// `true` when it was named with `-c`.
        named: bool,
        /// What the OS said.
        source: io::Error,
    },
    /// The file was read but something in it is wrong.
    #[error("{}{}: {message}", .path.display(), .line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The 1-based line, when known.
        line: Option<usize>,
        /// What is wrong and what is accepted.
        message: String,
    },
}

/// The loaded configuration: read-only, shared by everything the app
/// starts, and shown in the console namespace as `config`.
#[derive(Clone, Default, Serialize)]
#[non_exhaustive]
pub struct Config {
    /// The file it was read from, if any.
    pub file: Option<PathBuf>,
    /// `[app]`.
    pub app: AppConfig,
    /// `[schedule.NAME]`, by name.
    pub schedules: BTreeMap<String, ScheduleConfig>,
    /// `[server.NAME]`, by name.
    pub servers: BTreeMap<String, ServerConfig>,
    /// `[listen.NAME]`: section name → signal → listener function names.
    pub listeners: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// `[commands]`: command name → function name.
    pub commands: BTreeMap<String, String>,
    /// `[monitor]`.
    pub monitor: MonitorConfig,
    /// Key path (`schedule.tick.func`) → line, for error messages.
    #[serde(skip)]
    lines: BTreeMap<String, usize>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("file", &self.file)
            .field("app", &self.app)
            .field("schedules", &self.schedules)
            .field("servers", &self.servers)
            .field("listeners", &self.listeners)
            .field("commands", &self.commands)
            .field("monitor", &self.monitor)
            .finish()
    }
}

/// `[app]`.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct AppConfig {
    /// Module init functions, called in this order before anything starts.
    pub modules: Vec<String>,
    /// How long running tasks get to finish at shutdown before they are
    /// cancelled.
    #[serde(serialize_with = "serialize_duration")]
    pub grace: Duration,
    /// How long each server factory may take at start before the start
    /// fails with [`AppError::FactoryTimeout`](crate::AppError::FactoryTimeout).
    #[serde(serialize_with = "serialize_duration")]
    pub start_timeout: Duration,
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            modules: Vec::new(),
            grace: DEFAULT_GRACE,
            start_timeout: DEFAULT_START_TIMEOUT,
        }
    }
}

/// `[schedule.NAME]`.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ScheduleConfig {
    /// The period.
    #[serde(serialize_with = "serialize_duration")]
    pub every: Duration,
    /// The scheduler function's registered name.
    pub func: String,
}

/// How a server's connections are handled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ServerHandler {
    /// The runner binds and calls this protocol for each connection.
    Protocol(String),
    /// This factory binds the socket itself.
    Factory(String),
}

/// Where a server listens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ServerBind {
    /// A TCP address and port (0: any free port).
    Tcp {
        /// Host name or IP address.
        address: String,
        /// Port.
        port: u16,
    },
    /// A Unix socket path.
    Unix {
        /// The socket file.
        path: PathBuf,
    },
}

impl fmt::Display for ServerBind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerBind::Tcp { address, port } => write!(f, "{address}:{port}"),
            ServerBind::Unix { path } => write!(f, "unix:{}", path.display()),
        }
    }
}

/// `[server.NAME]`.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Protocol or factory.
    pub handler: ServerHandler,
    /// Where it listens.
    pub bind: ServerBind,
}

/// `[monitor]`: where the monitor listens. Unset keys keep the monitor's
/// defaults (127.0.0.1:50101, console on 50102).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct MonitorConfig {
    /// `false` runs the app without a monitor.
    pub enabled: bool,
    /// The monitor's host.
    pub host: Option<IpAddr>,
    /// Listen on a non-loopback host (needs `token_env` as well).
    pub allow_remote: bool,
    /// The monitor's TCP port (0: any free port).
    pub port: Option<u16>,
    /// A Unix socket for the monitor as well.
    pub unix_socket: Option<PathBuf>,
    /// The console's TCP port.
    pub console_port: Option<u16>,
    /// A Unix socket for the console as well.
    pub console_unix_socket: Option<PathBuf>,
    /// The name of the environment variable holding the access token
    /// (never the token itself, so the file can be committed).
    pub token_env: Option<String>,
    /// The web UI's port (web UI, JSON API, `/metrics`; feature `http`);
    /// unset, it follows the monitor's port (+ 2).
    pub http_port: Option<u16>,
    /// Serve tokio-console's API on this port of `host` (feature
    /// `tokio-console`); unset, the bridge is off.
    pub tokio_console_port: Option<u16>,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            host: None,
            allow_remote: false,
            port: None,
            unix_socket: None,
            console_port: None,
            console_unix_socket: None,
            token_env: None,
            http_port: None,
            tokio_console_port: None,
        }
    }
}

/// Which file to read: one named with `-c`, or the first that exists on a
/// search path.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ConfigSource {
    /// Exactly this file (`-c FILE`); missing is an error.
    File(PathBuf),
    /// The first existing file of these, relative ones taken from `base`.
    Search {
        /// The directory relative entries are resolved against.
        base: PathBuf,
        /// The candidates, in order.
        paths: Vec<PathBuf>,
    },
}

impl ConfigSource {
    /// [`DEFAULT_SEARCH_PATH`] from the working directory.
    pub fn default_search() -> Self {
        ConfigSource::Search {
            base: PathBuf::from("."),
            paths: DEFAULT_SEARCH_PATH.iter().map(PathBuf::from).collect(),
        }
    }

    /// Picks the file: the named one, or the first candidate that exists.
    ///
    /// # Errors
    ///
    /// [`ConfigError::NotFound`] when no candidate exists.
    pub fn resolve(&self) -> Result<(PathBuf, bool), ConfigError> {
        match self {
            ConfigSource::File(path) => Ok((path.clone(), true)),
            ConfigSource::Search { base, paths } => {
                let candidates: Vec<PathBuf> = paths
                    .iter()
                    .map(|p| {
                        if base == Path::new(".") {
                            p.clone()
                        } else {
                            base.join(p)
                        }
                    })
                    .collect();
                candidates
                    .iter()
                    .find(|p| p.is_file())
                    .map(|p| (p.clone(), false))
                    .ok_or(ConfigError::NotFound {
                        searched: candidates,
                    })
            }
        }
    }
}

impl Config {
    /// Finds and parses the configuration.
    ///
    /// # Errors
    ///
    /// Every [`ConfigError`].
    pub fn load(source: &ConfigSource) -> Result<Self, ConfigError> {
        let (path, named) = source.resolve()?;
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            named,
            source,
        })?;
        Self::parse(&text, &path)
    }

    /// Parses `text`; `path` is used in messages and kept as
    /// [`Config::file`].
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] for anything the file gets wrong.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let raw: RawFile = toml::from_str(text).map_err(|err| {
            let (line, message) = describe_toml_error(text, err.span(), err.message());
            ConfigError::Invalid {
                path: path.to_owned(),
                line,
                message,
            }
        })?;
        Lowering {
            text,
            path,
            lines: BTreeMap::new(),
        }
        .lower(raw)
    }

    /// The line of a key such as `schedule.tick.func`, when known.
    pub fn line_of(&self, key: &str) -> Option<usize> {
        self.lines.get(key).copied()
    }

    /// An [`ConfigError::Invalid`] about `key` of this file.
    pub(crate) fn error_at(&self, key: &str, message: String) -> ConfigError {
        ConfigError::Invalid {
            path: self.file.clone().unwrap_or_default(),
            line: self.line_of(key),
            message,
        }
    }
}

fn serialize_duration<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format_duration(*value))
}

/// `2s`, `500ms`, `1m30s`, `1h`: how durations are shown back to people.
pub(crate) fn format_duration(value: Duration) -> String {
    if value.subsec_nanos() == 0 {
        let secs = value.as_secs();
        let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        let mut text = String::new();
        for (n, unit) in [(h, "h"), (m, "m"), (s, "s")] {
            if n > 0 {
                text.push_str(&format!("{n}{unit}"));
            }
        }
        if text.is_empty() { "0s".into() } else { text }
    } else if value.as_secs() == 0 && value.subsec_nanos().is_multiple_of(1_000_000) {
        format!("{}ms", value.as_millis())
    } else {
        format!("{:.3}s", value.as_secs_f64())
    }
}

/// 1-based line of a byte offset.
fn line_at(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// The `[header]` governing `line` (1-based), if any, and whether `line` is
/// itself a header.
fn section_of(text: &str, line: usize) -> (Option<String>, bool) {
    let is_header = |l: &&&str| l.trim_start().starts_with('[');
    let upto: Vec<&str> = text.lines().take(line).collect();
    let on_header = upto.len() == line && upto.last().is_some_and(|l| is_header(&l));
    let section = upto
        .iter()
        .rev()
        .find(is_header)
        .map(|l| l.trim().to_owned());
    (section, on_header)
}

/// Turns toml's error into one line that says where and what: serde says
/// "field", people editing the file say "key" (or "section" at the top),
/// and a value error gets the key it is about.
fn describe_toml_error(
    text: &str,
    span: Option<Range<usize>>,
    message: &str,
) -> (Option<usize>, String) {
    let message = message
        .trim()
        .replace('\n', " ")
        .replace("expected u16", "expected a port number (0 to 65535)")
        .replace("expected a map", "expected a table")
        .replace("missing field", "missing key");
    let Some(span) = span else {
        return (None, message);
    };
    let line = line_at(text, span.start);
    let (section, on_header) = section_of(text, line);
    let header_path = section
        .as_deref()
        .map(|h| h.trim_matches(|c| c == '[' || c == ']').trim().to_owned())
        .unwrap_or_default();
    let first_component = header_path.split('.').next().unwrap_or_default();
    let message = match message.strip_prefix("unknown field") {
        Some(rest) if on_header && rest.starts_with(&format!(" `{first_component}`")) => {
            format!("unknown section{rest}")
        }
        Some(rest) => format!("unknown key{rest}"),
        None => message,
    };
    if message.starts_with("unknown section") {
        return (Some(line), message);
    }
    let key = (!on_header)
        .then(|| text.lines().nth(line - 1))
        .flatten()
        .and_then(|l| l.split_once('='))
        .map(|(key, _)| key.trim().trim_matches('"').to_owned())
        .filter(|key| !key.is_empty() && !message.contains(&format!("`{key}`")));
    let message = match (section, key) {
        (Some(section), Some(key)) => format!("in {section}, key `{key}`: {message}"),
        (Some(section), None) if on_header => format!("{section}: {message}"),
        (Some(section), None) => format!("in {section}: {message}"),
        (None, Some(key)) => format!("key `{key}`: {message}"),
        (None, None) => message,
    };
    (Some(line), message)
}

// ---------------------------------------------------------------------------
// The file as parsed, with spans, before it becomes a `Config`.

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    app: RawApp,
    #[serde(default)]
    schedule: BTreeMap<String, RawSchedule>,
    #[serde(default)]
    server: BTreeMap<String, RawServer>,
    #[serde(default)]
    listen: BTreeMap<String, BTreeMap<String, Spanned<FuncList>>>,
    #[serde(default)]
    commands: BTreeMap<String, Spanned<String>>,
    #[serde(default)]
    monitor: RawMonitor,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawApp {
    #[serde(default)]
    modules: Vec<Spanned<String>>,
    grace: Option<Spanned<Period>>,
    start_timeout: Option<Spanned<Period>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    every: Spanned<Period>,
    func: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    protocol: Option<Spanned<String>>,
    factory: Option<Spanned<String>>,
    address: Option<Spanned<String>>,
    port: Option<Spanned<u16>>,
    unix: Option<Spanned<PathBuf>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMonitor {
    #[serde(default = "yes")]
    enabled: bool,
    host: Option<IpAddr>,
    #[serde(default)]
    allow_remote: bool,
    port: Option<u16>,
    unix_socket: Option<PathBuf>,
    console_port: Option<u16>,
    console_unix_socket: Option<PathBuf>,
    token_env: Option<String>,
    http_port: Option<u16>,
    tokio_console_port: Option<u16>,
}

impl Default for RawMonitor {
    fn default() -> Self {
        Self {
            enabled: true,
            host: None,
            allow_remote: false,
            port: None,
            unix_socket: None,
            console_port: None,
            console_unix_socket: None,
            token_env: None,
            http_port: None,
            tokio_console_port: None,
        }
    }
}

fn yes() -> bool {
    true
}

/// A positive duration: seconds as a number (aio.app's `every = 2`) or a
/// string with units.
struct Period(Duration);

const PERIOD_ACCEPTED: &str = "expected seconds as a positive number (2, 0.5) or a string with a unit \
     (\"500ms\", \"2s\", \"1m30s\")";

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PeriodVisitor;
        impl Visitor<'_> for PeriodVisitor {
            type Value = Period;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(PERIOD_ACCEPTED)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Period, E> {
                if v <= 0 {
                    return Err(E::custom(format!("bad duration {v}: {PERIOD_ACCEPTED}")));
                }
                Ok(Period(Duration::from_secs(v.unsigned_abs())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Period, E> {
                if v == 0 {
                    return Err(E::custom(format!("bad duration 0: {PERIOD_ACCEPTED}")));
                }
                Ok(Period(Duration::from_secs(v)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Period, E> {
                match Duration::try_from_secs_f64(v) {
                    Ok(d) if !d.is_zero() => Ok(Period(d)),
                    _ => Err(E::custom(format!("bad duration {v}: {PERIOD_ACCEPTED}"))),
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Period, E> {
                match monitor_core::dispatch::parse_duration(v) {
                    Some(d) if !d.is_zero() => Ok(Period(d)),
                    _ => Err(E::custom(format!("bad duration {v:?}: {PERIOD_ACCEPTED}"))),
                }
            }
        }
        deserializer.deserialize_any(PeriodVisitor)
    }
}

/// One function name or a list of them.
struct FuncList(Vec<String>);

impl<'de> Deserialize<'de> for FuncList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FuncListVisitor;
        impl<'de> Visitor<'de> for FuncListVisitor {
            type Value = FuncList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a listener function name or a list of names")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<FuncList, E> {
                Ok(FuncList(vec![v.to_owned()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FuncList, A::Error> {
                let mut names = Vec::new();
                while let Some(name) = seq.next_element::<String>()? {
                    names.push(name);
                }
                if names.is_empty() {
                    return Err(de::Error::custom(
                        "an empty list subscribes nothing: name at least one listener function",
                    ));
                }
                Ok(FuncList(names))
            }
        }
        deserializer.deserialize_any(FuncListVisitor)
    }
}

/// Checks what serde cannot (exactly one of protocol/factory, TCP or Unix)
/// and records lines for the checks that come later.
struct Lowering<'a> {
    text: &'a str,
    path: &'a Path,
    lines: BTreeMap<String, usize>,
}

impl Lowering<'_> {
    fn mark<T>(&mut self, key: String, value: &Spanned<T>) {
        let line = line_at(self.text, value.span().start);
        self.lines.insert(key, line);
    }

    /// An optional duration of `[app]`: its value (its line remembered
    /// under `key`), or `default` when the file leaves it out.
    fn period(
        &mut self,
        key: &str,
        value: Option<&Spanned<Period>>,
        default: Duration,
    ) -> Duration {
        match value {
            Some(value) => {
                self.mark(key.into(), value);
                value.get_ref().0
            }
            None => default,
        }
    }

    fn error<T>(&self, at: &Spanned<T>, message: String) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_owned(),
            line: Some(line_at(self.text, at.span().start)),
            message,
        }
    }

    /// The line of a `[section]` header, for problems with a whole section.
    fn header_error(&self, header: &str, message: String) -> ConfigError {
        let line = self
            .text
            .lines()
            .position(|l| {
                let l = l.trim();
                l.starts_with('[') && l.trim_matches(|c| c == '[' || c == ']').trim() == header
            })
            .map(|i| i + 1);
        ConfigError::Invalid {
            path: self.path.to_owned(),
            line,
            message,
        }
    }

    fn lower(mut self, raw: RawFile) -> Result<Config, ConfigError> {
        for module in &raw.app.modules {
            self.mark(format!("app.modules.{}", module.get_ref()), module);
        }
        let grace = self.period("app.grace", raw.app.grace.as_ref(), DEFAULT_GRACE);
        let start_timeout = self.period(
            "app.start_timeout",
            raw.app.start_timeout.as_ref(),
            DEFAULT_START_TIMEOUT,
        );
        let app = AppConfig {
            modules: raw
                .app
                .modules
                .into_iter()
                .map(Spanned::into_inner)
                .collect(),
            grace,
            start_timeout,
        };

        let mut schedules = BTreeMap::new();
        for (name, schedule) in raw.schedule {
            self.mark(format!("schedule.{name}.func"), &schedule.func);
            self.mark(format!("schedule.{name}.every"), &schedule.every);
            schedules.insert(
                name,
                ScheduleConfig {
                    every: schedule.every.into_inner().0,
                    func: schedule.func.into_inner(),
                },
            );
        }

        let mut servers = BTreeMap::new();
        for (name, server) in raw.server {
            let header = format!("server.{name}");
            let handler = match (server.protocol, server.factory) {
                (Some(protocol), None) => {
                    self.mark(format!("{header}.protocol"), &protocol);
                    ServerHandler::Protocol(protocol.into_inner())
                }
                (None, Some(factory)) => {
                    self.mark(format!("{header}.factory"), &factory);
                    ServerHandler::Factory(factory.into_inner())
                }
                (Some(_), Some(factory)) => {
                    return Err(self.error(
                        &factory,
                        format!(
                            "[{header}] has both protocol and factory: give exactly one \
                             (protocol: the runner binds; factory: the function binds)"
                        ),
                    ));
                }
                (None, None) => {
                    return Err(self.header_error(
                        &header,
                        format!(
                            "[{header}] needs a protocol = \"NAME\" or a factory = \"NAME\" \
                             (a registered server protocol or factory)"
                        ),
                    ));
                }
            };
            let bind = match (server.unix, server.address, server.port) {
                (Some(path), None, None) => ServerBind::Unix {
                    path: path.into_inner(),
                },
                (Some(path), _, _) => {
                    return Err(self.error(
                        &path,
                        format!(
                            "[{header}] has both unix and address/port: a server listens on \
                             a Unix socket (unix = \"PATH\") or on TCP (address, port), not both"
                        ),
                    ));
                }
                (None, address, Some(port)) => {
                    self.mark(format!("{header}.port"), &port);
                    ServerBind::Tcp {
                        address: address
                            .map(Spanned::into_inner)
                            .unwrap_or_else(|| "127.0.0.1".into()),
                        port: port.into_inner(),
                    }
                }
                (None, _, None) => {
                    return Err(self.header_error(
                        &header,
                        format!(
                            "[{header}] needs port = N (TCP, with address = \"HOST\", default \
                             127.0.0.1; 0 picks any free port) or unix = \"PATH\""
                        ),
                    ));
                }
            };
            servers.insert(name, ServerConfig { handler, bind });
        }

        let mut listeners = BTreeMap::new();
        for (section, signals) in raw.listen {
            let mut by_signal = BTreeMap::new();
            for (signal, funcs) in signals {
                self.mark(format!("listen.{section}.{signal}"), &funcs);
                by_signal.insert(signal, funcs.into_inner().0);
            }
            listeners.insert(section, by_signal);
        }

        let mut commands = BTreeMap::new();
        for (name, func) in raw.commands {
            self.mark(format!("commands.{name}"), &func);
            if matches!(name.as_str(), "run" | "check") {
                return Err(self.error(
                    &func,
                    format!(
                        "[commands] cannot redefine `{name}`: `run` and `check` are built in; \
                         choose another command name"
                    ),
                ));
            }
            commands.insert(name, func.into_inner());
        }

        let m = raw.monitor;
        let monitor = MonitorConfig {
            enabled: m.enabled,
            host: m.host,
            allow_remote: m.allow_remote,
            port: m.port,
            unix_socket: m.unix_socket,
            console_port: m.console_port,
            console_unix_socket: m.console_unix_socket,
            token_env: m.token_env,
            http_port: m.http_port,
            tokio_console_port: m.tokio_console_port,
        };

        Ok(Config {
            file: Some(self.path.to_owned()),
            app,
            schedules,
            servers,
            listeners,
            commands,
            monitor,
            lines: self.lines,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        let cases = [
            ("2", Duration::from_secs(2)),
            ("0.5", Duration::from_millis(500)),
            ("\"500ms\"", Duration::from_millis(500)),
            ("\"1m30s\"", Duration::from_secs(90)),
        ];
        for (every, expected) in cases {
            let text = format!("[schedule.t]\nevery = {every}\nfunc = \"f\"\n");
            let config = Config::parse(&text, Path::new("t.toml")).unwrap();
            assert_eq!(config.schedules["t"].every, expected, "every = {every}");
        }
    }

    #[test]
    fn shown_durations() {
        assert_eq!(format_duration(Duration::from_secs(2)), "2s");
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_secs(3600)), "1h");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.500s");
    }
}
