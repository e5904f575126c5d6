//! Pages added by other crates (`WebExtension`): served at `/x/{slug}`,
//! their actions POSTed to `/x/{slug}/{action}` behind the same
//! authentication and CSRF checks as every state change, with the
//! action's error as the answer's status.
#![cfg(feature = "http")]

mod http_support;

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use monitor_core::TaskRegistry;
use monitor_server::{
    MonitorBuilder,
    http::{
        ACTION_TIMEOUT, ActionError, ActionForm, ActionFuture, ActionOutcome, PageContext,
        WebExtension,
        maud::{Markup, html},
    },
};

use http_support::{Response, get, request};

const TOKEN: &str = "0123456789abcdef0123";

/// A counter with `add` (a number field), `reset` (refused while the
/// counter is locked) and `hang` (never finishes).
struct Counter {
    count: Arc<AtomicU64>,
    locked: bool,
}

impl WebExtension for Counter {
    fn slug(&self) -> &str {
        "counter"
    }
    fn title(&self) -> &str {
        "Counter <&>"
    }
    fn render(&self) -> Markup {
        html! { p id="count" { "count " (self.count.load(Ordering::SeqCst)) } }
    }
    fn to_json(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({ "count": self.count.load(Ordering::SeqCst) }))
    }
    fn render_page(&self, page: &PageContext<'_>) -> Markup {
        html! {
            (self.render())
            (page.action_form("add", html! { input type="number" name="by" value="1"; }, "Add"))
            (page.action_form("reset", html! {}, "Reset"))
        }
    }
    fn act<'a>(&'a self, action: &'a str, form: &'a ActionForm) -> ActionFuture<'a> {
        Box::pin(async move {
            match action {
                "add" => {
                    let by: u64 = form.require("by")?.parse().map_err(|_| {
                        ActionError::BadRequest("by must be a non-negative integer".into())
                    })?;
                    let now = self.count.fetch_add(by, Ordering::SeqCst) + by;
                    Ok(ActionOutcome::new(format!("count is now {now}")))
                }
                "reset" if self.locked => {
                    Err(ActionError::Conflict("the counter is locked".into()))
                }
                "reset" => {
                    self.count.store(0, Ordering::SeqCst);
                    Ok(ActionOutcome::new("count reset"))
                }
                "hang" => {
                    std::future::pending::<()>().await;
                    unreachable!()
                }
                other => Err(ActionError::NotFound(format!(
                    "no action {other:?}; known: add, reset"
                ))),
            }
        })
    }
}

/// Read-only: keeps the trait's defaults.
struct Plain;

impl WebExtension for Plain {
    fn slug(&self) -> &str {
        "plain"
    }
    fn title(&self) -> &str {
        "Plain"
    }
    fn render(&self) -> Markup {
        html! { p { "read only" } }
    }
}

struct App {
    monitor: monitor_server::Monitor,
    count: Arc<AtomicU64>,
}

impl App {
    fn new(locked: bool, token: Option<&str>) -> Self {
        let count = Arc::new(AtomicU64::new(0));
        let mut builder = MonitorBuilder::new(TaskRegistry::new())
            .no_tcp()
            .http_port(0)
            .console_enabled(false)
            .auth_delay(Duration::from_millis(10))
            .http_extension(Counter {
                count: Arc::clone(&count),
                locked,
            })
            .http_extension(Plain);
        if let Some(token) = token {
            builder = builder.auth_token(token);
        }
        Self {
            monitor: builder.start().unwrap(),
            count,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.monitor.http_addr().unwrap()
    }
}

fn csrf_of(page: &str) -> String {
    page.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a CSRF field")
        .to_owned()
}

fn post_form(addr: SocketAddr, path: &str, extra: &[(&str, &str)], body: &str) -> Response {
    let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
    headers.extend_from_slice(extra);
    request(addr, "POST", path, &headers, body.as_bytes())
}

#[test]
fn an_extension_page_carries_its_forms_and_actions_run_only_with_csrf_and_same_origin() {
    let app = App::new(false, None);
    let page = get(app.addr(), "/x/counter");
    assert_eq!(page.status, 200, "{page:?}");
    assert!(page.body.contains("Counter &lt;&amp;&gt;"), "escaped title");
    assert!(
        page.body.contains("action=\"/x/counter/add\""),
        "{}",
        page.body
    );
    assert!(
        page.body.contains("href=\"/x/counter\""),
        "in the navigation"
    );
    let token = csrf_of(&page.body);

    // No token, a wrong token, another origin: refused, nothing done.
    post_form(app.addr(), "/x/counter/add", &[], "by=5").assert_error(403);
    post_form(app.addr(), "/x/counter/add", &[], "csrf=0000&by=5").assert_error(403);
    let evil = post_form(
        app.addr(),
        "/x/counter/add",
        &[("Origin", "http://evil.example")],
        &format!("csrf={token}&by=5"),
    );
    assert!(evil.assert_error(403).contains("evil.example"));
    assert_eq!(app.count.load(Ordering::SeqCst), 0);
    // A GET never acts.
    let message = get(app.addr(), "/x/counter/add").assert_error(405);
    assert!(message.contains("POST"), "{message}");
    // Not a form.
    request(
        app.addr(),
        "POST",
        "/x/counter/add",
        &[("Content-Type", "application/json")],
        b"{}",
    )
    .assert_error(415);

    let origin = format!("http://{}", app.addr());
    let done = post_form(
        app.addr(),
        "/x/counter/add",
        &[("Origin", &origin)],
        &format!("csrf={token}&by=5"),
    );
    assert_eq!(done.status, 200, "{done:?}");
    assert!(
        done.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(done.body.contains("count is now 5"), "{}", done.body);
    assert!(done.body.contains("count 5"), "the page after the action");
    assert_eq!(app.count.load(Ordering::SeqCst), 5);
}

#[test]
fn refused_actions_answer_400_404_409_and_504_with_the_page_and_the_reason() {
    let app = App::new(true, None);
    let token = csrf_of(&get(app.addr(), "/x/counter").body);
    let post = |path: &str, fields: &str| {
        post_form(
            app.addr(),
            path,
            &[],
            &format!(
                "csrf={token}{}{fields}",
                if fields.is_empty() { "" } else { "&" }
            ),
        )
    };
    let bad = post("/x/counter/add", "by=lots");
    assert_eq!(bad.status, 400, "{bad:?}");
    assert!(bad.body.contains("by must be a non-negative integer"));
    assert!(bad.body.contains("id=\"outcome\""), "shown on the page");
    let missing = post("/x/counter/add", "");
    assert_eq!(missing.status, 400);
    assert!(
        missing.body.contains("no field &quot;by&quot;"),
        "{}",
        missing.body
    );
    let unknown = post("/x/counter/explode", "");
    assert_eq!(unknown.status, 404);
    assert!(unknown.body.contains("known: add, reset"));
    let locked = post("/x/counter/reset", "");
    assert_eq!(locked.status, 409);
    assert!(locked.body.contains("locked"));
    // The defaults: a read-only page has no actions.
    let plain = post("/x/plain/anything", "");
    assert_eq!(plain.status, 404);
    assert!(plain.body.contains("has no action"), "{}", plain.body);
    // No such page.
    let message = post("/x/nope/add", "").assert_error(404);
    assert!(message.contains("/x/counter"), "{message}");
    get(app.addr(), "/x/nope").assert_error(404);
    assert_eq!(app.count.load(Ordering::SeqCst), 0);

    // An action that never finishes is answered, not waited for forever,
    // and the monitor keeps serving meanwhile.
    let addr = app.addr();
    let started = Instant::now();
    let hung = std::thread::spawn(move || {
        post_form(addr, "/x/counter/hang", &[], &format!("csrf={token}"))
    });
    assert_eq!(get(app.addr(), "/x/counter").status, 200);
    let hung = hung.join().unwrap();
    let message = hung.assert_error(504);
    assert!(message.contains("did not finish"), "{message}");
    assert!(started.elapsed() >= ACTION_TIMEOUT);
}

#[test]
fn with_a_token_actions_need_the_login_or_the_bearer_token() {
    let app = App::new(false, Some(TOKEN));
    // A browser without the cookie is sent to log in; nothing is done.
    let anonymous = post_form(app.addr(), "/x/counter/add", &[], "csrf=x&by=1");
    assert_eq!(anonymous.status, 303);
    assert_eq!(anonymous.header("location"), Some("/login"));
    let wrong = post_form(
        app.addr(),
        "/x/counter/add",
        &[("Authorization", "Bearer wrong-wrong-wrong")],
        "by=1",
    );
    wrong.assert_error(401);
    assert_eq!(app.count.load(Ordering::SeqCst), 0);
    // A program with the bearer token needs no CSRF token.
    let bearer = format!("Bearer {TOKEN}");
    let done = post_form(
        app.addr(),
        "/x/counter/add",
        &[("Authorization", &bearer)],
        "by=2",
    );
    assert_eq!(done.status, 200, "{done:?}");
    assert_eq!(app.count.load(Ordering::SeqCst), 2);
}

#[test]
fn act_can_be_called_directly_and_the_form_says_what_is_missing() {
    let count = Arc::new(AtomicU64::new(0));
    let counter = Counter {
        count: Arc::clone(&count),
        locked: false,
    };
    let form = ActionForm::new([("by", "3")]);
    let done = futures_lite::future::block_on(counter.act("add", &form)).unwrap();
    assert_eq!(done.message(), "count is now 3");
    let empty = ActionForm::default();
    let err = futures_lite::future::block_on(counter.act("add", &empty)).unwrap_err();
    assert!(matches!(err, ActionError::BadRequest(_)), "{err:?}");
    assert_eq!(
        futures_lite::future::block_on(Plain.act("x", &empty)),
        Err(ActionError::NotFound(
            "the page /x/plain has no action \"x\"".into()
        ))
    );
}

#[test]
fn an_extension_page_has_a_json_twin_behind_the_same_authentication() {
    let app = App::new(false, None);
    post_form(
        app.addr(),
        "/x/counter/add",
        &[],
        &format!("csrf={}&by=4", csrf_of(&get(app.addr(), "/x/counter").body)),
    );
    let json = get(app.addr(), "/api/x/counter");
    assert_eq!(json.status, 200, "{json:?}");
    assert!(
        json.header("content-type")
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(json.json(), serde_json::json!({ "count": 4 }));

    // A page that keeps the default has none, and says where the page is.
    let plain = get(app.addr(), "/api/x/plain").assert_error(404);
    assert!(
        plain.contains("no JSON view") && plain.contains("/x/plain"),
        "{plain}"
    );
    // An unknown page names the ones there are.
    let unknown = get(app.addr(), "/api/x/nope").assert_error(404);
    assert!(unknown.contains("/x/counter"), "{unknown}");
    // Only GET.
    request(app.addr(), "POST", "/api/x/counter", &[], b"").assert_error(405);
    // Hostile slugs: quoted back as JSON text, never as markup, and the
    // listener keeps serving.
    let odd = get(app.addr(), "/api/x/%3Cscript%3E\"").assert_error(404);
    assert!(!odd.contains("<script>"), "{odd}");
    let long = format!("/api/x/{}", "a".repeat(4000));
    let answer = get(app.addr(), &long);
    assert!(matches!(answer.status, 404 | 414 | 431), "{answer:?}");
    assert_eq!(get(app.addr(), "/api/x/counter").status, 200);

    // With a token: a program without it gets 401 (not the login page), and
    // the bearer token opens it.
    let guarded = App::new(false, Some(TOKEN));
    get(guarded.addr(), "/api/x/counter").assert_error(401);
    let bearer = format!("Bearer {TOKEN}");
    let with_token = request(
        guarded.addr(),
        "GET",
        "/api/x/counter",
        &[("Authorization", &bearer)],
        b"",
    );
    assert_eq!(with_token.status, 200, "{with_token:?}");
}
