//! What the registry tests share: the smallest possible custom runtime,
//! built only on monitor-core's public API and std, and a bounded wait.

#![allow(unreachable_pub)]

use std::{thread, time::Duration, time::Instant};

use monitor_core::{BoxedFuture, Executor};

/// Runs every task on a thread of its own: enough to prove that
/// "implement `Executor` for your runtime" is all a runtime needs.
#[derive(Debug, Clone, Copy)]
pub struct ThreadPerTask;

impl Executor for ThreadPerTask {
    fn spawn(&self, future: BoxedFuture) {
        thread::Builder::new()
            .name("tiny-worker".to_owned())
            .spawn(move || futures_lite::future::block_on(future))
            .expect("spawn a worker thread");
    }
}

/// Polls `check` every millisecond until it returns `Some`, for up to 5 s.
#[track_caller]
pub fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(1));
    }
}
