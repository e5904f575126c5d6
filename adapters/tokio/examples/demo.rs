//! A small but real tokio application with the monitor attached.
//!
//! ```text
//! cargo run -p monitor-tokio --example demo            # then: nc 127.0.0.1 50101
//! cargo run -p monitor-tokio --example demo -- --tour  # a scripted first look, then exit
//! cargo run -p monitor-tokio --example demo --features tokio-console -- --tokio-console
//!                                                     # then: tokio-console http://127.0.0.1:6669
//! ```

use std::time::Duration;

use demo_support::{AppState, Options, archive_reports, report_channel};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
    runtime::Handle,
};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let options = Options::from_args();
    let state = AppState::new();
    let echo = start_app(&state).await;

    let handle = Handle::current();
    let spawn_short = move |n: u64| {
        for i in 0..n {
            monitor_tokio::task()
                .name(format!("short-{i}"))
                .handle(handle.clone())
                .spawn(tokio::time::sleep(Duration::from_millis(10)));
        }
    };
    let monitor = options
        .configure(monitor_tokio::monitor_builder(Handle::current()))
        .namespace(state.namespace(spawn_short))
        .start();
    // The tour connects like a user would, with blocking I/O: off the
    // runtime's workers.
    let served = tokio::task::spawn_blocking(move || {
        demo_support::serve("tokio", monitor, echo, options);
    });
    if let Err(err) = served.await {
        eprintln!("demo: {err}");
        std::process::exit(1);
    }
}

/// Starts the application's tasks; returns the echo server's address.
async fn start_app(state: &AppState) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the echo server");
    let echo = listener.local_addr().expect("echo address");
    monitor_tokio::task().name("echo-server").spawn(async move {
        while let Ok((mut socket, peer)) = listener.accept().await {
            monitor_tokio::task()
                .name(format!("echo {peer}"))
                .spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n @ 1..) = socket.read(&mut buf).await {
                        if socket.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
        }
    });

    let ticker = state.clone();
    monitor_tokio::task().name("ticker").spawn(async move {
        loop {
            tokio::time::sleep(ticker.delay()).await;
            ticker.tick();
        }
    });

    monitor_tokio::task()
        .name("reporter")
        .persistent(true)
        .spawn(report_every(Duration::from_millis(300)));

    monitor_tokio::task()
        .name("waits-forever (cancel me)")
        .spawn(std::future::pending::<()>());
    echo
}

/// The reporter: sends a report to its archiver every `period`.
/// `#[frame]` puts it on the reporter's await stack in `where`.
#[monitor_tokio::frame]
async fn report_every(period: Duration) {
    let (reports, archive) = report_channel();
    // A long-lived child: `where` on it shows the reporter as parent, and
    // the archiver's own marked calls as its await stack.
    monitor_tokio::task()
        .name("report-archiver")
        .spawn(archive_reports(archive));
    for report in 1.. {
        tokio::time::sleep(period).await;
        reports.send(report);
        // Short-lived children fill the terminated history.
        monitor_tokio::task()
            .name("report-writer")
            .spawn(tokio::time::sleep(Duration::from_millis(20)));
    }
}
