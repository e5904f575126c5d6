//! tokio's runtime metrics in the web UI and `/metrics` (feature `http`).

use std::sync::atomic::{AtomicI64, AtomicU64};

use maud::{Markup, html};
use monitor_server::http::WebExtension;
use prometheus_client::{
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};
use tokio::runtime::Handle;

use crate::runtime_stats;

/// The runtime's page (`/x/tokio`) and its metrics (`monitor_tokio_*`),
/// read from tokio's stable `RuntimeMetrics` on the monitor's thread (a few
/// atomic loads per worker; no worker needs to run).
#[derive(Debug, Clone)]
pub(crate) struct TokioWeb {
    handle: Handle,
}

impl TokioWeb {
    pub(crate) fn new(handle: Handle) -> Self {
        Self { handle }
    }
}

type WorkerLabel = Vec<(&'static str, String)>;

impl WebExtension for TokioWeb {
    fn slug(&self) -> &str {
        "tokio"
    }

    fn title(&self) -> &str {
        "tokio runtime"
    }

    /// The same figures at `GET /api/x/tokio` (what `stats --json` shows
    /// of the runtime).
    fn to_json(&self) -> Option<serde_json::Value> {
        serde_json::to_value(runtime_stats(&self.handle)).ok()
    }

    fn render(&self) -> Markup {
        let stats = runtime_stats(&self.handle);
        html! {
            table {
                tr { th { "Flavor" } td { (stats.flavor) } }
                tr { th { "Workers" } td.num { (stats.workers) } }
                tr { th { "Alive tasks (tracked or not)" } td.num { (stats.alive_tasks) } }
                tr { th { "Global queue depth" } td.num { (stats.global_queue_depth) } }
            }
            @if !stats.worker_stats.is_empty() {
                h2 { "Workers" }
                table {
                    thead { tr { th { "Worker" } th { "Busy" } th { "Parks" } } }
                    tbody {
                        @for worker in &stats.worker_stats {
                            tr {
                                td.num { (worker.worker) }
                                td.num { (format!("{:?}", std::time::Duration::from_millis(worker.busy_ns / 1_000_000))) }
                                td.num { (worker.park_count) }
                            }
                        }
                    }
                }
            }
        }
    }

    fn collect_metrics(&self, registry: &mut Registry) {
        let stats = runtime_stats(&self.handle);
        let tokio = registry.sub_registry_with_prefix("tokio");
        let gauge = |value: usize| {
            let gauge = Gauge::<i64, AtomicI64>::default();
            gauge.set(i64::try_from(value).unwrap_or(i64::MAX));
            gauge
        };
        tokio.register(
            "workers",
            "Worker threads of the runtime",
            gauge(stats.workers),
        );
        tokio.register(
            "alive_tasks",
            "Tasks spawned on the runtime and not finished, tracked or not",
            gauge(stats.alive_tasks),
        );
        tokio.register(
            "global_queue_depth",
            "Tasks waiting in the runtime's global queue",
            gauge(stats.global_queue_depth),
        );
        // One series per worker: bounded by the worker count.
        let busy = Family::<WorkerLabel, Counter<f64, AtomicU64>>::default();
        let parks = Family::<WorkerLabel, Counter<u64, AtomicU64>>::default();
        for worker in &stats.worker_stats {
            let label = vec![("worker", worker.worker.to_string())];
            busy.get_or_create(&label)
                .inc_by(worker.busy_ns as f64 / 1e9);
            parks.get_or_create(&label).inc_by(worker.park_count);
        }
        tokio.register(
            "worker_busy_seconds",
            "Time each worker has spent running tasks",
            busy,
        );
        tokio.register(
            "worker_parks",
            "Times each worker parked (ran out of work)",
            parks,
        );
    }
}
