//! The app runner's page in the monitor's web UI (`/x/app`, feature
//! `http`): what the `app` command shows, with the `schedule` and `emit`
//! commands as buttons — the same functions behind both — and the app's
//! series in `/metrics`.

use maud::{Markup, html};
use monitor_server::http::{
    ActionError, ActionForm, ActionFuture, ActionOutcome, PageContext, WebExtension,
    prometheus_client::{
        metrics::{counter::Counter, family::Family, gauge::Gauge},
        registry::Registry,
    },
};

use crate::{
    AppContext, AppStatus,
    monitor::{Refused, RefusedKind, emit_signal, schedule_action, status},
};

/// The page: registered by [`App::start`](crate::App::start) on the
/// monitor it configures.
pub(crate) struct AppPage {
    ctx: AppContext,
}

impl AppPage {
    pub(crate) fn new(ctx: AppContext) -> Self {
        Self { ctx }
    }
}

fn refused(err: Refused) -> ActionError {
    let message = err.to_string();
    match err.kind() {
        RefusedKind::Unknown => ActionError::NotFound(message),
        RefusedKind::Invalid => ActionError::BadRequest(message),
        RefusedKind::Conflict => ActionError::Conflict(message),
    }
}

/// `3.2s`, `450ms`: how far away a moment is.
fn millis(ms: u64) -> String {
    if ms >= 10_000 {
        format!("{}s", ms / 1000)
    } else if ms >= 1000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        format!("{ms}ms")
    }
}

/// The page's content; with `page`, the forms of its actions.
fn render(status: &AppStatus, page: Option<&PageContext<'_>>) -> Markup {
    html! {
        table.summary {
            tr { th { "Configuration" } td { code { (status.config_file.as_deref().unwrap_or("(none)")) } } }
            tr { th { "Modules" } td {
                @if status.modules.is_empty() { "(none)" }
                @for (i, module) in status.modules.iter().enumerate() {
                    @if i > 0 { ", " } code { (module) }
                }
            } }
            tr { th { "State" } td id="app-state" {
                (if status.stopping { "shutting down" } else { "running" }) } }
        }
        h2 { "Schedules (" (status.schedules.len()) ")" }
        @if status.schedules.is_empty() {
            p { "No " code { "[schedule.NAME]" } " section." }
        } @else {
            table id="schedules" {
                thead { tr { th { "Name" } th { "Function" } th { "Every" } th { "Next run" }
                    th { "Runs" } th { "Failures" } th { "Last outcome" }
                    @if page.is_some() { th { "Actions" } } } }
                tbody {
                    @for s in &status.schedules {
                        tr data-schedule=(s.name) data-paused=(s.paused) {
                            td { (s.name) }
                            td { code { (s.func) } }
                            td { "every " (s.every) }
                            td.next { @match (s.paused, s.next_run_in_ms) {
                                (true, _) => strong { "paused" },
                                (false, Some(ms)) => { "in " (millis(ms)) },
                                (false, None) => "stopped",
                            } @if s.running { " (running now)" } }
                            td.num.runs { (s.runs) }
                            td.num { (s.failures) }
                            td.last { @match (&s.last_outcome, s.last_duration_ms, s.last_ended_ms_ago) {
                                (Some(outcome), Some(took), Some(ago)) => {
                                    (outcome) " in " (millis(took)) ", " (millis(ago)) " ago"
                                }
                                _ => "never ran",
                            } }
                            @if let Some(page) = page {
                                td.actions {
                                    @let field = html! { input type="hidden" name="schedule" value=(s.name); };
                                    (page.action_form("run", field.clone(), "Run now"))
                                    @if s.paused {
                                        (page.action_form("resume", field, "Resume"))
                                    } @else {
                                        (page.action_form("pause", field, "Pause"))
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Servers (" (status.servers.len()) ")" }
        @if status.servers.is_empty() {
            p { "No " code { "[server.NAME]" } " section." }
        } @else {
            table id="servers" {
                thead { tr { th { "Name" } th { "Handler" } th { "Address" } th { "Accepting" }
                    th { "Live connections" } th { "Accepted" } th { "Failures" } } }
                tbody {
                    @for s in &status.servers {
                        tr data-server=(s.name) {
                            td { (s.name) }
                            td { code { (s.handler) } }
                            td { code { (s.address) } }
                            td { (if s.accepting { "yes" } else { "no (closed)" }) }
                            td.num.live { (s.live_connections) }
                            td.num { (s.total_connections) }
                            td.num { (s.failures) }
                        }
                    }
                }
            }
        }
        h2 { "Signals (" (status.signals.len()) ")" }
        @if status.signals.is_empty() {
            p { "No " code { "[listen.NAME]" } " section." }
        } @else {
            table id="signals" {
                thead { tr { th { "Signal" } th { "Emitted" } th { "Listeners (delivered, failed, last)" }
                    @if page.is_some() { th { "Emit" } } } }
                tbody {
                    @for s in &status.signals {
                        tr data-signal=(s.signal) {
                            td { (s.signal) }
                            td.num.emits { (s.emits) }
                            td { ul {
                                @for sub in &s.subscribers {
                                    li { code { (sub.listener) ":" (sub.func) } " — "
                                        (sub.delivered) " delivered, " (sub.failed) " failed"
                                        @if let Some(last) = &sub.last_outcome { ", last " (last) } }
                                }
                            } }
                            @if let Some(page) = page {
                                td.actions {
                                    (page.action_form("emit", html! {
                                        input type="hidden" name="signal" value=(s.signal);
                                        label { "Message " input type="text" name="message"
                                            placeholder="what listeners receive"; }
                                    }, "Emit"))
                                }
                            }
                        }
                    }
                }
            }
        }
        p { "The same as the console's " code { "app --json" } " and as "
            a href="/api/x/app" { "/api/x/app" } " (JSON); actions are the "
            code { "schedule run|pause|resume NAME" } " and " code { "emit SIGNAL [MESSAGE]" }
            " commands." }
    }
}

impl WebExtension for AppPage {
    fn slug(&self) -> &str {
        "app"
    }

    fn title(&self) -> &str {
        "App"
    }

    fn render(&self) -> Markup {
        render(&status(&self.ctx), None)
    }

    fn render_page(&self, page: &PageContext<'_>) -> Markup {
        render(&status(&self.ctx), Some(page))
    }

    /// What the console's `app --json` prints, at `GET /api/x/app`.
    fn to_json(&self) -> Option<serde_json::Value> {
        serde_json::to_value(status(&self.ctx)).ok()
    }

    /// `run`, `pause`, `resume` (field `schedule`) and `emit` (fields
    /// `signal`, `message`).
    fn act<'a>(&'a self, action: &'a str, form: &'a ActionForm) -> ActionFuture<'a> {
        Box::pin(async move {
            match action {
                "run" | "pause" | "resume" => {
                    let name = form.require("schedule")?;
                    schedule_action(&self.ctx, action, name)
                        .map(ActionOutcome::new)
                        .map_err(refused)
                }
                "emit" => {
                    let signal = form.require("signal")?;
                    let message = form.get("message").unwrap_or("").to_owned();
                    let emitted = emit_signal(&self.ctx, signal, message)
                        .await
                        .map_err(refused)?;
                    Ok(ActionOutcome::new(emitted.to_string()))
                }
                other => Err(ActionError::NotFound(format!(
                    "the app page has no action {other:?}; actions: run, pause, resume \
                     (field schedule), emit (fields signal, message)"
                ))),
            }
        })
    }

    /// Per schedule, server and signal: their names come from the
    /// configuration file, so the label sets are bounded by it.
    fn collect_metrics(&self, registry: &mut Registry) {
        let status = status(&self.ctx);
        let app = registry.sub_registry_with_prefix("app");
        type Labels = [(&'static str, String); 1];
        let runs = Family::<Labels, Counter>::default();
        let failures = Family::<Labels, Counter>::default();
        let paused = Family::<Labels, Gauge>::default();
        for s in &status.schedules {
            let labels = [("schedule", s.name.clone())];
            runs.get_or_create(&labels).inc_by(s.runs);
            failures.get_or_create(&labels).inc_by(s.failures);
            paused.get_or_create(&labels).set(i64::from(s.paused));
        }
        app.register("schedule_runs", "Runs started, by schedule", runs);
        app.register(
            "schedule_failures",
            "Runs that failed, panicked or were cancelled, by schedule",
            failures,
        );
        app.register(
            "schedule_paused",
            "1 while a schedule is paused (schedule pause NAME)",
            paused,
        );
        let live = Family::<Labels, Gauge>::default();
        let accepted = Family::<Labels, Counter>::default();
        for s in &status.servers {
            let labels = [("server", s.name.clone())];
            live.get_or_create(&labels)
                .set(i64::try_from(s.live_connections).unwrap_or(i64::MAX));
            accepted.get_or_create(&labels).inc_by(s.total_connections);
        }
        app.register(
            "server_connections",
            "Connections open now, by server",
            live,
        );
        app.register(
            "server_connections_accepted",
            "Connections accepted since start, by server",
            accepted,
        );
        let emits = Family::<Labels, Counter>::default();
        for s in &status.signals {
            emits
                .get_or_create(&[("signal", s.signal.clone())])
                .inc_by(s.emits);
        }
        app.register("signal_emits", "Times a signal was emitted", emits);
    }
}
