//! The console and its built-in and custom commands, over the in-memory
//! transport, with tasks on the runtime under test.

use std::{
    collections::HashSet,
    sync::Arc,
    thread,
    time::{Duration, Instant},
};

use monitor_core::{
    TaskIntrospect, TaskState,
    dispatch::{Arg, Command},
};
use monitor_server::commands::MonitorContext;

use super::{is_contract_location, join, join_ok, on};
use crate::{
    RuntimeUnderTest,
    support::{Gate, Harness, MarkingExecutor, drop_probe, eventually, json, not_applicable},
};

/// Every built-in command's canonical name.
const BUILTINS: &[&str] = &[
    "help",
    "ps",
    "ps-terminated",
    "where",
    "where-terminated",
    "cancel",
    "signal",
    "stacktrace",
    "exit",
];

/// With every worker thread blocked inside a task's poll, a new session
/// still opens and `ps` answers within a second, showing the blocking tasks
/// as running. Runtimes without a fixed set of workers must declare so.
pub fn ps_answers_while_every_worker_is_blocked(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    let Some(workers) = rt.workers() else {
        assert_eq!(rt.workers(), None);
        not_applicable(
            rt,
            "ps_answers_while_every_worker_is_blocked",
            "the runtime declares no fixed worker threads, so they cannot all be blocked",
        );
        return;
    };
    assert!(workers > 0, "{at} a runtime with workers has at least one");
    let h = Harness::new(rt, |b| b);
    let (gate, key) = Gate::new();
    let hogs: Vec<_> = (0..workers)
        .map(|n| {
            let gate = gate.clone();
            h.spawner.task().name(format!("hog-{n}")).spawn(async move {
                // Blocks the worker thread inside the poll, as a buggy
                // task calling blocking code would.
                gate.wait();
            })
        })
        .collect();
    eventually(format!("{at} all {workers} workers to be blocked"), || {
        let running = h
            .registry
            .live_tasks()
            .iter()
            .filter(|t| t.state == TaskState::Running)
            .count();
        (running == workers).then_some(())
    });
    let started = Instant::now();
    let mut console = h.console();
    let reply = console.cmd("ps --json");
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(1),
        "{at} ps took {took:?} with every worker blocked"
    );
    let tasks = json(&reply);
    let listed = tasks.as_array().expect("ps --json is an array");
    assert_eq!(listed.len(), workers, "{at} {reply}");
    for task in listed {
        assert_eq!(task["state"], "running", "{at} {task}");
        assert!(task["poll_ns"].is_u64(), "{at} {task}");
    }
    let st = console.cmd("stacktrace");
    assert_eq!(
        st.lines().filter(|l| l.contains("polling task")).count(),
        workers,
        "{at} {st}"
    );
    key.open();
    for hog in hogs {
        join_ok(rt, hog);
    }
}

/// 10 000 live tasks (or the runtime's declared capacity) are all listed,
/// each exactly once, by `ps --json`, and the intro counts them.
pub fn ten_thousand_live_tasks_are_listed(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    let count = match rt.capabilities().task_capacity {
        Some(capacity) if capacity < 10_000 => {
            not_applicable(
                rt,
                "ten_thousand_live_tasks_are_listed (at full size)",
                &format!("the runtime declares room for {capacity} tasks; listing that many"),
            );
            capacity
        }
        _ => 10_000,
    };
    let h = Harness::new(rt, |b| b);
    let mut expected = HashSet::with_capacity(count);
    let mut handles = Vec::with_capacity(count);
    for _ in 0..count {
        let handle = h.spawner.spawn(std::future::pending::<()>());
        expected.insert(handle.id().as_u64());
        handles.push(handle);
    }
    let mut console = h.console();
    assert!(
        console.intro().contains(&format!(
            "{count} task{} running",
            if count == 1 { "" } else { "s" }
        )),
        "{at} intro: {}",
        console.intro()
    );
    let reply = console.cmd("ps --json");
    let tasks = json(&reply);
    let listed: Vec<u64> = tasks
        .as_array()
        .expect("ps --json is an array")
        .iter()
        .map(|task| task["id"].as_u64().expect("numeric id"))
        .collect();
    assert_eq!(listed.len(), count, "{at} number of tasks listed");
    let unique: HashSet<u64> = listed.iter().copied().collect();
    assert_eq!(
        unique, expected,
        "{at} listed ids differ from the spawned ids"
    );
    assert!(
        listed.windows(2).all(|w| w[0] < w[1]),
        "{at} ps sorts by id by default"
    );
    // Cancel them all, which also checks mass cancellation (and leaves no
    // pending tasks behind on a process-wide runtime).
    for handle in &handles {
        handle.cancel();
    }
    eventually(format!("{at} all {count} tasks to be cancelled"), || {
        (h.registry.live_count() == 0).then_some(())
    });
}

/// The intro counts the live tasks; `help` (and its aliases `h`, `?`)
/// lists every built-in command.
pub fn intro_and_help_list_every_builtin(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    let h = Harness::new(rt, |b| b);
    let task = h
        .spawner
        .task()
        .name("lonely")
        .spawn(std::future::pending::<()>());
    let mut console = h.console();
    assert!(
        console.intro().contains("1 task running"),
        "{at} {}",
        console.intro()
    );
    let help = console.cmd("help");
    for name in BUILTINS {
        assert!(help.contains(name), "{at} help lacks {name}: {help}");
    }
    assert_eq!(console.cmd("h"), help, "{at}");
    assert_eq!(console.cmd("?"), help, "{at}");
    let ps_help = console.cmd("help ps");
    assert!(ps_help.contains("--json"), "{at} {ps_help}");
    task.cancel();
    assert!(join(rt, task).is_err(), "{at}");
}

/// `ps` lists live tasks with id, name and the spawn location, and its
/// filter, sort and limit options work; `p` is an alias.
pub fn ps_lists_filters_sorts_and_limits(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    let h = Harness::new(rt, |b| b);
    let handles: Vec<_> = ["alpha", "beta", "gamma"]
        .into_iter()
        .map(|name| {
            h.spawner
                .task()
                .name(name)
                .spawn(std::future::pending::<()>())
        })
        .collect();
    let mut console = h.console();
    let ps = console.cmd("ps");
    assert!(ps.starts_with("3 tasks running\n"), "{at} {ps}");
    for (handle, name) in handles.iter().zip(["alpha", "beta", "gamma"]) {
        assert!(
            ps.contains(name) && ps.contains(&handle.id().to_string()),
            "{at} {ps}"
        );
    }
    assert!(
        ps.contains("console.rs"),
        "{at} spawn location missing: {ps}"
    );
    // Only the headline: ages and busy times move between two calls.
    assert_eq!(
        console.cmd("p").lines().next(),
        ps.lines().next(),
        "{at} alias p"
    );

    let beta = console.cmd("ps -f beta");
    assert!(
        beta.starts_with("3 tasks running (showing 1)"),
        "{at} {beta}"
    );
    assert!(
        beta.contains("beta") && !beta.contains("alpha"),
        "{at} {beta}"
    );

    let sorted = json(&console.cmd("ps --sort id --json"));
    let ids: Vec<u64> = sorted
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_u64().unwrap())
        .collect();
    let expected: Vec<u64> = handles.iter().map(|h| h.id().as_u64()).collect();
    assert_eq!(ids, expected, "{at}");

    let limited = json(&console.cmd("ps -n 1 --json"));
    assert_eq!(limited.as_array().unwrap().len(), 1, "{at}");
    assert!(
        console.cmd("ps --sort nonsense").contains("usage"),
        "{at} a bad sort key is refused with usage"
    );
    for handle in handles {
        handle.cancel();
        assert!(join(rt, handle).is_err(), "{at}");
    }
}

/// `ps --json` serializes every documented snapshot field.
pub fn ps_json_has_the_documented_fields(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    let h = Harness::new(rt, |b| b);
    let handle = h
        .spawner
        .task()
        .name("json")
        .spawn(std::future::pending::<()>());
    let id = handle.id();
    eventually(format!("{at} first poll"), || {
        (h.registry.task(id)?.polls == 1).then_some(())
    });
    let mut console = h.console();
    let tasks = json(&console.cmd("ps --json"));
    let task = &tasks[0];
    for field in [
        "id", "name", "state", "location", "parent", "polls", "busy_ns", "age_ns", "poll_ns",
        "thread", "lints",
    ] {
        assert!(task.get(field).is_some(), "{at} missing {field} in {task}");
    }
    assert_eq!(task["id"], id.as_u64(), "{at}");
    assert_eq!(task["name"], "json", "{at}");
    assert_eq!(task["state"], "idle", "{at}");
    assert_eq!(task["polls"], 1, "{at}");
    assert!(task["parent"].is_null(), "{at}");
    assert_eq!(
        task["lints"],
        serde_json::json!([]),
        "{at} nothing fires: {task}"
    );
    assert!(
        is_contract_location(task["location"].as_str().unwrap(), file!()),
        "{at} {task}"
    );
    handle.cancel();
    assert!(join(rt, handle).is_err(), "{at}");
}

/// `where` shows a task's state, its spawn location and the chain of tasks
/// that spawned it, as text and JSON; `w` is an alias; unknown and invalid
/// ids are explained.
pub fn where_shows_state_location_and_creation_chain(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    let h = Harness::new(rt, |b| b);
    let inner = h.spawner.clone();
    let root = h.spawner.task().name("root").spawn(async move {
        let child = inner
            .task()
            .name("child")
            .spawn(std::future::pending::<()>());
        let id = child.id();
        std::future::pending::<()>().await;
        id
    });
    let root_id = root.id();
    let child = eventually(format!("{at} the child to be spawned"), || {
        h.registry
            .live_tasks()
            .into_iter()
            .find(|t| t.name.as_deref() == Some("child"))
    });
    let mut console = h.console();
    let text = console.cmd(&format!("where {}", child.id));
    assert!(
        text.contains(&format!("Task {} (child) is idle", child.id)),
        "{at} {text}"
    );
    assert!(text.contains("Creation chain"), "{at} {text}");
    assert!(
        text.contains(&format!("task {root_id} (root)")),
        "{at} {text}"
    );
    assert!(text.contains(file!()), "{at} {text}");
    assert_eq!(
        console.cmd(&format!("w {}", child.id)),
        text,
        "{at} alias w"
    );
    let trace = json(&console.cmd(&format!("where {} --json", child.id)));
    assert_eq!(trace["task"]["id"], child.id.as_u64(), "{at}");
    assert_eq!(trace["ancestors"][0]["id"], root_id.as_u64(), "{at}");
    let unknown = console.cmd("where 999999999999");
    assert!(unknown.contains("No task 999999999999"), "{at} {unknown}");
    let invalid = console.cmd("where abc");
    assert!(
        invalid.contains("invalid task id \"abc\""),
        "{at} {invalid}"
    );
    h.registry.cancel(child.id).unwrap();
    root.cancel();
    assert!(join(rt, root).is_err(), "{at}");
}

/// `ps-terminated` lists completed, cancelled and panicked tasks newest
/// first with how they ended (aliases `pt`, `pst`, and `--json`);
/// `where-terminated` explains one, and refuses a live task.
pub fn terminated_commands_show_how_tasks_ended(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    let h = Harness::new(rt, |b| b);
    let done = h.spawner.task().name("done").spawn(async {});
    let done_id = done.id();
    join_ok(rt, done);
    let cancelled = h
        .spawner
        .task()
        .name("cancelled")
        .spawn(std::future::pending::<()>());
    let cancelled_id = cancelled.id();
    cancelled.cancel();
    assert!(join(rt, cancelled).is_err(), "{at}");
    let panicked = h.spawner.task().name("panicked").spawn(async {
        if cfg!(all()) {
            panic!("terminated-contract panic");
        }
    });
    let panicked_id = panicked.id();
    assert!(join(rt, panicked).unwrap_err().is_panic(), "{at}");
    let live = h
        .spawner
        .task()
        .name("live")
        .spawn(std::future::pending::<()>());

    let mut console = h.console();
    // `--wide`: the panic message whole, not cut to the session's width.
    let pt = console.cmd("ps-terminated --wide");
    assert!(pt.starts_with("3 tasks terminated"), "{at} {pt}");
    assert!(pt.contains("cancelled on request"), "{at} {pt}");
    assert!(pt.contains("terminated-contract panic"), "{at} {pt}");
    assert_eq!(
        console.cmd("pt").lines().next(),
        pt.lines().next(),
        "{at} alias pt"
    );
    let listed = json(&console.cmd("pst --json"));
    let ids: Vec<u64> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_u64().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![
            panicked_id.as_u64(),
            cancelled_id.as_u64(),
            done_id.as_u64()
        ],
        "{at} newest first"
    );
    assert_eq!(listed[0]["ended"]["reason"], "panicked", "{at}");
    assert_eq!(listed[1]["ended"]["reason"], "cancelled", "{at}");
    assert_eq!(listed[2]["ended"]["reason"], "completed", "{at}");
    let filtered = json(&console.cmd("pt -f done --json"));
    assert_eq!(filtered.as_array().unwrap().len(), 1, "{at}");

    let wt = console.cmd(&format!("where-terminated {panicked_id}"));
    assert!(
        wt.contains("panicked: terminated-contract panic"),
        "{at} {wt}"
    );
    assert_eq!(
        console.cmd(&format!("wt {panicked_id}")),
        wt,
        "{at} alias wt"
    );
    let refused = console.cmd(&format!("wt {}", live.id()));
    assert!(refused.contains("still live"), "{at} {refused}");
    live.cancel();
    assert!(join(rt, live).is_err(), "{at}");
}

/// `cancel ID` (alias `ca`) stops an idle task: its future is dropped, the
/// joiner sees the cancellation and the console confirms; cancelling it
/// again, or an unknown id, is explained.
pub fn cancel_command_stops_a_task(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    let h = Harness::new(rt, |b| b);
    let (probe, guard) = drop_probe();
    let handle = h.spawner.task().name("target").spawn(async move {
        let _guard = guard;
        std::future::pending::<()>().await;
    });
    let id = handle.id();
    eventually(format!("{at} first poll"), || {
        (h.registry.task(id)?.polls == 1).then_some(())
    });
    let mut console = h.console();
    let reply = console.cmd(&format!("cancel {id}"));
    assert!(
        reply.contains(&format!("Cancelled task {id} (target)")),
        "{at} {reply}"
    );
    assert!(probe.dropped(), "{at} the future's Drop did not run");
    assert!(join(rt, handle).unwrap_err().is_cancelled(), "{at}");
    let again = console.cmd(&format!("ca {id}"));
    assert!(again.contains("already ended"), "{at} {again}");
    let unknown = console.cmd("cancel 999999999999");
    assert!(unknown.contains("No task 999999999999"), "{at} {unknown}");
}

/// `stacktrace` (aliases `st`, `stack`) names the task that holds a worker
/// inside its poll, and says so when no thread is polling.
pub fn stacktrace_names_the_task_blocking_a_worker(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    let h = Harness::new(rt, |b| b);
    let mut console = h.console();
    let quiet = console.cmd("stacktrace");
    assert!(quiet.contains("No thread is inside"), "{at} {quiet}");
    let (gate, key) = Gate::new();
    let handle = h.spawner.task().name("blocker").spawn(async move {
        gate.wait();
    });
    let id = handle.id();
    eventually(format!("{at} the blocker to run"), || {
        (h.registry.task(id)?.state == TaskState::Running).then_some(())
    });
    let st = console.cmd("st");
    assert!(
        st.contains(&format!("polling task {id} (blocker)")),
        "{at} {st}"
    );
    if let Some(worker) = rt.worker_thread_name() {
        assert!(st.contains(&worker), "{at} worker thread not named: {st}");
    }
    let st_json = json(&console.cmd("stack --json"));
    assert_eq!(st_json[0]["id"], id.as_u64(), "{at}");
    key.open();
    join_ok(rt, handle);
    assert!(console.cmd("st").contains("No thread is inside"), "{at}");
}

/// `signal` refuses unknown names, asks for `--confirm` before a signal
/// that ends the process, and sends a harmless one.
pub fn signal_command_guards_dangerous_signals(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    let h = Harness::new(rt, |b| b);
    let mut console = h.console();
    let unknown = console.cmd("signal NOPE");
    assert!(unknown.contains("unknown signal"), "{at} {unknown}");
    let guarded = console.cmd("signal term");
    assert!(guarded.contains("--confirm"), "{at} {guarded}");
    let sent = console.cmd("signal SIGCHLD");
    if cfg!(unix) {
        // SIGCHLD is ignored by default: safe to send to the test process.
        assert!(sent.contains("Sent SIGCHLD"), "{at} {sent}");
    } else {
        assert!(sent.contains("only supported on Unix"), "{at} {sent}");
    }
    assert!(
        console.cmd("ps").contains("running"),
        "{at} session still open"
    );
}

/// `exit`, `quit` and `q` end the session (the application keeps running);
/// the server closes the connection.
pub fn exit_ends_the_session(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    let h = Harness::new(rt, |b| b);
    for word in ["exit", "quit", "q"] {
        let mut console = h.console();
        let bye = console.cmd(word);
        assert!(bye.contains("Bye"), "{at} {word}: {bye}");
        assert_eq!(
            console.read_to_end(),
            "",
            "{at} {word}: connection not closed"
        );
    }
    let after = h.spawner.spawn(async { 1 });
    assert_eq!(join_ok(rt, after), 1, "{at} the runtime keeps running");
}

/// A custom synchronous command is listed by `help`, parses its typed
/// argument and answers; a bad argument gets the usage.
pub fn custom_sync_command_runs(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    let h = Harness::new(rt, |b| {
        b.command(
            Command::new("double")
                .about("Doubles a number.")
                .arg(Arg::int("N"))
                .run(|ctx: &mut MonitorContext, args, out| {
                    let n: i64 = args.get("N").ok_or("missing N")?;
                    out.line(format!(
                        "{} (live: {})",
                        n * 2,
                        ctx.introspect().live_count()
                    ));
                    Ok(())
                }),
        )
    });
    let mut console = h.console();
    assert!(console.cmd("help").contains("double"), "{at}");
    assert_eq!(console.cmd("double 21"), "42 (live: 0)\n", "{at}");
    assert!(console.cmd("double x").contains("usage: double N"), "{at}");
}

/// A custom asynchronous command's future runs on the runtime under test:
/// it is spawned through the executor given to the monitor and polled on
/// one of the runtime's worker threads, not the monitor's.
pub fn custom_async_command_runs_on_the_runtime(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    let marking: Arc<dyn monitor_core::Executor> = Arc::new(MarkingExecutor(rt.executor()));
    let h = Harness::new(rt, |b| {
        b.executor(marking).command(
            Command::new("whereami")
                .about("Says which thread runs it.")
                .run_async(|_, _| async {
                    futures_lite::future::yield_now().await;
                    Ok(format!(
                        "thread={} marked={}\n",
                        thread::current().name().unwrap_or("<unnamed>"),
                        MarkingExecutor::in_marked_poll()
                    ))
                }),
        )
    });
    let mut console = h.console();
    let reply = console.cmd("whereami");
    assert!(
        reply.contains("marked=true"),
        "{at} the command's future was not run through the executor: {reply}"
    );
    assert!(
        !reply.contains("thread=monitor\n"),
        "{at} ran on the monitor's thread: {reply}"
    );
    match rt.worker_thread_name() {
        Some(worker) => assert!(
            reply.contains(&worker),
            "{at} not on a worker named *{worker}*: {reply}"
        ),
        None => not_applicable(
            rt,
            "custom_async_command_runs_on_the_runtime (thread name check)",
            "the runtime declares no worker thread name",
        ),
    }
}

/// An asynchronous command that does not finish within the timeout is
/// answered with a timeout error, and its future is dropped on the runtime.
pub fn async_command_times_out_and_is_dropped(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    let (probe, guard) = drop_probe();
    let guard = std::sync::Mutex::new(Some(guard));
    let h = Harness::new(rt, move |b| {
        b.command_timeout(Duration::from_millis(150)).command(
            Command::new("hang")
                .about("Never finishes.")
                .run_async(move |_, _| {
                    let guard = guard.lock().unwrap().take();
                    async move {
                        let _guard = guard;
                        std::future::pending::<Result<String, _>>().await
                    }
                }),
        )
    });
    let mut console = h.console();
    let started = Instant::now();
    let reply = console.cmd("hang");
    let took = started.elapsed();
    assert!(reply.contains("timed out"), "{at} {reply}");
    assert!(
        took >= Duration::from_millis(150) && took < Duration::from_secs(2),
        "{at} answered after {took:?}"
    );
    assert!(
        probe.wait(Duration::from_secs(1)).is_some(),
        "{at} the timed-out command's future was not dropped"
    );
    assert!(
        console.cmd("ps").contains("running"),
        "{at} session still usable"
    );
}

/// A command that panics, synchronously on the console or asynchronously
/// on the runtime, gets an error reply with the panic message; the session,
/// other sessions and the runtime carry on.
pub fn panicking_commands_are_contained(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    let h = Harness::new(rt, |b| {
        b.command(
            Command::new("boom")
                .about("Panics on the console.")
                .run(|_, _, _| panic!("sync kaboom")),
        )
        .command(
            Command::new("aboom")
                .about("Panics on the runtime.")
                .run_async(|_, _| async {
                    if cfg!(all()) {
                        panic!("async kaboom");
                    }
                    Ok(String::new())
                }),
        )
    });
    let mut console = h.console();
    assert!(console.cmd("boom").contains("sync kaboom"), "{at}");
    assert!(console.cmd("aboom").contains("async kaboom"), "{at}");
    assert!(
        console.cmd("ps").contains("running"),
        "{at} session survived"
    );
    assert!(
        h.console().cmd("ps").contains("running"),
        "{at} new session"
    );
    let after = h.spawner.spawn(async { 7 });
    assert_eq!(join_ok(rt, after), 7, "{at} runtime survived");
}

/// Several sessions at once are independent: a cancel in one is seen by
/// the others, leaving one does not close the others, and one past the
/// session limit is refused politely until a place frees up.
pub fn concurrent_sessions_are_independent(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    let h = Harness::new(rt, |b| b.max_sessions(3));
    let handle = h
        .spawner
        .task()
        .name("shared")
        .spawn(std::future::pending::<()>());
    let id = handle.id();
    let mut a = h.console();
    let mut b = h.console();
    let mut c = h.console();
    assert!(a.cmd("ps").contains("shared"), "{at}");
    assert!(b.cmd("ps -f shared").contains("shared"), "{at}");
    let refused = h.connector.connect().unwrap();
    let mut refused = crate::support::Console::memory(refused);
    let intro = refused.intro().to_owned();
    let text = format!("{intro}{}", refused.read_to_end());
    assert!(text.contains("limit of 3 sessions"), "{at} {text}");
    assert!(c.cmd(&format!("cancel {id}")).contains("Cancelled"), "{at}");
    assert!(join(rt, handle).is_err(), "{at}");
    assert!(a.cmd("pt").contains("shared"), "{at} a sees c's cancel");
    assert!(b.cmd("exit").contains("Bye"), "{at}");
    assert!(
        a.cmd("ps").starts_with("0 tasks running"),
        "{at} a still open"
    );
    let mut d = eventually(format!("{at} a session place to free up"), || {
        let console = h.console();
        (!console.intro().contains("limit")).then_some(console)
    });
    assert!(d.cmd("ps").contains("running"), "{at}");
    assert!(c.cmd("ps").contains("running"), "{at}");
}

/// Telnet negotiation bytes (as `telnet` sends on connect) are not taken
/// for commands, and CRLF line ends work.
pub fn telnet_negotiation_and_crlf_are_handled(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    let h = Harness::new(rt, |b| b);
    let mut console = h.console();
    // IAC DO ECHO, IAC WILL SUPPRESS-GO-AHEAD, IAC DO NAWS.
    console.send_raw(&[255, 253, 1, 255, 251, 3, 255, 253, 31]);
    console.send_raw(b"ps\r\n");
    let reply = console.read_until_prompt();
    assert!(reply.contains("0 tasks running"), "{at} {reply:?}");
    assert!(
        !reply.contains("Unknown") && !reply.contains("unknown"),
        "{at} negotiation read as a command: {reply:?}"
    );
    assert!(console.cmd("help").contains("ps"), "{at}");
}

/// A line longer than the configured limit is refused with a message and
/// the session carries on.
pub fn overlong_lines_are_rejected(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    let h = Harness::new(rt, |b| b.max_line(64));
    let mut console = h.console();
    console.send_raw(&[b'x'; 200]);
    let reply = console.cmd("");
    assert!(reply.contains("longer than 64 bytes"), "{at} {reply:?}");
    assert!(console.cmd("ps").contains("0 tasks running"), "{at}");
}

/// A line that is not valid UTF-8 is refused with a message and the
/// session carries on.
pub fn invalid_utf8_is_rejected(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    let h = Harness::new(rt, |b| b);
    let mut console = h.console();
    // 0xff alone would start a telnet command; doubled it is a data byte.
    console.send_raw(&[b'p', 0xc3, 0x28, 0xfe, 0xff, 0xff, b'\n']);
    let reply = console.read_until_prompt();
    assert!(reply.contains("not valid UTF-8"), "{at} {reply:?}");
    assert!(console.cmd("ps").contains("0 tasks running"), "{at}");
}
