//! A deliberately small custom runtime, built only on monitor-core's public
//! API and std: the proof that "implement `Executor` for your runtime" works.

#![allow(dead_code, unreachable_pub)]

use std::{
    sync::{
        Arc, Mutex,
        mpsc::{Sender, channel},
    },
    task::{Context, Poll, Wake, Waker},
    thread,
};

use monitor_core::{BoxedFuture, Executor};

/// A pool of worker threads sharing one run queue.
#[derive(Debug, Clone)]
pub struct TinyPool {
    queue: Sender<Arc<Job>>,
}

struct Job {
    future: Mutex<Option<BoxedFuture>>,
    queue: Mutex<Sender<Arc<Job>>>,
}

impl Wake for Job {
    fn wake(self: Arc<Self>) {
        let queue = self.queue.lock().unwrap().clone();
        let _ = queue.send(self);
    }
}

impl TinyPool {
    pub fn new(workers: usize) -> Self {
        let (queue, jobs) = channel::<Arc<Job>>();
        let jobs = Arc::new(Mutex::new(jobs));
        for n in 0..workers {
            let jobs = Arc::clone(&jobs);
            thread::Builder::new()
                .name(format!("tiny-worker-{n}"))
                .spawn(move || {
                    loop {
                        let job = match jobs.lock().unwrap().recv() {
                            Ok(job) => job,
                            Err(_) => return,
                        };
                        let waker = Waker::from(Arc::clone(&job));
                        let mut slot = job.future.lock().unwrap();
                        let mut cx = Context::from_waker(&waker);
                        if let Some(future) = slot.as_mut()
                            && future.as_mut().poll(&mut cx) == Poll::Ready(())
                        {
                            *slot = None;
                        }
                    }
                })
                .unwrap();
        }
        Self { queue }
    }
}

impl Executor for TinyPool {
    fn spawn(&self, future: BoxedFuture) {
        let job = Arc::new(Job {
            future: Mutex::new(Some(future)),
            queue: Mutex::new(self.queue.clone()),
        });
        let _ = self.queue.send(job);
    }
}

/// Polls `check` every millisecond until it returns `Some`, for up to 5 s.
#[track_caller]
pub fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        thread::sleep(std::time::Duration::from_millis(1));
    }
}
