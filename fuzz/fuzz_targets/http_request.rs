//! Arbitrary bytes, in arbitrary writes, into the monitor's HTTP listener
//! over real TCP: hyper's parser, the router, the Host/auth/CSRF rules and
//! the body limits.
//!
//! Checks, besides "nothing panics": every answer is HTTP with a status
//! below 500 (a malformed request is the client's fault, never the
//! server's), and the listener serves a good request afterwards.

#![no_main]

use std::{
    io::{Read, Write},
    net::{Shutdown, SocketAddr, TcpStream},
    sync::LazyLock,
    time::Duration,
};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use monitor_core::TaskRegistry;
use monitor_server::{Monitor, MonitorBuilder};

static MONITOR: LazyLock<Monitor> = LazyLock::new(|| {
    MonitorBuilder::new(TaskRegistry::new())
        .no_tcp()
        .http_port(0)
        .start()
        .expect("monitor started")
});

#[derive(Debug, Arbitrary)]
struct Input {
    /// Start with a valid request line and Host header, so the fuzzer
    /// reaches the router and not only hyper's parser.
    valid_start: bool,
    chunks: Vec<Vec<u8>>,
}

fn exchange(addr: SocketAddr, chunks: &[Vec<u8>]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    for chunk in chunks {
        // The server may close early (a head over the limit): that ends
        // the writing, not the run.
        if stream.write_all(chunk).is_err() {
            break;
        }
    }
    let _ = stream.shutdown(Shutdown::Write);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer
}

fn status(answer: &[u8]) -> Option<u16> {
    if answer.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(answer);
    assert!(text.starts_with("HTTP/1."), "not an HTTP answer: {text:?}");
    Some(
        text.split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .expect("a status code"),
    )
}

fuzz_target!(|input: Input| {
    let addr = MONITOR.http_addr().expect("HTTP on");
    let mut chunks = input.chunks;
    if input.valid_start {
        chunks.insert(
            0,
            format!("POST /api/namespace/x HTTP/1.1\r\nHost: {addr}\r\n").into_bytes(),
        );
    }
    if let Some(code) = status(&exchange(addr, &chunks)) {
        assert!(code < 500, "status {code}");
    }
    let good = format!("GET /api/stats HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    assert_eq!(status(&exchange(addr, &[good.into_bytes()])), Some(200));
});
