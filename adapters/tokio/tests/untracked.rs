//! Work the monitor does not see is still visible on tokio: `ps` and
//! `stats` compare the tracked tasks with the runtime's alive-task count.

use demo_support::client::ConsoleClient;
use monitor_server::env::MonitorEnv;

#[test]
fn ps_and_stats_count_tasks_spawned_without_the_monitor() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let handle = runtime.handle().clone();
    // A registry of its own, so other tests' tasks do not count.
    let registry = monitor_core::TaskRegistry::new();
    let introspect = monitor_tokio::TokioIntrospect::new(registry.clone(), handle.clone());
    let monitor = monitor_server::MonitorBuilder::new(std::sync::Arc::new(introspect))
        .command(monitor_tokio::stats_command(handle.clone()))
        .env(MonitorEnv::default())
        .port(0)
        .start()
        .unwrap();
    let tracked = monitor_tokio::task()
        .name("tracked")
        .registry(registry)
        .handle(handle.clone())
        .spawn(std::future::pending::<()>());
    let plain: Vec<_> = (0..3)
        .map(|_| handle.spawn(std::future::pending::<()>()))
        .collect();

    let mut console = ConsoleClient::connect(monitor.tcp_addr().unwrap()).unwrap();
    let ps = console.command("ps").unwrap();
    assert!(ps.starts_with("1 task running\n"), "{ps}");
    assert!(
        ps.contains("(3 more tasks are alive on the runtime but not tracked:")
            && ps.contains("monitor_tokio::spawn"),
        "{ps}"
    );
    let stats = console.command("stats").unwrap();
    assert!(stats.contains("tracked tasks      1"), "{stats}");
    assert!(stats.contains("3 more tasks are alive"), "{stats}");

    for task in plain {
        task.abort();
    }
    tracked.abort();
    drop(monitor);
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
}
