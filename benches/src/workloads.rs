//! The three per-system workloads, written once for every [`System`].

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    thread,
    time::{Duration, Instant},
};

use async_channel::Sender;

use crate::{ALLOC, systems::System};

/// Nanoseconds per unit of work, by the wall clock and by the CPU time of
/// the whole process (all workers). On a machine shared with other jobs the
/// CPU figure is the steadier one: time the process spends preempted is not
/// in it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cost {
    pub(crate) wall_ns: f64,
    pub(crate) cpu_ns: f64,
}

/// Process CPU time (user + system, all threads).
fn cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a
    // constant every Linux supports.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Runs `work` (which returns its own wall time, measured inside the
/// runtime) and divides by `count`.
pub(crate) fn cost(count: usize, work: impl FnOnce() -> Duration) -> Cost {
    let cpu_start = cpu_time();
    let wall = work();
    let cpu = cpu_time() - cpu_start;
    Cost {
        wall_ns: per(wall, count),
        cpu_ns: per(cpu, count),
    }
}

/// `tasks` tasks that each yield `yields` times: `tasks × (yields + 1)`
/// polls. Returns the cost per poll.
pub(crate) fn poll_heavy<S: System>(system: &Arc<S>, tasks: usize, yields: usize) -> Cost {
    let spawner = Arc::clone(system);
    cost(tasks * (yields + 1), || {
        system.run(async move {
            let start = Instant::now();
            let handles: Vec<_> = (0..tasks)
                .map(|_| {
                    spawner.spawn(async move {
                        for _ in 0..yields {
                            S::yield_now().await;
                        }
                    })
                })
                .collect();
            for handle in handles {
                handle.await;
            }
            start.elapsed()
        })
    })
}

/// `tasks` tasks that complete at their first poll, spawned from a worker
/// and joined. Returns the cost per spawn + completion + join.
pub(crate) fn spawn_heavy<S: System>(system: &Arc<S>, tasks: usize) -> Cost {
    let spawner = Arc::clone(system);
    cost(tasks, || {
        system.run(async move {
            let start = Instant::now();
            let handles: Vec<_> = (0..tasks).map(|_| spawner.spawn(async {})).collect();
            for handle in handles {
                handle.await;
            }
            start.elapsed()
        })
    })
}

/// The realistic workload: `requests` requests, each handled by a task
/// spawned for it (at most `in_flight` at a time, as a server bounds its
/// concurrency). A handler does ~2 µs of work, sends a query to a backend
/// task over a channel and awaits the answer on a reply channel, awaits the
/// runtime's timer for [`REQUEST_SLEEP`], and does ~2 µs more. Returns the
/// end-to-end cost per request, from the first spawn to the last join.
pub(crate) fn requests<S: System>(system: &Arc<S>, requests: usize, in_flight: usize) -> Cost {
    let spawner = Arc::clone(system);
    cost(requests, || {
        system.run(async move {
            let start = Instant::now();
            let (query_tx, query_rx) = async_channel::bounded::<(u64, Sender<u64>)>(in_flight);
            let backend = spawner.spawn(async move {
                while let Ok((query, reply)) = query_rx.recv().await {
                    let _ = reply.send(work(query)).await;
                }
            });
            // A slot is taken before each spawn and given back by the
            // handler when it is done.
            let (slot_tx, slot_rx) = async_channel::bounded::<()>(in_flight);
            let mut handles = Vec::with_capacity(requests);
            for n in 0..requests {
                slot_tx.send(()).await.expect("slots stay open");
                let (query_tx, slot_rx) = (query_tx.clone(), slot_rx.clone());
                handles.push(spawner.spawn(async move {
                    let query = work(n as u64);
                    let (reply_tx, reply_rx) = async_channel::bounded(1);
                    query_tx
                        .send((query, reply_tx))
                        .await
                        .expect("backend runs");
                    let answer = reply_rx.recv().await.expect("backend answers");
                    S::sleep(REQUEST_SLEEP).await;
                    std::hint::black_box(work(answer));
                    let _ = slot_rx.recv().await;
                }));
            }
            for handle in handles {
                handle.await;
            }
            drop(query_tx);
            backend.await;
            start.elapsed()
        })
    })
}

/// How long each request of [`requests`] waits on the runtime's timer (tokio
/// and async-io round it up to their 1 ms timer tick).
pub(crate) const REQUEST_SLEEP: Duration = Duration::from_micros(50);

/// About 2 µs of CPU work that the optimiser cannot remove.
fn work(seed: u64) -> u64 {
    let mut x = seed | 1;
    for i in 0..1_500u64 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x = x.wrapping_add(i);
    }
    std::hint::black_box(x)
}

/// Heap bytes per live idle task: `tasks` tasks are spawned from a worker,
/// each is polled once and then waits forever; the counting allocator's
/// growth over that is divided by `tasks`. The tasks are cancelled
/// afterwards.
///
/// `make` builds a fresh system so that capacity left behind by an earlier
/// run (a registry's hash maps never shrink) is not mistaken for free
/// memory; the runtime itself is shared, and has been warmed up by then.
pub(crate) fn idle_memory<S: System>(make: impl Fn() -> S, tasks: usize) -> f64 {
    let system = Arc::new(make());
    let polled = Arc::new(AtomicUsize::new(0));
    let handles = Vec::with_capacity(tasks);

    let counting = crate::ALLOC.counting();
    let before = ALLOC.live();
    let spawner = Arc::clone(&system);
    let seen = Arc::clone(&polled);
    let handles = system.run(async move {
        let mut handles = handles;
        for _ in 0..tasks {
            let seen = Arc::clone(&seen);
            handles.push(spawner.spawn(async move {
                seen.fetch_add(1, Ordering::Relaxed);
                std::future::pending::<()>().await;
            }));
        }
        handles
    });
    wait_until(|| polled.load(Ordering::Relaxed) == tasks);
    // `run`'s driver task may still be being freed by its worker.
    thread::sleep(Duration::from_millis(20));
    let grown = ALLOC.live() - before;
    drop(counting);

    system.cancel(handles);
    grown as f64 / tasks as f64
}

fn per(elapsed: Duration, count: usize) -> f64 {
    elapsed.as_nanos() as f64 / count as f64
}

/// Polls `done` every millisecond; panics after a minute, which only a
/// broken benchmark takes.
pub(crate) fn wait_until(mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "benchmark condition never held");
        thread::sleep(Duration::from_millis(1));
    }
}
