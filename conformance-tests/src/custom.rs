//! A small custom runtime built only on `monitor-core`'s public API and std:
//! the worked example of "implement [`Executor`] for your runtime", and the
//! first runtime the suite runs against.
//!
//! ```
//! use monitor_core::{Spawner, TaskRegistry};
//! use conformance_tests::custom::ThreadPool;
//!
//! let pool = ThreadPool::new("example", 2);
//! let spawner = Spawner::new(pool.clone(), TaskRegistry::new());
//! let answer = spawner.task().name("answer").spawn(async { 6 * 7 });
//! assert_eq!(conformance_tests::custom::block_on(answer).unwrap(), 42);
//! pool.shutdown();
//! ```

use std::{
    cell::Cell,
    collections::VecDeque,
    fmt,
    future::Future,
    pin::pin,
    sync::{
        Arc, Condvar, Mutex,
        atomic::{AtomicU8, Ordering},
    },
    task::{Context, Poll, Wake, Waker},
    thread,
};

use monitor_core::{BoxedFuture, Executor, JoinError, Spawner, TaskRegistry};

use crate::runtime::{LocalFuture, NativeOutcome, NativeSpawn, NativeTask, RuntimeUnderTest};

/// A fixed pool of worker threads sharing one run queue.
///
/// Each spawned future becomes a job with a small state machine, so a task
/// woken while it is being polled is polled again afterwards by one worker,
/// never by two at once, and never lost. This is the part a home-grown
/// runtime most often gets wrong, and the suite's "cancel a running task"
/// contract checks it.
#[derive(Clone)]
pub struct ThreadPool {
    shared: Arc<Shared>,
}

struct Shared {
    name: String,
    workers: usize,
    queue: Mutex<Queue>,
    available: Condvar,
}

struct Queue {
    jobs: VecDeque<Arc<Job>>,
    shut_down: bool,
}

/// Not queued and not being polled: waiting for a wake-up.
const IDLE: u8 = 0;
/// In the run queue.
const SCHEDULED: u8 = 1;
/// A worker is polling it.
const RUNNING: u8 = 2;
/// Woken while being polled: the worker re-queues it afterwards.
const NOTIFIED: u8 = 3;
/// Finished; later wake-ups are ignored.
const DONE: u8 = 4;

struct Job {
    state: AtomicU8,
    // Only the worker that moved the job to RUNNING touches the future, so
    // this lock is never contended; it is here to stay in safe Rust.
    future: Mutex<Option<BoxedFuture>>,
    pool: Arc<Shared>,
}

thread_local! {
    /// The pool whose worker this thread is (by address), for
    /// [`ThreadPool::is_worker_thread`].
    static WORKER_OF: Cell<usize> = const { Cell::new(0) };
}

impl ThreadPool {
    /// Starts `workers` threads named `{name}-worker-{n}`.
    ///
    /// # Panics
    ///
    /// If `workers` is zero or a thread cannot be started.
    pub fn new(name: &str, workers: usize) -> Self {
        assert!(workers > 0, "a thread pool needs at least one worker");
        let shared = Arc::new(Shared {
            name: name.to_owned(),
            workers,
            queue: Mutex::new(Queue {
                jobs: VecDeque::new(),
                shut_down: false,
            }),
            available: Condvar::new(),
        });
        for n in 0..workers {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name(format!("{name}-worker-{n}"))
                .spawn(move || work(&shared))
                .expect("could not start a worker thread");
        }
        Self { shared }
    }

    /// The number of worker threads.
    pub fn workers(&self) -> usize {
        self.shared.workers
    }

    /// The prefix of the workers' thread names.
    pub fn thread_name(&self) -> String {
        format!("{}-worker", self.shared.name)
    }

    /// `true` when called on one of this pool's worker threads.
    pub fn is_worker_thread(&self) -> bool {
        WORKER_OF.with(|of| of.get() == Arc::as_ptr(&self.shared) as usize)
    }

    /// Stops the workers once they finish their current poll and drops
    /// every queued job (its task is then recorded as dropped). Spawning
    /// after this drops the future at once.
    pub fn shutdown(&self) {
        let dropped = {
            let mut queue = self.shared.lock();
            queue.shut_down = true;
            std::mem::take(&mut queue.jobs)
        };
        self.shared.available.notify_all();
        // Futures are dropped outside the lock: their destructors may wake
        // other jobs, which takes the lock.
        for job in dropped {
            job.finish();
        }
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, job: Arc<Job>) {
        let mut queue = self.lock();
        if queue.shut_down {
            drop(queue);
            job.finish();
            return;
        }
        queue.jobs.push_back(job);
        drop(queue);
        self.available.notify_one();
    }
}

fn work(shared: &Arc<Shared>) {
    WORKER_OF.with(|of| of.set(Arc::as_ptr(shared) as usize));
    loop {
        let job = {
            let mut queue = shared.lock();
            loop {
                if queue.shut_down {
                    return;
                }
                if let Some(job) = queue.jobs.pop_front() {
                    break job;
                }
                queue = shared
                    .available
                    .wait(queue)
                    .unwrap_or_else(|e| e.into_inner());
            }
        };
        job.run();
    }
}

impl Job {
    fn run(self: Arc<Self>) {
        self.state.store(RUNNING, Ordering::Release);
        let waker = Waker::from(Arc::clone(&self));
        let mut cx = Context::from_waker(&waker);
        let finished = {
            let mut slot = self.future.lock().unwrap_or_else(|e| e.into_inner());
            match slot.as_mut() {
                // Spawner-made futures catch their panics; a raw future that
                // panics takes its worker down, like a panic in a thread.
                Some(future) => future.as_mut().poll(&mut cx).is_ready(),
                None => true,
            }
        };
        if finished {
            self.finish();
            return;
        }
        if self
            .state
            .compare_exchange(RUNNING, IDLE, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            // Woken during the poll (state is NOTIFIED): poll it again.
            self.state.store(SCHEDULED, Ordering::Release);
            let pool = Arc::clone(&self.pool);
            pool.push(self);
        }
    }

    fn finish(&self) {
        self.state.store(DONE, Ordering::Release);
        let future = self.future.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(future);
    }
}

impl Wake for Job {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            let next = match state {
                IDLE => SCHEDULED,
                RUNNING => NOTIFIED,
                // Already queued, already re-queued, or finished.
                _ => return,
            };
            match self
                .state
                .compare_exchange(state, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) if next == SCHEDULED => {
                    self.pool.push(Arc::clone(self));
                    return;
                }
                Ok(_) => return,
                Err(actual) => state = actual,
            }
        }
    }
}

impl Executor for ThreadPool {
    fn spawn(&self, future: BoxedFuture) {
        let job = Arc::new(Job {
            state: AtomicU8::new(SCHEDULED),
            future: Mutex::new(Some(future)),
            pool: Arc::clone(&self.shared),
        });
        // Queued, never polled here: the caller may hold locks.
        self.shared.push(job);
    }
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPool")
            .field("name", &self.shared.name)
            .field("workers", &self.shared.workers)
            .field("queued", &self.shared.lock().jobs.len())
            .finish()
    }
}

/// Runs `future` to completion on the calling thread, parking it between
/// polls: the `block_on` of the custom runtime.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(Unparker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        thread::park();
    }
}

struct Unparker(thread::Thread);

impl Wake for Unparker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// The custom runtime as a [`RuntimeUnderTest`]: a [`ThreadPool`] that is
/// shut down when the test's runtime is dropped.
#[derive(Debug)]
pub struct CustomRuntime {
    pool: ThreadPool,
}

impl CustomRuntime {
    /// A fresh pool of `workers` threads named `conformance-pool-worker-N`.
    pub fn new(workers: usize) -> Self {
        Self {
            pool: ThreadPool::new("conformance-pool", workers),
        }
    }

    /// The pool, e.g. to spawn on it directly.
    pub fn pool(&self) -> &ThreadPool {
        &self.pool
    }
}

impl RuntimeUnderTest for CustomRuntime {
    fn name(&self) -> &str {
        "custom-thread-pool"
    }

    fn executor(&self) -> Arc<dyn Executor> {
        Arc::new(self.pool.clone())
    }

    fn block_on(&self, future: LocalFuture<'_>) {
        block_on(future);
    }

    fn workers(&self) -> Option<usize> {
        Some(self.pool.workers())
    }

    fn worker_thread_name(&self) -> Option<String> {
        Some(self.pool.thread_name())
    }

    fn native_spawn(&self) -> Option<Arc<dyn NativeSpawn>> {
        Some(Arc::new(self.pool.clone()))
    }
}

/// A runtime without an adapter of its own spawns tracked tasks through
/// `monitor-core`'s [`Spawner`]: that is its native spawn function.
impl NativeSpawn for ThreadPool {
    fn spawn(&self, registry: Arc<TaskRegistry>, name: &str, future: BoxedFuture) -> NativeTask {
        let handle = Spawner::new(self.clone(), registry)
            .task()
            .name(name)
            .spawn(future);
        NativeTask::new(async move {
            match handle.await {
                Ok(()) => NativeOutcome::Completed,
                Err(JoinError::Cancelled(_)) => NativeOutcome::Cancelled,
                Err(err) => NativeOutcome::Failed(err.to_string()),
            }
        })
    }
}

impl Drop for CustomRuntime {
    fn drop(&mut self) {
        self.pool.shutdown();
    }
}
