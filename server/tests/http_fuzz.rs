//! Malformed HTTP requests, generated: whatever arrives, the listener
//! answers with a 4xx (or closes), never a 5xx, never hangs, and serves the
//! next good request.
#![cfg(feature = "http")]

mod http_support;

use std::{net::SocketAddr, sync::OnceLock};

use monitor_core::TaskRegistry;
use monitor_server::{Monitor, MonitorBuilder};
use proptest::prelude::*;

use http_support::{get, raw_then_eof};

fn server() -> SocketAddr {
    static MONITOR: OnceLock<Monitor> = OnceLock::new();
    MONITOR
        .get_or_init(|| {
            MonitorBuilder::new(TaskRegistry::new())
                .no_tcp()
                .http_port(0)
                .start()
                .unwrap()
        })
        .http_addr()
        .unwrap()
}

/// The status of an answer, or `None` when the server just closed.
#[track_caller]
fn status(answer: &[u8]) -> Option<u16> {
    if answer.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(answer);
    assert!(text.starts_with("HTTP/1."), "not an HTTP answer: {text:?}");
    let code = text.split_whitespace().nth(1).and_then(|c| c.parse().ok());
    Some(code.unwrap_or_else(|| panic!("no status in {text:?}")))
}

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("GET".to_owned()),
        Just("POST".to_owned()),
        Just("DELETE".to_owned()),
        "[A-Z]{1,8}",
        "[ -~]{0,12}",
    ]
}

fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("/".to_owned()),
        Just("/api/tasks".to_owned()),
        Just("/api/tasks/1/cancel".to_owned()),
        Just("/api/namespace/x".to_owned()),
        Just("/metrics".to_owned()),
        "/[ -~]{0,40}",
        "/api/tasks/[0-9a-z%.-]{0,24}",
        "[^\r\n]{0,40}",
    ]
}

fn header() -> impl Strategy<Value = String> {
    prop_oneof![
        "Content-Length: [0-9-]{0,22}",
        "Transfer-Encoding: [a-z, ]{0,16}",
        "Host: [ -~]{0,30}",
        "Cookie: [ -~]{0,60}",
        "Authorization: [ -~]{0,40}",
        "Origin: [ -~]{0,30}",
        "[ -~]{0,30}",
        "[^\r\n]{0,30}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_get_a_4xx_or_a_close(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let addr = server();
        if let Some(code) = status(&raw_then_eof(addr, &bytes)) {
            prop_assert!((400..500).contains(&code), "{code}");
        }
        prop_assert_eq!(get(addr, "/api/stats").status, 200);
    }

    #[test]
    fn malformed_requests_get_a_4xx_never_a_5xx(
        method in token(),
        path in path(),
        version in prop_oneof![Just("HTTP/1.1".to_owned()), Just("HTTP/1.0".to_owned()), "[ -~]{0,10}"],
        headers in proptest::collection::vec(header(), 0..6),
        body in proptest::collection::vec(any::<u8>(), 0..256),
        with_host in any::<bool>(),
    ) {
        let addr = server();
        let mut request = format!("{method} {path} {version}\r\n");
        if with_host {
            request.push_str(&format!("Host: {addr}\r\n"));
        }
        for header in &headers {
            request.push_str(header);
            request.push_str("\r\n");
        }
        request.push_str("\r\n");
        let mut bytes = request.into_bytes();
        bytes.extend_from_slice(&body);
        let answer = raw_then_eof(addr, &bytes);
        if let Some(code) = status(&answer) {
            prop_assert!(code < 500, "{code}: {:?}", String::from_utf8_lossy(&answer));
        }
        prop_assert_eq!(get(addr, "/api/stats").status, 200);
    }
}
