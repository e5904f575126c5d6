//! Slow, greedy and vanishing HTTP clients: slowloris heads and bodies, a
//! client pipelining requests as fast as it can, one that never reads its
//! answers, and thousands of connections that come and go. Each is cut off
//! within a bound, and everyone else is served meanwhile.
#![cfg(feature = "http")]

mod http_support;
mod support;

use std::{
    io::{Read, Write},
    net::{SocketAddr, TcpStream},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use monitor_core::TaskRegistry;
use monitor_server::{Monitor, MonitorBuilder, http::HEAD_TIMEOUT};

use http_support::get;
use support::eventually;

fn monitor(configure: impl FnOnce(MonitorBuilder) -> MonitorBuilder) -> Monitor {
    configure(
        MonitorBuilder::new(TaskRegistry::new())
            .no_tcp()
            .http_port(0),
    )
    .start()
    .unwrap()
}

/// Connects and [`trickle_on`]s.
fn trickle(addr: SocketAddr, bytes: &[u8], every: Duration) -> (Vec<u8>, Duration) {
    trickle_on(TcpStream::connect(addr).unwrap(), bytes, every)
}

/// Slowloris: clients sending their request's head a byte at a time are
/// disconnected once `HEAD_TIMEOUT` has passed, however steadily they
/// drip, and other clients are served all along.
#[test]
fn slowloris_heads_are_cut_off_and_others_are_served_meanwhile() {
    let monitor = monitor(|b| b);
    let addr = monitor.http_addr().unwrap();
    let head = format!(
        "GET /api/stats HTTP/1.1\r\nHost: {addr}\r\n{}\r\n",
        "X-Drip: 1\r\n".repeat(200)
    );
    let drippers: Vec<_> = (0..8)
        .map(|_| {
            let head = head.clone();
            thread::spawn(move || trickle(addr, head.as_bytes(), Duration::from_millis(200)))
        })
        .collect();
    let mut slowest = Duration::ZERO;
    while !drippers.iter().all(thread::JoinHandle::is_finished) {
        let started = Instant::now();
        assert_eq!(get(addr, "/api/stats").status, 200);
        slowest = slowest.max(started.elapsed());
        thread::sleep(Duration::from_millis(100));
    }
    for dripper in drippers {
        let (answer, lasted) = dripper.join().unwrap();
        let text = String::from_utf8_lossy(&answer);
        assert!(
            !text.contains(" 200 "),
            "a slowloris head was served: {text:?}"
        );
        println!("measured: a slowloris head was cut off after {lasted:?}");
        assert!(
            lasted < HEAD_TIMEOUT + Duration::from_secs(5),
            "a head dripping for {lasted:?} was not cut off"
        );
    }
    println!("measured: slowest other request during 8 slowloris heads: {slowest:?}");
}

/// The same for a body: a POST that announces a body and drips it is
/// answered 408 (saying what the limit is) instead of holding one of the
/// connection places for as long as it likes.
#[test]
fn a_slowloris_body_is_answered_408_and_cut_off() {
    let monitor = monitor(|b| b);
    let addr = monitor.http_addr().unwrap();
    let body = "x".repeat(200);
    // The login form is read before anything is checked.
    let request = format!(
        "POST /login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: \
         application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    // 200 bytes at 10 a second would take 20 s.
    let (answer, lasted) = trickle_on(stream, body.as_bytes(), Duration::from_millis(100));
    let text = String::from_utf8_lossy(&answer);
    println!("measured: a slowloris body was answered after {lasted:?}: {text:?}");
    assert!(text.starts_with("HTTP/1.1 408"), "{text:?}");
    assert!(text.contains("10 s"), "{text:?}");
    assert!(lasted < HEAD_TIMEOUT + Duration::from_secs(5), "{lasted:?}");
}

/// Sends `bytes` one at a time, `every` apart, until the server closes the
/// connection or answers; returns what it answered and when it stopped
/// listening, measured from the first byte.
fn trickle_on(mut stream: TcpStream, bytes: &[u8], every: Duration) -> (Vec<u8>, Duration) {
    stream.set_nonblocking(true).unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    for &byte in bytes {
        if stream.write_all(&[byte]).is_err() {
            break;
        }
        thread::sleep(every);
        let mut buf = [0u8; 4096];
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                break;
            }
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => break,
        }
    }
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _ = stream.read_to_end(&mut answer);
    (answer, started.elapsed())
}

/// One connection pipelining requests as fast as it can write them gets
/// its answers, but other connections are served in between.
#[test]
fn a_pipelining_client_does_not_starve_the_others() {
    let monitor = monitor(|b| b);
    let addr = monitor.http_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let flooder = {
        let stop = Arc::clone(&stop);
        thread::spawn(move || {
            let request = format!("GET /api/stats HTTP/1.1\r\nHost: {addr}\r\n\r\n").repeat(64);
            let mut stream = TcpStream::connect(addr).unwrap();
            // A write blocked on a full buffer gives up soon after `stop`.
            stream
                .set_write_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let mut reader = stream.try_clone().unwrap();
            let drain = thread::spawn(move || {
                let mut total = 0usize;
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = reader.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    total += n;
                }
                total
            });
            let mut sent = 0usize;
            while !stop.load(Ordering::Relaxed) {
                if stream.write_all(request.as_bytes()).is_ok() {
                    sent += 64;
                }
            }
            // Leaves without waiting for the backlog of answers.
            let _ = stream.shutdown(std::net::Shutdown::Both);
            (sent, drain.join().unwrap())
        })
    };
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut served = 0;
    while started.elapsed() < Duration::from_secs(2) {
        let asked = Instant::now();
        assert_eq!(get(addr, "/api/stats").status, 200);
        slowest = slowest.max(asked.elapsed());
        served += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let (sent, read) = flooder.join().unwrap();
    println!(
        "measured: {served} requests from another client in 2 s while one connection \
         pipelined {sent} requests ({read} bytes of answers read in that time); slowest \
         {slowest:?}"
    );
    // Generous bounds: before each connection's requests were paced, the
    // other client got 5 answers in those 2 s.
    assert!(served >= 20, "only {served} answers in 2 s");
    assert!(slowest < Duration::from_secs(5), "slowest {slowest:?}");
}

/// A client that asks for a lot and never reads holds its place only until
/// the write timeout.
#[test]
fn a_client_that_never_reads_is_dropped_after_the_write_timeout() {
    let monitor = monitor(|b| {
        b.http_max_connections(1)
            .write_timeout(Duration::from_millis(500))
    });
    let addr = monitor.http_addr().unwrap();
    // The vendored script is about 50 KB: 400 of them fill every buffer.
    let page = get(addr, "/");
    let script = page
        .body
        .split("src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let mut greedy = TcpStream::connect(addr).unwrap();
    let request = format!("GET {script} HTTP/1.1\r\nHost: {addr}\r\n\r\n").repeat(400);
    greedy.write_all(request.as_bytes()).unwrap();
    // Its one place is taken...
    eventually("the greedy client holds the only place", || {
        (get(addr, "/api/stats").status == 503).then_some(())
    });
    // ...until the write timeout frees it.
    let started = Instant::now();
    let freed = loop {
        if get(addr, "/api/stats").status == 200 {
            break started.elapsed();
        }
        assert!(started.elapsed() < Duration::from_secs(10), "never freed");
        thread::sleep(Duration::from_millis(50));
    };
    println!(
        "measured: a client that never reads was dropped {freed:?} after its place was seen taken"
    );
    drop(greedy);
}

/// Connections that connect and send nothing fill the places for a while
/// (the next client gets 503), but are closed at `HEAD_TIMEOUT` and the
/// places come back.
#[test]
fn idle_connections_are_closed_and_their_places_come_back() {
    let monitor = monitor(|b| b.http_max_connections(4));
    let addr = monitor.http_addr().unwrap();
    let idle: Vec<_> = (0..4).map(|_| TcpStream::connect(addr).unwrap()).collect();
    eventually("the idle connections hold every place", || {
        (get(addr, "/api/stats").status == 503).then_some(())
    });
    let started = Instant::now();
    let freed = loop {
        if get(addr, "/api/stats").status == 200 {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < HEAD_TIMEOUT + Duration::from_secs(10),
            "idle connections held their places for {:?}",
            started.elapsed()
        );
        thread::sleep(Duration::from_millis(100));
    };
    println!("measured: 4 idle connections held every place for {freed:?} more");
    drop(idle);
}
