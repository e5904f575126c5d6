//! The console's namespace commands, driven through the dispatcher.

mod support;

use std::{
    sync::{
        Arc, RwLock,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use futures_lite::future::block_on;
use monitor_core::dispatch::{Arg, Session};
use monitor_server::console::{ConsoleContext, Namespace};

struct DropFlag(Arc<AtomicBool>);
impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn session(namespace: Namespace, timeout: Duration) -> Session<ConsoleContext> {
    let namespace = Arc::new(namespace);
    let dispatcher = monitor_server::console::testing_dispatcher(
        Arc::clone(&namespace),
        Some(Arc::new(support::TinyPool::new(1))),
        Some(timeout),
    )
    .unwrap();
    Session::new(Arc::new(dispatcher), ConsoleContext::new(namespace))
}

#[derive(Debug, serde::Serialize)]
struct Build {
    version: &'static str,
    debug: bool,
}

fn demo_namespace(dropped: Arc<AtomicBool>) -> (Namespace, Arc<AtomicU64>, Arc<RwLock<u64>>) {
    let served = Arc::new(AtomicU64::new(7));
    let delay = Arc::new(RwLock::new(250u64));
    let namespace = Namespace::new()
        .tunable("served", "requests served", Arc::clone(&served))
        .tunable("delay_ms", "worker delay", Arc::clone(&delay))
        .value("build", "build info", || Build {
            version: "1.2.3",
            debug: false,
        })
        .debug_value("opaque", "no JSON form", || {
            std::time::Duration::from_millis(5)
        })
        .action(
            "add",
            "adds two numbers",
            [Arg::int("A"), Arg::int("B")],
            |args| {
                let (a, b): (i64, i64) = (args.get("A").unwrap(), args.get("B").unwrap());
                async move { Ok(format!("{}", a + b)) }
            },
        )
        .action("stall", "never finishes", [], move |_| {
            let guard = DropFlag(Arc::clone(&dropped));
            async move {
                let _guard = guard;
                std::future::pending::<Result<String, _>>().await
            }
        })
        .action("explode", "panics", [], |_| async {
            panic!("action blew up")
        });
    (namespace, served, delay)
}

#[test]
fn ls_get_set_call_and_exit() {
    let dropped = Arc::new(AtomicBool::new(false));
    let (namespace, served, delay) = demo_namespace(Arc::clone(&dropped));
    // Generous: a panic with RUST_BACKTRACE=1 spends a while symbolizing.
    let mut s = session(namespace, Duration::from_millis(1500));
    assert_eq!(s.prompt(), "console >>> ");

    let ls = block_on(s.handle_line("ls")).text;
    for needle in [
        "served",
        "tunable (u64)",
        "delay_ms",
        "build",
        "1.2.3",
        "add",
        "action",
    ] {
        assert!(ls.contains(needle), "ls lacks {needle}: {ls}");
    }
    assert_eq!(block_on(s.handle_line("vars")).text, ls);

    assert_eq!(block_on(s.handle_line("get served")).text, "served = 7\n");
    assert_eq!(block_on(s.handle_line("served")).text, "served = 7\n");
    served.store(8, Ordering::Relaxed);
    assert_eq!(
        block_on(s.handle_line("served")).text,
        "served = 8\n",
        "values are read fresh"
    );
    assert!(
        block_on(s.handle_line("build"))
            .text
            .contains("version: \"1.2.3\"")
    );
    let json: serde_json::Value =
        serde_json::from_str(&block_on(s.handle_line("get build --json")).text).unwrap();
    assert_eq!(json["version"], "1.2.3");
    let reply = block_on(s.handle_line("get opaque --json"));
    assert!(
        reply.is_error && reply.text.contains("no JSON form"),
        "{}",
        reply.text
    );

    let reply = block_on(s.handle_line("set delay_ms 100"));
    assert_eq!(reply.text, "delay_ms = 100 (was 250)\n");
    assert_eq!(*delay.read().unwrap(), 100);
    let reply = block_on(s.handle_line("set delay_ms fast"));
    assert!(reply.is_error, "{}", reply.text);
    assert!(
        reply
            .text
            .contains("invalid value \"fast\" for delay_ms (a u64)"),
        "{}",
        reply.text
    );
    assert!(reply.text.contains("still 100"), "{}", reply.text);
    assert_eq!(
        *delay.read().unwrap(),
        100,
        "a bad value must keep the old one"
    );
    assert!(
        block_on(s.handle_line("set build 3"))
            .text
            .contains("not a tunable")
    );
    assert!(
        block_on(s.handle_line("get nope"))
            .text
            .contains("no name \"nope\"")
    );
    assert!(
        block_on(s.handle_line("set nope 1"))
            .text
            .contains("known names: add, build")
    );

    assert_eq!(block_on(s.handle_line("call add 2 40")).text, "42\n");
    assert_eq!(block_on(s.handle_line("add 1 1")).text, "2\n");
    assert!(
        block_on(s.handle_line("call add 2 x"))
            .text
            .contains("invalid integer")
    );
    assert!(
        block_on(s.handle_line("call build"))
            .text
            .contains("not an action")
    );
    assert!(block_on(s.handle_line("get add")).text.contains("call add"));

    let reply = block_on(s.handle_line("call explode"));
    assert!(
        reply.is_error && reply.text.contains("action blew up"),
        "{}",
        reply.text
    );
    let reply = block_on(s.handle_line("call stall"));
    assert!(reply.text.contains("timed out"), "{}", reply.text);
    support::eventually("stalled action to be dropped", || {
        dropped.load(Ordering::SeqCst).then_some(())
    });

    let help = block_on(s.handle_line("help")).text;
    for needle in ["ls", "get", "set", "call", "exit", "add"] {
        assert!(help.contains(needle), "help lacks {needle}: {help}");
    }
    assert!(block_on(s.handle_line("exit")).exit);
}

#[test]
fn concurrent_sessions_setting_one_tunable_never_tear_it() {
    let value = Arc::new(RwLock::new(String::from("start")));
    let namespace = Arc::new(Namespace::new().tunable("mode", "shared", Arc::clone(&value)));
    let threads: Vec<_> = (0..4)
        .map(|n| {
            let namespace = Arc::clone(&namespace);
            std::thread::spawn(move || {
                let dispatcher = Arc::new(
                    monitor_server::console::testing_dispatcher(Arc::clone(&namespace), None, None)
                        .unwrap(),
                );
                let mut s = Session::new(dispatcher, ConsoleContext::new(namespace));
                for i in 0..200 {
                    let reply = block_on(s.handle_line(&format!("set mode writer{n}-{i}")));
                    assert!(!reply.is_error, "{}", reply.text);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let last = value.read().unwrap().clone();
    assert!(
        last.starts_with("writer") && last.ends_with("-199"),
        "{last}"
    );
}
