//! The suite on the crate's own custom runtime: a thread pool built only on
//! `monitor-core`'s public API and std.

use conformance_tests::{
    Capabilities, LocalFuture, RuntimeUnderTest, conformance_suite, custom::CustomRuntime,
};
use monitor_core::Executor;
use std::sync::Arc;

conformance_suite!(custom, || CustomRuntime::new(2));

/// The same pool, declaring that it has no fixed workers and room for only
/// 500 tasks: the contracts that depend on those must say they do not
/// apply (or shrink) rather than fail.
struct Limited(CustomRuntime);

impl RuntimeUnderTest for Limited {
    fn name(&self) -> &str {
        "custom-limited"
    }
    fn executor(&self) -> Arc<dyn Executor> {
        self.0.executor()
    }
    fn block_on(&self, future: LocalFuture<'_>) {
        self.0.block_on(future);
    }
    fn workers(&self) -> Option<usize> {
        None
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::new().task_capacity(500)
    }
}

#[test]
fn declared_missing_capabilities_are_respected() {
    let limited = || Limited(CustomRuntime::new(2));
    conformance_tests::run_contract(
        limited,
        conformance_tests::contracts::ps_answers_while_every_worker_is_blocked,
    );
    conformance_tests::run_contract(
        limited,
        conformance_tests::contracts::ten_thousand_live_tasks_are_listed,
    );
}

#[test]
fn run_all_reports_every_contract() {
    let report = conformance_tests::run_all(|| CustomRuntime::new(2));
    assert!(report.failed.is_empty(), "{:#?}", report.failed);
    assert_eq!(
        report.passed.len(),
        conformance_tests::all_contracts().len()
    );
    assert!(report.passed.len() >= 25);
}
