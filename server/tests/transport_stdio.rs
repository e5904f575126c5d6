//! The stdio transport: one console session on a process's own streams
//! (here a pair of pipes standing in for stdin and stdout).

use std::{
    io::{Read, Write},
    time::{Duration, Instant},
};

use monitor_core::{TaskOptions, TaskRegistry};
use monitor_server::{MonitorBuilder, env::MonitorEnv, transport::StdioTransport};

#[test]
fn one_session_runs_on_the_standard_streams_until_input_ends() {
    let registry = TaskRegistry::new();
    let _task = registry.register(TaskOptions::new().name("on-the-terminal"));
    let (stdin_read, mut stdin_write) = std::io::pipe().unwrap();
    let (mut stdout_read, stdout_write) = std::io::pipe().unwrap();
    let _monitor = MonitorBuilder::new(registry)
        .env(MonitorEnv::default())
        .no_tcp()
        .transport(StdioTransport::from_streams(stdin_read, stdout_write).unwrap())
        .start()
        .unwrap();

    stdin_write.write_all(b"ps\nexit\n").unwrap();
    drop(stdin_write);
    // The session ends with `exit`, and the stdout thread with it.
    let mut seen = String::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 4096];
    while !seen.contains("Bye") {
        assert!(Instant::now() < deadline, "no goodbye in {seen:?}");
        let n = stdout_read.read(&mut buf).unwrap();
        assert!(n > 0, "stdout closed early: {seen:?}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    assert!(
        seen.starts_with("Async Rust monitor: 1 task running"),
        "{seen:?}"
    );
    assert!(seen.contains("on-the-terminal"), "{seen:?}");
}
