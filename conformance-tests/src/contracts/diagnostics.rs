//! Lints, per-spawn-site statistics and `top`, through the console.

use std::time::Duration;

use monitor_core::{TaskIntrospect, TaskState, Thresholds};

use super::{is_contract_location, join_ok, on};
use crate::{
    RuntimeUnderTest,
    support::{Gate, Harness, eventually, json, not_applicable},
};

/// The lint ids `lints --json` reports for the task `id` or for the spawn
/// site `location`.
fn fired_for(reply: &str, id: Option<u64>, location: Option<&str>) -> Vec<String> {
    json(reply)
        .as_array()
        .expect("lints --json is an array")
        .iter()
        .filter(|lint| {
            let subject = &lint["subject"];
            id.is_some_and(|id| subject["id"] == id)
                || location.is_some_and(|l| subject["location"] == l)
        })
        .map(|lint| lint["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The State cell of task `id`'s row in a `ps` table (`idle`,
/// `running !BP,NY`): the text after the id, up to the gap before the name
/// (a state cell holds single spaces only).
fn ps_state(ps: &str, id: u64) -> String {
    let id = id.to_string();
    let row = ps
        .lines()
        // The rows follow the header's rule.
        .skip_while(|line| !line.starts_with('─'))
        .skip(1)
        .find(|line| line.split_whitespace().next() == Some(id.as_str()))
        .unwrap_or_else(|| panic!("no row for task {id} in:\n{ps}"));
    let after_id = row.trim_start()[id.len()..].trim_start();
    after_id.split("  ").next().unwrap_or_default().to_owned()
}

/// The `lints` ids `ps --json` gives task `id`.
fn ps_json_lints(reply: &str, id: u64) -> Vec<String> {
    let tasks = json(reply);
    let task = tasks
        .as_array()
        .expect("ps --json is an array")
        .iter()
        .find(|task| task["id"] == id)
        .unwrap_or_else(|| panic!("no task {id} in {reply}"));
    task["lints"]
        .as_array()
        .unwrap_or_else(|| panic!("task {id} has no lints array: {task}"))
        .iter()
        .map(|lint| lint.as_str().unwrap_or_default().to_owned())
        .collect()
}

/// `sites --json` counts, for one spawn site, the tasks spawned there, how
/// they ended and their polls, and lists live tasks of another site as
/// live; `sites --sort live -n 1` keeps only the site with most live tasks.
pub fn sites_count_spawns_ends_and_polls_per_site(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    let h = Harness::new(rt, |b| b);
    let finished: Vec<_> = (0..5)
        .map(|_| {
            h.spawner.task().name("short").spawn(async {
                futures_lite::future::yield_now().await;
            })
        })
        .collect();
    let short_id = finished[0].id();
    for handle in finished {
        join_ok(rt, handle);
    }
    let waiters: Vec<_> = (0..3)
        .map(|_| h.spawner.spawn(std::future::pending::<()>()))
        .collect();
    let waiter_id = waiters[0].id();
    eventually(format!("{at} the waiters to be polled"), || {
        waiters
            .iter()
            .all(|w| h.registry.task(w.id()).is_some_and(|t| t.polls == 1))
            .then_some(())
    });
    let short_site = h.registry.task(short_id).unwrap().location;
    let waiter_site = h.registry.task(waiter_id).unwrap().location;
    assert!(
        is_contract_location(&short_site, file!()),
        "{at} {short_site}"
    );

    let mut console = h.console();
    let reply = console.cmd("sites --json");
    let rows = json(&reply);
    let row = |location: &str| {
        rows.as_array()
            .expect("sites --json is an array")
            .iter()
            .find(|row| row["location"] == location)
            .unwrap_or_else(|| panic!("{at} no row for {location} in {reply}"))
            .clone()
    };
    let short = row(&short_site);
    assert_eq!(short["name"], "short", "{at} {short}");
    assert_eq!(short["spawned"], 5, "{at} {short}");
    assert_eq!(short["live"], 0, "{at} {short}");
    assert_eq!(short["ended"]["completed"], 5, "{at} {short}");
    assert_eq!(short["polls"], 10, "{at} two polls each: {short}");
    assert_eq!(
        short["lifetime"]["buckets"][0]["count"]
            .as_u64()
            .map(|_| ()),
        Some(())
    );
    let waiting = row(&waiter_site);
    assert_eq!(waiting["live"], 3, "{at} {waiting}");
    assert_eq!(
        waiting["name"],
        serde_json::Value::Null,
        "{at} unnamed: {waiting}"
    );
    assert_eq!(waiting["polls"], 3, "{at} live polls are added: {waiting}");
    assert_eq!(waiting["ended"]["completed"], 0, "{at} {waiting}");

    let top_live = json(&console.cmd("sites --sort live -n 1 --json"));
    assert_eq!(
        top_live.as_array().map(Vec::len),
        Some(1),
        "{at} {top_live}"
    );
    assert_eq!(top_live[0]["location"], waiter_site.as_str(), "{at}");
    let table = console.cmd("sites");
    assert!(table.contains("2 spawn sites"), "{at} {table}");
    let bad = console.cmd("sites --sort size");
    assert!(
        bad.contains("busy") && bad.contains("location"),
        "{at} {bad}"
    );
    for waiter in waiters {
        waiter.cancel();
        let _ = super::join(rt, waiter);
    }
}

/// `top` over an interval puts a task that keeps its worker busy first,
/// with a share of a worker well above zero, and leaves out a task that
/// was not polled; its site leads the site list.
pub fn top_names_the_busiest_task_and_site(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    let h = Harness::new(rt, |b| b);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    let busy = h.spawner.task().name("busy").spawn(async move {
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            // Busy inside the poll (as CPU work would be), then let others run.
            std::thread::sleep(Duration::from_millis(2));
            futures_lite::future::yield_now().await;
        }
    });
    let idle = h
        .spawner
        .task()
        .name("idle")
        .spawn(std::future::pending::<()>());
    eventually(
        format!("{at} the busy task to be polled, the idle one once"),
        || {
            let idle_polled = h.registry.task(idle.id())?.polls == 1;
            (idle_polled && h.registry.task(busy.id())?.polls > 3).then_some(())
        },
    );
    let mut console = h.console();
    let report = json(&console.cmd("top --interval 300ms --json"));
    let tasks = report["tasks"].as_array().expect("tasks");
    assert_eq!(tasks[0]["id"], busy.id().as_u64(), "{at} {report}");
    let share = tasks[0]["worker_share"].as_f64().unwrap();
    assert!(share > 0.2 && share < 1.5, "{at} share {share}: {report}");
    assert!(
        tasks[0]["polls_per_second"].as_f64().unwrap() > 10.0,
        "{at} {report}"
    );
    assert!(
        tasks.iter().all(|t| t["id"] != idle.id().as_u64()),
        "{at} an unpolled task is not busy: {report}"
    );
    let busy_site = h.registry.task(busy.id()).unwrap().location;
    assert_eq!(
        report["sites"][0]["location"],
        busy_site.as_str(),
        "{at} {report}"
    );
    let text = console.cmd("top -i 50ms -n 1");
    assert!(
        text.contains("busy") && text.contains("Worker"),
        "{at} {text}"
    );
    let bad = console.cmd("top --interval 5m");
    assert!(bad.contains("10ms to 60s"), "{at} {bad}");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    join_ok(rt, busy);
    idle.cancel();
    let _ = super::join(rt, idle);
}

/// A task blocking its worker fires `blocking-poll` (and `ps` marks its
/// row `!BP`, counts it under the table and lists it in `--json`), then
/// `stuck-worker` once that threshold is lowered at run time with
/// `lints --set`; an idle task fires neither, and nothing fires once the
/// poll returns. A task blocking in its first poll fires `never-yielded`;
/// one that yielded before blocking does not.
pub fn poll_lints_fire_for_blocked_workers_only(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    let Some(workers) = rt.workers() else {
        not_applicable(
            rt,
            "poll_lints_fire_for_blocked_workers_only",
            "the runtime declares no worker threads to block",
        );
        return;
    };
    if workers < 2 {
        not_applicable(
            rt,
            "poll_lints_fire_for_blocked_workers_only",
            "two tasks must block two workers at once",
        );
        return;
    }
    let h = Harness::new(rt, |b| b);
    let mut thresholds = Thresholds::default();
    thresholds.slow_poll = Duration::from_millis(20);
    thresholds.stuck_worker = Duration::from_secs(600);
    thresholds.never_yielded = Duration::from_millis(50);
    h.registry.sites().set_thresholds(thresholds);
    let idle = h
        .spawner
        .task()
        .name("idle")
        .spawn(std::future::pending::<()>());
    let (gate, key) = Gate::new();
    let first = gate.clone();
    let blocked_first = h.spawner.task().name("first-poll").spawn(async move {
        first.wait();
    });
    let blocked_later = h.spawner.task().name("later-poll").spawn(async move {
        futures_lite::future::yield_now().await;
        gate.wait();
    });
    let (first_id, later_id) = (blocked_first.id().as_u64(), blocked_later.id().as_u64());
    for id in [blocked_first.id(), blocked_later.id()] {
        eventually(format!("{at} task {id} to block past 60ms"), || {
            let task = h.registry.task(id)?;
            (task.state == TaskState::Running && task.poll_ns? > 60_000_000).then_some(())
        });
    }
    let mut console = h.console();
    let reply = console.cmd("lints --json");
    let mut on_first = fired_for(&reply, Some(first_id), None);
    on_first.sort();
    assert_eq!(on_first, ["blocking-poll", "never-yielded"], "{at} {reply}");
    assert_eq!(
        fired_for(&reply, Some(later_id), None),
        ["blocking-poll"],
        "{at} yielded once, so not never-yielded: {reply}"
    );
    assert!(
        fired_for(&reply, Some(idle.id().as_u64()), None).is_empty(),
        "{at} {reply}"
    );
    let ps = console.cmd("ps");
    assert_eq!(ps_state(&ps, first_id), "running !BP,NY", "{at} {ps}");
    assert_eq!(ps_state(&ps, later_id), "running !BP", "{at} {ps}");
    assert_eq!(
        ps_state(&ps, idle.id().as_u64()),
        "idle",
        "{at} a clean task is not marked: {ps}"
    );
    assert!(
        ps.contains("Flagged: 2 blocking-poll (!BP), 1 never-yielded (!NY) — see: lints"),
        "{at} the marks are counted under the table: {ps}"
    );
    let listed = console.cmd("ps --json");
    assert_eq!(
        ps_json_lints(&listed, first_id),
        ["blocking-poll", "never-yielded"],
        "{at} {listed}"
    );
    assert!(
        ps_json_lints(&listed, idle.id().as_u64()).is_empty(),
        "{at} {listed}"
    );
    let set = console.cmd("lints --set stuck-worker=30ms");
    assert!(
        set.contains("stuck-worker = 30ms (was 10m") || set.contains("stuck-worker = 30ms"),
        "{at} {set}"
    );
    assert!(set.contains("[error] stuck-worker"), "{at} {set}");
    let reply = console.cmd("lints --json");
    assert_eq!(
        fired_for(&reply, Some(later_id), None),
        ["stuck-worker"],
        "{at} {reply}"
    );
    let bad = console.cmd("lints --set stuck-worker=soon");
    assert!(bad.contains("expected a duration"), "{at} {bad}");
    key.open();
    join_ok(rt, blocked_first);
    join_ok(rt, blocked_later);
    let reply = console.cmd("lints --json");
    assert!(
        fired_for(&reply, Some(first_id), None).is_empty()
            && fired_for(&reply, Some(later_id), None).is_empty(),
        "{at} nothing fires once the polls returned: {reply}"
    );
    let ps = console.cmd("ps");
    assert!(
        !ps.contains('!') && !ps.contains("Flagged"),
        "{at} nothing is marked once the polls returned: {ps}"
    );
    idle.cancel();
    let _ = super::join(rt, idle);
}

/// A site spawning a future of 4 KiB fires `large-future` (and `ps` marks
/// its task `!LF`); a site spawning small futures does not. A site whose live tasks grow at every sample
/// fires `leak-suspect`; a site whose tasks end, and a fixed pool that
/// grew once, do not.
pub fn site_lints_fire_for_large_futures_and_growing_sites(rt: &dyn RuntimeUnderTest) {
    let at = on(rt);
    let h = Harness::new(rt, |b| b);
    let mut thresholds = Thresholds::default();
    // Samples are taken by hand below; the background sampler's interval
    // (an hour / 16) never comes.
    thresholds.leak_window = Duration::from_secs(3600);
    h.registry.sites().set_thresholds(thresholds);
    let sites = h.registry.sites();
    let mut live = Vec::new();
    let big = h.spawner.spawn(async {
        let buffer = [7u8; 4096];
        std::future::pending::<()>().await;
        buffer[0]
    });
    let big_site = h.registry.task(big.id()).unwrap().location;
    live.push(big);
    let pool: Vec<_> = (0..20)
        .map(|_| h.spawner.spawn(std::future::pending::<u8>()))
        .collect();
    let pool_site = h.registry.task(pool[0].id()).unwrap().location;
    live.extend(pool);
    let mut leak_site = String::new();
    let mut churn_site = String::new();
    for _ in 0..16 {
        for _ in 0..2 {
            let leaked = h.spawner.spawn(std::future::pending::<u8>());
            leak_site = h.registry.task(leaked.id()).unwrap().location;
            live.push(leaked);
        }
        let done = h.spawner.spawn(async { 0u8 });
        churn_site = h.registry.task(done.id()).unwrap().location;
        join_ok(rt, done);
        sites.sample();
    }
    let mut console = h.console();
    let reply = console.cmd("lints --json");
    assert_eq!(
        fired_for(&reply, None, Some(&big_site)),
        ["large-future"],
        "{at} {reply}"
    );
    assert_eq!(
        fired_for(&reply, None, Some(&leak_site)),
        ["leak-suspect"],
        "{at} {reply}"
    );
    for quiet in [&pool_site, &churn_site] {
        assert!(
            fired_for(&reply, None, Some(quiet)).is_empty(),
            "{at} {quiet}: {reply}"
        );
    }
    let text = console.cmd("lints");
    assert!(
        text.contains("why: ") && text.contains("fix: "),
        "{at} {text}"
    );
    let (big_id, pool_id, leaked_id) = (
        live[0].id().as_u64(),
        live[1].id().as_u64(),
        live[live.len() - 1].id().as_u64(),
    );
    let ps = console.cmd("ps --limit 0");
    assert_eq!(ps_state(&ps, big_id), "idle !LF", "{at} {ps}");
    assert_eq!(ps_state(&ps, leaked_id), "idle !LS", "{at} {ps}");
    assert_eq!(
        ps_state(&ps, pool_id),
        "idle",
        "{at} a small future of a stable pool is not marked: {ps}"
    );
    assert!(
        ps.contains("1 large-future (!LF), 32 leak-suspect (!LS) — see: lints"),
        "{at} {ps}"
    );
    let listed = console.cmd("ps --json");
    assert_eq!(ps_json_lints(&listed, big_id), ["large-future"], "{at}");
    assert!(ps_json_lints(&listed, pool_id).is_empty(), "{at}");
    console.cmd("lints --set large-future=8KiB");
    let ps = console.cmd("ps");
    assert_eq!(
        ps_state(&ps, big_id),
        "idle",
        "{at} under the raised threshold: {ps}"
    );
    let reply = console.cmd("lints --json");
    assert!(
        fired_for(&reply, None, Some(&big_site)).is_empty(),
        "{at} {reply}"
    );
    assert!(
        h.registry
            .sites()
            .stats(&*h.registry)
            .iter()
            .any(|s| s.largest_future >= Some(4096))
    );
    for task in live {
        task.cancel();
        let _ = super::join(rt, task);
    }
}
