//! Binding rules and token authentication: a monitor that is reachable by
//! others says nothing to a client that has not shown the token.

mod support;

use std::{
    io::{Read, Write},
    net::TcpStream,
    sync::Arc,
    time::{Duration, Instant},
};

use futures_lite::{AsyncReadExt, AsyncWriteExt, FutureExt, future};
use monitor_core::{
    Spawner, TaskRegistry,
    transport::{MemoryConnector, MemoryStream, MemoryTransport},
};
use monitor_server::{Monitor, MonitorBuilder};
use support::{Client, TinyPool};

const TOKEN: &str = "4f1c9a7e2b6d8035c1e7";
const PROMPT: &str = "monitor >>> ";
const CHALLENGE: &str = "Authentication required: send \"auth TOKEN\"\r\n";

fn locked(configure: impl FnOnce(MonitorBuilder) -> MonitorBuilder) -> (Monitor, MemoryConnector) {
    let registry = TaskRegistry::new();
    let spawner = Spawner::new(TinyPool::new(1), Arc::clone(&registry));
    let _secret = spawner
        .task()
        .name("secret-task")
        .spawn(std::future::pending::<()>());
    let (transport, connector) = MemoryTransport::new();
    let builder = MonitorBuilder::new(registry)
        .no_tcp()
        .transport(transport)
        .auth_token(TOKEN)
        .auth_delay(Duration::from_millis(100));
    (configure(builder).start().unwrap(), connector)
}

/// Everything the server sends within `wait`, or until it hangs up.
fn read_for(stream: &mut MemoryStream, wait: Duration) -> (Vec<u8>, bool) {
    let deadline = Instant::now() + wait;
    let mut seen = Vec::new();
    loop {
        let mut buf = [0u8; 1024];
        let read = future::block_on(async { Some(stream.read(&mut buf).await) }.or(async {
            async_io::Timer::at(deadline).await;
            None
        }));
        match read {
            Some(Ok(0)) | Some(Err(_)) => return (seen, true),
            Some(Ok(n)) => seen.extend_from_slice(&buf[..n]),
            None => return (seen, false),
        }
    }
}

fn send(stream: &mut MemoryStream, bytes: &[u8]) {
    future::block_on(async {
        stream.write_all(bytes).await.unwrap();
        stream.flush().await.unwrap();
    });
}

#[test]
fn non_loopback_needs_allow_remote_and_a_token() {
    let any: std::net::IpAddr = "0.0.0.0".parse().unwrap();
    let err = MonitorBuilder::new(TaskRegistry::new())
        .host(any)
        .port(0)
        .auth_token(TOKEN)
        .start()
        .unwrap_err()
        .to_string();
    assert!(err.contains("allow_remote"), "{err}");
    let err = MonitorBuilder::new(TaskRegistry::new())
        .host(any)
        .port(0)
        .allow_remote(true)
        .start()
        .unwrap_err()
        .to_string();
    assert!(err.contains("auth_token"), "{err}");
    // An IPv4-mapped loopback address is not taken for loopback: asking
    // for a token there errs on the safe side.
    let err = MonitorBuilder::new(TaskRegistry::new())
        .host("::ffff:127.0.0.1".parse().unwrap())
        .port(0)
        .start()
        .unwrap_err()
        .to_string();
    assert!(err.contains("non-loopback"), "{err}");

    // Both together: the monitor listens, and challenges a client (which
    // connects over loopback: this test sends nothing anywhere else).
    let monitor = MonitorBuilder::new(TaskRegistry::new())
        .host(any)
        .port(0)
        .allow_remote(true)
        .auth_token(TOKEN)
        .start()
        .unwrap();
    let port = monitor.tcp_addr().unwrap().port();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = vec![0u8; CHALLENGE.len()];
    stream.read_exact(&mut buf).unwrap();
    assert_eq!(buf, CHALLENGE.as_bytes());
}

#[test]
fn weak_or_untypeable_tokens_are_refused_at_start() {
    for token in [
        "",
        "hunter2",
        "0123456789abcde",
        "0123456789 abcdef",
        "0123456789abcdef\n",
    ] {
        let err = MonitorBuilder::new(TaskRegistry::new())
            .port(0)
            .auth_token(token)
            .start()
            .unwrap_err()
            .to_string();
        assert!(err.contains("auth token"), "{token:?}: {err}");
    }
    let err = MonitorBuilder::new(TaskRegistry::new())
        .port(0)
        .auth_token(TOKEN)
        .auth_delay(Duration::ZERO)
        .start()
        .unwrap_err()
        .to_string();
    assert!(err.contains("auth_delay"), "{err}");
    // The builder's Debug output says whether there is a token, never
    // which.
    let debug = format!(
        "{:?}",
        MonitorBuilder::new(TaskRegistry::new()).auth_token(TOKEN)
    );
    assert!(
        debug.contains("auth: true") && !debug.contains(TOKEN),
        "{debug}"
    );
}

#[test]
fn nothing_but_the_challenge_before_the_token() {
    let (_monitor, connector) = locked(|b| b);
    let mut stream = connector.connect().unwrap();
    // Telnet negotiation, are-you-there and Ctrl-C get no answer either:
    // a scanner learns nothing about what is listening.
    send(&mut stream, &[255, 253, 1, 255, 251, 31, 255, 246, 3]);
    let (seen, closed) = read_for(&mut stream, Duration::from_millis(300));
    assert!(!closed);
    assert_eq!(String::from_utf8_lossy(&seen), CHALLENGE);

    send(&mut stream, format!("auth {TOKEN}\r\n").as_bytes());
    let (mut client, intro) = Client::new(stream, PROMPT);
    assert!(intro.contains("1 task running"), "{intro}");
    // The `auth` line is not the session's last command: an empty line
    // does not send the token through the dispatcher.
    assert_eq!(client.cmd(""), "");
    assert!(client.cmd("ps").contains("secret-task"));
}

#[test]
fn failures_are_delayed_doubling_then_the_session_ends() {
    let (_monitor, connector) = locked(|b| b);
    let mut stream = connector.connect().unwrap();
    let (seen, _) = read_for(&mut stream, Duration::from_millis(100));
    assert_eq!(String::from_utf8_lossy(&seen), CHALLENGE);

    // Three guesses at once: pipelining does not skip the delays, and only
    // the failures are ever answered.
    let started = Instant::now();
    send(
        &mut stream,
        format!(
            "auth {}\nauth {TOKEN}x\n{TOKEN}\nauth {TOKEN}\n",
            &TOKEN[..10]
        )
        .as_bytes(),
    );
    let (seen, closed) = read_for(&mut stream, Duration::from_secs(3));
    let elapsed = started.elapsed();
    assert!(closed, "still open after three failures");
    assert_eq!(
        String::from_utf8_lossy(&seen),
        "Authentication failed.\r\nAuthentication failed.\r\n\
         Authentication failed; disconnecting.\r\n"
    );
    // 100 ms + 200 ms + 400 ms.
    assert!(elapsed >= Duration::from_millis(700), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
}

#[test]
fn every_kind_of_bad_first_line_is_a_failed_attempt() {
    let (_monitor, connector) = locked(|b| b.max_line(64));
    for bad in [
        &b"\n"[..],
        b"ps\n",
        b"help\n",
        b"AUTH 4f1c9a7e2b6d8035c1e7\n",
        b"auth\t\n",
        b"auth 4f1c9a7e2b6d8035c1e\n",
        b"auth 4f1c9a7e2b6d8035c1e7 4f1c9a7e2b6d8035c1e7\n",
        b"auth \xc3\x28\n",
        &[b'a'; 200],
    ] {
        let mut stream = connector.connect().unwrap();
        send(&mut stream, bad);
        if !bad.ends_with(b"\n") {
            send(&mut stream, b"\n");
        }
        let (seen, _) = read_for(&mut stream, Duration::from_millis(400));
        assert_eq!(
            String::from_utf8_lossy(&seen),
            format!("{CHALLENGE}Authentication failed.\r\n"),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
    // Ctrl-D on an empty line (or closing the connection) just leaves.
    let mut stream = connector.connect().unwrap();
    send(&mut stream, &[4]);
    let (seen, closed) = read_for(&mut stream, Duration::from_secs(2));
    assert!(closed);
    assert_eq!(String::from_utf8_lossy(&seen), CHALLENGE);
}

#[test]
fn silent_clients_are_dropped_after_the_auth_window() {
    // The window is 30 s, or the idle timeout when that is shorter.
    let (_monitor, connector) = locked(|b| b.idle_timeout(Duration::from_millis(300)));
    let mut stream = connector.connect().unwrap();
    let started = Instant::now();
    let (seen, closed) = read_for(&mut stream, Duration::from_secs(3));
    assert!(closed);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(String::from_utf8_lossy(&seen), CHALLENGE);
}

#[test]
fn the_token_guards_tcp_and_unix_sockets_too() {
    let dir = std::env::temp_dir().join(format!("monitor-auth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.sock");
    let mut builder = MonitorBuilder::new(TaskRegistry::new())
        .port(0)
        .auth_token(TOKEN);
    if cfg!(unix) {
        builder = builder.unix_socket(&path);
    }
    let monitor = builder.start().unwrap();

    let mut tcp = TcpStream::connect(monitor.tcp_addr().unwrap()).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = vec![0u8; CHALLENGE.len()];
    tcp.read_exact(&mut buf).unwrap();
    assert_eq!(buf, CHALLENGE.as_bytes());
    tcp.write_all(format!("auth {TOKEN}\r\nps\r\n").as_bytes())
        .unwrap();
    let mut seen = String::new();
    while !seen.contains("0 tasks running\r\n") {
        let mut chunk = [0u8; 1024];
        let n = tcp.read(&mut chunk).unwrap();
        assert!(n > 0, "{seen}");
        seen.push_str(&String::from_utf8_lossy(&chunk[..n]));
    }

    #[cfg(unix)]
    {
        let mut unix = std::os::unix::net::UnixStream::connect(&path).unwrap();
        unix.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = vec![0u8; CHALLENGE.len()];
        unix.read_exact(&mut buf).unwrap();
        assert_eq!(buf, CHALLENGE.as_bytes());
    }
    drop(monitor);
    let _ = std::fs::remove_dir_all(&dir);
}
