//! Helpers shared by the adapters' tests (included by path from each
//! adapter's `tests/`, so the three suites use one copy).
#![allow(dead_code, unreachable_pub)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use monitor_core::{TaskIntrospect, TaskRegistry, TaskSnapshot};

/// Sets its flag when dropped, so a test can tell the future's `Drop` ran.
#[derive(Debug)]
pub struct DropFlag(pub Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// A future that never completes and reports when it is dropped.
pub fn pending_with_drop_flag() -> (impl std::future::Future<Output = ()>, Arc<AtomicBool>) {
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = DropFlag(Arc::clone(&dropped));
    let future = async move {
        let _flag = flag;
        std::future::pending::<()>().await;
    };
    (future, dropped)
}

/// The only task of `registry` named `name`, live or ended.
pub fn find(registry: &TaskRegistry, name: &str) -> Option<TaskSnapshot> {
    registry
        .live_tasks()
        .into_iter()
        .chain(registry.terminated())
        .find(|task| task.name.as_deref() == Some(name))
}

/// Polls `condition` (from a plain thread) until it holds or 2 s pass.
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}
