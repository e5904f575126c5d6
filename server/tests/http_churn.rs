//! Thousands of HTTP connections that come and go leave nothing behind.
//! Alone in its test binary: it counts the process's file descriptors.
#![cfg(all(feature = "http", target_os = "linux"))]

mod http_support;
mod support;

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::Instant,
};

use monitor_core::TaskRegistry;
use monitor_server::{MonitorBuilder, http::MAX_BODY_BYTES};

use http_support::get;
use support::eventually;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
}

/// Two thousand connections that come and go (complete requests, heads cut
/// off mid-way, bodies abandoned, resets) leave no file descriptor behind.
#[test]
fn connection_churn_leaks_nothing() {
    let monitor = MonitorBuilder::new(TaskRegistry::new())
        .no_tcp()
        .http_port(0)
        .start()
        .unwrap();
    let addr = monitor.http_addr().unwrap();
    assert_eq!(get(addr, "/api/stats").status, 200);
    let before = open_fds();
    let head = format!("GET /api/stats HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let post = format!(
        "POST /api/namespace/x HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {MAX_BODY_BYTES}\r\n\r\nabc"
    );
    let started = Instant::now();
    for n in 0..2000 {
        let mut stream = TcpStream::connect(addr).unwrap();
        let _ = match n % 4 {
            0 => stream.write_all(head.as_bytes()),
            1 => stream.write_all(&head.as_bytes()[..10]),
            2 => stream.write_all(post.as_bytes()),
            _ => Ok(()),
        };
        if n % 4 == 0 {
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer);
            assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
        }
        drop(stream);
    }
    let took = started.elapsed();
    let after = eventually("the server's sockets closed", || {
        let now = open_fds();
        (now <= before).then_some(now)
    });
    println!("measured: 2000 connections in {took:?}; fds {before} before, {after} after");
    assert_eq!(get(addr, "/api/stats").status, 200);
}
