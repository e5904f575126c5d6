//! The web UI: server-rendered pages (maud escapes every interpolated
//! value), readable and usable without JavaScript — filters are GET forms,
//! state changes are POST forms, the task list refreshes with a
//! `<noscript>` meta refresh — and refreshed in place by the vendored htmx
//! when scripts run.

use std::{collections::HashMap, sync::Arc};

use hyper::{
    Response, StatusCode,
    header::{self, HeaderValue},
};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use monitor_core::{
    Lint, LintSubject, Severity, SiteStats, TaskEnd, TaskId, TaskSnapshot, TaskTrace,
    dispatch::{ArgInfo, ArgKind},
};

use super::{
    ActionError, ActionOutcome, Ctx, Form, HttpError, HttpState, PageContext, WebExtension,
    api::{self, CancelReply, ListQuery, SitesQuery},
    body::{Body, respond},
    form_value, parse_task_id,
};
use crate::{
    commands,
    format::{busy, duration_ns},
};

/// The vendored htmx, pinned: `npm pack htmx.org@2.0.11`, `dist/htmx.min.js`
/// (sha256 d6fdc75f…f717), licence 0BSD (`assets/htmx-LICENSE`).
const HTMX_PATH: &str = "htmx-2.0.11.min.js";
const HTMX: &str = include_str!("assets/htmx-2.0.11.min.js");

/// A poll that has lasted this long is highlighted: the task is blocking
/// its worker.
const BLOCKING_POLL_NS: u64 = 100_000_000;

/// How often the task list refreshes itself, in seconds.
const REFRESH_SECS: u32 = 2;

const STYLE: &str = "
body{font-family:system-ui,sans-serif;margin:0;color:#1d2430;background:#f6f7f9}
header{background:#1d2430;color:#fff;padding:.6em 1.2em;display:flex;gap:1.5em;align-items:baseline}
header a{color:#cfe3ff;text-decoration:none}header strong{font-size:1.1em}
main{padding:1em 1.2em}
table{border-collapse:collapse;width:100%;background:#fff;font-size:.92em}
th,td{text-align:left;padding:.35em .6em;border-bottom:1px solid #e3e6ea;vertical-align:top}
th{background:#eef1f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.blocking{background:#ffe1e1}tr.blocking td:nth-child(2){font-weight:bold;color:#a40000}
.tabs a{display:inline-block;padding:.4em .9em;margin-right:.3em;background:#e3e6ea;border-radius:.4em .4em 0 0;color:#1d2430;text-decoration:none}
.tabs a.active{background:#fff;font-weight:bold}
form.filters{margin:.6em 0;display:flex;gap:.6em;align-items:center;flex-wrap:wrap}
form.action{display:inline-block;margin:0 .3em .2em 0}
.notice{white-space:pre-line;background:#fff6d6;border:1px solid #e8d48a;padding:.6em .9em;margin:.6em 0}
.error{background:#ffe1e1;border-color:#e8a0a0}
pre{background:#fff;padding:.6em;border:1px solid #e3e6ea;overflow:auto}
code{font-size:.95em}
tr.flagged td:first-child{box-shadow:inset 4px 0 #d98a00}
a.lint{display:inline-block;font-size:.8em;padding:0 .4em;margin:0 .2em .1em 0;border-radius:.3em;background:#fff0c2;color:#6b4a00;text-decoration:none}
a.lint.error{background:#ffd0d0;color:#8a0000}
th a{color:inherit}th a.sorted{text-decoration:none;font-weight:bold}
section.lint{background:#fff;border:1px solid #e3e6ea;border-left:4px solid #d98a00;padding:.5em .9em;margin:.6em 0}
section.lint.error{border-left-color:#b00020}section.lint h2{font-size:1em;margin:.2em 0}
form.logout{display:inline;margin-left:auto}
button.danger{background:#b00020;color:#fff;border:0;padding:.45em 1em;border-radius:.3em}
";

/// A page in the common frame. `logout` is the CSRF token of a browser
/// login, which gets a "Log out" button (a bearer or open caller has
/// nothing to end).
fn layout(
    ctx_state: &HttpState,
    logout: Option<&str>,
    title: &str,
    refresh: bool,
    content: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · monitor" }
                style { (PreEscaped(STYLE)) }
                @if refresh {
                    noscript { meta http-equiv="refresh" content=(REFRESH_SECS); }
                }
                script src={ "/assets/" (HTMX_PATH) } defer {}
            }
            body {
                header {
                    strong { "monitor" }
                    a href="/" { "Tasks" }
                    a href="/sites" { "Sites" }
                    a href="/lints" { "Lints" }
                    a href="/stats" { "Stats" }
                    a href="/console" { "Console" }
                    @for extension in &ctx_state.extensions {
                        a href={ "/x/" (extension.slug()) } { (extension.title()) }
                    }
                    @if let Some(csrf) = logout {
                        form.logout method="post" action="/logout" {
                            input type="hidden" name="csrf" value=(csrf);
                            button type="submit" { "Log out" }
                        }
                    }
                }
                main { (content) }
            }
        }
    }
}

fn page(markup: Markup) -> Response<Body> {
    respond(
        StatusCode::OK,
        "text/html; charset=utf-8",
        Body::full(markup.into_string()),
    )
}

/// A 303 to `location` (after a POST, or to the login form).
pub(super) fn redirect(location: &str) -> Response<Body> {
    let mut response = respond(StatusCode::SEE_OTHER, "text/plain", Body::empty());
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

/// `GET /assets/{name}`: the vendored script.
pub(super) fn asset(name: &str) -> Result<Response<Body>, HttpError> {
    if name != HTMX_PATH {
        return Err(HttpError::not_found(format!(
            "no asset {name:?}; the only asset is /assets/{HTMX_PATH}"
        )));
    }
    let mut response = respond(
        StatusCode::OK,
        "text/javascript; charset=utf-8",
        Body::full(HTMX),
    );
    // The name carries the version: it never changes.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    Ok(response)
}

/// `GET /login`.
pub(super) fn login_page(state: &HttpState, message: Option<&str>) -> Response<Body> {
    page(layout(
        state,
        None,
        "Log in",
        false,
        html! {
            h1 { "Log in" }
            @if !state.guard.has_token() {
                p.notice { "This monitor has no token; there is nothing to log in to. "
                    a href="/" { "Go to the tasks." } }
            } @else {
                @if let Some(message) = message { p.notice.error { (message) } }
                p { "This monitor requires its token (the one given to "
                    code { "MonitorBuilder::auth_token" } ")." }
                form method="post" action="/login" {
                    label { "Token " input type="password" name="token" autocomplete="current-password" required; }
                    " "
                    button type="submit" { "Log in" }
                }
            }
        },
    ))
}

/// `POST /login`: sets the login cookie and goes to the tasks.
pub(super) async fn login(
    state: &HttpState,
    form: &Form,
    peer: &str,
) -> Result<Response<Body>, HttpError> {
    let guess = form_value(form, "token").unwrap_or("");
    let cookie = state.guard.login(guess, peer).await?;
    let mut response = redirect("/");
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

fn task_link(task: &TaskSnapshot) -> Markup {
    html! { a href={ "/tasks/" (task.id) } { (task.id) } }
}

fn ended_text(task: &TaskSnapshot) -> String {
    match &task.ended {
        Some(TaskEnd::Panicked { message }) => format!("panicked: {message}"),
        Some(end) => end.to_string(),
        None => "-".to_owned(),
    }
}

/// `GET /`: the live and terminated tabs.
pub(super) fn tasks(ctx: &Ctx<'_>, query: &Form) -> Result<Response<Body>, HttpError> {
    let list = ListQuery::parse(query)?;
    let terminated_tab = match form_value(query, "tab") {
        None | Some("" | "live") => false,
        Some("terminated") => true,
        Some(other) => {
            return Err(HttpError::bad_request(format!(
                "invalid tab {other:?}: expected live or terminated"
            )));
        }
    };
    let persistent_only = form_value(query, "persistent").is_some_and(|v| !v.is_empty());
    let introspect = &ctx.state.shared.introspect;
    let fired = if terminated_tab {
        Vec::new()
    } else {
        monitor_core::lints(&**introspect)
    };
    let flags = Flags::new(&fired);
    let keep = |task: &TaskSnapshot| {
        commands::matches_filter(task, list.filter) && (!persistent_only || task.persistent)
    };
    let mut live = Vec::new();
    let mut live_count = 0usize;
    introspect.for_each_live(&mut |task| {
        live_count += 1;
        if !terminated_tab && keep(&task) {
            live.push(task);
        }
    });
    let terminated_all = introspect.terminated();
    let terminated_count = terminated_all.len();
    let terminated: Vec<TaskSnapshot> = if terminated_tab {
        terminated_all.into_iter().filter(|t| keep(t)).collect()
    } else {
        Vec::new()
    };
    live.sort_unstable_by_key(|task| (commands::sort_key(task, list.sort), task.id));
    if list.limit > 0 {
        live.truncate(list.limit);
    }
    let tab_link = |tab: &str| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        query.append_pair("tab", tab);
        if let Some(filter) = list.filter {
            query.append_pair("filter", filter);
        }
        if let Some(sort) = list.sort {
            query.append_pair("sort", sort);
        }
        if persistent_only {
            query.append_pair("persistent", "1");
        }
        format!("/?{}", query.finish())
    };
    let shown = if terminated_tab {
        terminated.len()
    } else {
        live.len()
    };
    let content = html! {
        nav.tabs {
            a.active[!terminated_tab] href=(tab_link("live")) id="tab-live" {
                "Live (" (live_count) ")" }
            a.active[terminated_tab] href=(tab_link("terminated")) id="tab-terminated" {
                "Terminated (" (terminated_count) ")" }
        }
        form.filters method="get" action="/" {
            input type="hidden" name="tab" value=(if terminated_tab { "terminated" } else { "live" });
            label { "Filter " input type="search" name="filter" id="filter"
                placeholder="name or location" value=(list.filter.unwrap_or("")); }
            @if !terminated_tab {
                label { "Sort " select name="sort" id="sort" {
                    @for (key, label) in [("id", "id"), ("age", "oldest"), ("busy", "busiest"),
                                          ("polls", "most polls"), ("poll", "longest in poll")] {
                        option value=(key) selected[list.sort == Some(key)] { (label) }
                    }
                } }
            }
            label { input type="checkbox" name="persistent" value="1" checked[persistent_only];
                " persistent only" }
            button type="submit" id="apply" { "Apply" }
        }
        // Refreshed in place every 2 s when scripts run (the noscript meta
        // refresh reloads the page otherwise).
        div id="tasks" hx-get=(request_path(ctx, query)) hx-trigger={ "every " (REFRESH_SECS) "s" }
            hx-select="#tasks" hx-swap="outerHTML" {
            p { "Showing " span id="shown" { (shown) } " of "
                (if terminated_tab { terminated_count } else { live_count })
                (if terminated_tab { " ended tasks (the history is bounded; persistent tasks stay)" }
                 else { " live tasks" }) }
            @if terminated_tab {
                table {
                    thead { tr { th { "Task" } th { "Name" } th { "Ended" } th { "Location" }
                        th { "Lifetime" } th { "Ended ago" } } }
                    tbody {
                        @for task in &terminated {
                            tr data-task-id=(task.id) {
                                td.num { (task_link(task)) }
                                td.name { (task.display_name()) }
                                td { (ended_text(task)) }
                                td { code { (task.location) } }
                                td.num { (duration_ns(task.age_ns)) }
                                td.num { (duration_ns(task.ended_ago_ns.unwrap_or(0))) }
                            }
                        }
                    }
                }
            } @else {
                table {
                    thead { tr { th { "Task" } th { "State" } th { "Name" } th { "Location" }
                        th { "Age" } th { "Polls" } th { "Busy" } th { "In poll" } th { "Lints" } th {} } }
                    tbody {
                        @for task in &live {
                            @let blocking = task.poll_ns.is_some_and(|ns| ns >= BLOCKING_POLL_NS);
                            @let flags = flags.of(task);
                            tr.blocking[blocking].flagged[!flags.is_empty()] data-task-id=(task.id) {
                                td.num { (task_link(task)) }
                                td { (task.state) }
                                td.name { (task.display_name()) }
                                td { code { (task.location) } }
                                td.num { (duration_ns(task.age_ns)) }
                                td.num { (task.polls) }
                                td.num { (busy(task.busy_ns)) }
                                td { @match (task.poll_ns, &task.thread) {
                                    (Some(ns), Some(thread)) => { (duration_ns(ns)) " on " (thread) }
                                    (Some(ns), None) => { (duration_ns(ns)) }
                                    _ => { "-" }
                                } }
                                td.flags { @for lint in &flags { (lint_badge(lint)) } }
                                td { a.cancel href={ "/tasks/" (task.id) "/cancel" } { "cancel" } }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(layout(
        ctx.state,
        ctx.logout_csrf(),
        "Tasks",
        true,
        content,
    )))
}

/// The path and query of the tasks page as asked, for htmx's refresh.
fn request_path(_ctx: &Ctx<'_>, query: &Form) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (key, value) in query {
        serializer.append_pair(key, value);
    }
    let query = serializer.finish();
    if query.is_empty() {
        "/".to_owned()
    } else {
        format!("/?{query}")
    }
}

fn trace_markup(trace: &TaskTrace) -> Markup {
    let task = &trace.task;
    html! {
        table {
            tr { th { "State" } td id="state" { (task.state) } }
            tr { th { "Name" } td { (task.display_name()) } }
            tr { th { "Spawned at" } td { code { (task.location) } } }
            tr { th { (if task.ended.is_some() { "Lifetime" } else { "Age" }) }
                td { (duration_ns(task.age_ns)) } }
            tr { th { "Polls" } td { (task.polls) } }
            tr { th { "Busy" } td { (busy(task.busy_ns)) } }
            @if let Some(poll_ns) = task.poll_ns {
                tr.blocking[poll_ns >= BLOCKING_POLL_NS] { th { "In poll" }
                    td { (duration_ns(poll_ns)) " on " (task.thread.as_deref().unwrap_or("?")) } }
            }
            @if task.ended.is_some() {
                tr { th { "Ended" } td id="ended" { (ended_text(task)) } }
            }
            tr { th { "Persistent" } td { (task.persistent) } }
        }
        h2 { "Creation chain (root first)" }
        ol {
            @for frame in &trace.ancestors {
                li { a href={ "/tasks/" (frame.id) } { "task " (frame.id) }
                    " (" (frame.name.as_deref().unwrap_or("-")) ")"
                    @match (&frame.location, frame.state) {
                        (Some(location), Some(state)) => { " spawned at " code { (location) } " [" (state) "]" }
                        _ => { " [no longer recorded]" }
                    }
                }
            }
            li { strong { "task " (task.id) " (" (task.display_name()) ")" }
                " spawned at " code { (task.location) } }
        }
        h2 { "Await stack" }
        @match &trace.stack {
            Some(stack) => pre { (stack) },
            None => p { "No await stack: this runtime adapter does not capture one." },
        }
    }
}

fn trace_of(ctx: &Ctx<'_>, id: &str) -> Result<TaskTrace, HttpError> {
    let id = parse_task_id(id)?;
    ctx.state
        .shared
        .introspect
        .trace(id)
        .map_err(api::registry_error)
}

/// `GET /tasks/{id}` (and the page after a cancel, with its outcome).
pub(super) fn task(
    ctx: &Ctx<'_>,
    id: &str,
    outcome: Option<&CancelReply>,
) -> Result<Response<Body>, HttpError> {
    let trace = trace_of(ctx, id)?;
    let task = &trace.task;
    let live = !task.state.is_terminal();
    let title = format!("Task {} ({})", task.id, task.display_name());
    let content = html! {
        h1 { (title) }
        @if let Some(outcome) = outcome {
            p.notice id="outcome" data-outcome=(outcome.outcome) { (outcome.message) }
        }
        (trace_markup(&trace))
        @if live {
            p { a.cancel href={ "/tasks/" (task.id) "/cancel" } { "Cancel this task…" } }
        } @else {
            p { a href="/?tab=terminated" { "All terminated tasks" } }
        }
    };
    Ok(page(layout(
        ctx.state,
        ctx.logout_csrf(),
        &title,
        false,
        content,
    )))
}

/// `GET /tasks/{id}/cancel`: the confirmation (works without JavaScript).
pub(super) fn confirm_cancel(ctx: &Ctx<'_>, id: &str) -> Result<Response<Body>, HttpError> {
    let trace = trace_of(ctx, id)?;
    let task = &trace.task;
    if task.state.is_terminal() {
        return Err(HttpError::conflict(format!(
            "task {} has already ended ({})",
            task.id,
            ended_text(task)
        )));
    }
    let title = format!("Cancel task {} ({})?", task.id, task.display_name());
    let content = html! {
        h1 { (title) }
        p { "Its future is dropped at its next poll, running its destructors. A task stuck \
             inside a poll stops only when that poll returns; the next page says which happened." }
        p { "Spawned at " code { (task.location) } ", state " (task.state) "." }
        form method="post" action={ "/tasks/" (task.id) "/cancel" } {
            input type="hidden" name="csrf" value=(ctx.csrf());
            button.danger type="submit" id="confirm-cancel" { "Yes, cancel task " (task.id) }
            " "
            a href={ "/tasks/" (task.id) } { "No, keep it" }
        }
    };
    Ok(page(layout(
        ctx.state,
        ctx.logout_csrf(),
        &title,
        false,
        content,
    )))
}

/// `POST /tasks/{id}/cancel`: cancels, then shows the task with the outcome.
pub(super) async fn cancel(ctx: &Ctx<'_>, id: &str) -> Result<Response<Body>, HttpError> {
    let reply = api::cancel_task(ctx, id).await?;
    task(ctx, &reply.id.to_string(), Some(&reply))
}

/// `GET /stats`.
pub(super) fn stats(ctx: &Ctx<'_>) -> Response<Body> {
    let stats = api::collect_stats(ctx);
    let content = html! {
        h1 { "Runtime stats" }
        table {
            tr { th { "Live tasks" } td.num { (stats.live) } }
            tr { th { "… inside a poll now" } td.num { (stats.running) } }
            tr { th { "… idle" } td.num { (stats.idle) } }
            tr.blocking[stats.longest_poll_ns >= BLOCKING_POLL_NS] { th { "Longest poll in progress" }
                td.num { (duration_ns(stats.longest_poll_ns))
                    @if let Some(id) = stats.longest_poll_task { " (" a href={ "/tasks/" (id) } { "task " (id) } ")" } } }
            @for (reason, count) in &stats.terminated {
                tr { th { "Ended, " (reason) " (in the history)" } td.num { (count) } }
            }
            tr { th { "Tasks spawned since start" } td.num { (stats.spawned_total) } }
            tr { th { "Console sessions" } td.num { (stats.console_sessions) } }
            tr { th { "HTTP connections" } td.num { (stats.http_connections) } }
        }
        p { "The same numbers: " a href="/api/stats" { "/api/stats" } " (JSON), "
            a href="/metrics" { "/metrics" } " (OpenMetrics)." }
    };
    page(layout(ctx.state, ctx.logout_csrf(), "Stats", true, content))
}

/// The lints firing now, indexed by task and by site, so marking every
/// row of a large table stays linear.
struct Flags<'a> {
    by_task: HashMap<TaskId, Vec<&'a Lint>>,
    by_site: HashMap<Option<&'a str>, Vec<&'a Lint>>,
    /// Subjects of kinds added later: asked one by one.
    other: Vec<&'a Lint>,
}

impl<'a> Flags<'a> {
    fn new(fired: &'a [Lint]) -> Self {
        let mut flags = Flags {
            by_task: HashMap::new(),
            by_site: HashMap::new(),
            other: Vec::new(),
        };
        for lint in fired {
            match &lint.subject {
                LintSubject::Task { id, .. } => flags.by_task.entry(*id).or_default().push(lint),
                LintSubject::Site { location, .. } => flags
                    .by_site
                    .entry(location.as_deref())
                    .or_default()
                    .push(lint),
                _ => flags.other.push(lint),
            }
        }
        flags
    }

    /// The lints about `task`: its own, then its site's.
    fn of(&self, task: &TaskSnapshot) -> Vec<&'a Lint> {
        let mut found: Vec<&'a Lint> = Vec::new();
        found.extend(self.by_task.get(&task.id).into_iter().flatten());
        found.extend(
            self.by_site
                .get(&Some(task.location.as_str()))
                .into_iter()
                .flatten(),
        );
        found.extend(self.other.iter().filter(|lint| lint.subject.covers(task)));
        found
    }

    /// The lints about the site of `row` (`None`: the overflow row).
    fn of_site(&self, location: Option<&str>) -> Vec<&'a Lint> {
        self.by_site.get(&location).cloned().unwrap_or_default()
    }
}

/// A lint's mark in a table row, linking to its explanation.
fn lint_badge(lint: &Lint) -> Markup {
    html! {
        a.lint.error[lint.severity == Severity::Error] href={ "/lints#" (lint.id) }
            title=(lint.message) data-lint=(lint.id) { (lint.id) }
    }
}

/// The tasks page filtered on one spawn location.
fn location_link(location: &str) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.append_pair("filter", location);
    format!("/?{}", query.finish())
}

/// `GET /sites`: the `sites` table, sortable by its column headers.
pub(super) fn sites(ctx: &Ctx<'_>, query: &Form) -> Result<Response<Body>, HttpError> {
    let asked = SitesQuery::parse(query)?;
    let (rows, total) = api::site_rows(ctx, &asked)?;
    let fired = monitor_core::lints(&*ctx.state.shared.introspect);
    let sort = asked.sort.unwrap_or("busy");
    let header = |key: &'static str, label: &'static str| {
        html! {
            th { a.sorted[sort == key] href={ "/sites?sort=" (key) } title={ "sort by " (key) } { (label) } }
        }
    };
    let flags = Flags::new(&fired);
    let site_flags = |row: &SiteStats| flags.of_site(row.location.as_deref());
    let content = html! {
        h1 { "Spawn sites" }
        p { (total) " spawn site" (if total == 1 { "" } else { "s" })
            @if rows.len() < total { " (showing " (rows.len()) ")" }
            ". Ended tasks are folded into their site; live ones are added now. Percentiles are \
             log-bucket bounds (<1ms, <2ms, …). The same rows: " a href="/api/sites" { "/api/sites" } "." }
        div id="sites" hx-get=(format!("/sites?sort={sort}")) hx-trigger={ "every " (REFRESH_SECS) "s" }
            hx-select="#sites" hx-swap="outerHTML" {
            table {
                thead { tr {
                    (header("location", "Location")) th { "Name" } (header("live", "Live"))
                    (header("spawned", "Spawned")) th { "Ended ok/cancel/panic" }
                    (header("polls", "Polls")) (header("busy", "Busy")) (header("slow", "Slow polls"))
                    (header("p99", "Poll p50/p90/p99")) th { "Lifetime p50/p90/p99" } th { "Future" } th { "Lints" }
                } }
                tbody {
                    @for row in &rows {
                        @let flags = site_flags(row);
                        tr.flagged[!flags.is_empty()] data-location=(row.display_location()) {
                            td { @match &row.location {
                                Some(location) => a href=(location_link(location)) title="its live tasks" { code { (location) } },
                                None => em { "(other sites)" },
                            } }
                            td { (row.name.as_deref().unwrap_or("-")) }
                            td.num.live { (row.live) }
                            td.num.spawned { (row.spawned) }
                            td.num { (row.ended.completed) "/" (row.ended.cancelled) "/" (row.ended.panicked)
                                @if row.ended.unknown > 0 { " +" (row.ended.unknown) " ended" } }
                            td.num { (row.polls) }
                            td.num { (duration_ns(row.busy_ns)) }
                            td.num { (row.slow_polls) }
                            td { (commands::percentile(&row.poll_time, row.poll_time.p50_ns)) " "
                                (commands::percentile(&row.poll_time, row.poll_time.p90_ns)) " "
                                (commands::percentile(&row.poll_time, row.poll_time.p99_ns)) }
                            td { (commands::percentile(&row.lifetime, row.lifetime.p50_ns)) " "
                                (commands::percentile(&row.lifetime, row.lifetime.p90_ns)) " "
                                (commands::percentile(&row.lifetime, row.lifetime.p99_ns)) }
                            td.num { @match row.largest_future { Some(bytes) => { (bytes) " B" }, None => "-" } }
                            td.flags { @for lint in &flags { (lint_badge(lint)) } }
                        }
                    }
                }
            }
        }
    };
    Ok(page(layout(
        ctx.state,
        ctx.logout_csrf(),
        "Sites",
        true,
        content,
    )))
}

/// `GET /lints`: what fires now, each with its explanation and fix.
pub(super) fn lints(ctx: &Ctx<'_>) -> Response<Body> {
    let introspect = &ctx.state.shared.introspect;
    let fired = monitor_core::lints(&**introspect);
    let thresholds = introspect
        .sites()
        .map_or_else(Default::default, |sites| sites.thresholds());
    let content = html! {
        h1 { "Lints" }
        p { "Thresholds: " code { (thresholds) } " (set with the console's "
            code { "lints --set NAME=VALUE" } "). The same list: " a href="/api/lints" { "/api/lints" } "." }
        div id="lints" hx-get="/lints" hx-trigger={ "every " (REFRESH_SECS) "s" }
            hx-select="#lints" hx-swap="outerHTML" {
            @if fired.is_empty() {
                p.notice id="no-lints" { "No lint fires now." }
            } @else {
                p { (fired.len()) " lint" (if fired.len() == 1 { "" } else { "s" }) " fire now, most severe first." }
            }
            @for (i, lint) in fired.iter().enumerate() {
                // The first of each id is the anchor the tasks table links to.
                @let first = fired.iter().position(|other| other.id == lint.id) == Some(i);
                section.lint.error[lint.severity == Severity::Error] id=[first.then(|| lint.id.as_str())]
                    data-lint=(lint.id) {
                    h2 { "[" (lint.severity) "] " (lint.id) " — " @match &lint.subject {
                        LintSubject::Task { id, name, .. } => {
                            a href={ "/tasks/" (id) } { "task " (id) } " (" (name.as_deref().unwrap_or("-")) ")"
                        }
                        LintSubject::Site { location: Some(location), .. } => {
                            "site " a href=(location_link(location)) { code { (location) } }
                        }
                        _ => { "(other sites)" }
                    } }
                    p { (lint.message) }
                    p { strong { "Why: " } (lint.explanation) }
                    p { strong { "Fix: " } (lint.fix) }
                }
            }
        }
    };
    page(layout(ctx.state, ctx.logout_csrf(), "Lints", true, content))
}

/// `GET /console` (and the page after a change, with its outcome).
pub(super) fn console(ctx: &Ctx<'_>, outcome: Option<Result<String, String>>) -> Response<Body> {
    let entries = api::namespace_entries(ctx);
    let content = html! {
        h1 { "Console namespace" }
        @match &outcome {
            Some(Ok(message)) => p.notice id="outcome" { (message) },
            Some(Err(message)) => p.notice.error id="outcome" { (message) },
            None => {},
        }
        @match &entries {
            Err(err) => p { (err.message) },
            Ok(entries) if entries.is_empty() => p { "The namespace is empty." },
            Ok(entries) => table {
                thead { tr { th { "Name" } th { "Kind" } th { "Value" } th { "Doc" } th {} } }
                tbody {
                    @for entry in entries {
                        tr {
                            td { code { (entry.name) } }
                            td { (entry.kind) @if let Some(ty) = &entry.r#type { " (" (ty) ")" } }
                            td { @if let Some(text) = &entry.text { pre { (text) } } }
                            td { (entry.doc) }
                            td {
                                @if entry.kind != "value" {
                                    form method="post" action={ "/console/" (entry.name) } {
                                        input type="hidden" name="csrf" value=(ctx.csrf());
                                        @if entry.kind == "tunable" {
                                            input type="text" name="value" required
                                                value=(entry.text.as_deref().unwrap_or(""));
                                            " " button type="submit" { "Set" }
                                        } @else {
                                            @for arg in entry.args.iter().flatten() {
                                                (arg_field(arg))
                                            }
                                            " " button type="submit" { "Call" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            },
        }
    };
    page(layout(
        ctx.state,
        ctx.logout_csrf(),
        "Console",
        false,
        content,
    ))
}

/// The form field of an action's argument `arg`: named `arg.NAME`, typed
/// from its declaration (a number, a choice, a checkbox, …). The console's
/// parser still checks the value, so what a browser lets through is
/// refused with the same message as at the prompt.
fn arg_field(arg: &ArgInfo) -> Markup {
    let field = format!("arg.{}", arg.name);
    let label = arg.value_name.as_deref().unwrap_or(&arg.name);
    let placeholder = match (&arg.default, &arg.kind) {
        (Some(default), _) => format!("default {default}"),
        (None, ArgKind::Duration) => "500ms, 2s, 1m30s".to_owned(),
        (None, _) if arg.variadic => "space-separated; quote to keep spaces".to_owned(),
        (None, _) if !arg.required => "optional".to_owned(),
        (None, _) => String::new(),
    };
    let required = arg.required && !arg.variadic;
    html! {
        label.arg title=[arg.help.as_deref()] {
            (label) " "
            @match &arg.kind {
                ArgKind::Flag => input type="checkbox" name=(field) value="1";,
                ArgKind::Choice(words) => select name=(field) required[required] {
                    @if !required { option value="" { "-" } }
                    @for word in words {
                        option value=(word) selected[arg.default.as_deref() == Some(word)] { (word) }
                    }
                },
                ArgKind::Int if !arg.variadic => input type="number" step="1" name=(field)
                    required[required] placeholder=(placeholder);,
                ArgKind::TaskId if !arg.variadic => input type="number" min="1" step="1"
                    name=(field) required[required] placeholder=(placeholder);,
                _ => input type="text" name=(field) required[required] placeholder=(placeholder);,
            }
        }
        " "
    }
}

/// The console words for an action's typed form fields (`arg.NAME`), in
/// declaration order: positionals as they are, options as `--long VALUE`,
/// checked flags as `--long`; fields left empty are left out, and a
/// variadic field is split like the console splits a line.
fn words_from_fields(args: &[ArgInfo], form: &Form) -> Result<Vec<String>, HttpError> {
    let mut words = Vec::new();
    for arg in args {
        let Some(value) = form_value(form, &format!("arg.{}", arg.name)) else {
            continue;
        };
        if value.is_empty() {
            continue;
        }
        let values = if arg.variadic {
            shell_words::split(value).map_err(|err| {
                HttpError::bad_request(format!("cannot split {} {value:?}: {err}", arg.name))
            })?
        } else {
            vec![value.to_owned()]
        };
        match (&arg.kind, &arg.long) {
            (ArgKind::Flag, Some(long)) => words.push(format!("--{long}")),
            (_, Some(long)) => {
                for value in values {
                    words.push(format!("--{long}"));
                    words.push(value);
                }
            }
            (_, None) => words.extend(values),
        }
    }
    Ok(words)
}

/// `POST /console/{name}`: sets a tunable or calls an action, then shows the
/// namespace with the outcome.
pub(super) async fn console_change(
    ctx: &Ctx<'_>,
    name: &str,
    form: &Form,
) -> Result<Response<Body>, HttpError> {
    let value = form_value(form, "value").map(str::to_owned);
    // One `args` line (as typed at the prompt), or the typed fields the
    // page draws.
    let args = match form_value(form, "args") {
        Some(line) => Some(shell_words::split(line).map_err(|err| {
            HttpError::bad_request(format!("cannot split the arguments {line:?}: {err}"))
        })?),
        None if value.is_none() => match api::action_args(ctx, name) {
            Some(declared) => Some(words_from_fields(&declared, form)?),
            None => None,
        },
        None => None,
    };
    let outcome = match api::change(ctx, name, value, args).await {
        Ok(reply) => Ok(reply.output),
        Err(err) if err.status == StatusCode::BAD_REQUEST => Err(err.message),
        Err(err) => return Err(err),
    };
    Ok(console(ctx, Some(outcome)))
}

pub(super) fn find_extension<'a>(
    ctx: &Ctx<'a>,
    slug: &str,
) -> Result<&'a Arc<dyn WebExtension>, HttpError> {
    let state: &'a HttpState = ctx.state;
    state
        .extensions
        .iter()
        .find(|extension| extension.slug() == slug)
        .ok_or_else(|| {
            let known: Vec<String> = state
                .extensions
                .iter()
                .map(|extension| format!("/x/{}", extension.slug()))
                .collect();
            HttpError::not_found(format!(
                "no page /x/{slug}; pages added by extensions: {}",
                if known.is_empty() {
                    "(none)".to_owned()
                } else {
                    known.join(", ")
                }
            ))
        })
}

/// `GET /x/{slug}`: a page another crate registered; after one of its
/// actions (`POST /x/{slug}/{action}`), with the outcome, and the error's
/// status when it was refused.
pub(super) fn extension(
    ctx: &Ctx<'_>,
    slug: &str,
    outcome: Option<Result<ActionOutcome, ActionError>>,
) -> Result<Response<Body>, HttpError> {
    let extension = find_extension(ctx, slug)?;
    let page_ctx = PageContext {
        slug: extension.slug(),
        csrf: ctx.csrf(),
    };
    let content = html! {
        h1 { (extension.title()) }
        @match &outcome {
            Some(Ok(done)) => p.notice id="outcome" { (done.message()) },
            Some(Err(err)) => p.notice.error id="outcome" { (err) },
            None => {},
        }
        (extension.render_page(&page_ctx))
    };
    let mut response = page(layout(
        ctx.state,
        ctx.logout_csrf(),
        extension.title(),
        false,
        content,
    ));
    if let Some(Err(err)) = &outcome {
        *response.status_mut() = err.status();
    }
    Ok(response)
}
