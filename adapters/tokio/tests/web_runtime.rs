//! tokio's runtime metrics reach the web UI and `/metrics`.
#![cfg(feature = "http")]

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    time::Duration,
};

fn get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
}

#[test]
fn runtime_metrics_are_a_page_and_in_metrics_even_with_every_worker_blocked() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let monitor = monitor_tokio::monitor_builder(runtime.handle().clone())
        .port(0)
        .start()
        .unwrap();
    let addr = monitor.http_addr().unwrap();
    // Both workers blocked: the numbers come from atomics, not from them.
    let (release, blocked) = std::sync::mpsc::channel::<()>();
    let blocked = std::sync::Arc::new(std::sync::Mutex::new(blocked));
    for _ in 0..2 {
        let blocked = std::sync::Arc::clone(&blocked);
        runtime.spawn(async move {
            let _ = blocked
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(20));
        });
    }
    let metrics = get(addr, "/metrics");
    assert!(metrics.starts_with("HTTP/1.1 200"), "{metrics}");
    assert!(metrics.contains("\nmonitor_tokio_workers 2\n"), "{metrics}");
    assert!(
        metrics.contains("monitor_tokio_worker_busy_seconds_total{worker=\"1\"}"),
        "{metrics}"
    );
    let page = get(addr, "/x/tokio");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("multi_thread") && page.contains("Global queue depth"));
    assert!(get(addr, "/").contains("href=\"/x/tokio\""), "linked");
    let json = get(addr, "/api/x/tokio");
    assert!(json.starts_with("HTTP/1.1 200"), "{json}");
    let body = json.split("\r\n\r\n").nth(1).unwrap_or_default();
    let stats: serde_json::Value = serde_json::from_str(body).expect("JSON");
    assert_eq!(stats["workers"], 2, "{stats}");
    assert_eq!(stats["flavor"], "multi_thread", "{stats}");
    release.send(()).unwrap();
    release.send(()).unwrap();
    drop(monitor);
    runtime.shutdown_timeout(Duration::from_secs(5));
}
