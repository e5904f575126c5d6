//! The JSON API, `/metrics` and the pages over real TCP: every route, every
//! error status, and the fields shared with the console's `--json`.
#![cfg(feature = "http")]

mod http_support;
mod support;

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
        mpsc,
    },
    time::{Duration, Instant},
};

use monitor_core::{
    Spawner, TaskIntrospect, TaskRegistry, TaskState, dispatch::Arg, transport::MemoryTransport,
};
use monitor_server::{MonitorBuilder, console::Namespace};

use http_support::{get, request};
use support::{Client, TinyPool, eventually};

const TOKEN: &str = "0123456789abcdef0123";

struct App {
    spawner: Spawner,
    registry: Arc<TaskRegistry>,
    monitor: monitor_server::Monitor,
    connector: monitor_core::transport::MemoryConnector,
    delay_ms: Arc<AtomicU64>,
}

impl App {
    fn addr(&self) -> SocketAddr {
        self.monitor.http_addr().expect("HTTP is on")
    }
}

fn app_with(configure: impl FnOnce(MonitorBuilder) -> MonitorBuilder) -> App {
    let registry = TaskRegistry::new();
    let pool = TinyPool::new(2);
    let spawner = Spawner::new(pool.clone(), Arc::clone(&registry));
    let delay_ms = Arc::new(AtomicU64::new(250));
    let namespace = Namespace::new()
        .tunable("delay_ms", "worker delay", Arc::clone(&delay_ms))
        .value("build", "build info", || ("v1.2.3", 7))
        .action("greet", "say hello", [Arg::string("WHO")], |args| {
            let who: String = args.get("WHO").unwrap_or_default();
            async move { Ok(format!("hello, {who}")) }
        });
    let (transport, connector) = MemoryTransport::new();
    let builder = MonitorBuilder::new(Arc::clone(&registry))
        .no_tcp()
        .transport(transport)
        .http_port(0)
        .namespace(namespace)
        .console_enabled(false)
        .auth_delay(Duration::from_millis(10))
        .executor(Arc::new(pool));
    let monitor = configure(builder).start().unwrap();
    App {
        spawner,
        registry,
        monitor,
        connector,
        delay_ms,
    }
}

fn app() -> App {
    app_with(|b| b)
}

/// Keeps a [`sleeper`] task waiting; dropping it lets the task end.
#[allow(dead_code)]
struct Sleeper(async_channel::Sender<()>, monitor_core::JoinHandle<()>);

/// A task that waits until the returned guard is dropped.
fn sleeper(app: &App, name: &str) -> (monitor_core::TaskId, Sleeper) {
    let (tx, rx) = async_channel::bounded::<()>(1);
    let handle = app.spawner.task().name(name).spawn(async move {
        let _ = rx.recv().await;
    });
    (handle.id(), Sleeper(tx, handle))
}

fn csrf(addr: SocketAddr, headers: &[(&str, &str)]) -> String {
    let session = request(addr, "GET", "/api/session", headers, b"");
    assert_eq!(session.status, 200, "{session:?}");
    session.json()["csrf_token"].as_str().unwrap().to_owned()
}

#[test]
fn api_tasks_lists_the_console_json_objects_filtered_sorted_and_limited() {
    let app = app();
    let (alpha, _a) = sleeper(&app, "alpha-worker");
    let (beta, _b) = sleeper(&app, "beta-worker");
    eventually("both polled", || {
        (app.registry.task(alpha)?.polls > 0 && app.registry.task(beta)?.polls > 0).then_some(())
    });

    let response = get(app.addr(), "/api/tasks");
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.header("content-type"), Some("application/json"));
    let tasks = response.json();
    let tasks = tasks.as_array().unwrap();
    assert_eq!(tasks.len(), 2);
    // The very objects `ps --json` prints: the same serializer, so the
    // same keys — the task's snapshot plus the ids of the lints it trips.
    let mut expected = serde_json::to_value(app.registry.task(alpha).unwrap()).unwrap();
    expected["lints"] = serde_json::json!([]);
    let keys = |v: &serde_json::Value| {
        let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(keys(&tasks[0]), keys(&expected));
    assert_eq!(tasks[0]["id"], alpha.as_u64());
    assert_eq!(tasks[0]["name"], "alpha-worker");

    let filtered = get(app.addr(), "/api/tasks?filter=beta").json();
    assert_eq!(filtered.as_array().unwrap().len(), 1);
    assert_eq!(filtered[0]["name"], "beta-worker");
    let limited = get(app.addr(), "/api/tasks?sort=age&limit=1").json();
    assert_eq!(limited.as_array().unwrap().len(), 1);
    assert_eq!(limited[0]["id"], alpha.as_u64(), "oldest first");

    let message = get(app.addr(), "/api/tasks?sort=colour").assert_error(400);
    assert!(
        message.contains("colour") && message.contains("poll"),
        "{message}"
    );
    let message = get(app.addr(), "/api/tasks?limit=-3").assert_error(400);
    assert!(message.contains("-3"), "{message}");
}

#[test]
fn api_task_is_where_json_and_bad_or_unknown_ids_are_400_and_404() {
    let app = app();
    let (id, _guard) = sleeper(&app, "traced");
    let response = get(app.addr(), &format!("/api/tasks/{id}"));
    assert_eq!(response.status, 200, "{response:?}");
    let trace = response.json();
    assert_eq!(trace["task"]["id"], id.as_u64());
    assert_eq!(trace["task"]["name"], "traced");
    assert!(trace["ancestors"].is_array());
    assert!(trace.get("stack").is_some());

    for bad in ["abc", "0", "-1", "1.5", "99999999999999999999999"] {
        let message = get(app.addr(), &format!("/api/tasks/{bad}")).assert_error(400);
        assert!(message.contains("positive integer"), "{message}");
    }
    let message = get(app.addr(), "/api/tasks/987654321").assert_error(404);
    assert!(message.contains("987654321"), "{message}");
}

#[test]
fn cancel_needs_csrf_and_same_origin_then_reports_the_outcome_and_409_after() {
    let app = app();
    let (id, _guard) = sleeper(&app, "to-cancel");
    eventually("polled", || {
        (app.registry.task(id)?.polls > 0).then_some(())
    });
    let path = format!("/api/tasks/{id}/cancel");

    // No CSRF token: refused, the task lives on.
    request(app.addr(), "POST", &path, &[], b"").assert_error(403);
    assert_eq!(app.registry.task(id).unwrap().state, TaskState::Idle);
    // A GET never changes anything.
    let message = get(app.addr(), &path).assert_error(405);
    assert!(message.contains("POST"), "{message}");

    let token = csrf(app.addr(), &[]);
    // The right token from another origin: refused.
    let message = request(
        app.addr(),
        "POST",
        &path,
        &[("X-CSRF-Token", &token), ("Origin", "http://evil.example")],
        b"",
    )
    .assert_error(403);
    assert!(message.contains("evil.example"), "{message}");
    request(app.addr(), "POST", &path, &[("X-CSRF-Token", "0000")], b"").assert_error(403);

    let origin = format!("http://{}", app.addr());
    let response = request(
        app.addr(),
        "POST",
        &path,
        &[("X-CSRF-Token", &token), ("Origin", &origin)],
        b"",
    );
    assert_eq!(response.status, 200, "{response:?}");
    let reply = response.json();
    assert_eq!(reply["outcome"], "cancelled");
    assert_eq!(reply["id"], id.as_u64());
    assert_eq!(reply["task"]["state"], "cancelled");
    assert!(reply["message"].as_str().unwrap().contains("to-cancel"));

    let message =
        request(app.addr(), "POST", &path, &[("X-CSRF-Token", &token)], b"").assert_error(409);
    assert!(
        message.contains("ended") || message.contains("already"),
        "{message}"
    );
    request(
        app.addr(),
        "POST",
        "/api/tasks/987654321/cancel",
        &[("X-CSRF-Token", &token)],
        b"",
    )
    .assert_error(404);

    let terminated = get(app.addr(), "/api/terminated?filter=to-cancel").json();
    assert_eq!(terminated.as_array().unwrap().len(), 1);
    assert_eq!(terminated[0]["ended"]["reason"], "cancelled");
}

#[test]
fn cancel_of_a_task_stuck_in_a_poll_says_so_instead_of_hanging() {
    let app = app();
    let (release, blocked) = mpsc::channel::<()>();
    let handle = app.spawner.task().name("hog").spawn(async move {
        let _ = blocked.recv_timeout(Duration::from_secs(20));
    });
    let id = handle.id();
    eventually("running", || {
        (app.registry.task(id)?.state == TaskState::Running).then_some(())
    });
    let token = csrf(app.addr(), &[]);
    let started = Instant::now();
    let reply = request(
        app.addr(),
        "POST",
        &format!("/api/tasks/{id}/cancel"),
        &[("X-CSRF-Token", &token)],
        b"",
    );
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.json()["outcome"], "stuck_in_poll");
    assert!(started.elapsed() < Duration::from_secs(5));
    release.send(()).unwrap();
}

#[test]
fn stats_namespace_and_metrics() {
    let app = app();
    let (_id, _guard) = sleeper(&app, "counted");
    eventually("one live", || {
        (app.registry.live_count() == 1).then_some(())
    });
    let stats = get(app.addr(), "/api/stats").json();
    assert_eq!(stats["live"], 1);
    assert!(stats["spawned_total"].as_u64().unwrap() >= 1);

    let namespace = get(app.addr(), "/api/namespace").json();
    let names: Vec<&str> = namespace
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["build", "delay_ms", "greet"]);
    assert_eq!(namespace[0]["value"], serde_json::json!(["v1.2.3", 7]));
    assert_eq!(namespace[1]["kind"], "tunable");
    assert_eq!(namespace[2]["usage"], "WHO");

    let token = csrf(app.addr(), &[]);
    let post = |name: &str, body: &str| {
        request(
            app.addr(),
            "POST",
            &format!("/api/namespace/{name}"),
            &[
                ("X-CSRF-Token", &token),
                ("Content-Type", "application/json"),
            ],
            body.as_bytes(),
        )
    };
    let set = post("delay_ms", r#"{"value": "10"}"#);
    assert_eq!(set.status, 200, "{set:?}");
    assert_eq!(app.delay_ms.load(Ordering::Relaxed), 10);
    let message = post("delay_ms", r#"{"value": "soon"}"#).assert_error(400);
    assert!(
        message.contains("soon") && message.contains("still 10"),
        "{message}"
    );
    assert_eq!(app.delay_ms.load(Ordering::Relaxed), 10);
    let called = post("greet", r#"{"args": ["web"]}"#);
    assert_eq!(called.status, 200, "{called:?}");
    assert_eq!(called.json()["output"], "hello, web");
    post("build", r#"{"value": "x"}"#).assert_error(409);
    post("nope", r#"{"value": "x"}"#).assert_error(404);
    post("delay_ms", "{not json").assert_error(400);
    post("delay_ms", r#"{"args": []}"#).assert_error(400);
    request(
        app.addr(),
        "POST",
        "/api/namespace/delay_ms",
        &[],
        br#"{"value": "11"}"#,
    )
    .assert_error(403);

    let metrics = request(
        app.addr(),
        "GET",
        "/metrics",
        &[(
            "Accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )],
        b"",
    );
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .header("content-type")
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = &metrics.body;
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(
        text.lines().any(|line| line.starts_with("monitor_tasks{")
            && line.contains("state=\"idle\"")
            && line.contains("http_api.rs")
            && line.ends_with(" 1")),
        "{text}"
    );
    assert!(text.contains("monitor_longest_poll_seconds"), "{text}");
    assert!(text.contains("monitor_tasks_spawned_total"), "{text}");
    // Task names are free-form: never a label.
    assert!(!text.contains("counted"), "{text}");
    // Without asking for OpenMetrics (curl, promtool): the classic format.
    let classic = get(app.addr(), "/metrics");
    assert_eq!(
        classic.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert!(!classic.body.contains("# EOF"));
    assert!(
        classic
            .body
            .contains("# TYPE monitor_tasks_spawned_total counter"),
        "{}",
        classic.body
    );
}

#[test]
fn unknown_routes_methods_hosts_and_oversized_requests_get_json_errors() {
    let app = app();
    let message = get(app.addr(), "/wp-admin").assert_error(404);
    assert!(message.contains("/api/tasks"), "{message}");
    let response = request(app.addr(), "DELETE", "/api/tasks", &[], b"");
    response.assert_error(405);
    assert_eq!(response.header("allow"), Some("GET"));

    // DNS rebinding: a name that resolves here but is not this monitor.
    let message = request(
        app.addr(),
        "GET",
        "/api/tasks",
        &[("Host", "evil.example:50103")],
        b"",
    )
    .assert_error(403);
    assert!(message.contains("evil.example"), "{message}");
    let port = app.addr().port();
    let localhost = request(
        app.addr(),
        "GET",
        "/api/stats",
        &[("Host", &format!("localhost:{port}"))],
        b"",
    );
    assert_eq!(localhost.status, 200);
    let no_host = http_support::parse(&http_support::raw(
        app.addr(),
        b"GET /api/stats HTTP/1.0\r\n\r\n",
    ));
    no_host.assert_error(400);

    let token = csrf(app.addr(), &[]);
    let big = vec![b'x'; 70 * 1024];
    request(
        app.addr(),
        "POST",
        "/api/namespace/delay_ms",
        &[("X-CSRF-Token", &token)],
        &big,
    )
    .assert_error(413);
    // A head over the limit is refused by hyper with 431.
    let huge_header = format!(
        "GET / HTTP/1.1\r\nHost: {}\r\nX-Junk: {}\r\n\r\n",
        app.addr(),
        "y".repeat(40 * 1024)
    );
    let answer = http_support::raw(app.addr(), huge_header.as_bytes());
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 431"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
    // And the server is fine afterwards.
    assert_eq!(get(app.addr(), "/api/stats").status, 200);
    // A client that shuts down its sending side after the request still
    // gets the answer.
    let half_closed = http_support::raw_then_eof(
        app.addr(),
        format!("GET /api/stats HTTP/1.1\r\nHost: {}\r\n\r\n", app.addr()).as_bytes(),
    );
    assert_eq!(http_support::parse(&half_closed).status, 200);
}

#[test]
fn connections_over_the_limit_get_503_and_slots_come_back() {
    let app = app_with(|b| b.http_max_connections(2));
    let idle: Vec<_> = (0..2)
        .map(|_| std::net::TcpStream::connect(app.addr()).unwrap())
        .collect();
    eventually("both connections counted", || {
        let answer = get(app.addr(), "/api/stats");
        (answer.status == 503).then_some(answer)
    })
    .assert_error(503);
    drop(idle);
    eventually("slots released", || {
        (get(app.addr(), "/api/stats").status == 200).then_some(())
    });
}

#[test]
fn with_a_token_programs_use_bearer_and_browsers_log_in_once() {
    let app = app_with(|b| b.auth_token(TOKEN));
    let message = get(app.addr(), "/api/tasks").assert_error(401);
    assert!(message.contains("Bearer"), "{message}");
    let response = request(
        app.addr(),
        "GET",
        "/api/tasks",
        &[("Authorization", "Bearer wrong-wrong-wrong")],
        b"",
    );
    response.assert_error(401);
    assert!(
        response
            .header("www-authenticate")
            .unwrap()
            .starts_with("Bearer")
    );
    let bearer = format!("Bearer {TOKEN}");
    let auth = [("Authorization", bearer.as_str())];
    assert_eq!(
        request(app.addr(), "GET", "/api/tasks", &auth, b"").status,
        200
    );
    get(app.addr(), "/metrics").assert_error(401);
    assert_eq!(
        request(app.addr(), "GET", "/metrics", &auth, b"").status,
        200
    );

    // Bearer requests cannot be forged by a page: no CSRF token needed.
    let (id, _guard) = sleeper(&app, "bearer-cancel");
    let cancelled = request(
        app.addr(),
        "POST",
        &format!("/api/tasks/{id}/cancel"),
        &auth,
        b"",
    );
    assert_eq!(cancelled.status, 200, "{cancelled:?}");

    // A browser is sent to the login form, logs in once, gets a cookie.
    let page = get(app.addr(), "/");
    assert_eq!(page.status, 303);
    assert_eq!(page.header("location"), Some("/login"));
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    request(app.addr(), "POST", "/login", &form, b"token=nope").assert_error(401);
    let login = request(
        app.addr(),
        "POST",
        "/login",
        &form,
        format!("token={TOKEN}").as_bytes(),
    );
    assert_eq!(login.status, 303, "{login:?}");
    let cookie = login.header("set-cookie").unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let with_cookie = [("Cookie", cookie.as_str())];
    let page = request(app.addr(), "GET", "/", &with_cookie, b"");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Live ("), "{}", page.body);

    // The cookie alone does not change state: the page's CSRF token does.
    let (id, _guard2) = sleeper(&app, "cookie-cancel");
    let path = format!("/tasks/{id}/cancel");
    let mut headers = with_cookie.to_vec();
    headers.push(("Content-Type", "application/x-www-form-urlencoded"));
    request(app.addr(), "POST", &path, &headers, b"csrf=guess").assert_error(403);
    let confirm = request(app.addr(), "GET", &path, &with_cookie, b"");
    assert_eq!(confirm.status, 200);
    let token = confirm
        .body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let done = request(
        app.addr(),
        "POST",
        &path,
        &headers,
        format!("csrf={token}").as_bytes(),
    );
    assert_eq!(done.status, 200, "{done:?}");
    assert!(done.body.contains("Cancelled task"), "{}", done.body);
}

#[test]
fn pages_render_escaped_and_answer_while_every_worker_is_blocked() {
    let app = app();
    let (_id, _guard) = sleeper(&app, "<script>alert(1)</script>");
    let (release, blocked) = mpsc::channel::<()>();
    let blocked = Arc::new(std::sync::Mutex::new(blocked));
    for n in 0..2 {
        let blocked = Arc::clone(&blocked);
        std::mem::forget(
            app.spawner
                .task()
                .name(format!("hog-{n}"))
                .spawn(async move {
                    let _ = blocked
                        .lock()
                        .unwrap()
                        .recv_timeout(Duration::from_secs(20));
                }),
        );
    }
    eventually("both workers blocked", || {
        let running = app
            .registry
            .live_tasks()
            .iter()
            .filter(|t| t.state == TaskState::Running)
            .count();
        (running == 2).then_some(())
    });
    let started = Instant::now();
    let page = get(app.addr(), "/?sort=poll");
    assert_eq!(page.status, 200);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(page.body.contains("hog-0") && page.body.contains("hog-1"));
    assert!(page.body.contains("class=\"blocking\"") || page.body.contains("running"));
    assert!(!page.body.contains("<script>alert(1)"), "not escaped");
    assert!(page.body.contains("&lt;script&gt;alert(1)"));
    assert!(
        page.body.contains("http-equiv=\"refresh\""),
        "works without JS"
    );
    for path in [
        "/stats",
        "/console",
        "/?tab=terminated",
        "/assets/htmx-2.0.11.min.js",
    ] {
        assert_eq!(get(app.addr(), path).status, 200, "{path}");
    }
    get(app.addr(), "/?tab=sideways").assert_error(400);
    get(app.addr(), "/tasks/0").assert_error(400);
    get(app.addr(), "/assets/jquery.js").assert_error(404);
    release.send(()).unwrap();
    release.send(()).unwrap();
    // Released is not yet ended: wait for the hogs to leave, or `ps` may
    // count them (and say "3 tasks running").
    eventually("the hogs ended", || {
        (app.registry.live_count() == 1).then_some(())
    });
    // The console on the same loop is unaffected.
    let (mut client, _) = Client::new(app.connector.connect().unwrap(), "monitor >>> ");
    let ps = client.cmd("ps");
    assert!(
        ps.contains("1 task running") && ps.contains("alert(1)"),
        "{ps}"
    );
}

#[test]
fn http_follows_the_console_loopback_rules_and_can_be_turned_off() {
    let err = MonitorBuilder::new(TaskRegistry::new())
        .no_tcp()
        .host("0.0.0.0".parse().unwrap())
        .http_port(0)
        .start()
        .unwrap_err();
    assert!(err.to_string().contains("non-loopback"), "{err}");
    let monitor = MonitorBuilder::new(TaskRegistry::new())
        .port(0)
        .no_http()
        .start()
        .unwrap();
    assert!(monitor.http_addr().is_none());
    // An embedded monitor (no TCP) listens on HTTP only when asked to.
    let (transport, _connector) = MemoryTransport::new();
    let monitor = MonitorBuilder::new(TaskRegistry::new())
        .no_tcp()
        .transport(transport)
        .start()
        .unwrap();
    assert!(monitor.http_addr().is_none());
    let monitor = MonitorBuilder::new(TaskRegistry::new())
        .port(0)
        .start()
        .unwrap();
    let addr = monitor.http_addr().expect("on by default");
    assert_ne!(addr.port(), 0);
    assert_eq!(get(addr, "/api/stats").status, 200);
    drop(monitor);
    assert!(std::net::TcpStream::connect(addr).is_err(), "port released");
}
