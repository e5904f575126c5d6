//! A small but real tokio application with the monitor attached.
//!
//! ```text
//! cargo run -p monitor-tokio --example demo            # serve, then: nc 127.0.0.1 50101
//! cargo run -p monitor-tokio --example demo -- --tour  # a scripted first look, then exit
//! cargo run -p monitor-tokio --example demo -- --port 0
//! ```

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use monitor_core::{MONITOR_PORT, client::ConsoleClient};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

struct Options {
    port: u16,
    tour: bool,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        port: MONITOR_PORT,
        tour: false,
    };
    let mut port_given = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--tour" => options.tour = true,
            "--port" => {
                let value = args
                    .next()
                    .ok_or("--port needs a value, e.g. --port 50101")?;
                options.port = value
                    .parse()
                    .map_err(|_| format!("invalid port {value:?} (expected 0-65535)"))?;
                port_given = true;
            }
            "-h" | "--help" => {
                println!("usage: demo [--port N] [--tour]");
                std::process::exit(0);
            }
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: demo [--port N] [--tour]"
                ));
            }
        }
    }
    // The tour must work even when 50101 is taken: any free port will do.
    if options.tour && !port_given {
        options.port = 0;
    }
    Ok(options)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let options = match parse_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("demo: {message}");
            std::process::exit(2);
        }
    };

    let echo_addr = start_app().await;

    let monitor = match monitor_tokio::monitor_builder(tokio::runtime::Handle::current())
        .port(options.port)
        .start()
    {
        Ok(monitor) => monitor,
        Err(err) => {
            eprintln!("demo: could not start the monitor: {err}");
            std::process::exit(1);
        }
    };
    let addr = monitor.tcp_addr().expect("TCP is on");
    println!("Demo app running: echo server on {echo_addr}.");
    println!("Monitor listening on {addr}. Connect with:");
    println!("    nc {} {}", addr.ip(), addr.port());
    println!("    telnet {} {}", addr.ip(), addr.port());

    if options.tour {
        let transcript = tokio::task::spawn_blocking(move || tour(addr))
            .await
            .expect("tour thread");
        match transcript {
            Ok(text) => print!("{text}"),
            Err(err) => {
                eprintln!("demo: tour failed: {err}");
                std::process::exit(1);
            }
        }
        return;
    }
    println!("Press Ctrl-C to stop.");
    let _ = tokio::signal::ctrl_c().await;
    drop(monitor);
}

/// Starts the application's tasks and returns the echo server's address.
async fn start_app() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind echo server");
    let echo_addr = listener.local_addr().expect("local addr");
    monitor_tokio::task().name("echo-server").spawn(async move {
        loop {
            let Ok((mut socket, peer)) = listener.accept().await else {
                continue;
            };
            monitor_tokio::task()
                .name(format!("echo-conn {peer}"))
                .spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = socket.read(&mut buf).await {
                        if n == 0 || socket.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
        }
    });

    let ticks = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&ticks);
    monitor_tokio::task().name("ticker").spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });

    monitor_tokio::task()
        .name("reporter")
        .persistent(true)
        .spawn(async move {
            // A long-lived child: `where` on it shows reporter as its parent.
            monitor_tokio::task()
                .name("report-archiver")
                .spawn(std::future::pending::<()>());
            loop {
                tokio::time::sleep(Duration::from_millis(300)).await;
                let seen = ticks.load(Ordering::Relaxed);
                // Short-lived children fill the terminated history.
                monitor_tokio::task()
                    .name("report-writer")
                    .spawn(async move {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        seen
                    });
            }
        });

    monitor_tokio::task()
        .name("waits-forever (cancel me)")
        .spawn(std::future::pending::<()>());
    echo_addr
}

/// Connects to the demo's own monitor like a user would and runs a few
/// commands, returning the transcript.
fn tour(addr: std::net::SocketAddr) -> std::io::Result<String> {
    // Let the reporter spawn and finish a few children first.
    std::thread::sleep(Duration::from_millis(700));
    let mut console = ConsoleClient::connect(addr)?;
    let mut transcript = format!("\n$ nc {} {}\n{}", addr.ip(), addr.port(), console.intro());
    let mut run = |console: &mut ConsoleClient, line: &str| -> std::io::Result<String> {
        let reply = console.command(line)?;
        transcript.push_str(&format!("monitor >>> {line}\n{reply}"));
        Ok(reply)
    };
    run(&mut console, "help")?;
    let ps = run(&mut console, "ps")?;
    let id_of = |name: &str| -> Option<String> {
        ps.lines()
            .find(|line| line.contains(name))
            .and_then(|line| {
                line.split_whitespace()
                    .find(|word| word.parse::<u64>().is_ok())
            })
            .map(str::to_owned)
    };
    if let Some(archiver) = id_of("report-archiver") {
        run(&mut console, &format!("where {archiver}"))?;
    }
    if let Some(victim) = id_of("cancel me") {
        run(&mut console, &format!("cancel {victim}"))?;
    }
    run(&mut console, "ps-terminated -f cancel")?;
    run(&mut console, "stats")?;
    run(&mut console, "exit")?;
    Ok(transcript)
}
