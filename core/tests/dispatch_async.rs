//! Asynchronous commands: inline and on an executor, timeouts, cancellation
//! and panics.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread::{self, ThreadId},
    time::{Duration, Instant},
};

use futures_lite::future::{self, block_on};
use futures_timer::Delay;
use monitor_core::{
    BoxedFuture, Executor,
    dispatch::{Arg, Command, CommandError, Dispatcher, Reply, Session},
};

/// Runs every future on a thread of its own, like a tiny runtime.
#[derive(Debug, Default)]
struct ThreadExecutor {
    spawned: AtomicUsize,
}

impl Executor for ThreadExecutor {
    fn spawn(&self, future: BoxedFuture) {
        self.spawned.fetch_add(1, Ordering::SeqCst);
        thread::spawn(move || block_on(future));
    }
}

/// A runtime that is shutting down: it drops everything it is given.
#[derive(Debug)]
struct DroppingExecutor;

impl Executor for DroppingExecutor {
    fn spawn(&self, future: BoxedFuture) {
        drop(future);
    }
}

/// Sets its flag when dropped, to prove a cancelled future was freed.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Per-session context: the flag the `hang` command's future holds.
#[derive(Default)]
struct Ctx {
    dropped: Arc<AtomicBool>,
}

fn dispatcher() -> Dispatcher<Ctx> {
    let mut d = Dispatcher::new();
    // Generous for commands expected to finish: a loaded 2-core CI machine
    // symbolizing a panic backtrace can stall a thread for a while. Only
    // `hang`, which must time out, has a short timeout of its own.
    d.set_timeout(Duration::from_secs(3));
    d.register(
        Command::new("echo")
            .arg(Arg::string("WORDS").variadic())
            .run_async(|_ctx: &mut Ctx, args| {
                let words: Vec<String> = args.get_all("WORDS");
                async move {
                    Delay::new(Duration::from_millis(5)).await;
                    Ok(words.join(" "))
                }
            }),
    )
    .unwrap()
    .register(
        Command::new("thread").run_async(|_ctx: &mut Ctx, _args| async {
            Ok(format!("{:?}", thread::current().id()))
        }),
    )
    .unwrap()
    .register(
        Command::new("hang")
            .timeout(Duration::from_millis(100))
            .run_async(|ctx: &mut Ctx, _args| {
                let flag = DropFlag(Arc::clone(&ctx.dropped));
                async move {
                    let _flag = flag;
                    future::pending::<()>().await;
                    Ok(String::new())
                }
            }),
    )
    .unwrap()
    .register(
        Command::new("slow")
            .timeout(Duration::from_secs(5))
            .run_async(|_ctx: &mut Ctx, _args| async {
                // Comfortably inside its own 5s.
                Delay::new(Duration::from_millis(250)).await;
                Ok("finally".to_owned())
            }),
    )
    .unwrap()
    .register(
        Command::new("fails")
            .run_async(|_ctx: &mut Ctx, _args| async { Err(CommandError::from("disk on fire")) }),
    )
    .unwrap()
    .register(
        Command::new("boom").run_async(|_ctx: &mut Ctx, _args| async {
            Delay::new(Duration::from_millis(1)).await;
            panic!("async boom");
            #[allow(unreachable_code)]
            Ok(String::new())
        }),
    )
    .unwrap()
    .register(
        Command::new("early-boom")
            .run_async(|_ctx: &mut Ctx, _args| -> future::Ready<_> { panic!("before the future") }),
    )
    .unwrap();
    d
}

fn session(d: Dispatcher<Ctx>) -> Session<Ctx> {
    Session::new(Arc::new(d), Ctx::default())
}

fn run(s: &mut Session<Ctx>, line: &str) -> Reply {
    block_on(s.handle_line(line))
}

/// Waits up to two seconds for `flag`: a future cancelled on an executor
/// thread is dropped there, shortly after the console moved on.
fn eventually(flag: &AtomicBool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if flag.load(Ordering::SeqCst) {
            return true;
        }
        thread::sleep(Duration::from_millis(5));
    }
    false
}

#[test]
fn async_commands_run_inline_without_an_executor() {
    let mut s = session(dispatcher());
    assert_eq!(run(&mut s, "echo a 'b c'"), Reply::text("a b c"));
    let here = format!("{:?}", thread::current().id());
    assert_eq!(run(&mut s, "thread").text, format!("{here}\n"));
}

#[test]
fn async_commands_run_on_the_executor() {
    let executor = Arc::new(ThreadExecutor::default());
    let mut d = dispatcher();
    d.set_executor(executor.clone());
    let mut s = session(d);
    assert_eq!(run(&mut s, "echo hi"), Reply::text("hi"));
    let here: ThreadId = thread::current().id();
    let there = run(&mut s, "thread").text;
    assert_ne!(there, format!("{here:?}\n"));
    assert_eq!(executor.spawned.load(Ordering::SeqCst), 2);
}

#[test]
fn never_ending_command_times_out_and_is_dropped_inline() {
    let mut s = session(dispatcher());
    let started = Instant::now();
    let reply = run(&mut s, "hang");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(reply.text, "hang: timed out after 100ms\n");
    assert!(reply.is_error);
    assert!(s.context().dropped.load(Ordering::SeqCst), "future leaked");
    // The console is still usable.
    assert_eq!(run(&mut s, "echo still here"), Reply::text("still here"));
}

#[test]
fn never_ending_command_times_out_and_is_dropped_on_the_executor() {
    let mut d = dispatcher();
    d.set_executor(Arc::new(ThreadExecutor::default()));
    let mut s = session(d);
    let started = Instant::now();
    let reply = run(&mut s, "hang");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(reply.text, "hang: timed out after 100ms\n");
    assert!(
        eventually(&s.context().dropped),
        "future leaked on the executor"
    );
    assert_eq!(run(&mut s, "echo still here"), Reply::text("still here"));
}

#[test]
fn dropping_handle_line_cancels_the_command_on_the_executor() {
    let mut d = dispatcher();
    d.set_executor(Arc::new(ThreadExecutor::default()));
    d.set_timeout(Duration::from_secs(60));
    let mut s = session(d);
    let dropped = Arc::clone(&s.context().dropped);
    // The client disconnects while the command runs: the server drops the
    // future of `handle_line`.
    let outcome = block_on(future::or(
        async { Some(s.handle_line("hang").await) },
        async {
            Delay::new(Duration::from_millis(50)).await;
            None
        },
    ));
    assert!(outcome.is_none());
    assert!(eventually(&dropped), "abandoned command kept running");
}

#[test]
fn commands_can_have_their_own_timeout() {
    let mut s = session(dispatcher());
    assert_eq!(run(&mut s, "slow"), Reply::text("finally"));
    let mut d = dispatcher();
    d.set_timeout(Duration::from_secs(2));
    d.register(
        Command::new("quick")
            .timeout(Duration::from_millis(20))
            .run_async(|_ctx: &mut Ctx, _| async {
                Delay::new(Duration::from_secs(10)).await;
                Ok(String::new())
            }),
    )
    .unwrap();
    let mut s = session(d);
    assert_eq!(run(&mut s, "quick").text, "quick: timed out after 20ms\n");
}

#[test]
fn async_errors_and_panics_answer_one_line() {
    for executor in [false, true] {
        let mut d = dispatcher();
        if executor {
            d.set_executor(Arc::new(ThreadExecutor::default()));
        }
        let mut s = session(d);
        let reply = run(&mut s, "fails");
        assert_eq!(
            (reply.text.as_str(), reply.is_error),
            ("fails: disk on fire\n", true)
        );
        let reply = run(&mut s, "boom");
        assert_eq!(
            reply.text, "boom: command panicked: async boom\n",
            "executor: {executor}"
        );
        assert!(reply.is_error);
        let reply = run(&mut s, "early-boom");
        assert_eq!(
            reply.text,
            "early-boom: command panicked: before the future\n"
        );
        assert_eq!(run(&mut s, "echo ok"), Reply::text("ok"));
    }
}

#[test]
fn a_runtime_that_drops_the_command_is_reported() {
    let mut d = dispatcher();
    d.set_executor(Arc::new(DroppingExecutor));
    let mut s = session(d);
    let reply = run(&mut s, "echo hi");
    assert_eq!(
        reply.text,
        "echo: the runtime dropped the command before it finished\n"
    );
    assert!(reply.is_error);
}

#[test]
fn async_argument_errors_are_reported_before_anything_runs() {
    let executor = Arc::new(ThreadExecutor::default());
    let mut d = dispatcher();
    d.set_executor(executor.clone());
    let mut s = session(d);
    let reply = run(&mut s, "echo");
    assert_eq!(reply.text, "echo: missing WORDS. usage: echo WORDS...\n");
    assert_eq!(executor.spawned.load(Ordering::SeqCst), 0);
}
