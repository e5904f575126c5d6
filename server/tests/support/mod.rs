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

/// A console client over any byte stream, reading until the prompt.
pub struct Client<S> {
    stream: S,
    prompt: String,
    pending: Vec<u8>,
}

impl<S: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin> Client<S> {
    /// Connects and returns the client with the intro already read.
    pub fn new(stream: S, prompt: &str) -> (Self, String) {
        let mut client = Self {
            stream,
            prompt: prompt.to_owned(),
            pending: Vec::new(),
        };
        let intro = client.read_until_prompt();
        (client, intro)
    }

    /// Gives the stream back, with anything read past the last prompt lost.
    pub fn into_stream(self) -> S {
        self.stream
    }

    /// Sends raw bytes.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        use futures_lite::AsyncWriteExt;
        futures_lite::future::block_on(async {
            self.stream.write_all(bytes).await.unwrap();
            self.stream.flush().await.unwrap();
        });
    }

    /// Sends one line and returns the reply, without the prompt.
    pub fn cmd(&mut self, line: &str) -> String {
        self.send_raw(format!("{line}\n").as_bytes());
        self.read_until_prompt()
    }

    /// Reads until the prompt (or EOF) and returns what came before it, with
    /// CRLF turned back into LF.
    pub fn read_until_prompt(&mut self) -> String {
        use futures_lite::AsyncReadExt;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let text = String::from_utf8_lossy(&self.pending).replace("\r\n", "\n");
            if let Some(at) = text.find(&self.prompt) {
                let reply = text[..at].to_owned();
                let consumed = text[..at + self.prompt.len()].to_owned();
                // Keep whatever followed the prompt.
                let rest = text[consumed.len()..].to_owned();
                self.pending = rest.into_bytes();
                return reply;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no prompt in {text:?}"
            );
            let mut buf = [0u8; 4096];
            let n = futures_lite::future::block_on(async {
                self.stream
                    .read(&mut buf)
                    .or(async {
                        async_io::Timer::after(std::time::Duration::from_secs(5)).await;
                        Ok(0)
                    })
                    .await
                    .unwrap_or(0)
            });
            if n == 0 {
                let reply = text.clone();
                self.pending.clear();
                return reply;
            }
            self.pending.extend_from_slice(&buf[..n]);
        }
    }

    /// Reads everything until the server closes the connection.
    pub fn read_to_end(&mut self) -> String {
        use futures_lite::AsyncReadExt;
        let mut rest = Vec::new();
        futures_lite::future::block_on(async {
            let _ = self
                .stream
                .read_to_end(&mut rest)
                .or(async {
                    async_io::Timer::after(std::time::Duration::from_secs(5)).await;
                    Err(std::io::ErrorKind::TimedOut.into())
                })
                .await;
        });
        self.pending.extend_from_slice(&rest);
        String::from_utf8_lossy(&std::mem::take(&mut self.pending)).replace("\r\n", "\n")
    }
}

use futures_lite::FutureExt as _;
