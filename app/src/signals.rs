//! The signal bus: `[listen.NAME] SIGNAL = "func"` subscriptions, and
//! `emit`, which delivers a message to each subscriber as a tracked task.

use std::{
    collections::BTreeMap,
    fmt,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use serde::Serialize;

use crate::{
    AppContext, Config,
    functions::{Functions, ListenerFn},
    runner::{RunOutcome, lock},
};

pub(crate) struct Subscriber {
    pub(crate) section: String,
    pub(crate) func: String,
    f: ListenerFn,
    pub(crate) delivered: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) last: Mutex<Option<RunOutcome>>,
}

pub(crate) struct SignalEntry {
    pub(crate) subscribers: Vec<Subscriber>,
    pub(crate) emits: AtomicU64,
}

/// Subscriptions by signal, built once from the configuration.
pub(crate) struct SignalTable {
    pub(crate) by_signal: BTreeMap<String, SignalEntry>,
}

impl SignalTable {
    /// `functions` must hold every listener `config` names (checked by
    /// [`App::check`](crate::App::check)).
    pub(crate) fn new(config: &Config, functions: &Functions) -> Self {
        let mut by_signal: BTreeMap<String, SignalEntry> = BTreeMap::new();
        for (section, signals) in &config.listeners {
            for (signal, funcs) in signals {
                let entry = by_signal
                    .entry(signal.clone())
                    .or_insert_with(|| SignalEntry {
                        subscribers: Vec::new(),
                        emits: AtomicU64::new(0),
                    });
                for func in funcs {
                    entry.subscribers.push(Subscriber {
                        section: section.clone(),
                        func: func.clone(),
                        f: functions.listeners[func].clone(),
                        delivered: AtomicU64::new(0),
                        failed: AtomicU64::new(0),
                        last: Mutex::new(None),
                    });
                }
            }
        }
        Self { by_signal }
    }
}

/// The app's signal bus; from [`AppContext::signals`] or
/// [`Running::signals`](crate::Running::signals).
#[derive(Clone)]
pub struct Signals {
    ctx: AppContext,
}

impl fmt::Debug for Signals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signals")
            .field("signals", &self.names())
            .finish()
    }
}

/// One listener's handling of one emitted message.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Delivery {
    /// The `[listen.NAME]` section that subscribed it.
    pub listener: String,
    /// The listener function.
    pub func: String,
    /// How it ended.
    pub outcome: RunOutcome,
}

/// What [`Signals::emit`] did.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Emitted {
    /// The signal.
    pub signal: String,
    /// One entry per subscribed listener, in configuration order; empty
    /// when nothing subscribes to the signal.
    pub deliveries: Vec<Delivery>,
}

impl fmt::Display for Emitted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} delivered to {} listener(s)",
            self.signal,
            self.deliveries.len()
        )?;
        for delivery in &self.deliveries {
            write!(
                f,
                "\n  listen:{}/{} {}: {}",
                delivery.listener, self.signal, delivery.func, delivery.outcome
            )?;
        }
        Ok(())
    }
}

impl Signals {
    pub(crate) fn new(ctx: AppContext) -> Self {
        Self { ctx }
    }

    /// The signals someone subscribes to.
    pub fn names(&self) -> Vec<String> {
        self.ctx.shared.signals.by_signal.keys().cloned().collect()
    }

    /// Calls every listener subscribed to `signal` with `message`, each as
    /// a task named `listen:SECTION/SIGNAL`, and waits for all of them.
    ///
    /// A listener's error or panic is contained: it is recorded (see the
    /// monitor's `app` command) and returned in [`Emitted`], and the other
    /// listeners run regardless. Once shutdown has begun, deliveries are
    /// [`RunOutcome::Refused`].
    pub async fn emit(&self, signal: &str, message: impl Into<String>) -> Emitted {
        let message = message.into();
        let Some(entry) = self.ctx.shared.signals.by_signal.get(signal) else {
            return Emitted {
                signal: signal.to_owned(),
                deliveries: Vec::new(),
            };
        };
        entry.emits.fetch_add(1, Ordering::SeqCst);
        let handles: Vec<_> = entry
            .subscribers
            .iter()
            .map(|subscriber| {
                let run = (subscriber.f)(self.ctx.clone(), signal.to_owned(), message.clone());
                self.ctx
                    .spawn(format!("listen:{}/{signal}", subscriber.section), run)
            })
            .collect();
        let mut deliveries = Vec::with_capacity(handles.len());
        for (subscriber, handle) in entry.subscribers.iter().zip(handles) {
            let outcome = match handle {
                Some(handle) => RunOutcome::from_join(handle.await),
                None => RunOutcome::Refused,
            };
            subscriber.delivered.fetch_add(1, Ordering::SeqCst);
            if !outcome.is_ok() {
                subscriber.failed.fetch_add(1, Ordering::SeqCst);
            }
            *lock(&subscriber.last) = Some(outcome.clone());
            deliveries.push(Delivery {
                listener: subscriber.section.clone(),
                func: subscriber.func.clone(),
                outcome,
            });
        }
        Emitted {
            signal: signal.to_owned(),
            deliveries,
        }
    }
}
