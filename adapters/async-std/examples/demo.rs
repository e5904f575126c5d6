//! A small but real async-std application with the monitor attached.
//!
//! ```text
//! cargo run -p monitor-async-std --example async-std-demo            # then: nc 127.0.0.1 50101
//! cargo run -p monitor-async-std --example async-std-demo -- --tour  # a scripted first look, then exit
//! cargo run -p monitor-async-std --example async-std-demo --features tokio-console -- --tokio-console
//!                                                     # then: tokio-console http://127.0.0.1:6669
//! ```

use std::time::Duration;

use async_std::{
    io::{ReadExt, WriteExt},
    net::TcpListener,
    task::sleep,
};
use demo_support::{AppState, Options, archive_reports, report_channel};

fn main() {
    let options = Options::from_args();
    let state = AppState::new();
    let echo = async_std::task::block_on(start_app(&state));

    let spawn_short = |n: u64| {
        for i in 0..n {
            // Dropping the handle detaches the task.
            let _ = monitor_async_std::task()
                .name(format!("short-{i}"))
                .spawn(sleep(Duration::from_millis(10)));
        }
    };
    let monitor = options
        .configure(monitor_async_std::monitor_builder())
        .namespace(state.namespace(spawn_short))
        .start();
    demo_support::serve("async-std", monitor, echo, options);
}

/// Starts the application's tasks; returns the echo server's address.
async fn start_app(state: &AppState) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the echo server");
    let echo = listener.local_addr().expect("echo address");
    let _ = monitor_async_std::task()
        .name("echo-server")
        .spawn(async move {
            while let Ok((mut socket, peer)) = listener.accept().await {
                let _ = monitor_async_std::task()
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
    let _ = monitor_async_std::task().name("ticker").spawn(async move {
        loop {
            sleep(ticker.delay()).await;
            ticker.tick();
        }
    });

    let _ = monitor_async_std::task()
        .name("reporter")
        .persistent(true)
        .spawn(report_every(Duration::from_millis(300)));

    let _ = monitor_async_std::task()
        .name("waits-forever (cancel me)")
        .spawn(std::future::pending::<()>());
    echo
}

/// The reporter: sends a report to its archiver every `period`.
/// `#[frame]` puts it on the reporter's await stack in `where`.
#[monitor_async_std::frame]
async fn report_every(period: Duration) {
    let (reports, archive) = report_channel();
    // A long-lived child: `where` on it shows the reporter as parent, and
    // the archiver's own marked calls as its await stack.
    let _ = monitor_async_std::task()
        .name("report-archiver")
        .spawn(archive_reports(archive));
    for report in 1.. {
        sleep(period).await;
        reports.send(report);
        // Short-lived children fill the terminated history.
        let _ = monitor_async_std::task()
            .name("report-writer")
            .spawn(sleep(Duration::from_millis(20)));
    }
}
