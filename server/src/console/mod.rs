//! The console: a namespace of live values, tunables and actions.
//!
//! Python's aiomonitor, aiomanhole and aioconsole open a REPL over the socket
//! with chosen `locals`. Rust cannot evaluate code at run time, but what
//! people use that REPL for — look at a value, change a setting, call a
//! function — can be served safely and typed. The application builds a
//! [`Namespace`] when it starts the monitor:
//!
//! - **values** are rendered fresh on every read (`Debug`, and JSON when the
//!   type is `Serialize`);
//! - **tunables** can be read and changed (`set NAME VALUE`); a value that
//!   does not parse is refused with the parse error and the old value stays;
//! - **actions** are async functions with typed arguments, run on the
//!   application's runtime under the command timeout and cancelled when it
//!   expires.
//!
//! The `console` command of the monitor enters the console (prompt
//! `console >>> `, `exit` returns to the monitor); the same console is also
//! served on its own port (`CONSOLE_PORT`, 50102) when enabled.
//!
//! Entries belong to the application and are shared by every session:
//! when two sessions `set` the same tunable, each `set` is applied whole
//! (under the tunable's own lock or atomic store) and the last one wins.
//!
//! ```
//! use std::sync::{Arc, RwLock, atomic::AtomicU64};
//!
//! use monitor_core::dispatch::Arg;
//! use monitor_server::console::Namespace;
//!
//! let requests = Arc::new(AtomicU64::new(0));
//! let delay_ms = Arc::new(RwLock::new(250u64));
//! let namespace = Namespace::new()
//!     .tunable("requests", "requests served so far", Arc::clone(&requests))
//!     .tunable("delay_ms", "worker delay in milliseconds", delay_ms)
//!     .value("build", "build information", || ("v1.2.3", "x86_64"))
//!     .action(
//!         "greet",
//!         "answer politely",
//!         [Arg::string("WHO")],
//!         |args| {
//!             let who: String = args.get("WHO").unwrap_or_default();
//!             async move { Ok(format!("hello, {who}")) }
//!         },
//!     );
//! assert_eq!(namespace.len(), 4);
//! ```

mod commands;
mod tunable;

use std::{collections::BTreeMap, fmt, future::Future, sync::Arc};

use serde::Serialize;

pub(crate) use commands::dispatcher;
pub use commands::{CONSOLE_PROMPT, ConsoleContext};

/// Builds the console dispatcher on its own, for tests that drive it
/// without a server.
#[doc(hidden)]
pub fn testing_dispatcher(
    namespace: Arc<Namespace>,
    executor: Option<Arc<dyn monitor_core::Executor>>,
    timeout: Option<std::time::Duration>,
) -> Result<monitor_core::dispatch::Dispatcher<ConsoleContext>, monitor_core::dispatch::RegisterError>
{
    dispatcher(namespace, executor, timeout)
}
pub use tunable::Tunable;

use monitor_core::dispatch::{Arg, Args, CommandError};

/// How a value renders itself: human text, and JSON when it can.
type Render = Box<dyn Fn() -> Rendered + Send + Sync>;

pub(crate) struct Rendered {
    pub(crate) text: String,
    pub(crate) json: Option<Result<String, String>>,
}

type ActionFuture = std::pin::Pin<Box<dyn Future<Output = Result<String, CommandError>> + Send>>;
pub(crate) type ActionFn = Arc<dyn Fn(&Args) -> ActionFuture + Send + Sync>;

pub(crate) enum Entry {
    Value(Render),
    Tunable(Box<dyn Tunable>),
    Action { args: Vec<Arg>, run: ActionFn },
}

pub(crate) struct Item {
    pub(crate) doc: String,
    pub(crate) entry: Entry,
}

/// The values, tunables and actions an application exposes to the console.
///
/// Built once when the monitor starts and shared by every session; see the
/// [module docs](self) for an example.
#[derive(Default)]
pub struct Namespace {
    pub(crate) items: BTreeMap<String, Item>,
}

impl fmt::Debug for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Namespace")
            .field("names", &self.items.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Namespace {
    /// An empty namespace.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// `true` when nothing is exposed.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The names, in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.items.keys().map(String::as_str)
    }

    fn insert(mut self, name: &str, doc: &str, entry: Entry) -> Self {
        self.items.insert(
            name.to_owned(),
            Item {
                doc: doc.to_owned(),
                entry,
            },
        );
        self
    }

    /// A read-only value, produced fresh by `read` on every `get`, shown
    /// with `{:#?}` and as JSON with `get NAME --json`.
    ///
    /// A later entry with the same name replaces an earlier one.
    pub fn value<T, F>(self, name: &str, doc: &str, read: F) -> Self
    where
        T: fmt::Debug + Serialize,
        F: Fn() -> T + Send + Sync + 'static,
    {
        let render: Render = Box::new(move || {
            let value = read();
            Rendered {
                text: format!("{value:#?}"),
                json: Some(serde_json::to_string(&value).map_err(|err| err.to_string())),
            }
        });
        self.insert(name, doc, Entry::Value(render))
    }

    /// A read-only value behind an `Arc`, shown with `{:#?}` and as JSON.
    pub fn shared<T>(self, name: &str, doc: &str, value: Arc<T>) -> Self
    where
        T: fmt::Debug + Serialize + Send + Sync + 'static,
    {
        let render: Render = Box::new(move || Rendered {
            text: format!("{:#?}", &*value),
            json: Some(serde_json::to_string(&*value).map_err(|err| err.to_string())),
        });
        self.insert(name, doc, Entry::Value(render))
    }

    /// A read-only value that is only `Debug` (no JSON form).
    pub fn debug_value<T, F>(self, name: &str, doc: &str, read: F) -> Self
    where
        T: fmt::Debug,
        F: Fn() -> T + Send + Sync + 'static,
    {
        let render: Render = Box::new(move || Rendered {
            text: format!("{:#?}", read()),
            json: None,
        });
        self.insert(name, doc, Entry::Value(render))
    }

    /// A value the console can read and change: an atomic integer or bool,
    /// an `Arc<RwLock<T>>` / `Arc<Mutex<T>>` with `T: FromStr + Display`, or
    /// anything implementing [`Tunable`].
    pub fn tunable(self, name: &str, doc: &str, tunable: impl Tunable) -> Self {
        self.insert(name, doc, Entry::Tunable(Box::new(tunable)))
    }

    /// An action: an async function with typed arguments, called with
    /// `call NAME ARGS…` (or just `NAME ARGS…`). It runs on the
    /// application's runtime under the monitor's command timeout and is
    /// cancelled (dropped) when the timeout expires.
    pub fn action<F, Fut>(
        self,
        name: &str,
        doc: &str,
        args: impl IntoIterator<Item = Arg>,
        run: F,
    ) -> Self
    where
        F: Fn(&Args) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, CommandError>> + Send + 'static,
    {
        let run: ActionFn = Arc::new(move |args: &Args| Box::pin(run(args)) as ActionFuture);
        self.insert(
            name,
            doc,
            Entry::Action {
                args: args.into_iter().collect(),
                run,
            },
        )
    }
}
