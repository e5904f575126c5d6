//! The console inside a monitor session and on its own listener, and the
//! JSON-lines session mode.

mod support;

use std::{
    io::{BufRead, BufReader, Write},
    net::TcpStream,
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use monitor_core::{
    TaskRegistry,
    dispatch::Arg,
    transport::{MemoryConnector, MemoryTransport},
};
use monitor_server::{MonitorBuilder, console::Namespace};
use support::{Client, TinyPool};

struct App {
    monitor: monitor_server::Monitor,
    monitor_side: MemoryConnector,
    console_side: MemoryConnector,
    hits: Arc<AtomicU64>,
    delay: Arc<RwLock<u64>>,
}

fn app(configure: impl FnOnce(MonitorBuilder) -> MonitorBuilder) -> App {
    let hits = Arc::new(AtomicU64::new(3));
    let delay = Arc::new(RwLock::new(250u64));
    let namespace = Namespace::new()
        .tunable("hits", "requests served", Arc::clone(&hits))
        .tunable("delay_ms", "worker delay", Arc::clone(&delay))
        .action("spawn", "spawn N short tasks", [Arg::int("N")], |args| {
            let n: i64 = args.get("N").unwrap_or(0);
            async move { Ok(format!("spawned {n} tasks")) }
        });
    let (monitor_transport, monitor_side) = MemoryTransport::new();
    let (console_transport, console_side) = MemoryTransport::new();
    let builder = MonitorBuilder::new(TaskRegistry::new())
        .port(0)
        .executor(Arc::new(TinyPool::new(1)))
        .namespace(namespace)
        .transport(monitor_transport)
        .console_transport(console_transport);
    App {
        monitor: configure(builder).start().unwrap(),
        monitor_side,
        console_side,
        hits,
        delay,
    }
}

#[test]
fn console_command_enters_and_exit_returns_to_the_monitor() {
    let app = app(|b| b);
    let (mut c, _) = Client::new(app.monitor_side.connect().unwrap(), "monitor >>> ");
    c.send_raw(b"console\n");
    let (mut console, intro) = Client::new(c.into_stream(), "console >>> ");
    assert!(intro.contains("3 names in the namespace"), "{intro}");
    assert_eq!(console.cmd("hits"), "hits = 3\n");
    app.hits.fetch_add(1, Ordering::Relaxed);
    assert_eq!(console.cmd("get hits"), "hits = 4\n");
    assert_eq!(console.cmd("set delay_ms 10"), "delay_ms = 10 (was 250)\n");
    assert_eq!(*app.delay.read().unwrap(), 10);
    assert!(console.cmd("set delay_ms soon").contains("still 10"));
    assert_eq!(console.cmd("call spawn 5"), "spawned 5 tasks\n");
    // `ps` is a monitor command, not a console one.
    assert!(console.cmd("ps").contains("Unknown command"));
    console.send_raw(b"exit\n");
    let (mut back, left) = Client::new(console.into_stream(), "monitor >>> ");
    assert!(left.contains("Leaving the console"), "{left}");
    assert!(back.cmd("ps").contains("tasks running"));
}

#[test]
fn console_listener_serves_the_console_directly() {
    let app = app(|b| b);
    let (mut console, intro) = Client::new(app.console_side.connect().unwrap(), "console >>> ");
    assert!(intro.contains("Type ls"), "{intro}");
    let ls = console.cmd("ls");
    assert!(ls.contains("delay_ms") && ls.contains("spawn"), "{ls}");
    console.send_raw(b"exit\n");
    assert!(console.read_to_end().contains("Leaving the console"));
    // Over TCP too, on the console's own port.
    let addr = app.monitor.console_addr().expect("console port");
    assert_ne!(addr.port(), app.monitor.tcp_addr().unwrap().port());
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream.write_all(b"get hits\r\n").unwrap();
    let mut reader = BufReader::new(stream);
    let mut seen = String::new();
    while !seen.contains("hits = 3") {
        let mut line = String::new();
        assert!(reader.read_line(&mut line).unwrap() > 0, "closed: {seen}");
        seen.push_str(&line);
    }
}

#[test]
fn console_is_refused_without_a_namespace() {
    let (transport, side) = MemoryTransport::new();
    let _monitor = MonitorBuilder::new(TaskRegistry::new())
        .no_tcp()
        .transport(transport)
        .start()
        .unwrap();
    let (mut c, _) = Client::new(side.connect().unwrap(), "monitor >>> ");
    assert!(c.cmd("console").contains("exposes no console namespace"));
    assert!(c.cmd("ps").contains("tasks running"));
    let err = MonitorBuilder::new(TaskRegistry::new())
        .no_tcp()
        .console_transport(MemoryTransport::new().0)
        .start()
        .unwrap_err()
        .to_string();
    assert!(err.contains("no namespace"), "{err}");
}

#[test]
fn json_mode_answers_one_object_per_line() {
    let app = app(|b| b);
    let (mut c, _) = Client::new(app.monitor_side.connect().unwrap(), "monitor >>> ");
    c.send_raw(
        b".mode json\nps --json\nwhere abc\n.bogus\nconsole\nhits\nexit\nps\nnosuch\nexit\n",
    );
    let text = c.read_to_end();
    // Every line sent gets exactly one line back, one JSON object, even for
    // a streamed reply (`ps --json`, `ps`).
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line:?}")))
        .collect();
    assert_eq!(lines.len(), 10, "{text}");
    assert!(lines.iter().all(|line| line["v"] == 2), "{text}");
    assert_eq!(lines[0]["ok"], true);
    // A --json reply is a JSON value, not a string to parse again.
    assert_eq!(lines[1]["ok"], true);
    assert!(lines[1]["value"].is_array(), "{}", lines[1]);
    assert!(lines[1].get("text").is_none(), "{}", lines[1]);
    // Errors are fields: which command, and what was wrong.
    assert_eq!(lines[2]["ok"], false);
    assert_eq!(lines[2]["error"]["command"], "where");
    let message = lines[2]["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("invalid task id"), "{message}");
    assert_eq!(lines[3]["ok"], false);
    assert_eq!(lines[3]["error"]["command"], serde_json::Value::Null);
    assert!(
        lines[3]["error"]["message"]
            .as_str()
            .unwrap()
            .contains(".mode json")
    );
    assert_eq!(lines[4]["console"], true);
    assert_eq!(lines[5]["text"], "hits = 3\n");
    assert_eq!(lines[6]["console"], false, "exit left the console only");
    // A streamed table is one text field.
    assert!(
        lines[7]["text"].as_str().unwrap().contains("tasks running"),
        "{}",
        lines[7]
    );
    assert_eq!(lines[8]["ok"], false);
    assert_eq!(lines[8]["error"]["command"], serde_json::Value::Null);
    assert!(
        lines[8]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nosuch"),
        "{}",
        lines[8]
    );
    assert_eq!(lines[9]["exit"], true);
    // No prompt is written as text: it is a field of each object.
    assert!(
        text.lines().all(|line| line.starts_with('{')),
        "no prompts in JSON mode: {text}"
    );
    assert_eq!(lines[4]["prompt"], "console >>> ");
    assert_eq!(lines[6]["prompt"], "monitor >>> ");
}
