//! The `rs.tokio.console.instrument.Instrument` service.

use std::{
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::SystemTime,
};

use console_api::{
    instrument::{
        InstrumentRequest, PauseRequest, PauseResponse, ResumeRequest, ResumeResponse, State,
        StateRequest, TaskDetailsRequest, Temporality, Update, instrument_server::Instrument,
    },
    tasks::TaskDetails,
};
use monitor_core::{TaskId, TaskIntrospect};
use tokio::sync::{broadcast, mpsc, watch};
use tokio_stream::{
    Stream, StreamExt as _,
    wrappers::{ReceiverStream, WatchStream},
};
use tonic::{Request, Response, Status};

use super::{MAX_STREAMS, SEND_TIMEOUT, UPDATE_INTERVAL, sampler::Sampler};

/// Ticks of updates a client may fall behind before it is disconnected (the
/// stock client then reconnects and starts again from a fresh snapshot).
const LAG_TICKS: usize = 4;

/// What the service, the update loop and every client stream share.
pub(crate) struct Shared {
    introspect: Arc<dyn TaskIntrospect>,
    sampler: Mutex<Sampler>,
    /// Each tick's messages, shared by every client (`Arc`: one copy).
    updates: broadcast::Sender<Arc<[Update]>>,
    temporality: watch::Sender<Temporality>,
    streams: AtomicUsize,
}

impl Shared {
    pub(crate) fn new(introspect: Arc<dyn TaskIntrospect>) -> Arc<Self> {
        Arc::new(Self {
            introspect,
            sampler: Mutex::new(Sampler::default()),
            updates: broadcast::channel(LAG_TICKS).0,
            temporality: watch::channel(Temporality::Live).0,
            streams: AtomicUsize::new(0),
        })
    }

    fn sampler(&self) -> std::sync::MutexGuard<'_, Sampler> {
        self.sampler.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One tick: samples the registry and hands the changes to every
    /// client. Does nothing while paused, and forgets everything while
    /// nobody watches, so an unwatched bridge costs no memory per task.
    pub(crate) fn tick(&self) {
        if self.updates.receiver_count() == 0 {
            self.sampler().clear();
            return;
        }
        if *self.temporality.borrow() == Temporality::Paused {
            return;
        }
        let now = SystemTime::now();
        let batch = {
            let mut sampler = self.sampler();
            let changes = sampler.sample(&*self.introspect, now);
            sampler.delta(now, &changes)
        };
        // An error only means the last client left meanwhile.
        let _ = self.updates.send(batch.into());
    }

    /// Takes a stream place, or says why there is none.
    fn slot(self: &Arc<Self>) -> Result<StreamSlot, Status> {
        let previous = self.streams.fetch_add(1, Ordering::AcqRel);
        let slot = StreamSlot(Arc::clone(self));
        if previous >= MAX_STREAMS {
            return Err(Status::resource_exhausted(format!(
                "too many tokio-console streams open at once (at most {MAX_STREAMS}); close \
                 another client and retry"
            )));
        }
        Ok(slot)
    }
}

/// One of the [`MAX_STREAMS`] places; given back when the stream ends.
struct StreamSlot(Arc<Shared>);

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.streams.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Sends `item`, unless the client has not taken anything for
/// [`SEND_TIMEOUT`] or is gone: `false` then, and the stream ends.
async fn send<T>(tx: &mpsc::Sender<Result<T, Status>>, item: T) -> bool {
    matches!(
        tokio::time::timeout(SEND_TIMEOUT, tx.send(Ok(item))).await,
        Ok(Ok(()))
    )
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

/// The gRPC service; cheap to clone.
#[derive(Clone)]
pub(crate) struct Service(pub(crate) Arc<Shared>);

#[tonic::async_trait]
impl Instrument for Service {
    type WatchUpdatesStream = BoxStream<Update>;
    type WatchTaskDetailsStream = BoxStream<TaskDetails>;
    type WatchStateStream = BoxStream<State>;

    async fn watch_updates(
        &self,
        _request: Request<InstrumentRequest>,
    ) -> Result<Response<Self::WatchUpdatesStream>, Status> {
        let slot = self.0.slot()?;
        // Snapshot and subscription are taken together under the sampler's
        // lock, so the first delta this client receives follows exactly the
        // state its snapshot shows.
        let (snapshot, mut deltas) = {
            let mut sampler = self.0.sampler();
            let now = SystemTime::now();
            if !sampler.is_initialized() {
                sampler.sample(&*self.0.introspect, now);
            }
            (sampler.shared_snapshot(now), self.0.updates.subscribe())
        };
        // Two messages in flight per client: its memory does not grow with
        // how far behind it is.
        let (tx, rx) = mpsc::channel(2);
        tokio::spawn(async move {
            let _slot = slot;
            for update in snapshot.iter() {
                if !send(&tx, update.clone()).await {
                    return;
                }
            }
            loop {
                let batch = tokio::select! {
                    batch = deltas.recv() => batch,
                    () = tx.closed() => return,
                };
                match batch {
                    Ok(batch) => {
                        for update in batch.iter() {
                            if !send(&tx, update.clone()).await {
                                return;
                            }
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        let _ = tx.try_send(Err(Status::resource_exhausted(format!(
                            "this client fell {missed} updates behind; reconnect for a fresh \
                             snapshot"
                        ))));
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn watch_task_details(
        &self,
        request: Request<TaskDetailsRequest>,
    ) -> Result<Response<Self::WatchTaskDetailsStream>, Status> {
        let wanted = request.into_inner().id.map_or(0, |id| id.id);
        let Some(id) = TaskId::from_u64(wanted) else {
            return Err(Status::invalid_argument(format!(
                "invalid task id {wanted}: expected the positive id of a task"
            )));
        };
        if self.0.introspect.task(id).is_none() {
            return Err(Status::not_found(format!(
                "no task {id}: it never existed, or it ended and left the history"
            )));
        }
        let slot = self.0.slot()?;
        let shared = Arc::clone(&self.0);
        let (tx, rx) = mpsc::channel(1);
        tokio::spawn(async move {
            let _slot = slot;
            let mut interval = tokio::time::interval(UPDATE_INTERVAL);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = interval.tick() => {}
                    () = tx.closed() => return,
                }
                let Some(task) = shared.introspect.task(id) else {
                    return;
                };
                // No poll-time histogram: the registry keeps histograms
                // per spawn site, not per task (see the module docs). The
                // client shows the view without it.
                let details = TaskDetails {
                    task_id: Some(id.as_u64().into()),
                    now: Some(SystemTime::now().into()),
                    scheduled_times_histogram: None,
                    poll_times_histogram: None,
                };
                if !send(&tx, details).await || task.ended.is_some() {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn watch_state(
        &self,
        _request: Request<StateRequest>,
    ) -> Result<Response<Self::WatchStateStream>, Status> {
        let slot = self.0.slot()?;
        let states = WatchStream::new(self.0.temporality.subscribe()).map(move |temporality| {
            let _holds_the_slot = &slot;
            Ok(State {
                temporality: temporality as i32,
            })
        });
        Ok(Response::new(Box::pin(states)))
    }

    async fn pause(
        &self,
        _request: Request<PauseRequest>,
    ) -> Result<Response<PauseResponse>, Status> {
        self.0.temporality.send_replace(Temporality::Paused);
        Ok(Response::new(PauseResponse {}))
    }

    async fn resume(
        &self,
        _request: Request<ResumeRequest>,
    ) -> Result<Response<ResumeResponse>, Status> {
        self.0.temporality.send_replace(Temporality::Live);
        Ok(Response::new(ResumeResponse {}))
    }
}
