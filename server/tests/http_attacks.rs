//! The HTTP listener attacked from outside: token guesses over bearer
//! headers, the login form and the console together, logins that outlive
//! their welcome, and requests hyper itself refuses.
#![cfg(feature = "http")]

mod attack_support;
mod http_support;

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use attack_support::{PROMPT, Tcp, timed};
use monitor_core::TaskRegistry;
use monitor_server::{Monitor, MonitorBuilder};

use http_support::{Response, raw, request};

const TOKEN: &str = "http-attacks-token-0123456789";
const CHALLENGE: &str = "Authentication required: send \"auth TOKEN\"\r\n";

/// The status of a raw answer, `None` when the server closed without one.
fn status(answer: &[u8]) -> Option<u16> {
    let text = String::from_utf8_lossy(answer);
    text.strip_prefix("HTTP/1.1 ")?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

fn monitor(delay: Duration) -> Monitor {
    MonitorBuilder::new(TaskRegistry::new())
        .port(0)
        .http_port(0)
        .auth_token(TOKEN)
        .auth_delay(delay)
        .start()
        .unwrap()
}

/// One wrong guess over HTTP on a fresh connection: by bearer header when
/// `form` is false, through the login form otherwise.
fn http_guess(addr: SocketAddr, guess: &str, form: bool) -> Vec<u8> {
    let request = if form {
        let body = format!("token={guess}");
        format!(
            "POST /login HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: \
             application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    } else {
        format!(
            "GET /api/tasks HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: \
             Bearer {guess}\r\n\r\n"
        )
    };
    raw(addr, request.as_bytes())
}

#[derive(Default)]
struct Tally {
    /// Wrong guesses the server answered as wrong (401, or the console's
    /// `Authentication failed`): each was compared with the token.
    wrong: AtomicUsize,
    /// Requests turned away before comparing (429 with Retry-After).
    busy: AtomicUsize,
    /// Anything else (must stay 0).
    other: AtomicUsize,
}

/// Sixteen attackers, each guess on a fresh connection, spread over the
/// bearer header, the login form and the console's TCP port: together they
/// get no more wrong guesses answered than the one network budget allows,
/// the queue of waiting guesses is bounded (the rest are told 429 with
/// Retry-After at once), and the right token gets in promptly afterwards.
#[test]
fn guesses_over_bearer_login_form_and_console_share_one_budget() {
    let delay = Duration::from_millis(100);
    let monitor = monitor(delay);
    let http = monitor.http_addr().unwrap();
    let console = monitor.tcp_addr().unwrap();
    let tally = Arc::new(Tally::default());
    let stop = Arc::new(AtomicBool::new(false));
    let attack = Duration::from_secs(3);
    let started = Instant::now();
    let attackers: Vec<_> = (0..16)
        .map(|n| {
            let tally = Arc::clone(&tally);
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut tries = 0;
                while !stop.load(Ordering::Relaxed) && tries < 2000 {
                    tries += 1;
                    let guess = format!("wrong-guess-{n}-{tries}-0123456789");
                    if n % 3 == 2 {
                        let mut client = Tcp::connect(console);
                        if client.try_read_until(CHALLENGE).is_none() {
                            continue;
                        }
                        client.send(&format!("auth {guess}"));
                        if client.try_read_until("Authentication failed").is_some() {
                            tally.wrong.fetch_add(1, Ordering::Relaxed);
                        }
                        continue;
                    }
                    let answer = http_guess(http, &guess, n % 3 == 1);
                    let counter = match status(&answer) {
                        Some(401) => &tally.wrong,
                        Some(429) => {
                            let text = String::from_utf8_lossy(&answer).to_lowercase();
                            assert!(text.contains("\r\nretry-after: "), "{text}");
                            // Not a busy loop: a real client would wait.
                            thread::sleep(Duration::from_millis(20));
                            &tally.busy
                        }
                        _ => &tally.other,
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    thread::sleep(attack);
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();
    let wrong = tally.wrong.load(Ordering::Relaxed);
    let busy = tally.busy.load(Ordering::Relaxed);
    for attacker in attackers {
        attacker.join().unwrap();
    }
    println!(
        "measured: {wrong} wrong guesses answered in {elapsed:?} over bearer, login form and \
         console (16 connections at a time); {busy} turned away with 429"
    );
    // One wrong guess per `auth_delay` plus a burst of three, over every
    // network listener together; the slack covers the answers in flight.
    let budget = 3 + (elapsed.as_secs_f64() / delay.as_secs_f64()).ceil() as usize;
    assert!(
        wrong <= budget + 4,
        "{wrong} wrong guesses answered in {elapsed:?}; the budget is {budget}"
    );
    assert_eq!(tally.other.load(Ordering::Relaxed), 0);

    // A rate, not a lockout: the owner's token works right after.
    let (took, answer) = owner_request(http);
    println!("measured: the right bearer token got in {took:?} after the flood");
    assert_eq!(answer.status, 200, "{answer:?}");
    assert!(took < Duration::from_secs(2), "took {took:?}");
    let mut owner = Tcp::connect(console);
    owner.read_until(CHALLENGE);
    owner.send(&format!("auth {TOKEN}"));
    owner.read_until(PROMPT);
}

/// The owner's request with the right bearer token, and how long it took.
fn owner_request(http: SocketAddr) -> (Duration, Response) {
    let bearer = format!("Bearer {TOKEN}");
    timed(|| {
        request(
            http,
            "GET",
            "/api/stats",
            &[("Authorization", &bearer)],
            b"",
        )
    })
}

/// A wrong guess is answered after the delay, on a timer: the monitor's
/// loop serves other requests meanwhile, and a program with the right
/// token is not held up by a guess that is merely being slowed down.
#[test]
fn a_delayed_wrong_guess_does_not_hold_the_loop() {
    let delay = Duration::from_millis(1500);
    let monitor = monitor(delay);
    let http = monitor.http_addr().unwrap();
    let guesser = thread::spawn(move || {
        let (took, answer) = timed(|| http_guess(http, "wrong-wrong-wrong-wrong", false));
        assert_eq!(status(&answer), Some(401));
        took
    });
    // Once the guess is being slowed down, the owner's bearer request goes
    // through without waiting for it.
    thread::sleep(Duration::from_millis(300));
    let (took, answer) = owner_request(http);
    assert_eq!(answer.status, 200);
    println!("measured: the right token answered in {took:?} while a wrong one was delayed");
    assert!(took < Duration::from_millis(1000), "took {took:?}");
    let slowed = guesser.join().unwrap();
    assert!(
        slowed >= delay,
        "a wrong guess was answered after {slowed:?}"
    );
}

/// Splits a raw answer into its status, its `Content-Type` and its body.
fn answer_parts(answer: &[u8]) -> (Option<u16>, String, String) {
    let text = String::from_utf8_lossy(answer).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let content_type = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        .map(|(_, value)| value.trim().to_owned())
        .unwrap_or_default();
    (status(answer), content_type, body.to_owned())
}

/// What hyper refuses on its own (a head over the limit, too many header
/// fields, a malformed request line or header, an unknown version) is
/// answered with the status *and* a body saying what was wrong and what is
/// accepted: JSON for the API, text elsewhere; the next request is served.
#[test]
fn requests_hyper_refuses_are_told_what_was_wrong_and_what_is_accepted() {
    let monitor = MonitorBuilder::new(TaskRegistry::new())
        .no_tcp()
        .http_port(0)
        .start()
        .unwrap();
    let addr = monitor.http_addr().unwrap();
    let junk = "y".repeat(40 * 1024);
    let many: String = (0..150).map(|n| format!("X-Field-{n}: {n}\r\n")).collect();
    let cases: Vec<(String, u16, bool, &[&str])> = vec![
        (
            format!("GET / HTTP/1.1\r\nHost: {addr}\r\nX-Junk: {junk}\r\n\r\n"),
            431,
            false,
            &["16384 bytes"],
        ),
        (
            format!("GET /api/tasks HTTP/1.1\r\nHost: {addr}\r\nX-Junk: {junk}\r\n\r\n"),
            431,
            true,
            &["16384 bytes"],
        ),
        (
            format!("GET /api/stats HTTP/1.1\r\nHost: {addr}\r\n{many}\r\n"),
            431,
            true,
            &["header fields", "100"],
        ),
        (
            format!("GET /api/stats HTTP/1.1\r\nHost: {addr}\r\nBad Header: y\r\n\r\n"),
            400,
            true,
            &["header name", "Name: value"],
        ),
        (
            "HELLO THERE\r\n\r\n".to_owned(),
            400,
            false,
            &["request line", "METHOD /path HTTP/1.1"],
        ),
        (
            format!("GET / HTTP/7.3\r\nHost: {addr}\r\n\r\n"),
            400,
            false,
            &["version", "HTTP/1.1"],
        ),
    ];
    for (request, expected, json, words) in cases {
        let answer = http_support::raw_then_eof(addr, request.as_bytes());
        let (status, content_type, body) = answer_parts(&answer);
        let shown = &request[..request.len().min(60)];
        println!("{shown:?}\n  -> {:?}", String::from_utf8_lossy(&answer));
        assert_eq!(
            status,
            Some(expected),
            "{shown:?}: {:?}",
            String::from_utf8_lossy(&answer)
        );
        if json {
            assert_eq!(content_type, "application/json", "{shown:?}");
            let value: serde_json::Value = serde_json::from_str(&body)
                .unwrap_or_else(|err| panic!("{shown:?}: not JSON ({err}): {body:?}"));
            assert_eq!(value["status"], expected, "{value}");
            let message = value["error"].as_str().unwrap();
            for word in words {
                assert!(
                    message.contains(word),
                    "{shown:?}: {message:?} lacks {word:?}"
                );
            }
        } else {
            assert!(
                content_type.starts_with("text/plain"),
                "{shown:?}: {content_type:?}"
            );
            for word in words {
                assert!(body.contains(word), "{shown:?}: {body:?} lacks {word:?}");
            }
        }
        // And the listener serves the next client as usual.
        assert_eq!(http_support::get(addr, "/api/stats").status, 200);
    }
}

/// Logs in through the form and returns the `name=value` of the cookie.
fn log_in(addr: SocketAddr) -> String {
    let login = request(
        addr,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        format!("token={TOKEN}").as_bytes(),
    );
    assert_eq!(login.status, 303, "{login:?}");
    login
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

/// A stale cookie is refused with 401: the login page (saying why) for a
/// browser, JSON for the API, and the cookie is cleared.
#[track_caller]
fn assert_refused(addr: SocketAddr, cookie: &str, why: &str) {
    let page = request(addr, "GET", "/", &[("Cookie", cookie)], b"");
    assert_eq!(page.status, 401, "{page:?}");
    assert!(page.body.contains("action=\"/login\""), "{}", page.body);
    assert!(page.body.contains(why), "{} lacks {why:?}", page.body);
    let cleared = page.header("set-cookie").unwrap_or("");
    assert!(cleared.contains("Max-Age=0"), "{cleared:?}");
    let api = request(addr, "GET", "/api/tasks", &[("Cookie", cookie)], b"");
    let message = api.assert_error(401);
    assert!(message.contains("log in again"), "{message}");
}

#[test]
fn logins_expire_when_idle_and_after_their_lifetime() {
    let idle = Duration::from_secs(1);
    let monitor = MonitorBuilder::new(TaskRegistry::new())
        .no_tcp()
        .http_port(0)
        .auth_token(TOKEN)
        .auth_delay(Duration::from_millis(10))
        .http_login_expiry(idle, Duration::from_secs(60))
        .start()
        .unwrap();
    let addr = monitor.http_addr().unwrap();
    // Used more often than the idle limit, a login stays valid.
    let cookie = log_in(addr);
    for _ in 0..5 {
        thread::sleep(idle / 5);
        let page = request(addr, "GET", "/", &[("Cookie", &cookie)], b"");
        assert_eq!(page.status, 200, "{page:?}");
    }
    // Left alone for longer, it is refused.
    thread::sleep(idle + idle / 2);
    assert_refused(addr, &cookie, "expired");
    // Logging in again works.
    let again = log_in(addr);
    assert_eq!(
        request(addr, "GET", "/", &[("Cookie", &again)], b"").status,
        200
    );

    // However busy, a login ends after its lifetime.
    let lifetime = Duration::from_secs(1);
    let monitor = MonitorBuilder::new(TaskRegistry::new())
        .no_tcp()
        .http_port(0)
        .auth_token(TOKEN)
        .http_login_expiry(Duration::from_secs(60), lifetime)
        .start()
        .unwrap();
    let addr = monitor.http_addr().unwrap();
    let cookie = log_in(addr);
    let started = Instant::now();
    // Busy for well within the lifetime (the login began before `started`).
    while started.elapsed() < lifetime * 2 / 5 {
        let page = request(addr, "GET", "/api/stats", &[("Cookie", &cookie)], b"");
        assert_eq!(page.status, 200, "{page:?}");
        thread::sleep(Duration::from_millis(50));
    }
    thread::sleep(lifetime.saturating_sub(started.elapsed()) + lifetime / 5);
    assert_refused(addr, &cookie, "expired");

    // Nonsense durations are refused at start.
    let err = MonitorBuilder::new(TaskRegistry::new())
        .no_tcp()
        .http_port(0)
        .auth_token(TOKEN)
        .http_login_expiry(Duration::ZERO, Duration::from_secs(60))
        .start()
        .unwrap_err()
        .to_string();
    assert!(err.contains("http_login_expiry"), "{err}");
}

#[test]
fn logout_needs_the_csrf_token_and_ends_the_login() {
    let monitor = MonitorBuilder::new(TaskRegistry::new())
        .no_tcp()
        .http_port(0)
        .auth_token(TOKEN)
        .start()
        .unwrap();
    let addr = monitor.http_addr().unwrap();
    let cookie = log_in(addr);
    let form = [
        ("Cookie", cookie.as_str()),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    // Another page cannot log the browser out.
    request(addr, "POST", "/logout", &form, b"").assert_error(403);
    request(addr, "GET", "/logout", &[("Cookie", &cookie)], b"").assert_error(405);
    let page = request(addr, "GET", "/", &[("Cookie", &cookie)], b"");
    assert_eq!(page.status, 200);
    let session = request(addr, "GET", "/api/session", &[("Cookie", &cookie)], b"").json();
    let csrf = session["csrf_token"].as_str().unwrap().to_owned();
    // Every page of a browser login offers the way out, with its token.
    let page = page.body;
    assert!(
        page.contains(r#"action="/logout""#) && page.contains(&csrf),
        "no logout form: {page}"
    );
    // A program with the bearer token has no login to end.
    let bearer = format!("Bearer {TOKEN}");
    let page = request(addr, "GET", "/", &[("Authorization", &bearer)], b"");
    assert!(!page.body.contains("/logout"), "{}", page.body);
    let out = request(
        addr,
        "POST",
        "/logout",
        &form,
        format!("csrf={csrf}").as_bytes(),
    );
    assert_eq!(out.status, 303, "{out:?}");
    assert_eq!(out.header("location"), Some("/login"));
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_refused(addr, &cookie, "log in again");
}
