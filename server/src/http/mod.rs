//! The monitor over HTTP: a web UI, a JSON API and `/metrics`, served by
//! the monitor's own thread (feature `http`).
//!
//! The listener runs on the same `async-io` loop as the console, through
//! hyper's HTTP/1.1 server driven by a small IO adapter (`http/io.rs`), so it
//! answers while every worker of the application is blocked. It is on by
//! default whenever the monitor listens on TCP (port [`HTTP_PORT`], 50103,
//! on the monitor's host: the monitor's port + 2, so it follows
//! `MONITOR_PORT`; any free port when the monitor's port is 0), and
//! with `no_tcp()` only when a port is given; it is configured with
//! [`MonitorBuilder::http_port`](crate::MonitorBuilder::http_port) and
//! turned off with [`MonitorBuilder::no_http`](crate::MonitorBuilder::no_http).
//!
//! | route | what |
//! |---|---|
//! | `GET /` | the tasks page (`?tab=terminated`, `filter`, `sort`, `persistent`) |
//! | `GET /tasks/{id}` | one task: state, creation chain, await stack, cancel |
//! | `GET /stats`, `GET /console` | runtime stats; the console namespace |
//! | `GET /sites`, `GET /lints` | per-spawn-site statistics (`?sort=`); the lints firing now |
//! | `GET /api/tasks` | live tasks, streamed, the objects of `ps --json` |
//! | `GET /api/tasks/{id}` | `where --json` |
//! | `GET /api/terminated` | `ps-terminated --json` |
//! | `POST /api/tasks/{id}/cancel` | cancel, with the truthful outcome |
//! | `GET /api/stats` | counts |
//! | `GET /api/sites` | `sites --json` (`sort`, `limit`) |
//! | `GET /api/lints` | `lints --json` |
//! | `GET /api/namespace`, `POST /api/namespace/{name}` | values, tunables, actions |
//! | `GET /api/session` | the CSRF token for programs without a bearer token |
//! | `GET /metrics` | OpenMetrics text |
//! | `GET /x/{slug}`, `POST /x/{slug}/{action}` | a page a [`WebExtension`] adds, and its actions |
//!
//! See `docs/SECURITY.md` for the rules (Host check, bearer token or login
//! cookie, CSRF) and `docs/FLEET.md` for Prometheus.

mod api;
mod body;
mod io;
mod metrics;
mod pages;
mod security;

use std::{cell::Cell, fmt, net::SocketAddr, pin::Pin, rc::Rc, sync::Arc, time::Duration};

use async_executor::LocalExecutor;
use futures_lite::FutureExt as _;
use hyper::{
    Method, Request, Response, StatusCode,
    body::{Bytes, Incoming},
    header,
    service::service_fn,
};
pub use maud;
pub use prometheus_client;

use monitor_core::transport::{Connection, Transport};

use crate::{
    MonitorError,
    monitor::{LocalService, Shared},
    transport::TcpTransport,
};
use body::{Body, HttpError};
pub(crate) use security::LoginExpiry;
use security::{Caller, Guard, Identity};
pub use security::{DEFAULT_LOGIN_IDLE, DEFAULT_LOGIN_LIFETIME};

/// The HTTP listener's default port (`http://127.0.0.1:50103/`).
pub const HTTP_PORT: u16 = 50103;

/// HTTP connections served at once by default; one more is answered with
/// 503 and closed.
pub const DEFAULT_HTTP_MAX_CONNECTIONS: usize = 32;

/// The most a request's line and headers may take, in bytes (hyper's read
/// buffer); a larger head is answered with 431.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// The largest request body accepted (forms and JSON are small); a larger
/// one is answered with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// How long a client may take to send a request's head once it started.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a client may take to send a request's body once its head
/// arrived (a slowloris body, dripped a byte at a time, is answered 408).
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a connection may send nothing (between requests, or in a body)
/// before it is closed.
pub const READ_STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A page or data source another crate adds to the web UI and `/metrics`.
///
/// The extension point for what `monitor-server` does not know about: the
/// app runner of `monitor-app` registers its page this way, an adapter its
/// runtime metrics. Its methods are called on the monitor's thread and must
/// not wait for the application's runtime.
///
/// ```
/// use monitor_server::http::{WebExtension, maud::{Markup, html}};
///
/// struct Build;
///
/// impl WebExtension for Build {
///     fn slug(&self) -> &str {
///         "build"
///     }
///     fn title(&self) -> &str {
///         "Build"
///     }
///     fn render(&self) -> Markup {
///         html! { p { "version " (env!("CARGO_PKG_VERSION")) } }
///     }
/// }
///
/// let monitor = monitor_server::MonitorBuilder::new(monitor_core::TaskRegistry::new())
///     .port(0)
///     .http_extension(Build)
///     .start()
///     .unwrap();
/// // Served at /x/build, linked from every page's navigation.
/// # drop(monitor);
/// ```
///
/// # Actions
///
/// A page may also change things: [`render_page`](WebExtension::render_page)
/// draws forms with [`PageContext::action_form`], which POST to
/// `/x/{slug}/{action}`; the server checks the Host, the caller's token or
/// login cookie and the CSRF token and Origin (as for every state change)
/// and only then calls [`act`](WebExtension::act), then shows the page
/// again with the outcome (or the error, with its status: 400, 404, 409).
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use monitor_server::http::{
///     ActionError, ActionForm, ActionFuture, ActionOutcome, PageContext, WebExtension,
///     maud::{Markup, html},
/// };
///
/// #[derive(Default)]
/// struct Counter(AtomicU64);
///
/// impl WebExtension for Counter {
///     fn slug(&self) -> &str {
///         "counter"
///     }
///     fn title(&self) -> &str {
///         "Counter"
///     }
///     fn render(&self) -> Markup {
///         html! { p { "count " (self.0.load(Ordering::Relaxed)) } }
///     }
///     fn render_page(&self, page: &PageContext<'_>) -> Markup {
///         html! {
///             (self.render())
///             (page.action_form("add", html! { input type="number" name="by" value="1"; }, "Add"))
///         }
///     }
///     fn to_json(&self) -> Option<serde_json::Value> {
///         Some(serde_json::json!({ "count": self.0.load(Ordering::Relaxed) }))
///     }
///     fn act<'a>(&'a self, action: &'a str, form: &'a ActionForm) -> ActionFuture<'a> {
///         Box::pin(async move {
///             if action != "add" {
///                 return Err(ActionError::NotFound(format!("no action {action:?}; known: add")));
///             }
///             let by: u64 = form.require("by")?.parse().map_err(|_| {
///                 ActionError::BadRequest("by must be a non-negative integer".into())
///             })?;
///             let now = self.0.fetch_add(by, Ordering::Relaxed) + by;
///             Ok(ActionOutcome::new(format!("count is now {now}")))
///         })
///     }
/// }
/// ```
pub trait WebExtension: Send + Sync + 'static {
    /// The page's path segment: it is served at `/x/{slug}`. ASCII letters,
    /// digits, `-` and `_`.
    fn slug(&self) -> &str;
    /// The page's title, also its link in the navigation.
    fn title(&self) -> &str;
    /// The page's content (maud escapes every interpolated value), without
    /// forms: what a read-only view shows.
    fn render(&self) -> maud::Markup;
    /// The page as the web UI serves it, with the forms of its actions
    /// (made with `page`, which carries the CSRF token). Default:
    /// [`render`](WebExtension::render).
    fn render_page(&self, page: &PageContext<'_>) -> maud::Markup {
        let _ = page;
        self.render()
    }
    /// The page's facts as JSON, for programs: served at `GET /api/x/{slug}`
    /// behind the same authentication as the rest of the JSON API. Return
    /// what [`render`](WebExtension::render) shows, as data. Default: none,
    /// and that path answers 404 saying the page has no JSON view.
    fn to_json(&self) -> Option<serde_json::Value> {
        None
    }
    /// Performs `action` (the last segment of `POST /x/{slug}/{action}`)
    /// with the form's fields, after the server checked authentication and
    /// CSRF. Called on the monitor's thread: the future may await (it is
    /// given [`ACTION_TIMEOUT`], then dropped and answered with 504) but
    /// must not block. Default: every action is unknown (404).
    fn act<'a>(&'a self, action: &'a str, form: &'a ActionForm) -> ActionFuture<'a> {
        let _ = form;
        let message = format!("the page /x/{} has no action {action:?}", self.slug());
        Box::pin(std::future::ready(Err(ActionError::NotFound(message))))
    }
    /// Adds this source's metrics to a `/metrics` scrape. Default: none.
    /// Keep label sets bounded (no free-form names in labels).
    fn collect_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        let _ = registry;
    }
}

/// How long [`WebExtension::act`] may take before the request is answered
/// with 504 (the action's future is dropped; work it started elsewhere may
/// still finish).
pub const ACTION_TIMEOUT: Duration = Duration::from_secs(10);

/// What [`WebExtension::act`] returns.
pub type ActionFuture<'a> =
    Pin<Box<dyn std::future::Future<Output = Result<ActionOutcome, ActionError>> + 'a>>;

/// What an action did, shown above its page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionOutcome {
    message: String,
}

impl ActionOutcome {
    /// An outcome saying `message` (`schedule cleanup: run requested`).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Why an action was refused; the variant is the HTTP status of the answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ActionError {
    /// 400: a field is missing or malformed, or the action is not one the
    /// page knows how to take with these fields.
    #[error("{0}")]
    BadRequest(String),
    /// 404: the action, or what it names, does not exist.
    #[error("{0}")]
    NotFound(String),
    /// 409: it exists but cannot be done in its current state.
    #[error("{0}")]
    Conflict(String),
}

impl ActionError {
    fn status(&self) -> StatusCode {
        match self {
            ActionError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ActionError::NotFound(_) => StatusCode::NOT_FOUND,
            ActionError::Conflict(_) => StatusCode::CONFLICT,
        }
    }
}

/// The fields of an action's form (the CSRF token already taken out).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionForm {
    fields: Vec<(String, String)>,
}

impl ActionForm {
    /// A form of these fields, in order (for tests and for calling
    /// [`WebExtension::act`] directly).
    pub fn new<K: Into<String>, V: Into<String>>(fields: impl IntoIterator<Item = (K, V)>) -> Self {
        Self {
            fields: fields
                .into_iter()
                .map(|(key, value)| (key.into(), value.into()))
                .collect(),
        }
    }

    /// The first value of field `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        form_value(&self.fields, name)
    }

    /// The first value of field `name`, or a 400 naming the missing field.
    pub fn require(&self, name: &str) -> Result<&str, ActionError> {
        self.get(name).ok_or_else(|| {
            ActionError::BadRequest(format!(
                "the form has no field {name:?}, which this action needs"
            ))
        })
    }

    /// Every field, in the order sent.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// What [`WebExtension::render_page`] draws its forms with: where they post
/// and the CSRF token they carry.
#[derive(Debug)]
pub struct PageContext<'a> {
    slug: &'a str,
    csrf: &'a str,
}

impl PageContext<'_> {
    /// The path a form for `action` posts to: `/x/{slug}/{action}`.
    pub fn action_path(&self, action: &str) -> String {
        format!("/x/{}/{action}", self.slug)
    }

    /// The hidden CSRF field every form of the page must carry.
    pub fn csrf_field(&self) -> maud::Markup {
        maud::html! { input type="hidden" name="csrf" value=(self.csrf); }
    }

    /// A POST form for `action`: `fields` (inputs named as
    /// [`WebExtension::act`] reads them), the CSRF field and a submit
    /// button labelled `button`.
    pub fn action_form(&self, action: &str, fields: maud::Markup, button: &str) -> maud::Markup {
        maud::html! {
            form.action method="post" action=(self.action_path(action)) {
                (self.csrf_field())
                (fields)
                " " button type="submit" { (button) }
            }
        }
    }
}

/// The HTTP options of a [`MonitorBuilder`](crate::MonitorBuilder).
#[derive(Default)]
pub(crate) struct HttpOptions {
    pub(crate) disabled: bool,
    pub(crate) port: Option<u16>,
    pub(crate) host_names: Vec<String>,
    pub(crate) max_connections: Option<usize>,
    pub(crate) login_expiry: LoginExpiry,
    pub(crate) extensions: Vec<Arc<dyn WebExtension>>,
}

impl fmt::Debug for HttpOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpOptions")
            .field("disabled", &self.disabled)
            .field("port", &self.port)
            .field("host_names", &self.host_names)
            .field("extensions", &self.extensions.len())
            .finish()
    }
}

impl HttpOptions {
    /// Binds the listener on the caller's thread (so a busy port is an
    /// error from `start()`), and returns the service the monitor's loop
    /// runs, or `None` when HTTP is off.
    /// Whether the listener is on: by default whenever the monitor listens
    /// on TCP, and when a port was asked for explicitly.
    pub(crate) fn enabled(&self, tcp: bool) -> bool {
        !self.disabled && (tcp || self.port.is_some())
    }

    pub(crate) fn bind(
        self,
        tcp: bool,
        host: std::net::IpAddr,
        monitor_port: u16,
        auth: Option<Arc<crate::auth::Auth>>,
        write_timeout: Duration,
    ) -> Result<Option<(SocketAddr, LocalService)>, MonitorError> {
        if !self.enabled(tcp) {
            return Ok(None);
        }
        for extension in &self.extensions {
            let slug = extension.slug();
            if slug.is_empty()
                || !slug
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(MonitorError::Config(format!(
                    "web extension slug {slug:?} must be ASCII letters, digits, '-' or '_'"
                )));
            }
        }
        let max_connections = self.max_connections.unwrap_or(DEFAULT_HTTP_MAX_CONNECTIONS);
        if max_connections == 0 {
            return Err(MonitorError::Config(
                "http_max_connections must be at least 1".into(),
            ));
        }
        // Follows the monitor's port (+2; 50101 → 50103), so processes given
        // their own MONITOR_PORT do not fight over the web UI's.
        let default_port = match monitor_port {
            0 => 0,
            port => port
                .checked_add(HTTP_PORT - crate::MONITOR_PORT)
                .ok_or_else(|| {
                    MonitorError::Config(format!(
                        "the web UI's port follows the monitor's (+2), and {port} + 2 is past \
                     65535; pick another port or set .http_port(N)"
                    ))
                })?,
        };
        let listener =
            TcpTransport::bind(SocketAddr::new(host, self.port.unwrap_or(default_port)))?;
        let addr = listener.local_addr();
        let expiry = self.login_expiry.check().map_err(MonitorError::Config)?;
        let guard = Guard::new(addr, auth, &self.host_names, expiry);
        let extensions = self.extensions;
        let service: LocalService = Box::new(move |shared| {
            let state = Rc::new(HttpState {
                shared,
                guard,
                connections: Cell::new(0),
                max_connections,
                write_timeout,
                extensions,
            });
            Box::pin(serve(listener, state))
        });
        Ok(Some((addr, service)))
    }
}

/// What every HTTP connection of one monitor shares (on its one thread).
pub(crate) struct HttpState {
    shared: Arc<Shared>,
    guard: Guard,
    connections: Cell<usize>,
    max_connections: usize,
    write_timeout: Duration,
    extensions: Vec<Arc<dyn WebExtension>>,
}

/// Accepts connections and serves each on a local executor of its own,
/// polled by the monitor's loop: dropping this future (when the monitor
/// closes) drops every connection with it.
async fn serve(listener: TcpTransport, state: Rc<HttpState>) {
    let connections = LocalExecutor::new();
    connections
        .run(async {
            loop {
                match listener.accept().await {
                    Ok(connection) => {
                        connections
                            .spawn(connection_task(connection, Rc::clone(&state)))
                            .detach();
                    }
                    Err(err) => {
                        // Typically EMFILE: back off instead of spinning.
                        eprintln!("monitor: HTTP accept failed: {err}");
                        async_io::Timer::after(Duration::from_millis(100)).await;
                    }
                }
            }
        })
        .await;
}

/// Holds one of the bounded connection places.
struct ConnectionSlot(Rc<HttpState>);

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.0.connections.set(self.0.connections.get() - 1);
    }
}

async fn connection_task(connection: Connection, state: Rc<HttpState>) {
    state.connections.set(state.connections.get() + 1);
    let slot = ConnectionSlot(Rc::clone(&state));
    let peer = connection.peer;
    let io = io::HttpIo::new(connection.stream, READ_STALL_TIMEOUT, state.write_timeout);
    let over_limit = state.connections.get() > state.max_connections;
    let service = {
        let state = Rc::clone(&state);
        let peer = peer.clone();
        service_fn(move |request| {
            let state = Rc::clone(&state);
            let peer = peer.clone();
            async move {
                let response = if over_limit {
                    HttpError::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!(
                            "the monitor is serving its limit of {} HTTP connections; try again \
                             later",
                            state.max_connections
                        ),
                    )
                    .with_header(header::CONNECTION, "close")
                    .into_response()
                } else {
                    handle(&state, request, &peer).await
                };
                Ok::<_, std::convert::Infallible>(response)
            }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(io::AsyncIoTimer)
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES)
        .max_headers(io::MAX_HEADERS)
        // A client that sends its request and then shuts down its sending
        // side (`curl --data @-`, scripts, `nc -N`) still gets its answer.
        .half_close(true)
        .keep_alive(!over_limit);
    // A panic in a handler ends this connection only (the monitor's own
    // loop and the other connections go on).
    let served = std::panic::AssertUnwindSafe(builder.serve_connection(io, service))
        .catch_unwind()
        .await;
    match served {
        Ok(Ok(())) => {}
        // Timeouts, resets and malformed requests: the client's problem,
        // already answered where hyper could (400, 431, 408).
        Ok(Err(_)) => {}
        Err(payload) => eprintln!(
            "monitor: an HTTP request from {peer} panicked: {}",
            monitor_core::panic_message(&*payload)
        ),
    }
    drop(slot);
}

/// The request after its Host and authentication were checked.
pub(crate) struct Ctx<'a> {
    state: &'a HttpState,
    caller: Caller,
    peer: &'a str,
}

impl Ctx<'_> {
    fn csrf(&self) -> &str {
        self.state.guard.csrf_token(&self.caller)
    }

    /// The CSRF token of a browser login, which can be ended with
    /// `POST /logout`; `None` for bearer and open callers.
    fn logout_csrf(&self) -> Option<&str> {
        match &self.caller {
            Caller::Cookie { csrf } => Some(csrf),
            Caller::Open | Caller::Bearer => None,
        }
    }
}

async fn handle(state: &HttpState, request: Request<Incoming>, peer: &str) -> Response<Body> {
    match route(state, request, peer).await {
        Ok(response) => response,
        Err(err) => err.into_response(),
    }
}

async fn route(
    state: &HttpState,
    request: Request<Incoming>,
    peer: &str,
) -> Result<Response<Body>, HttpError> {
    state.guard.check_host(request.headers())?;
    let path = request.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = request.method().clone();
    let is_api = matches!(segments.first(), Some(&"api" | &"metrics"));

    // What anyone who reached the port may load: the login form and the
    // vendored script.
    match (&method, segments.as_slice()) {
        (&Method::GET, ["assets", name]) => return pages::asset(name),
        (&Method::GET, ["login"]) => return Ok(pages::login_page(state, None)),
        (&Method::POST, ["login"]) => {
            let form = read_form(request).await?;
            return pages::login(state, &form, peer).await;
        }
        _ => {}
    }

    let caller = match state.guard.authenticate(request.headers(), peer).await? {
        Identity::Known(caller) => caller,
        Identity::Anonymous if is_api => {
            return Err(security::unauthorized(
                "this monitor requires its token: send Authorization: Bearer TOKEN",
            ));
        }
        Identity::Anonymous => return Ok(pages::redirect("/login")),
        // An expired or unknown login: 401, and the login page saying why.
        Identity::Stale(why) => {
            let response = if is_api {
                security::unauthorized(&why).into_response()
            } else {
                pages::login_page(state, Some(&why))
            };
            return Ok(state.guard.refuse_stale(response));
        }
    };
    let ctx = Ctx {
        state,
        caller,
        peer,
    };
    let query = request.uri().query().unwrap_or("").to_owned();
    let query = parse_form(query.as_bytes());
    match (&method, segments.as_slice()) {
        (&Method::GET, ["api", "tasks"]) => api::tasks(&ctx, &query),
        (&Method::GET, ["api", "tasks", id]) => api::task(&ctx, id),
        (&Method::POST, ["api", "tasks", id, "cancel"]) => {
            ctx.state
                .guard
                .check_state_change(request.headers(), &ctx.caller, None)?;
            let _ = read_body(request).await?;
            api::cancel(&ctx, id).await
        }
        (&Method::GET, ["api", "terminated"]) => api::terminated(&ctx, &query),
        (&Method::GET, ["api", "stats"]) => api::stats(&ctx),
        (&Method::GET, ["api", "sites"]) => api::sites(&ctx, &query),
        (&Method::GET, ["api", "lints"]) => api::lints(&ctx),
        (&Method::GET, ["api", "session"]) => api::session(&ctx),
        (&Method::GET, ["api", "namespace"]) => api::namespace(&ctx),
        (&Method::GET, ["api", "x", slug]) => api::extension(&ctx, slug),
        (&Method::POST, ["api", "namespace", name]) => {
            ctx.state
                .guard
                .check_state_change(request.headers(), &ctx.caller, None)?;
            let body = read_body(request).await?;
            api::namespace_change(&ctx, name, &body).await
        }
        (&Method::GET, ["metrics"]) => api::metrics(&ctx, request.headers()),
        (&Method::GET, [""]) => pages::tasks(&ctx, &query),
        (&Method::GET, ["tasks", id]) => pages::task(&ctx, id, None),
        (&Method::GET, ["tasks", id, "cancel"]) => pages::confirm_cancel(&ctx, id),
        (&Method::POST, ["tasks", id, "cancel"]) => {
            let headers = request.headers().clone();
            let form = read_form(request).await?;
            ctx.state
                .guard
                .check_state_change(&headers, &ctx.caller, form_value(&form, "csrf"))?;
            pages::cancel(&ctx, id).await
        }
        (&Method::GET, ["stats"]) => Ok(pages::stats(&ctx)),
        (&Method::GET, ["sites"]) => pages::sites(&ctx, &query),
        (&Method::GET, ["lints"]) => Ok(pages::lints(&ctx)),
        (&Method::GET, ["console"]) => Ok(pages::console(&ctx, None)),
        (&Method::POST, ["console", name]) => {
            let headers = request.headers().clone();
            let form = read_form(request).await?;
            ctx.state
                .guard
                .check_state_change(&headers, &ctx.caller, form_value(&form, "csrf"))?;
            pages::console_change(&ctx, name, &form).await
        }
        (&Method::GET, ["x", slug]) => pages::extension(&ctx, slug, None),
        (&Method::POST, ["x", slug, action]) => {
            let extension = pages::find_extension(&ctx, slug)?;
            let headers = request.headers().clone();
            let form = read_form(request).await?;
            ctx.state
                .guard
                .check_state_change(&headers, &ctx.caller, form_value(&form, "csrf"))?;
            let form = ActionForm::new(form.into_iter().filter(|(name, _)| name != "csrf"));
            let outcome = async { Some(extension.act(action, &form).await) }
                .or(async {
                    async_io::Timer::after(ACTION_TIMEOUT).await;
                    None
                })
                .await;
            let outcome = outcome.ok_or_else(|| {
                HttpError::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    format!(
                        "the action {action:?} of /x/{slug} did not finish within \
                         {ACTION_TIMEOUT:?}; what it started may still complete"
                    ),
                )
            })?;
            eprintln!(
                "monitor: action {action} of /x/{slug} over HTTP by {peer}: {}",
                match &outcome {
                    Ok(done) => done.message().to_owned(),
                    Err(err) => format!("refused ({err})"),
                }
            );
            pages::extension(&ctx, slug, Some(outcome))
        }
        (&Method::POST, ["logout"]) => {
            let headers = request.headers().clone();
            let form = read_form(request).await?;
            ctx.state
                .guard
                .check_state_change(&headers, &ctx.caller, form_value(&form, "csrf"))?;
            let mut response = pages::redirect("/login");
            let cleared = ctx.state.guard.logout(&ctx.caller);
            response.headers_mut().insert(header::SET_COOKIE, cleared);
            Ok(response)
        }
        _ => Err(no_route(&method, &segments)),
    }
}

/// 405 with `Allow` for a known path and another method, 404 otherwise.
fn no_route(method: &Method, segments: &[&str]) -> HttpError {
    let allowed = match segments {
        [""]
        | ["api", "tasks"]
        | ["api", "tasks", _]
        | ["api", "terminated"]
        | ["api", "stats"]
        | ["api", "sites"]
        | ["api", "lints"]
        | ["sites"]
        | ["lints"]
        | ["api", "session"]
        | ["api", "namespace"]
        | ["api", "x", _]
        | ["metrics"]
        | ["tasks", _]
        | ["stats"]
        | ["assets", _]
        | ["x", _] => Some("GET"),
        ["api", "tasks", _, "cancel"] | ["api", "namespace", _] | ["x", _, _] | ["logout"] => {
            Some("POST")
        }
        ["tasks", _, "cancel"] | ["console", _] => Some(if segments[0] == "console" {
            "POST"
        } else {
            "GET, POST"
        }),
        ["login"] => Some("GET, POST"),
        ["console"] => Some("GET"),
        _ => None,
    };
    match allowed {
        Some(allowed) => HttpError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} is not allowed here; allowed: {allowed}"),
        )
        .with_header(header::ALLOW, allowed),
        None => HttpError::not_found(format!(
            "no such page or API route: /{}; see / for the web UI and /api/tasks, \
             /api/terminated, /api/stats, /api/sites, /api/lints, /api/namespace, \
             /api/x/PAGE (an extension page's data), /metrics for programs",
            segments.join("/")
        )),
    }
}

/// Reads a request body of at most [`MAX_BODY_BYTES`] within
/// [`BODY_TIMEOUT`]: the stall deadline of every read does not stop a
/// client that drips a byte now and then.
async fn read_body(request: Request<Incoming>) -> Result<Bytes, HttpError> {
    read_whole_body(request)
        .or(async {
            async_io::Timer::after(BODY_TIMEOUT).await;
            Err(HttpError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "the request body did not arrive within {} s (bodies of up to \
                     {MAX_BODY_BYTES} bytes are accepted, sent within {} s of the head)",
                    BODY_TIMEOUT.as_secs(),
                    BODY_TIMEOUT.as_secs()
                ),
            )
            .with_header(header::CONNECTION, "close"))
        })
        .await
}

async fn read_whole_body(request: Request<Incoming>) -> Result<Bytes, HttpError> {
    let too_large = || {
        HttpError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than {MAX_BODY_BYTES} bytes"),
        )
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    let mut body = request.into_body();
    let mut bytes = Vec::new();
    loop {
        let frame =
            std::future::poll_fn(|cx| hyper::body::Body::poll_frame(Pin::new(&mut body), cx)).await;
        match frame {
            None => break,
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    if bytes.len() + data.len() > MAX_BODY_BYTES {
                        return Err(too_large());
                    }
                    bytes.extend_from_slice(data);
                }
            }
            Some(Err(err)) => {
                return Err(HttpError::bad_request(format!(
                    "the request body could not be read: {err}"
                )));
            }
        }
    }
    Ok(Bytes::from(bytes))
}

type Form = Vec<(String, String)>;

fn parse_form(bytes: &[u8]) -> Form {
    form_urlencoded::parse(bytes).into_owned().collect()
}

async fn read_form(request: Request<Incoming>) -> Result<Form, HttpError> {
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(HttpError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected a form (Content-Type: application/x-www-form-urlencoded)",
        ));
    }
    Ok(parse_form(&read_body(request).await?))
}

fn form_value<'a>(form: &'a Form, key: &str) -> Option<&'a str> {
    form.iter()
        .find(|(name, _)| name == key)
        .map(|(_, value)| value.as_str())
}

/// Parses a task id from a path segment, or says what is accepted.
fn parse_task_id(text: &str) -> Result<monitor_core::TaskId, HttpError> {
    text.parse::<u64>()
        .ok()
        .and_then(monitor_core::TaskId::from_u64)
        .ok_or_else(|| {
            HttpError::bad_request(format!(
                "invalid task id {text:?}: expected a positive integer, as listed by GET \
                 /api/tasks"
            ))
        })
}
