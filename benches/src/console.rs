//! tokio-console's `console-subscriber`, compared with bare tokio in a
//! binary built with `--cfg tokio_unstable` (which console-subscriber needs,
//! and which changes tokio itself, so its bare figures are its own).

use std::{
    net::{Ipv4Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use tracing_subscriber::layer::SubscriberExt as _;

use crate::systems::{CONSOLE, Tokio, TokioKind, WORKERS};

/// A runtime whose workers report to a console-subscriber layer, whose
/// server and aggregator run on their own thread as they do in an
/// application.
///
/// The subscriber is installed as each worker's thread default rather than
/// globally, so the bare runtime in the same process stays uninstrumented.
/// Spawns come from the workers (the workloads' driver task runs there),
/// which is where tokio creates the task spans the console follows.
///
/// Retention is 1 s instead of the default hour: the console keeps ~50 kB
/// of histograms per task, and the benchmark ends well over a million
/// tasks, which at the default would need more memory than the machine has.
pub(crate) fn console_system() -> Tokio {
    let layer = console_subscriber::ConsoleLayer::builder()
        .retention(Duration::from_secs(1))
        .server_addr(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .spawn::<tracing_subscriber::Registry>();
    let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .on_thread_start(move || {
            // The guard restores the previous default when dropped; the
            // worker keeps this one for its whole life.
            std::mem::forget(tracing::dispatcher::set_default(&dispatch));
        })
        .build()
        .expect("tokio runtime");
    let mut system = Tokio::new(&Arc::new(runtime), TokioKind::Bare);
    system.name = CONSOLE;
    system
}
