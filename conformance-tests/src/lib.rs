//! # conformance-tests
//!
//! One behavioural suite that every runtime the monitor supports must pass:
//! the custom [`ThreadPool`](custom::ThreadPool) in this crate, tokio
//! (multi-thread and current-thread), async-std and smol, and any runtime
//! you bring yourself by implementing [`Executor`](monitor_core::Executor).
//!
//! The suite is a library of [`contracts`], one public function per
//! behaviour, each taking the runtime under test as
//! `&dyn` [`RuntimeUnderTest`]. The [`conformance_suite!`] macro turns every
//! contract into its own `#[test]`, so a failure reads like
//! `smol::cancel_drops_the_future_within_100ms`.
//!
//! ## Running the suite against your own runtime
//!
//! In your crate's `tests/conformance.rs` (with `conformance-tests` as a
//! dev-dependency):
//!
//! ```
//! use std::sync::Arc;
//!
//! use conformance_tests::{LocalFuture, RuntimeUnderTest, conformance_suite, custom::ThreadPool};
//! use monitor_core::Executor;
//!
//! /// Your runtime; here the crate's own thread pool stands in for it.
//! struct MyRuntime(ThreadPool);
//!
//! impl RuntimeUnderTest for MyRuntime {
//!     fn name(&self) -> &str {
//!         "my-runtime"
//!     }
//!     fn executor(&self) -> Arc<dyn Executor> {
//!         Arc::new(self.0.clone())
//!     }
//!     fn block_on(&self, future: LocalFuture<'_>) {
//!         conformance_tests::custom::block_on(future)
//!     }
//!     fn workers(&self) -> Option<usize> {
//!         Some(self.0.workers())
//!     }
//! }
//!
//! impl Drop for MyRuntime {
//!     fn drop(&mut self) {
//!         self.0.shutdown();
//!     }
//! }
//!
//! // One #[test] per contract, in a module named `my_runtime`; the closure
//! // is called once per test for a fresh runtime.
//! conformance_suite!(my_runtime, || MyRuntime(ThreadPool::new("mine", 2)));
//! # fn main() {}
//! ```
//!
//! [`run_all`] runs every contract in one go and reports which failed, for
//! harnesses that are not `cargo test`.
//!
//! ## What a runtime may declare it cannot do
//!
//! A contract that needs something a runtime genuinely lacks (worker
//! threads, room for 10 000 tasks) checks that the runtime *declares* the
//! lack through [`RuntimeUnderTest::workers`] or [`Capabilities`], prints
//! that it does not apply and why, and passes. Nothing is skipped silently:
//! a runtime that has workers but blocks them all where the console should
//! answer fails.
//!
//! The same goes for [`RuntimeUnderTest::native_spawn`]: a runtime whose
//! adapter has a tracked spawn function of its own (`monitor_tokio::task()`
//! and the like) returns it as a [`NativeSpawn`], and the `native_*`
//! contracts check what it records and how its handle reports a cancel
//! from the monitor; without one they say they do not apply.
#![deny(missing_docs)]

pub mod broken;
pub mod contracts;
pub mod custom;
mod runtime;
pub mod support;

pub use runtime::{
    Capabilities, LocalFuture, NativeOutcome, NativeSpawn, NativeTask, RuntimeUnderTest, Timer,
    block_on_within,
};

use std::panic::{AssertUnwindSafe, catch_unwind};

/// A contract: checks one behaviour of the runtime under test, panicking
/// with an explanation when the runtime does not conform.
pub type Contract = fn(&dyn RuntimeUnderTest);

/// Runs one contract on a fresh runtime made by `factory`. Used by
/// [`conformance_suite!`]; the runtime is dropped (shut down) afterwards.
pub fn run_contract<R: RuntimeUnderTest>(factory: impl FnOnce() -> R, contract: Contract) {
    let rt = factory();
    contract(&rt);
}

/// Every contract, by name, in the order the suite runs them.
pub fn all_contracts() -> &'static [(&'static str, Contract)] {
    __contracts!(table)
}

/// The outcome of [`run_all`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Contracts that passed.
    pub passed: Vec<&'static str>,
    /// Contracts that failed, with their panic message.
    pub failed: Vec<(&'static str, String)>,
}

/// Runs every contract, each on a fresh runtime from `factory`, one after
/// another, and reports which failed instead of stopping at the first.
pub fn run_all<R: RuntimeUnderTest>(factory: impl Fn() -> R) -> Report {
    let mut report = Report::default();
    for &(name, contract) in all_contracts() {
        let outcome = catch_unwind(AssertUnwindSafe(|| run_contract(&factory, contract)));
        match outcome {
            Ok(()) => report.passed.push(name),
            Err(payload) => {
                let message = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "<non-text panic>".to_owned());
                report.failed.push((name, message));
            }
        }
    }
    report
}

/// Generates one `#[test]` per contract for a runtime, in a module of its
/// own.
///
/// `conformance_suite!(smol, || make_runtime())` makes `mod smol` with
/// tests named after the contracts (`smol::spawned_task_is_visible`, …).
/// The second argument is any expression callable as `Fn() -> R` where
/// `R: RuntimeUnderTest` (a `Box<dyn RuntimeUnderTest>` works too); it is
/// called once per test.
#[macro_export]
macro_rules! conformance_suite {
    ($module:ident, $factory:expr $(,)?) => {
        $crate::__contracts!(tests $module, $factory);
    };
}

/// The single list of contracts, expanded into tests or into a table.
#[doc(hidden)]
#[macro_export]
macro_rules! __contracts {
    (@expand [tests $module:ident, $factory:expr] $($contract:ident)*) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $contract() {
                    $crate::run_contract($factory, $crate::contracts::$contract);
                }
            )*
        }
    };
    (@expand [table] $($contract:ident)*) => {
        &[$((stringify!($contract), $crate::contracts::$contract as $crate::Contract)),*]
    };
    ($($mode:tt)*) => {
        $crate::__contracts! { @expand [$($mode)*]
            // Tasks: visibility, states, ids, timing.
            spawned_task_is_visible
            child_task_records_its_parent
            task_is_idle_between_polls
            task_is_running_inside_its_poll
            completed_task_is_recorded
            cancelled_task_is_recorded
            panicked_task_is_recorded_and_the_runtime_survives
            ids_are_unique_across_runtimes
            busy_time_accumulates_across_polls
            stuck_task_shows_running_with_growing_poll_time
            // Cancellation.
            cancel_drops_the_future_within_100ms
            cancel_during_a_poll_takes_effect_when_it_returns
            cancel_of_unknown_id_is_an_error
            cancel_of_finished_task_is_an_error
            // The runtime adapter's own spawn function.
            native_spawn_records_name_location_and_parent
            native_cancel_drops_the_future_and_reaches_the_handle
            native_cancel_during_a_poll_reaches_the_handle
            // Terminated history.
            terminated_history_is_newest_first
            terminated_history_is_bounded
            persistent_tasks_outlive_the_history_bound
            // The console, over the in-memory transport.
            ps_answers_while_every_worker_is_blocked
            ten_thousand_live_tasks_are_listed
            intro_and_help_list_every_builtin
            ps_lists_filters_sorts_and_limits
            ps_json_has_the_documented_fields
            where_shows_state_location_and_creation_chain
            terminated_commands_show_how_tasks_ended
            cancel_command_stops_a_task
            stacktrace_names_the_task_blocking_a_worker
            signal_command_guards_dangerous_signals
            exit_ends_the_session
            custom_sync_command_runs
            custom_async_command_runs_on_the_runtime
            async_command_times_out_and_is_dropped
            panicking_commands_are_contained
            concurrent_sessions_are_independent
            telnet_negotiation_and_crlf_are_handled
            overlong_lines_are_rejected
            invalid_utf8_is_rejected
            // Diagnostics: lints, sites, top.
            sites_count_spawns_ends_and_polls_per_site
            top_names_the_busiest_task_and_site
            poll_lints_fire_for_blocked_workers_only
            site_lints_fire_for_large_futures_and_growing_sites
            // Await stacks from #[frame]-marked calls.
            where_shows_the_pending_frames_of_a_framed_task
            where_shows_frames_while_the_task_blocks_its_worker
            // TCP.
            builtin_commands_work_over_tcp
            close_releases_the_port
        }
    };
}
