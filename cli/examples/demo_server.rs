//! A monitor with a few idle tasks to point `monitor-cli` at:
//!
//! ```text
//! cargo run -p monitor-cli --example demo_server [PORT]   # default 50101
//! cargo run -p monitor-cli                                # in another terminal
//! ```

use std::{
    sync::Arc,
    task::{Context, Poll, Wake, Waker},
    thread::{self, Thread},
};

use monitor_core::{BoxedFuture, Executor, Spawner, TaskRegistry};
use monitor_server::MonitorBuilder;

/// One thread per task, parked between polls: enough for a demo whose
/// tasks only wait.
#[derive(Debug, Clone, Copy)]
struct ThreadPerTask;

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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port = match std::env::args().nth(1) {
        Some(port) => port.parse()?,
        None => monitor_server::MONITOR_PORT,
    };
    let registry = TaskRegistry::new();
    let spawner = Spawner::new(ThreadPerTask, Arc::clone(&registry));
    let monitor = MonitorBuilder::new(registry)
        .executor(Arc::new(ThreadPerTask))
        .port(port)
        .start()?;
    for name in ["http-server", "db-pool", "metrics-flush", "cache-janitor"] {
        // Detached: dropping the handle leaves the task running.
        drop(
            spawner
                .task()
                .name(name)
                .spawn(std::future::pending::<()>()),
        );
    }
    let addr = monitor.tcp_addr().expect("TCP is on");
    println!(
        "monitor on {addr}; try: cargo run -p monitor-cli -- --port {}",
        addr.port()
    );
    loop {
        thread::park();
    }
}
