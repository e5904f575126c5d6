//! The suite must fail broken runtimes: if these tests ever stop
//! panicking, the contracts have stopped testing what they claim to.

use conformance_tests::{
    broken::{Breakage, BrokenRuntime},
    contracts, run_contract,
};

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
