//! The monitor's configuration from environment variables, so an operator
//! can place, guard or switch off a monitor without touching the code.
//!
//! | variable | meaning | accepted |
//! |---|---|---|
//! | `MONITOR` | `off` starts no monitor at all | `on`, `off` (also `1`/`0`, `true`/`false`) |
//! | `MONITOR_HOST` | address of every TCP listener | an IP address; a non-loopback one needs a token |
//! | `MONITOR_PORT` | the monitor's port | 0–65535 (0 = any free port) |
//! | `MONITOR_UNIX` | also serve a Unix socket there (mode 0600) | a path |
//! | `MONITOR_TOKEN` | require `auth TOKEN` from every session | printable text, no spaces |
//! | `MONITOR_CONSOLE_PORT` | the console's own port | 0–65535; default: `MONITOR_PORT` + 1 |
//! | `MONITOR_HTTP_PORT` | the web UI's port (feature `http`) | 0–65535; default: `MONITOR_PORT` + 2 |
//! | `TOKIO_CONSOLE_BIND` | the tokio-console bridge, once turned on | `HOST:PORT`; default 127.0.0.1:6669 |
//!
//! # Sharing a host
//!
//! The rule that lets several monitored processes run side by side: the
//! main listener is the only one with a fixed default port; the console's
//! port follows it (`MONITOR_PORT` + 1, or any free port when
//! `MONITOR_PORT=0`), and so does the web UI's (+ 2); the tokio-console
//! bridge is off unless asked for. So give each process its own
//! `MONITOR_PORT`, at least three apart (`50101`, `50111`, …), or `0` for
//! any free one.
//!
//! # Precedence
//!
//! What the code sets explicitly wins over the environment, and the
//! environment over the defaults: an application started with
//! `start_monitor()` is configured entirely by these variables, one that
//! calls `.port(9000)` keeps port 9000. `MONITOR=off` always wins: the
//! operator can switch any monitor off. A variable that is set but not
//! valid is an error naming it, never silently ignored.

use std::{
    net::{IpAddr, SocketAddr},
    path::PathBuf,
    str::FromStr,
};

/// The variables the monitor reads, with what each accepts; also what
/// [`MonitorEnv::from_process`] looks up, in this order.
pub const VARIABLES: &[(&str, &str)] = &[
    ("MONITOR", "on or off"),
    ("MONITOR_HOST", "an IP address such as 127.0.0.1 or ::1"),
    ("MONITOR_PORT", "a port from 0 to 65535 (0 = any free port)"),
    ("MONITOR_UNIX", "a path for the Unix socket"),
    ("MONITOR_TOKEN", "the token sessions must send"),
    (
        "MONITOR_CONSOLE_PORT",
        "a port from 0 to 65535 (default: MONITOR_PORT + 1)",
    ),
    (
        "MONITOR_HTTP_PORT",
        "a port from 0 to 65535 for the HTTP listener",
    ),
    (
        "TOKIO_CONSOLE_BIND",
        "HOST:PORT for the tokio-console listener, such as 127.0.0.1:6669",
    ),
];

/// A variable that is set to a value the monitor does not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("environment variable {variable}={value:?} is not valid: expected {expected}")]
pub struct EnvError {
    /// The variable's name.
    pub variable: &'static str,
    /// Its value (lossily decoded when it is not UTF-8).
    pub value: String,
    /// What it accepts.
    pub expected: &'static str,
}

/// The monitor's settings found in the environment; `None` where a
/// variable is unset (or empty).
///
/// ```
/// use monitor_server::env::MonitorEnv;
///
/// let env = MonitorEnv::from_lookup(|name| match name {
///     "MONITOR_PORT" => Some("50103".into()),
///     _ => None,
/// })
/// .unwrap();
/// assert_eq!(env.port, Some(50103));
/// assert!(env.enabled);
///
/// let bad = MonitorEnv::from_lookup(|name| (name == "MONITOR_PORT").then(|| "http".into()));
/// assert!(bad.unwrap_err().to_string().contains("MONITOR_PORT"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MonitorEnv {
    /// `false` when `MONITOR=off`: no monitor is started.
    pub enabled: bool,
    /// `MONITOR_HOST`.
    pub host: Option<IpAddr>,
    /// `MONITOR_PORT`.
    pub port: Option<u16>,
    /// `MONITOR_UNIX`.
    pub unix: Option<PathBuf>,
    /// `MONITOR_TOKEN`.
    pub token: Option<String>,
    /// `MONITOR_CONSOLE_PORT`.
    pub console_port: Option<u16>,
    /// `MONITOR_HTTP_PORT`: read here so that a bad value is reported with
    /// the others; used by the HTTP listener.
    pub http_port: Option<u16>,
    /// `TOKIO_CONSOLE_BIND`: read here so that a bad value is reported with
    /// the others; used by the tokio-console listener.
    pub tokio_console_bind: Option<SocketAddr>,
}

impl Default for MonitorEnv {
    /// Nothing set: enabled, every setting left to the code and defaults.
    fn default() -> Self {
        Self {
            enabled: true,
            host: None,
            port: None,
            unix: None,
            token: None,
            console_port: None,
            http_port: None,
            tokio_console_bind: None,
        }
    }
}

impl MonitorEnv {
    /// Reads the process's environment.
    ///
    /// # Errors
    ///
    /// The first variable (in [`VARIABLES`] order) that is set to a value it
    /// does not accept, or that is not UTF-8.
    pub fn from_process() -> Result<Self, EnvError> {
        let mut failed = None;
        let env = Self::from_lookup(|name| match std::env::var_os(name) {
            Some(value) => match value.into_string() {
                Ok(value) => Some(value),
                Err(raw) => {
                    failed.get_or_insert((name_of(name), raw));
                    None
                }
            },
            None => None,
        });
        if let Some((variable, raw)) = failed {
            return Err(EnvError {
                variable,
                value: raw.to_string_lossy().into_owned(),
                expected: "UTF-8 text",
            });
        }
        env
    }

    /// Reads the variables through `lookup` (for tests, or another source
    /// of settings); an empty value counts as unset.
    ///
    /// # Errors
    ///
    /// The first variable (in [`VARIABLES`] order) whose value it does not
    /// accept.
    pub fn from_lookup(mut lookup: impl FnMut(&str) -> Option<String>) -> Result<Self, EnvError> {
        let mut get = |name: &'static str| {
            lookup(name)
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
                .map(|value| (name, value))
        };
        let enabled = match get("MONITOR") {
            None => true,
            Some((variable, value)) => match value.to_ascii_lowercase().as_str() {
                "on" | "1" | "true" | "yes" => true,
                "off" | "0" | "false" | "no" => false,
                _ => return Err(invalid(variable, value)),
            },
        };
        Ok(Self {
            enabled,
            host: parsed(get("MONITOR_HOST"))?,
            port: parsed(get("MONITOR_PORT"))?,
            unix: get("MONITOR_UNIX").map(|(_, value)| PathBuf::from(value)),
            token: get("MONITOR_TOKEN").map(|(_, value)| value),
            console_port: parsed(get("MONITOR_CONSOLE_PORT"))?,
            http_port: parsed(get("MONITOR_HTTP_PORT"))?,
            tokio_console_bind: parsed(get("TOKIO_CONSOLE_BIND"))?,
        })
    }
}

fn parsed<T: FromStr>(entry: Option<(&'static str, String)>) -> Result<Option<T>, EnvError> {
    entry
        .map(|(variable, value)| value.parse().map_err(|_| invalid(variable, value)))
        .transpose()
}

fn invalid(variable: &'static str, value: String) -> EnvError {
    EnvError {
        variable,
        value,
        expected: expected(variable),
    }
}

fn expected(variable: &str) -> &'static str {
    VARIABLES
        .iter()
        .find(|(name, _)| *name == variable)
        .map_or("a valid value", |(_, expected)| expected)
}

/// The `'static` name of one of [`VARIABLES`].
fn name_of(variable: &str) -> &'static str {
    VARIABLES
        .iter()
        .find(|(name, _)| *name == variable)
        .map_or("MONITOR", |(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Result<MonitorEnv, EnvError> {
        MonitorEnv::from_lookup(|name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn every_variable_is_read() {
        let read = env(&[
            ("MONITOR", "on"),
            ("MONITOR_HOST", "::1"),
            ("MONITOR_PORT", "50103"),
            ("MONITOR_UNIX", "/run/app/monitor.sock"),
            ("MONITOR_TOKEN", "s3cret"),
            ("MONITOR_CONSOLE_PORT", "0"),
            ("MONITOR_HTTP_PORT", "8080"),
            ("TOKIO_CONSOLE_BIND", "127.0.0.1:6669"),
        ])
        .unwrap();
        assert!(read.enabled);
        assert_eq!(read.host, Some("::1".parse().unwrap()));
        assert_eq!(read.port, Some(50103));
        assert_eq!(read.unix, Some(PathBuf::from("/run/app/monitor.sock")));
        assert_eq!(read.token.as_deref(), Some("s3cret"));
        assert_eq!(read.console_port, Some(0));
        assert_eq!(read.http_port, Some(8080));
        assert_eq!(
            read.tokio_console_bind,
            Some("127.0.0.1:6669".parse().unwrap())
        );
        assert_eq!(env(&[]).unwrap(), MonitorEnv::default());
        assert!(!env(&[("MONITOR", "OFF")]).unwrap().enabled);
        // Empty means unset.
        assert_eq!(env(&[("MONITOR_PORT", "")]).unwrap().port, None);
    }

    #[test]
    fn a_bad_value_names_the_variable_and_what_it_accepts() {
        for (variable, value) in [
            ("MONITOR", "maybe"),
            ("MONITOR_HOST", "localhost"),
            ("MONITOR_PORT", "65536"),
            ("MONITOR_CONSOLE_PORT", "-1"),
            ("MONITOR_HTTP_PORT", "http"),
            ("TOKIO_CONSOLE_BIND", "6669"),
        ] {
            let err = env(&[(variable, value)]).unwrap_err();
            assert_eq!(err.variable, variable);
            let message = err.to_string();
            assert!(
                message.contains(&format!("{variable}=\"{value}\""))
                    && message.contains("expected"),
                "{message}"
            );
        }
    }
}
