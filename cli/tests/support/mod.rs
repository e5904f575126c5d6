//! A real monitor in this process, and the `monitor-cli` binary pointed at
//! it.

#![allow(dead_code, unreachable_pub)]

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    task::{Context, Poll, Wake, Waker},
    thread::{self, Thread},
};

use monitor_core::{BoxedFuture, Executor, Spawner, TaskId, TaskRegistry};
use monitor_server::{Monitor, MonitorBuilder};

pub const BIN: &str = env!("CARGO_BIN_EXE_monitor-cli");

/// The smallest executor there is: one thread per task, parked between
/// polls. Enough for tasks that mostly wait.
#[derive(Debug, Clone, Copy)]
pub struct ThreadPerTask;

struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

impl Executor for ThreadPerTask {
    fn spawn(&self, mut future: BoxedFuture) {
        thread::spawn(move || {
            let waker = Waker::from(Arc::new(Unpark(thread::current())));
            let mut cx = Context::from_waker(&waker);
            while future.as_mut().poll(&mut cx) == Poll::Pending {
                thread::park();
            }
        });
    }
}

/// A monitor over a fresh registry with some named, forever-pending tasks.
pub struct App {
    pub monitor: Monitor,
    pub spawner: Spawner,
    pub ids: Vec<TaskId>,
    /// Where the client keeps its history, so tests never touch `$HOME`.
    pub state: tempfile::TempDir,
}

impl App {
    /// A TCP monitor on a free port, running tasks with these names.
    pub fn start(names: &[&str]) -> Self {
        Self::start_with(names, |builder| builder.port(0))
    }

    pub fn start_with(
        names: &[&str],
        configure: impl FnOnce(MonitorBuilder) -> MonitorBuilder,
    ) -> Self {
        let registry = TaskRegistry::new();
        let spawner = Spawner::new(ThreadPerTask, Arc::clone(&registry));
        let monitor = configure(MonitorBuilder::new(registry).executor(Arc::new(ThreadPerTask)))
            .start()
            .expect("monitor starts");
        let ids = names
            .iter()
            .map(|name| {
                let handle = spawner
                    .task()
                    .name(*name)
                    .spawn(std::future::pending::<()>());
                let id = handle.id();
                // Dropping a handle detaches the task; it keeps running.
                drop(handle);
                id
            })
            .collect();
        Self {
            monitor,
            spawner,
            ids,
            state: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn port(&self) -> u16 {
        self.monitor.tcp_addr().expect("TCP is on").port()
    }

    pub fn unix_path(&self) -> Option<&Path> {
        self.monitor.unix_path()
    }

    pub fn history_file(&self) -> PathBuf {
        self.state.path().join("monitor-cli").join("history")
    }

    /// `monitor-cli --port PORT`, with a private history and no colour.
    pub fn cli(&self) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::new(BIN);
        cmd.env("XDG_STATE_HOME", self.state.path())
            .env("NO_COLOR", "1")
            .env_remove("MONITOR_TOKEN")
            .args(["--timeout", "10", "--port", &self.port().to_string()]);
        cmd
    }
}
