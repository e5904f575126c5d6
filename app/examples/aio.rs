//! aio.app's walkthrough in Rust: a scheduler, a listener, a protocol and a
//! factory registered by name, started from `aio.toml`, all visible in the
//! monitor.
//!
//! ```text
//! cargo run -p monitor-app --example aio -- -c app/examples/aio.toml check
//! cargo run -p monitor-app --example aio -- -c app/examples/aio.toml run
//! nc 127.0.0.1 8888                   # the echo protocol
//! nc 127.0.0.1 50101                  # the monitor: app, ps, emit, schedule …
//! cargo run -p monitor-app --example aio -- -c app/examples/aio.toml fire "BOOM!"
//! ```

use std::{
    process::ExitCode,
    sync::atomic::{AtomicU64, Ordering},
};

use futures_lite::{AsyncBufReadExt as _, AsyncWriteExt as _, io::BufReader};
use monitor_app::{App, AppContext, BoundServer, BoxError, Connection, Listener};
use monitor_core::{Spawner, TaskRegistry};
use monitor_tokio::TokioExecutor;

static TICKS: AtomicU64 = AtomicU64::new(0);

/// `[app] modules`: runs once before anything starts.
fn setup(ctx: &AppContext) {
    let file = ctx
        .config()
        .file
        .as_deref()
        .map(|p| p.display().to_string());
    println!("setup: configured from {}", file.unwrap_or_default());
}

/// `[schedule.tick] func`: called with the schedule's name every period.
async fn tick(ctx: AppContext, name: String) {
    let n = TICKS.fetch_add(1, Ordering::Relaxed) + 1;
    println!("{name}: tick {n}");
    ctx.signals()
        .emit("example-signal", format!("tick {n} from {name}"))
        .await;
}

/// `[listen.example]`: called with the signal and its message.
async fn print(_ctx: AppContext, signal: String, message: String) {
    println!("{signal}: {message}");
}

/// `[server.echo] protocol`: echoes each line back until the peer closes.
async fn echo(_ctx: AppContext, connection: Connection) -> Result<(), BoxError> {
    let mut reader = BufReader::new(connection);
    let mut line = String::new();
    while reader.read_line(&mut line).await? > 0 {
        reader.get_mut().write_all(line.as_bytes()).await?;
        line.clear();
    }
    Ok(())
}

/// `[server.shout] factory`: binds the socket itself and answers each line
/// in capitals.
async fn factory(
    _ctx: AppContext,
    name: String,
    address: String,
    port: u16,
) -> Result<BoundServer, BoxError> {
    let socket = std::net::TcpListener::bind((address.as_str(), port))?;
    println!("factory: {name} bound {}", socket.local_addr()?);
    Ok(BoundServer::new(
        Listener::tcp(socket)?,
        |_ctx: AppContext, connection: Connection| async move {
            let mut reader = BufReader::new(connection);
            let mut line = String::new();
            while reader.read_line(&mut line).await? > 0 {
                let shout = line.to_uppercase();
                reader.get_mut().write_all(shout.as_bytes()).await?;
                line.clear();
            }
            Ok::<(), std::io::Error>(())
        },
    ))
}

/// `[commands] fire`: `aio fire MESSAGE` emits `example-signal` once.
async fn fire(ctx: AppContext, args: Vec<String>) {
    let message = args.join(" ");
    println!("{}", ctx.signals().emit("example-signal", message).await);
}

fn app() -> App {
    App::builder()
        .name("aio")
        .module("example.setup", setup)
        .scheduler("example.tick", tick)
        .listener("example.print", print)
        .protocol("example.echo", echo)
        .factory("example.factory", factory)
        .command("example.fire", fire)
        .build()
}

fn main() -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("aio: cannot start the tokio runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let handle = runtime.handle().clone();
    let spawner = Spawner::new(
        TokioExecutor::from_handle(handle.clone()),
        TaskRegistry::global().clone(),
    );
    app().main(spawner, Some(monitor_tokio::monitor_builder(handle)))
}
