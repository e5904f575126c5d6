//! The monitor configured from the environment (issue 20): every variable
//! honoured, bad values named, the code's own settings winning, and the
//! rule that lets two monitored processes share a host.

use std::{
    io::{BufRead, BufReader},
    net::{TcpListener, TcpStream},
    time::Duration,
};

use monitor_core::TaskRegistry;
use monitor_server::{MonitorBuilder, MonitorError, console::Namespace, env::MonitorEnv};

fn env(pairs: &[(&str, String)]) -> MonitorEnv {
    MonitorEnv::from_lookup(|name| {
        pairs
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
    })
    .unwrap()
}

/// A port `p` with `p..p + 4` free right now.
fn six_free_ports() -> u16 {
    for _ in 0..50 {
        let probe = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = probe.local_addr().unwrap().port();
        drop(probe);
        if base > 65_000 {
            continue;
        }
        let all: Vec<_> = (base..base + 6)
            .map(|port| TcpListener::bind(("127.0.0.1", port)))
            .collect();
        if all.iter().all(Result::is_ok) {
            return base;
        }
    }
    panic!("no six consecutive free ports");
}

fn first_line(port: u16) -> String {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).unwrap();
    line
}

/// Two processes with a console and a web UI each, given ports three apart
/// through `MONITOR_PORT`: both start (the console's port follows the
/// monitor's, + 1, and the web UI's, + 2), and each answers on its own ports.
#[test]
fn two_monitors_share_a_host_with_ports_three_apart() {
    let base = six_free_ports();
    let start = |port: u16| {
        MonitorBuilder::new(TaskRegistry::new())
            .namespace(Namespace::new())
            .env(env(&[("MONITOR_PORT", port.to_string())]))
            .start()
    };
    let first = start(base).unwrap();
    let second = start(base + 3).unwrap_or_else(|e| panic!("second monitor: {e}"));
    assert_eq!(first.tcp_addr().unwrap().port(), base);
    assert_eq!(first.console_addr().unwrap().port(), base + 1);
    #[cfg(feature = "http")]
    assert_eq!(first.http_addr().unwrap().port(), base + 2);
    assert_eq!(second.tcp_addr().unwrap().port(), base + 3);
    assert_eq!(second.console_addr().unwrap().port(), base + 4);
    #[cfg(feature = "http")]
    assert_eq!(second.http_addr().unwrap().port(), base + 5);
    for port in [base, base + 1, base + 3, base + 4] {
        assert!(!first_line(port).is_empty(), "port {port} answers");
    }
}

#[test]
fn monitor_off_starts_nothing() {
    let monitor = MonitorBuilder::new(TaskRegistry::new())
        .port(0)
        .env(env(&[("MONITOR", "off".into())]))
        .start()
        .unwrap();
    assert!(monitor.is_closed());
    assert_eq!(monitor.tcp_addr(), None);
}

#[test]
fn the_code_wins_over_the_environment_and_fills_the_rest() {
    let base = six_free_ports();
    let dir = tempfile_dir();
    let socket = dir.join("monitor.sock");
    let monitor = MonitorBuilder::new(TaskRegistry::new())
        .port(0)
        .env(env(&[
            ("MONITOR_PORT", base.to_string()),
            ("MONITOR_UNIX", socket.display().to_string()),
            ("MONITOR_TOKEN", "from-the-environment".into()),
        ]))
        .start()
        .unwrap();
    assert_ne!(monitor.tcp_addr().unwrap().port(), base, ".port(0) wins");
    assert_eq!(monitor.unix_path(), Some(socket.as_path()));
    // MONITOR_TOKEN guards the session.
    let line = first_line(monitor.tcp_addr().unwrap().port());
    assert!(line.starts_with("Authentication required"), "{line:?}");
    drop(monitor);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_short_token_from_the_environment_is_named_not_shown() {
    let err = MonitorBuilder::new(TaskRegistry::new())
        .port(0)
        .env(env(&[("MONITOR_TOKEN", "hunter2".into())]))
        .start()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("MONITOR_TOKEN") && !err.contains("hunter2"),
        "{err}"
    );
}

#[test]
fn a_remote_host_from_the_environment_still_needs_a_token() {
    let err = MonitorBuilder::new(TaskRegistry::new())
        .port(0)
        .env(env(&[("MONITOR_HOST", "0.0.0.0".into())]))
        .start()
        .unwrap_err();
    assert!(matches!(err, MonitorError::Config(_)), "{err}");
    assert!(err.to_string().contains("auth token"), "{err}");
}

#[test]
fn a_bad_value_is_an_error_naming_the_variable() {
    let err = MonitorEnv::from_lookup(|name| (name == "MONITOR_CONSOLE_PORT").then(|| "x".into()))
        .unwrap_err();
    let message = MonitorError::from(err).to_string();
    assert!(
        message.contains("MONITOR_CONSOLE_PORT=\"x\"") && message.contains("0 to 65535"),
        "{message}"
    );
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("monitor-env-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
