//! The app's own tasks: spawned tracked and named, counted so shutdown can
//! wait for them, and cancelled when the grace period is over.

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use async_channel::{Receiver, Sender};
use futures_lite::FutureExt as _;
use monitor_core::{JoinHandle, Spawner, TaskId, TaskIntrospect as _};

#[derive(Default)]
struct Live {
    next_key: u64,
    /// Key → the task's id once `spawn` has returned it.
    tasks: HashMap<u64, Option<TaskId>>,
}

/// Held inside every tracked task's future, so it is dropped however the
/// task ends: completion, panic, cancellation, or the runtime dropping it.
struct Guard {
    _open: Sender<()>,
    key: u64,
    live: Arc<Mutex<Live>>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        lock(&self.live).tasks.remove(&self.key);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The data is a plain map; a panic elsewhere cannot leave it half-made.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Counts the app's live tasks without polling them: each holds a clone of
/// one channel's sender, and the receiver sees the channel close when the
/// last one is gone.
pub(crate) struct Tracker {
    spawner: Spawner,
    open: Mutex<Option<Sender<()>>>,
    all_done: Receiver<()>,
    live: Arc<Mutex<Live>>,
}

impl Tracker {
    pub(crate) fn new(spawner: Spawner) -> Self {
        let (open, all_done) = async_channel::bounded(1);
        Self {
            spawner,
            open: Mutex::new(Some(open)),
            all_done,
            live: Arc::default(),
        }
    }

    pub(crate) fn spawner(&self) -> &Spawner {
        &self.spawner
    }

    /// Spawns a named tracked task; `None` once shutdown has begun.
    #[track_caller]
    pub(crate) fn spawn<F>(&self, name: String, future: F) -> Option<JoinHandle<F::Output>>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let open = lock(&self.open).clone()?;
        let key = {
            let mut live = lock(&self.live);
            let key = live.next_key;
            live.next_key += 1;
            live.tasks.insert(key, None);
            key
        };
        let guard = Guard {
            _open: open,
            key,
            live: Arc::clone(&self.live),
        };
        let handle = self.spawner.task().name(name).spawn(async move {
            let _guard = guard;
            future.await
        });
        // If the task already ended, its guard removed the key and there is
        // nothing to record.
        if let Some(slot) = lock(&self.live).tasks.get_mut(&key) {
            *slot = Some(handle.id());
        }
        Some(handle)
    }

    /// Refuses new tasks from now on; returns the tasks live now.
    pub(crate) fn close(&self) -> Vec<TaskId> {
        lock(&self.open).take();
        self.live()
    }

    /// Waits (at most `timeout`) until the registry has retired `tasks`.
    ///
    /// A task's guard is dropped inside its last poll, just before the
    /// wrapper records how it ended, so [`Tracker::wait`] can return a few
    /// microseconds before `ps` stops listing the task. The registry offers
    /// nothing to await, hence the short polling; it normally ends on the
    /// first check.
    pub(crate) async fn settle(&self, tasks: &[TaskId], timeout: Duration) {
        let registry = self.spawner.registry();
        let deadline = std::time::Instant::now() + timeout;
        for &id in tasks {
            while registry
                .task(id)
                .is_some_and(|task| !task.state.is_terminal())
                && std::time::Instant::now() < deadline
            {
                async_io::Timer::after(Duration::from_micros(200)).await;
            }
        }
    }

    /// The tasks still running.
    pub(crate) fn live(&self) -> Vec<TaskId> {
        lock(&self.live).tasks.values().flatten().copied().collect()
    }

    /// Waits until every task has ended (after [`Tracker::close`]) or
    /// `timeout` passes; `true` if they all ended.
    pub(crate) async fn wait(&self, timeout: Duration) -> bool {
        let all_done = async {
            // Only `Err(Closed)` can come: nothing is ever sent.
            let _ = self.all_done.recv().await;
            true
        };
        all_done
            .or(async {
                async_io::Timer::after(timeout).await;
                false
            })
            .await
    }
}
