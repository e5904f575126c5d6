//! `#[monitor_tokio::main]`: an application that only swapped the
//! attribute gets a monitor from the environment, and — built with
//! `--cfg tokio_unstable` and the `hooks` feature — sees its plain
//! `tokio::spawn` tasks in `ps`. Without hooks, `ps` counts them as
//! untracked instead.
//!
//! One test in this file: it sets `MONITOR_PORT` for the process.

use std::{net::TcpListener, time::Duration};

use demo_support::client::ConsoleClient;

/// The application, as written for `#[tokio::main]`: plain `tokio::spawn`s.
#[monitor_tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn app(port: u16) -> String {
    for _ in 0..3 {
        tokio::spawn(async { tokio::time::sleep(Duration::from_secs(3600)).await });
    }
    tokio::task::spawn_blocking(move || {
        let mut console = ConsoleClient::connect(([127, 0, 0, 1], port).into())
            .expect("the attribute started a monitor on MONITOR_PORT");
        console.command("ps").unwrap()
    })
    .await
    .unwrap()
}

#[test]
fn swapping_the_attribute_shows_plain_spawns() {
    let port = {
        let probe = TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    // SAFETY: the only test of this binary, set before any thread that
    // reads the environment is started.
    unsafe { std::env::set_var("MONITOR_PORT", port.to_string()) };
    let ps = app(port);
    if cfg!(all(feature = "hooks", tokio_unstable)) {
        let plain = ps
            .lines()
            .filter(|line| line.contains("tokio::spawn") && line.contains("macro_main.rs"))
            .count();
        assert_eq!(plain, 3, "{ps}");
    } else {
        assert!(
            ps.contains("(3 more tasks are alive on the runtime but not tracked:"),
            "{ps}"
        );
    }
}
