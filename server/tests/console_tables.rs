//! Tables that fit the session: `ps` laid out for the client's width
//! (default, `.width N`, telnet's window size), long cells cut with `…`
//! unless `--wide`, and never a row padded to a huge name.

mod support;

use std::sync::Arc;

use monitor_core::{TaskOptions, TaskRegistry, transport::MemoryTransport};
use monitor_server::MonitorBuilder;
use support::Client;
use unicode_width::UnicodeWidthStr;

const PROMPT: &str = "monitor >>> ";

struct App {
    registry: Arc<TaskRegistry>,
    _monitor: monitor_server::Monitor,
    connector: monitor_core::transport::MemoryConnector,
}

fn app() -> App {
    let registry = TaskRegistry::new();
    let (transport, connector) = MemoryTransport::new();
    let monitor = MonitorBuilder::new(Arc::clone(&registry))
        .no_tcp()
        .transport(transport)
        .start()
        .unwrap();
    App {
        registry,
        _monitor: monitor,
        connector,
    }
}

fn client(app: &App) -> Client<monitor_core::transport::MemoryStream> {
    Client::new(app.connector.connect().unwrap(), PROMPT).0
}

/// The widest line of `text`, in terminal columns.
fn widest(text: &str) -> usize {
    text.lines().map(UnicodeWidthStr::width).max().unwrap_or(0)
}

/// Tasks like the tokio demo's, with names as long as real ones get.
fn demo_like(app: &App) -> Vec<monitor_core::ExternalTask> {
    [
        "echo-server",
        "ticker",
        "reporter",
        "waits-forever (cancel me)",
        "report-archiver",
        "connection handler for 192.168.100.200:54321 (keep-alive, tls)",
    ]
    .into_iter()
    .map(|name| app.registry.register(TaskOptions::new().name(name)))
    .collect()
}

#[test]
fn ps_fits_100_columns_by_default_and_the_width_the_client_sets() {
    let app = app();
    let _tasks = demo_like(&app);
    let mut c = client(&app);
    let ps = c.cmd("ps");
    assert!(widest(&ps) <= 100, "{} columns:\n{ps}", widest(&ps));
    assert!(ps.contains("connection handler for"), "{ps}");
    assert!(ps.contains('…'), "the longest name is cut:\n{ps}");
    assert!(ps.contains("console_tables.rs:"), "{ps}");

    assert_eq!(c.cmd(".width 60"), "");
    let narrow = c.cmd("ps");
    assert!(
        widest(&narrow) <= 60,
        "{} columns:\n{narrow}",
        widest(&narrow)
    );
    assert!(c.cmd(".width").contains("60 columns"));

    let wide = c.cmd("ps --wide");
    assert!(
        wide.contains("connection handler for 192.168.100.200:54321 (keep-alive, tls)"),
        "{wide}"
    );
    assert!(widest(&wide) > 60);
}

#[test]
fn a_bad_width_is_refused_and_the_old_one_stays() {
    let app = app();
    let mut c = client(&app);
    let reply = c.cmd(".width 5");
    assert!(
        reply.contains("invalid width \"5\"") && reply.contains("20 to 1000"),
        "{reply}"
    );
    assert!(c.cmd(".width abc").contains("invalid width \"abc\""));
    assert!(c.cmd(".width").contains("100 columns"));
}

#[test]
fn telnet_window_size_sets_the_width() {
    let app = app();
    let _tasks = demo_like(&app);
    let mut c = client(&app);
    // IAC WILL NAWS, then IAC SB NAWS 0 64 0 24 IAC SE: 64 columns.
    c.send_raw(&[255, 251, 31, 255, 250, 31, 0, 64, 0, 24, 255, 240]);
    let ps = c.cmd("ps");
    // The server's IAC DO NAWS arrives first; it is not text.
    let ps = ps
        .trim_start_matches('\u{fffd}')
        .trim_start_matches('\u{1f}');
    assert!(widest(ps) <= 64, "{} columns:\n{ps}", widest(ps));
    assert!(c.cmd(".width").contains("64 columns"));
}

/// Issue 15, item 8: one 64 KiB task name among 1000 tasks made `ps`
/// 66 MB, every row padded to the name. Tables cap it; `where` and
/// `--json` keep it whole.
#[test]
fn a_huge_name_is_capped_in_tables_and_whole_in_where_and_json() {
    let app = app();
    let name = format!("huge-{}", "n".repeat(64 * 1024));
    let huge = app
        .registry
        .register(TaskOptions::new().name(name.as_str()));
    let _others: Vec<_> = (0..1000)
        .map(|i| {
            app.registry
                .register(TaskOptions::new().name(format!("t{i}")))
        })
        .collect();
    let mut c = client(&app);

    for wide in ["", " --wide"] {
        let ps = c.cmd(&format!("ps{wide}"));
        assert!(ps.len() < 400 * 1024, "ps{wide} is {} bytes", ps.len());
        assert!(ps.contains("huge-nnn") && ps.contains("n…"), "ps{wide}");
    }

    let trace = c.cmd(&format!("where {}", huge.id()));
    assert!(trace.contains(&name), "where shows the whole name");
    let json: serde_json::Value = serde_json::from_str(c.cmd("ps --json").trim()).unwrap();
    assert!(
        json.as_array()
            .unwrap()
            .iter()
            .any(|task| task["name"] == name.as_str()),
        "ps --json keeps the whole name"
    );
}
