//! The JSON API: the same objects as the console's `--json` output
//! (`TaskSnapshot`, `TaskTrace` serialized by serde, and `ps --json`'s own
//! streaming), plus the namespace.

use std::{collections::BTreeMap, sync::Arc};

use hyper::{HeaderMap, Response, StatusCode, body::Bytes, header};
use serde::{Deserialize, Serialize};

use monitor_core::{
    RegistryError, SiteStats, TaskSnapshot, TaskState,
    dispatch::{Arg, ArgInfo, Session},
};

use super::{
    Ctx, Form, HttpError,
    body::{Body, json_ok, respond},
    form_value, metrics, parse_task_id,
    security::Caller,
};
use crate::{
    commands::{self, CancelOutcome},
    console::{ConsoleContext, Entry},
};

/// The `filter`, `sort` and `limit` query parameters of `GET /api/tasks`.
pub(super) struct ListQuery<'a> {
    pub(super) filter: Option<&'a str>,
    pub(super) sort: Option<&'a str>,
    pub(super) limit: usize,
}

impl<'a> ListQuery<'a> {
    pub(super) fn parse(query: &'a Form) -> Result<Self, HttpError> {
        let filter = form_value(query, "filter").filter(|filter| !filter.is_empty());
        let sort = form_value(query, "sort").filter(|sort| !sort.is_empty());
        if let Some(sort) = sort
            && !commands::SORT_KEYS.contains(&sort)
        {
            return Err(HttpError::bad_request(format!(
                "invalid sort {sort:?}: expected one of {}",
                commands::SORT_KEYS.join(", ")
            )));
        }
        Ok(Self {
            filter,
            sort,
            limit: parse_limit(query)?,
        })
    }
}

/// `GET /api/tasks`: a JSON array of live tasks, streamed in chunks.
pub(super) fn tasks(ctx: &Ctx<'_>, query: &Form) -> Result<Response<Body>, HttpError> {
    let query = ListQuery::parse(query)?;
    let chunks = commands::live_json_stream(
        &ctx.state.shared.introspect,
        query.filter,
        query.sort,
        query.limit,
    );
    Ok(respond(
        StatusCode::OK,
        "application/json",
        Body::chunks(chunks),
    ))
}

/// `GET /api/tasks/{id}`: what `where --json` prints.
pub(super) fn task(ctx: &Ctx<'_>, id: &str) -> Result<Response<Body>, HttpError> {
    let id = parse_task_id(id)?;
    let trace = ctx
        .state
        .shared
        .introspect
        .trace(id)
        .map_err(registry_error)?;
    json_ok(&trace)
}

/// `GET /api/terminated`: what `ps-terminated --json` prints.
pub(super) fn terminated(ctx: &Ctx<'_>, query: &Form) -> Result<Response<Body>, HttpError> {
    let filter = form_value(query, "filter").filter(|filter| !filter.is_empty());
    let tasks: Vec<TaskSnapshot> = ctx
        .state
        .shared
        .introspect
        .terminated()
        .into_iter()
        .filter(|task| commands::matches_filter(task, filter))
        .collect();
    json_ok(&tasks)
}

/// The answer to a cancel request.
#[derive(Serialize)]
pub(super) struct CancelReply {
    /// The task.
    pub(super) id: u64,
    /// `cancelled`, `stuck_in_poll` or `not_yet_stopped`.
    pub(super) outcome: &'static str,
    /// The console's sentence for it.
    pub(super) message: String,
    /// The task's snapshot after the wait, if it is still recorded.
    pub(super) task: Option<TaskSnapshot>,
}

impl CancelReply {
    pub(super) fn new(outcome: CancelOutcome) -> Self {
        let message = outcome.message().trim_end().to_owned();
        let (outcome, id, task) = match outcome {
            CancelOutcome::Stopped { id, task } => ("cancelled", id, task),
            CancelOutcome::StuckInPoll { task } => ("stuck_in_poll", task.id, Some(task)),
            CancelOutcome::NotYetStopped { task } => ("not_yet_stopped", task.id, Some(task)),
        };
        Self {
            id: id.as_u64(),
            outcome,
            message,
            task,
        }
    }
}

/// Cancels a task and waits (on the monitor's loop) for the outcome.
pub(super) async fn cancel_task(ctx: &Ctx<'_>, id: &str) -> Result<CancelReply, HttpError> {
    let id = parse_task_id(id)?;
    let outcome = commands::cancel_and_wait(&ctx.state.shared.introspect, id)
        .await
        .map_err(registry_error)?;
    eprintln!(
        "monitor: task {id} cancelled over HTTP by {} ({})",
        ctx.peer,
        outcome.message().trim_end()
    );
    Ok(CancelReply::new(outcome))
}

/// `POST /api/tasks/{id}/cancel`.
pub(super) async fn cancel(ctx: &Ctx<'_>, id: &str) -> Result<Response<Body>, HttpError> {
    json_ok(&cancel_task(ctx, id).await?)
}

/// Counts for `GET /api/stats` and the stats page.
#[derive(Serialize)]
pub(super) struct Stats {
    pub(super) live: usize,
    pub(super) running: usize,
    pub(super) idle: usize,
    /// The longest poll in progress, in nanoseconds (0 when none).
    pub(super) longest_poll_ns: u64,
    /// The task in that poll.
    pub(super) longest_poll_task: Option<u64>,
    /// Ended tasks in the history, by how they ended.
    pub(super) terminated: BTreeMap<&'static str, usize>,
    /// Tasks given an id since the process started.
    pub(super) spawned_total: u64,
    pub(super) console_sessions: usize,
    pub(super) http_connections: usize,
}

pub(super) fn collect_stats(ctx: &Ctx<'_>) -> Stats {
    let mut stats = Stats {
        live: 0,
        running: 0,
        idle: 0,
        longest_poll_ns: 0,
        longest_poll_task: None,
        terminated: BTreeMap::new(),
        spawned_total: monitor_core::TaskId::issued(),
        console_sessions: ctx
            .state
            .shared
            .sessions
            .load(std::sync::atomic::Ordering::Relaxed),
        http_connections: ctx.state.connections.get(),
    };
    ctx.state.shared.introspect.for_each_live(&mut |task| {
        stats.live += 1;
        if task.state == TaskState::Running {
            stats.running += 1;
        } else {
            stats.idle += 1;
        }
        if let Some(poll_ns) = task.poll_ns
            && poll_ns >= stats.longest_poll_ns
        {
            stats.longest_poll_ns = poll_ns;
            stats.longest_poll_task = Some(task.id.as_u64());
        }
    });
    for task in ctx.state.shared.introspect.terminated() {
        *stats.terminated.entry(end_reason(&task)).or_default() += 1;
    }
    stats
}

fn end_reason(task: &TaskSnapshot) -> &'static str {
    match task.state {
        TaskState::Completed => "completed",
        TaskState::Cancelled => "cancelled",
        TaskState::Panicked => "panicked",
        _ => "ended",
    }
}

/// `GET /api/stats`.
pub(super) fn stats(ctx: &Ctx<'_>) -> Result<Response<Body>, HttpError> {
    json_ok(&collect_stats(ctx))
}

/// The `sort` and `limit` query parameters of `GET /api/sites` and the
/// Sites page, checked like `sites --sort KEY -n N`.
pub(super) struct SitesQuery<'a> {
    pub(super) sort: Option<&'a str>,
    pub(super) limit: usize,
}

impl<'a> SitesQuery<'a> {
    pub(super) fn parse(query: &'a Form) -> Result<Self, HttpError> {
        let sort = form_value(query, "sort").filter(|sort| !sort.is_empty());
        if let Some(sort) = sort
            && !commands::SITE_KEYS.contains(&sort)
        {
            return Err(HttpError::bad_request(format!(
                "invalid sort {sort:?}: expected one of {}",
                commands::SITE_KEYS.join(", ")
            )));
        }
        Ok(Self {
            sort,
            limit: parse_limit(query)?,
        })
    }
}

fn parse_limit(query: &Form) -> Result<usize, HttpError> {
    match form_value(query, "limit").filter(|limit| !limit.is_empty()) {
        None => Ok(0),
        Some(text) => text.parse::<usize>().map_err(|_| {
            HttpError::bad_request(format!(
                "invalid limit {text:?}: expected 0 for all, or a positive count"
            ))
        }),
    }
}

/// The per-site rows, sorted and limited as asked (the rows `sites --json`
/// prints), and how many sites there are in all.
pub(super) fn site_rows(
    ctx: &Ctx<'_>,
    query: &SitesQuery<'_>,
) -> Result<(Vec<SiteStats>, usize), HttpError> {
    let introspect = &ctx.state.shared.introspect;
    let table = introspect.sites().ok_or_else(|| {
        HttpError::not_found(
            "this monitor's task source keeps no per-site statistics (it is not a \
             TaskRegistry and does not forward TaskIntrospect::sites)",
        )
    })?;
    let mut rows = table.stats(&**introspect);
    let total = rows.len();
    commands::sort_sites(&mut rows, query.sort);
    if query.limit > 0 {
        rows.truncate(query.limit);
    }
    Ok((rows, total))
}

/// `GET /api/sites`: what `sites --json` prints (`sort`, `limit` as
/// `--sort`, `-n`).
pub(super) fn sites(ctx: &Ctx<'_>, query: &Form) -> Result<Response<Body>, HttpError> {
    let query = SitesQuery::parse(query)?;
    json_ok(&site_rows(ctx, &query)?.0)
}

/// `GET /api/lints`: what `lints --json` prints.
pub(super) fn lints(ctx: &Ctx<'_>) -> Result<Response<Body>, HttpError> {
    json_ok(&monitor_core::lints(&*ctx.state.shared.introspect))
}

/// `GET /api/x/{slug}`: an extension page's facts as JSON
/// ([`WebExtension::to_json`](super::WebExtension::to_json)).
pub(super) fn extension(ctx: &Ctx<'_>, slug: &str) -> Result<Response<Body>, HttpError> {
    let extension = super::pages::find_extension(ctx, slug)?;
    match extension.to_json() {
        Some(value) => json_ok(&value),
        None => Err(HttpError::not_found(format!(
            "the page /x/{slug} has no JSON view; open /x/{slug} for the page itself"
        ))),
    }
}

/// `GET /api/session`: how this request was authenticated and the CSRF
/// token state changes need (programs without a bearer token read it here;
/// a page of another site cannot, as the answer carries no CORS header).
pub(super) fn session(ctx: &Ctx<'_>) -> Result<Response<Body>, HttpError> {
    #[derive(Serialize)]
    struct SessionInfo<'a> {
        auth: &'static str,
        csrf_token: &'a str,
    }
    json_ok(&SessionInfo {
        auth: match ctx.caller {
            Caller::Open => "none",
            Caller::Bearer => "bearer",
            Caller::Cookie { .. } => "cookie",
        },
        csrf_token: ctx.csrf(),
    })
}

/// One namespace entry as the API lists it.
#[derive(Serialize)]
pub(super) struct NamespaceEntry {
    pub(super) name: String,
    /// `value`, `tunable` or `action`.
    pub(super) kind: &'static str,
    pub(super) doc: String,
    /// A value's JSON (`null` when it has none) or a tunable's text.
    pub(super) value: serde_json::Value,
    /// A value's `Debug` rendering, a tunable's text.
    pub(super) text: Option<String>,
    /// A tunable's type (`u64`, `bool`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) r#type: Option<String>,
    /// An action's arguments, as `help` shows them (`WHO [COUNT]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) usage: Option<String>,
    /// An action's arguments, typed: `{"name":"COUNT","type":"int",
    /// "required":false,…}`, in declaration order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) args: Option<Vec<ArgInfo>>,
}

pub(super) fn namespace_entries(ctx: &Ctx<'_>) -> Result<Vec<NamespaceEntry>, HttpError> {
    let console = console(ctx)?;
    let mut entries = Vec::new();
    for (name, item) in &console.namespace.items {
        let entry = match &item.entry {
            Entry::Value(render) => {
                let rendered = render();
                let value = rendered
                    .json
                    .and_then(Result::ok)
                    .and_then(|json| serde_json::from_str(&json).ok())
                    .unwrap_or(serde_json::Value::Null);
                NamespaceEntry {
                    name: name.clone(),
                    kind: "value",
                    doc: item.doc.clone(),
                    value,
                    text: Some(rendered.text),
                    r#type: None,
                    usage: None,
                    args: None,
                }
            }
            Entry::Tunable(tunable) => {
                let value = tunable.get();
                NamespaceEntry {
                    name: name.clone(),
                    kind: "tunable",
                    doc: item.doc.clone(),
                    value: serde_json::Value::String(value.clone()),
                    text: Some(value),
                    r#type: Some(tunable.type_name().to_owned()),
                    usage: None,
                    args: None,
                }
            }
            Entry::Action { args, .. } => NamespaceEntry {
                name: name.clone(),
                kind: "action",
                doc: item.doc.clone(),
                value: serde_json::Value::Null,
                text: None,
                r#type: None,
                usage: console
                    .dispatcher
                    .catalog()
                    .get(name)
                    .map(|info| info.arg_list().to_owned()),
                args: Some(args.iter().map(Arg::info).collect()),
            },
        };
        entries.push(entry);
    }
    Ok(entries)
}

/// The declared arguments of action `name`, `None` when it is no action.
pub(super) fn action_args(ctx: &Ctx<'_>, name: &str) -> Option<Vec<ArgInfo>> {
    match &console(ctx).ok()?.namespace.items.get(name)?.entry {
        Entry::Action { args, .. } => Some(args.iter().map(Arg::info).collect()),
        _ => None,
    }
}

fn console<'a>(ctx: &'a Ctx<'a>) -> Result<&'a crate::monitor::ConsoleService, HttpError> {
    ctx.state.shared.console.as_ref().ok_or_else(|| {
        HttpError::not_found(
            "this application exposes no console namespace (it is set with \
             MonitorBuilder::namespace)",
        )
    })
}

/// `GET /api/namespace`.
pub(super) fn namespace(ctx: &Ctx<'_>) -> Result<Response<Body>, HttpError> {
    json_ok(&namespace_entries(ctx)?)
}

/// The body of `POST /api/namespace/{name}`: `{"value": "…"}` sets a
/// tunable, `{"args": ["…", …]}` calls an action.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Change {
    value: Option<String>,
    #[serde(default)]
    args: Option<Vec<String>>,
}

/// What a set or a call answered.
#[derive(Serialize)]
pub(super) struct ChangeReply {
    pub(super) name: String,
    /// The console's answer (`delay_ms = 10 (was 250)`, an action's output).
    pub(super) output: String,
}

/// Sets a tunable (`value`) or calls an action (`args`) through the
/// console's own dispatcher: the same parsing, typed arguments, executor
/// and timeout as `set` and `call` at the console prompt.
pub(super) async fn change(
    ctx: &Ctx<'_>,
    name: &str,
    value: Option<String>,
    args: Option<Vec<String>>,
) -> Result<ChangeReply, HttpError> {
    let console = console(ctx)?;
    let Some(item) = console.namespace.items.get(name) else {
        let names: Vec<&str> = console.namespace.names().collect();
        return Err(HttpError::not_found(format!(
            "no name {name:?} in the namespace; known names: {}",
            names.join(", ")
        )));
    };
    let line = match (&item.entry, value, args) {
        (Entry::Tunable(_), Some(value), None) => shell_words::join(["set", name, value.as_str()]),
        (Entry::Action { .. }, None, args) => {
            let mut words = vec!["call".to_owned(), name.to_owned()];
            words.extend(args.unwrap_or_default());
            shell_words::join(words)
        }
        (Entry::Tunable(_), _, _) => {
            return Err(HttpError::bad_request(format!(
                "{name} is a tunable: send {{\"value\": \"NEW VALUE\"}}"
            )));
        }
        (Entry::Action { .. }, Some(_), _) => {
            return Err(HttpError::bad_request(format!(
                "{name} is an action: send {{\"args\": [\"ARG\", ...]}}"
            )));
        }
        (Entry::Value(_), _, _) => {
            return Err(HttpError::conflict(format!(
                "{name} is a read-only value: it cannot be set or called"
            )));
        }
    };
    let mut session = Session::new(
        Arc::clone(&console.dispatcher),
        ConsoleContext::new(Arc::clone(&console.namespace)),
    );
    let reply = session.handle_line(&line).await;
    if reply.is_error {
        return Err(HttpError::bad_request(reply.text.trim_end()));
    }
    eprintln!(
        "monitor: {} over HTTP by {}",
        line.split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" "),
        ctx.peer
    );
    Ok(ChangeReply {
        name: name.to_owned(),
        output: reply.text.trim_end().to_owned(),
    })
}

/// `POST /api/namespace/{name}`.
pub(super) async fn namespace_change(
    ctx: &Ctx<'_>,
    name: &str,
    body: &Bytes,
) -> Result<Response<Body>, HttpError> {
    let change: Change = serde_json::from_slice(body).map_err(|err| {
        HttpError::bad_request(format!(
            "invalid JSON body ({err}): expected {{\"value\": \"…\"}} for a tunable or \
             {{\"args\": [\"…\"]}} for an action"
        ))
    })?;
    json_ok(&self::change(ctx, name, change.value, change.args).await?)
}

/// `GET /metrics`: OpenMetrics when the scraper asks for it (Prometheus
/// does, in its `Accept` header), the classic Prometheus text format
/// (0.0.4) otherwise, for `curl` and for tools that only read that one
/// (`promtool check metrics`).
pub(super) fn metrics(ctx: &Ctx<'_>, headers: &HeaderMap) -> Result<Response<Body>, HttpError> {
    let registry = metrics::collect(ctx.state);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).map_err(|err| {
        HttpError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding the metrics failed: {err}"),
        )
    })?;
    let wants_openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|value| value.contains("application/openmetrics-text"));
    if wants_openmetrics {
        return Ok(respond(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Body::full(text),
        ));
    }
    Ok(respond(
        StatusCode::OK,
        "text/plain; version=0.0.4; charset=utf-8",
        Body::full(metrics::classic_text(&text)),
    ))
}

/// The status a registry error deserves.
pub(super) fn registry_error(err: RegistryError) -> HttpError {
    match err {
        RegistryError::NoSuchTask(_) => HttpError::not_found(format!(
            "{err}; live tasks are listed by GET /api/tasks, ended ones by GET /api/terminated"
        )),
        RegistryError::AlreadyEnded { .. } | RegistryError::NotCancellable(_) => {
            HttpError::conflict(err.to_string())
        }
        other => HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
    }
}
