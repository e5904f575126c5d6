//! A small but real smol application with the monitor attached.
//!
//! ```text
//! cargo run -p monitor-smol --example smol-demo            # then: nc 127.0.0.1 50101
//! cargo run -p monitor-smol --example smol-demo -- --tour  # a scripted first look, then exit
//! cargo run -p monitor-smol --example smol-demo --features tokio-console -- --tokio-console
//!                                                     # then: tokio-console http://127.0.0.1:6669
//! ```

use std::time::Duration;

use demo_support::{AppState, Options, archive_reports, report_channel};
use smol::{
    Timer,
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};

fn main() {
    let options = Options::from_args();
    let state = AppState::new();
    let echo = smol::block_on(start_app(&state));

    let spawn_short = |n: u64| {
        for i in 0..n {
            monitor_smol::task()
                .name(format!("short-{i}"))
                .spawn(Timer::after(Duration::from_millis(10)))
                .detach();
        }
    };
    let monitor = options
        .configure(monitor_smol::monitor_builder())
        .namespace(state.namespace(spawn_short))
        .start();
    demo_support::serve("smol", monitor, echo, options);
}

/// Starts the application's tasks; returns the echo server's address.
async fn start_app(state: &AppState) -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the echo server");
    let echo = listener.local_addr().expect("echo address");
    monitor_smol::task()
        .name("echo-server")
        .spawn(async move {
            while let Ok((mut socket, peer)) = listener.accept().await {
                monitor_smol::task()
                    .name(format!("echo {peer}"))
                    .spawn(async move {
                        let mut buf = [0u8; 1024];
                        while let Ok(n @ 1..) = socket.read(&mut buf).await {
                            if socket.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    })
                    .detach();
            }
        })
        .detach();

    let ticker = state.clone();
    monitor_smol::task()
        .name("ticker")
        .spawn(async move {
            loop {
                Timer::after(ticker.delay()).await;
                ticker.tick();
            }
        })
        .detach();

    monitor_smol::task()
        .name("reporter")
        .persistent(true)
        .spawn(report_every(Duration::from_millis(300)))
        .detach();

    monitor_smol::task()
        .name("waits-forever (cancel me)")
        .spawn(std::future::pending::<()>())
        .detach();
    echo
}

/// The reporter: sends a report to its archiver every `period`.
/// `#[frame]` puts it on the reporter's await stack in `where`.
#[monitor_smol::frame]
async fn report_every(period: Duration) {
    let (reports, archive) = report_channel();
    // A long-lived child: `where` on it shows the reporter as parent, and
    // the archiver's own marked calls as its await stack.
    monitor_smol::task()
        .name("report-archiver")
        .spawn(archive_reports(archive))
        .detach();
    for report in 1.. {
        Timer::after(period).await;
        reports.send(report);
        // Short-lived children fill the terminated history.
        monitor_smol::task()
            .name("report-writer")
            .spawn(Timer::after(Duration::from_millis(20)))
            .detach();
    }
}
