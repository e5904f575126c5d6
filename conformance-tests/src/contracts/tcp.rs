//! The console over TCP, and releasing the port.

use std::{net::TcpStream, time::Instant};

use monitor_core::TaskRegistry;
use monitor_server::MonitorBuilder;

use super::{join, on};
use crate::{
    RuntimeUnderTest,
    support::{Console, Harness, PATIENCE, drop_probe, json},
};

/// Every built-in command answers over a real TCP connection as it does
/// over the in-memory transport, with telnet's CRLF line ends.
pub fn builtin_commands_work_over_tcp(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    let h = Harness::with_tcp(rt, |b| b);
    let addr = h.monitor.tcp_addr().expect("TCP was asked for");
    assert!(
        addr.ip().is_loopback(),
        "{at} listens on loopback by default"
    );
    let (probe, guard) = drop_probe();
    let handle = h.spawner.task().name("over-tcp").spawn(async move {
        let _guard = guard;
        std::future::pending::<()>().await;
    });
    let id = handle.id();
    let mut console = h.tcp_console();
    assert!(
        console.intro().contains("1 task running"),
        "{at} {}",
        console.intro()
    );
    assert!(console.cmd("help").contains("where-terminated"), "{at}");
    let ps = console.cmd("ps");
    assert!(
        ps.contains("over-tcp") && ps.contains(&id.to_string()),
        "{at} {ps}"
    );
    assert_eq!(
        json(&console.cmd("ps --json"))[0]["id"],
        id.as_u64(),
        "{at}"
    );
    assert!(
        console.cmd(&format!("where {id}")).contains("over-tcp"),
        "{at}"
    );
    assert!(console.cmd("stacktrace").contains("No thread"), "{at}");
    assert!(
        console.cmd("signal NOPE").contains("unknown signal"),
        "{at}"
    );
    let cancelled = console.cmd(&format!("cancel {id}"));
    assert!(cancelled.contains("Cancelled task"), "{at} {cancelled}");
    assert!(probe.dropped(), "{at}");
    assert!(join(rt, handle).unwrap_err().is_cancelled(), "{at}");
    assert!(console.cmd("pt").contains("over-tcp"), "{at}");
    assert!(
        console.cmd(&format!("wt {id}")).contains("cancelled"),
        "{at}"
    );
    assert!(console.cmd("exit").contains("Bye"), "{at}");
    assert_eq!(console.read_to_end(), "", "{at}");
    let raw = String::from_utf8_lossy(console.raw());
    assert!(raw.contains("\r\n"), "{at} telnet wants CRLF line ends");
    assert!(
        !raw.replace("\r\n", "").contains('\n'),
        "{at} a bare LF was sent over TCP"
    );
}

/// While a monitor holds its port a second one cannot bind it (and says so
/// at once); closing the monitor ends its sessions and frees the port for a
/// new monitor; `close` is idempotent.
pub fn close_releases_the_port(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    let registry = TaskRegistry::new();
    let mut monitor = MonitorBuilder::new(registry.clone())
        .executor(rt.executor())
        .port(0)
        .start()
        .unwrap_or_else(|err| panic!("{at} {err}"));
    let addr = monitor.tcp_addr().unwrap();
    let mut console = Console::tcp(addr);
    assert!(console.cmd("ps").contains("0 tasks running"), "{at}");

    let started = Instant::now();
    let err = MonitorBuilder::new(registry.clone())
        .port(addr.port())
        .start()
        .expect_err("a second monitor bound a port in use")
        .to_string();
    assert!(err.contains("in use"), "{at} {err}");
    assert!(started.elapsed() < PATIENCE, "{at} binding error was slow");

    monitor.close();
    monitor.close();
    assert!(monitor.is_closed(), "{at}");
    // The open session ends with the monitor.
    let _ = console.read_to_end();
    // And the port is free again, for a new monitor...
    let again = MonitorBuilder::new(registry)
        .executor(rt.executor())
        .port(addr.port())
        .start()
        .unwrap_or_else(|err| panic!("{at} port not released: {err}"));
    assert_eq!(again.tcp_addr().unwrap(), addr, "{at}");
    assert!(Console::tcp(addr).cmd("ps").contains("running"), "{at}");
    drop(again);
    // ...and nothing listens after that one is dropped.
    assert!(
        TcpStream::connect_timeout(&addr, PATIENCE).is_err(),
        "{at} still listening after drop"
    );
}
