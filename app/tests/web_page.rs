//! The app runner's page in the web UI (`/x/app`) and its `/metrics`
//! series, on tokio: what `app` shows, the `schedule` and `emit` commands
//! as POSTed forms behind the web UI's CSRF check, and the statuses of a
//! refused action.
#![cfg(feature = "http")]

#[path = "../../server/tests/http_support/mod.rs"]
mod http_support;
mod support;

use std::{
    io::{BufRead as _, BufReader, Write as _},
    net::{SocketAddr, TcpStream},
    time::Duration,
};

use http_support::{Response, get, request};
use support::{Event, start, test_app, tokio_runtime::tokio, within};

const CONFIG: &str = "[schedule.tick]\nevery = \"1h\"\nfunc = \"t.count\"\n\
    [schedule.broken]\nevery = \"1h\"\nfunc = \"t.fail\"\n\
    [server.echo]\nprotocol = \"t.echo\"\nport = 0\n\
    [listen.ears]\nping = \"t.hear\"\n\
    [monitor]\nport = 0\n";

fn csrf_of(page: &str) -> String {
    page.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a CSRF field")
        .to_owned()
}

fn post(addr: SocketAddr, action: &str, body: &str) -> Response {
    request(
        addr,
        "POST",
        &format!("/x/app/{action}"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        body.as_bytes(),
    )
}

/// The `<tr>` of the row carrying `attribute`.
fn row<'a>(page: &'a str, attribute: &str) -> &'a str {
    let start = page
        .find(attribute)
        .unwrap_or_else(|| panic!("no {attribute} in {page}"));
    let end = page[start..].find("</tr>").unwrap() + start;
    &page[start..end]
}

#[test]
fn the_app_page_shows_schedules_servers_signals_and_its_buttons_act_like_the_commands() {
    let rt = tokio();
    let (events, heard) = async_channel::unbounded();
    let app = test_app(events);
    let running = start(&rt, &app, CONFIG).unwrap();
    let monitor = running.monitor().unwrap();
    let addr = monitor.http_addr().expect("the web UI is on");

    // A live connection to the echo server shows on the page.
    let echo = running.server_addr("echo").unwrap();
    let mut stream = TcpStream::connect(echo).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(b"hi\n").unwrap();
    let mut line = String::new();
    BufReader::new(stream.try_clone().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "hi\n");

    let page = get(addr, "/x/app");
    assert_eq!(page.status, 200, "{page:?}");
    let body = &page.body;
    assert!(body.contains("href=\"/x/app\""), "linked in the navigation");
    let tick = row(body, "data-schedule=\"tick\"");
    assert!(
        tick.contains("every 1h") && tick.contains("never ran"),
        "{tick}"
    );
    assert!(
        tick.contains("data-paused=\"false\"") && tick.contains("in "),
        "{tick}"
    );
    assert!(tick.contains("action=\"/x/app/pause\""), "{tick}");
    let server = row(body, "data-server=\"echo\"");
    assert!(server.contains(&echo.to_string()), "{server}");
    assert!(server.contains("<td class=\"num live\">1</td>"), "{server}");
    let signal = row(body, "data-signal=\"ping\"");
    assert!(signal.contains("ears:t.hear"), "{signal}");
    assert!(signal.contains("action=\"/x/app/emit\""), "{signal}");
    let token = csrf_of(body);

    // Without the page's token nothing happens.
    post(addr, "pause", "schedule=tick").assert_error(403);
    post(addr, "pause", "csrf=nope&schedule=tick").assert_error(403);
    assert!(!running.status().schedules.iter().any(|s| s.paused));

    // Pause: the same state the console's `schedule` command changes.
    let paused = post(addr, "pause", &format!("csrf={token}&schedule=tick"));
    assert_eq!(paused.status, 200, "{paused:?}");
    assert!(
        paused.body.contains("schedule tick: paused"),
        "{}",
        paused.body
    );
    let tick = row(&paused.body, "data-schedule=\"tick\"");
    assert!(tick.contains("<strong>paused</strong>"), "{tick}");
    assert!(tick.contains("action=\"/x/app/resume\""), "{tick}");
    let status = running.status();
    assert!(
        status
            .schedules
            .iter()
            .any(|s| s.name == "tick" && s.paused)
    );
    // The same facts for programs, next to the page.
    assert!(
        paused.body.contains("href=\"/api/x/app\""),
        "linked from the page"
    );
    let api = get(addr, "/api/x/app");
    assert_eq!(api.status, 200, "{api:?}");
    let json: serde_json::Value = serde_json::from_str(&api.body).expect("JSON");
    let tick = json["schedules"]
        .as_array()
        .and_then(|schedules| schedules.iter().find(|s| s["name"] == "tick"))
        .unwrap_or_else(|| panic!("no schedule tick in {json}"));
    assert_eq!(tick["paused"], true, "{json}");
    let echo_row = json["servers"]
        .as_array()
        .and_then(|servers| servers.iter().find(|s| s["name"] == "echo"))
        .unwrap_or_else(|| panic!("no server echo in {json}"));
    assert_eq!(echo_row["address"], echo.to_string(), "{json}");
    assert_eq!(echo_row["live_connections"], 1, "{json}");
    let mut console = demo_support::client::ConsoleClient::connect(monitor.tcp_addr().unwrap())
        .expect("a console session");
    assert_eq!(
        console.command("schedule pause tick").unwrap(),
        "schedule tick: already paused\n"
    );

    // Run now works while paused.
    let ran = post(addr, "run", &format!("csrf={token}&schedule=tick"));
    assert!(ran.body.contains("schedule tick: run requested"));
    assert_eq!(
        within("the requested run", heard.recv()).unwrap(),
        Event::Ran("tick".into())
    );
    let resumed = post(addr, "resume", &format!("csrf={token}&schedule=tick"));
    assert!(resumed.body.contains("schedule tick: resumed"));
    assert!(!running.status().schedules.iter().any(|s| s.paused));

    // Emit waits for the listeners and says how they did.
    let emitted = post(
        addr,
        "emit",
        &format!("csrf={token}&signal=ping&message=over+http"),
    );
    assert_eq!(emitted.status, 200, "{emitted:?}");
    assert!(
        emitted.body.contains("ping delivered to 1 listener(s)"),
        "{}",
        emitted.body
    );
    assert_eq!(
        within("the listener", heard.recv()).unwrap(),
        Event::Heard {
            signal: "ping".into(),
            message: "over http".into()
        }
    );
    let signal = row(&emitted.body, "data-signal=\"ping\"");
    assert!(
        signal.contains("<td class=\"num emits\">1</td>"),
        "{signal}"
    );
    drop(stream);
}

#[test]
fn refused_app_actions_are_404_400_and_409_with_the_reason_on_the_page() {
    let rt = tokio();
    let (events, _heard) = async_channel::unbounded();
    let app = test_app(events);
    let running = start(&rt, &app, CONFIG).unwrap();
    let addr = running.monitor().unwrap().http_addr().unwrap();
    let token = csrf_of(&get(addr, "/x/app").body);
    let with = |fields: &str| format!("csrf={token}&{fields}");

    let missing = post(addr, "run", &with("schedule=nope"));
    assert_eq!(missing.status, 404);
    assert!(
        missing
            .body
            .contains("no schedule named `nope`; schedules: broken, tick"),
        "{}",
        missing.body
    );
    let unheard = post(addr, "emit", &with("signal=shout"));
    assert_eq!(unheard.status, 404);
    assert!(unheard.body.contains("subscribed signals: ping"));
    let no_field = post(addr, "pause", &with("name=tick"));
    assert_eq!(no_field.status, 400);
    assert!(no_field.body.contains("schedule"), "{}", no_field.body);
    let unknown = post(addr, "explode", &with("schedule=tick"));
    assert_eq!(unknown.status, 404);
    assert!(unknown.body.contains("actions: run, pause, resume"));

    within("shutdown", running.shutdown(Duration::from_secs(1)));
    let late = post(addr, "run", &with("schedule=tick"));
    assert_eq!(late.status, 409, "{late:?}");
    assert!(late.body.contains("shutting down"), "{}", late.body);
    let late = post(addr, "emit", &with("signal=ping"));
    assert_eq!(late.status, 409);
    assert!(get(addr, "/x/app").body.contains("shutting down"));
}

#[test]
fn app_metrics_count_runs_and_failures_by_schedule_name() {
    let rt = tokio();
    let (events, heard) = async_channel::unbounded();
    let app = test_app(events);
    let running = start(&rt, &app, CONFIG).unwrap();
    let addr = running.monitor().unwrap().http_addr().unwrap();
    let token = csrf_of(&get(addr, "/x/app").body);
    post(addr, "run", &format!("csrf={token}&schedule=tick"));
    within("the run", heard.recv()).unwrap();
    post(addr, "run", &format!("csrf={token}&schedule=broken"));
    let metrics = loop {
        let metrics = get(addr, "/metrics").body;
        if metrics.contains("monitor_app_schedule_failures_total{schedule=\"broken\"} 1") {
            break metrics;
        }
        within(
            "the failing run",
            async_io::Timer::after(Duration::from_millis(10)),
        );
    };
    for line in [
        "monitor_app_schedule_runs_total{schedule=\"tick\"} 1",
        "monitor_app_schedule_runs_total{schedule=\"broken\"} 1",
        "monitor_app_schedule_failures_total{schedule=\"tick\"} 0",
        "monitor_app_schedule_paused{schedule=\"tick\"} 0",
        "monitor_app_server_connections{server=\"echo\"} 0",
        "monitor_app_signal_emits_total{signal=\"ping\"} 0",
        "# TYPE monitor_app_schedule_runs_total counter",
    ] {
        assert!(metrics.contains(line), "no {line:?} in\n{metrics}");
    }
}
