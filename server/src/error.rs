//! What starting a monitor can fail at.

/// Why a monitor could not start.
///
/// Messages say what happened and what to do instead ("port 50101 is in
/// use …; pass .port(0) for any free port").
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MonitorError {
    /// A listener could not be bound.
    #[error(transparent)]
    Bind(#[from] crate::transport::BindError),
    /// A configuration value was refused.
    #[error("invalid monitor configuration: {0}")]
    Config(String),
    /// An environment variable holds a value the monitor does not accept.
    #[error(transparent)]
    Env(#[from] crate::env::EnvError),
    /// The monitor's thread could not be started.
    #[error("could not start the monitor thread: {0}")]
    Thread(#[source] std::io::Error),
}
