//! The suite must fail broken runtimes: if these tests ever stop
//! panicking, the contracts have stopped testing what they claim to.

use std::sync::Arc;

use conformance_tests::{
    LocalFuture, NativeOutcome, NativeSpawn, NativeTask, RuntimeUnderTest,
    broken::{Breakage, BrokenRuntime},
    contracts,
    custom::{CustomRuntime, ThreadPool},
    run_contract,
};
use monitor_core::{BoxedFuture, Executor, TaskRegistry};

#[test]
#[should_panic(expected = "the runtime to poll task")]
fn a_runtime_that_never_polls_fails_visibility() {
    run_contract(
        || BrokenRuntime::new(Breakage::NeverPolls),
        contracts::spawned_task_is_visible,
    );
}

#[test]
#[should_panic(expected = "did not complete: task")]
fn a_runtime_that_never_polls_fails_completion() {
    run_contract(
        || BrokenRuntime::new(Breakage::NeverPolls),
        contracts::completed_task_is_recorded,
    );
}

#[test]
#[should_panic(expected = "never dropped")]
fn a_runtime_that_loses_wakeups_fails_cancellation() {
    run_contract(
        || BrokenRuntime::new(Breakage::PollsOnce),
        contracts::cancel_drops_the_future_within_100ms,
    );
}

#[test]
#[should_panic(expected = "timed out")]
fn a_runtime_that_loses_wakeups_fails_idle_tasks() {
    run_contract(
        || BrokenRuntime::new(Breakage::PollsOnce),
        contracts::task_is_idle_between_polls,
    );
}

#[test]
#[should_panic(expected = "not on a worker")]
fn a_runtime_on_the_wrong_threads_fails_async_commands() {
    run_contract(
        || BrokenRuntime::new(Breakage::WrongThreads),
        contracts::custom_async_command_runs_on_the_runtime,
    );
}

#[test]
#[should_panic(expected = "not a worker")]
fn a_runtime_on_the_wrong_threads_fails_running_state() {
    run_contract(
        || BrokenRuntime::new(Breakage::WrongThreads),
        contracts::task_is_running_inside_its_poll,
    );
}

/// The custom runtime with a faulty native spawn function.
struct FaultyNative(CustomRuntime, NativeFault);

#[derive(Clone, Copy)]
enum NativeFault {
    /// Spawns through a helper in another file, as an adapter missing
    /// `#[track_caller]` records a line of its own.
    RecordsItsOwnLocation,
    /// A handle that reports a monitor cancel as a completion.
    HidesCancellation,
}

impl RuntimeUnderTest for FaultyNative {
    fn name(&self) -> &str {
        "faulty-native-spawn"
    }
    fn executor(&self) -> Arc<dyn Executor> {
        self.0.executor()
    }
    fn block_on(&self, future: LocalFuture<'_>) {
        self.0.block_on(future);
    }
    fn workers(&self) -> Option<usize> {
        self.0.workers()
    }
    fn native_spawn(&self) -> Option<Arc<dyn NativeSpawn>> {
        Some(Arc::new(Faulty(self.0.pool().clone(), self.1)))
    }
}

struct Faulty(ThreadPool, NativeFault);

impl NativeSpawn for Faulty {
    fn spawn(&self, registry: Arc<TaskRegistry>, name: &str, future: BoxedFuture) -> NativeTask {
        // The pool's own native spawn records a line in `src/custom.rs`.
        let inner = NativeSpawn::spawn(&self.0, registry, name, future);
        let fault = self.1;
        NativeTask::new(async move {
            match (inner.await, fault) {
                (NativeOutcome::Cancelled, NativeFault::HidesCancellation) => {
                    NativeOutcome::Completed
                }
                (outcome, _) => outcome,
            }
        })
    }
}

#[test]
#[should_panic(expected = "not where the adapter's spawn function was called")]
fn a_native_spawn_that_records_its_own_location_fails() {
    run_contract(
        || FaultyNative(CustomRuntime::new(2), NativeFault::RecordsItsOwnLocation),
        contracts::native_spawn_records_name_location_and_parent,
    );
}

#[test]
#[should_panic(expected = "right: Cancelled")]
fn a_native_handle_that_hides_a_cancel_fails() {
    run_contract(
        || FaultyNative(CustomRuntime::new(2), NativeFault::HidesCancellation),
        contracts::native_cancel_drops_the_future_and_reaches_the_handle,
    );
}
