//! Who gets a place, and what a stranger learns: session places per
//! listener (a network flood cannot lock the owner out of the Unix
//! socket), a process-wide budget for wrong tokens however they are spread
//! over connections, and nothing but the challenge or a neutral refusal
//! before authentication.

mod attack_support;
mod support;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use attack_support::{PROMPT, Tcp, timed};
use monitor_core::TaskRegistry;
use monitor_server::{
    MonitorBuilder,
    console::{CONSOLE_PROMPT, Namespace},
};

const TOKEN: &str = "places-token-0123456789abcdef";
const CHALLENGE: &str = "Authentication required: send \"auth TOKEN\"\r\n";

#[test]
fn a_full_house_tells_an_unauthenticated_stranger_nothing() {
    let monitor = MonitorBuilder::new(TaskRegistry::new())
        .port(0)
        .auth_token(TOKEN)
        .max_sessions(1)
        .start()
        .unwrap();
    let addr = monitor.tcp_addr().unwrap();
    let mut holder = Tcp::connect(addr);
    assert_eq!(holder.read_until("\r\n"), CHALLENGE.trim_end());
    // The one place is taken: the next client is turned away.
    let mut stranger = Tcp::connect(addr);
    let said = stranger.read_to_end();
    assert!(
        !said.contains(char::is_numeric),
        "an unauthenticated client over the limit learned a number: {said:?}"
    );
    for word in ["monitor", "session", "limit"] {
        assert!(
            !said.to_lowercase().contains(word),
            "the refusal before authentication names {word:?}: {said:?}"
        );
    }
    // Without a token the refusal may say what happened: nobody is hiding.
    let open = MonitorBuilder::new(TaskRegistry::new())
        .port(0)
        .max_sessions(1)
        .start()
        .unwrap();
    let mut first = Tcp::connect(open.tcp_addr().unwrap());
    first.read_until(PROMPT);
    let said = Tcp::connect(open.tcp_addr().unwrap()).read_to_end();
    assert!(said.contains("limit of 1 session"), "{said:?}");
}

#[cfg(unix)]
#[test]
fn a_network_flood_leaves_the_unix_socket_and_the_console_port_their_places() {
    let dir = std::env::temp_dir().join(format!("mon-places-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("monitor.sock");
    let monitor = MonitorBuilder::new(TaskRegistry::new())
        .port(0)
        .unix_socket(&socket)
        .namespace(Namespace::new().value("answer", "the answer", || 42))
        .max_sessions(4)
        .start()
        .unwrap();
    let addr = monitor.tcp_addr().unwrap();
    // Four idle network sessions take every TCP place of the monitor port.
    let mut flood: Vec<Tcp> = (0..4).map(|_| Tcp::connect(addr)).collect();
    for client in &mut flood {
        client.read_until(PROMPT);
    }
    let refused = Tcp::connect(addr).read_to_end();
    assert!(refused.contains("limit of 4 sessions"), "{refused:?}");
    // The owner still gets in through the 0600 socket...
    let mut owner = attack_support::Raw::connect_unix(&socket);
    owner.read_until(PROMPT);
    assert!(owner.cmd("ps").contains("task"));
    // ...and the console port has places of its own.
    let mut console = Tcp::connect(monitor.console_addr().unwrap());
    console.read_until(CONSOLE_PROMPT);
    console.send("get answer");
    assert!(console.read_until(CONSOLE_PROMPT).contains("42"));
    drop(monitor);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Sixteen attackers, each connection sending one wrong guess and leaving
/// as soon as it is answered, get no more answers in total than the
/// process-wide budget allows, and the right token still gets in after.
#[test]
fn wrong_tokens_are_budgeted_process_wide_however_they_are_spread() {
    let delay = Duration::from_millis(100);
    let monitor = MonitorBuilder::new(TaskRegistry::new())
        .port(0)
        .auth_token(TOKEN)
        .auth_delay(delay)
        .start()
        .unwrap();
    let addr = monitor.tcp_addr().unwrap();
    let answered = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let attack = Duration::from_secs(3);
    let started = Instant::now();
    let attackers: Vec<_> = (0..16)
        .map(|n| {
            let answered = Arc::clone(&answered);
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut tries = 0;
                while !stop.load(Ordering::Relaxed) && tries < 1000 {
                    tries += 1;
                    let mut client = Tcp::connect(addr);
                    if client.try_read_until(CHALLENGE).is_none() {
                        continue;
                    }
                    client.send(&format!("auth wrong-guess-{n}-{tries}-0123456789"));
                    if client.try_read_until("Authentication failed").is_some() {
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    thread::sleep(attack);
    stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed();
    let during = answered.load(Ordering::Relaxed);
    for attacker in attackers {
        attacker.join().unwrap();
    }
    // One guess per `auth_delay` plus a burst of three, over all
    // connections; the slack covers the attackers' last answers in flight.
    let budget = 3 + (elapsed.as_secs_f64() / delay.as_secs_f64()).ceil() as usize;
    println!("measured: {during} wrong guesses answered in {elapsed:?} over 16 connections");
    assert!(
        during <= budget + 4,
        "{during} wrong guesses answered in {elapsed:?}; the budget is {budget}"
    );
    // The budget is a rate, not a lockout: the owner gets in afterwards.
    let (took, mut owner) = timed(|| {
        let mut owner = Tcp::connect(addr);
        owner.read_until(CHALLENGE);
        owner.send(&format!("auth {TOKEN}"));
        owner.read_until(PROMPT);
        owner
    });
    assert!(took < Duration::from_secs(5), "took {took:?}");
    println!("measured: the right token got in {took:?} after the attack");
    assert!(owner.cmd("ps").contains("task"));
}

/// Wrong guesses on the TCP port spend the network's budget only: the
/// owner's login on the 0600 socket does not queue behind them.
#[cfg(unix)]
#[test]
fn a_guessing_flood_on_tcp_does_not_slow_the_owners_unix_login() {
    let dir = std::env::temp_dir().join(format!("mon-guess-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let socket = dir.join("monitor.sock");
    let delay = Duration::from_millis(500);
    let monitor = MonitorBuilder::new(TaskRegistry::new())
        .port(0)
        .unix_socket(&socket)
        .auth_token(TOKEN)
        .auth_delay(delay)
        .start()
        .unwrap();
    let addr = monitor.tcp_addr().unwrap();
    // Sixteen connections each offer a wrong token: at one guess per
    // 500 ms, the last of them waits about eight seconds for its turn.
    let mut flood: Vec<Tcp> = (0..16)
        .map(|n| {
            let mut client = Tcp::connect(addr);
            client.read_until(CHALLENGE);
            client.send(&format!("auth wrong-guess-{n}-0123456789"));
            client
        })
        .collect();
    thread::sleep(Duration::from_millis(100));
    let (took, ()) = timed(|| {
        let mut owner = attack_support::Raw::connect_unix(&socket);
        owner.read_until(CHALLENGE);
        owner.send(&format!("auth {TOKEN}"));
        owner.read_until(PROMPT);
    });
    println!("measured: the owner's Unix login took {took:?} during a TCP guessing flood");
    assert!(
        took < Duration::from_secs(2),
        "the owner's login waited {took:?} behind the network's guesses"
    );
    // Meanwhile the network's guesses are answered in turn, first come
    // first served.
    assert!(flood[0].try_read_until("Authentication failed").is_some());
    drop(monitor);
    let _ = std::fs::remove_dir_all(&dir);
}
