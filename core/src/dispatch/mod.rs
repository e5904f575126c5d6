//! The command dispatcher: turns lines typed on the monitor console into
//! command calls, in the manner of Python's `cmd` module as used by
//! aiomonitor.
//!
//! - [`Command`] defines a command: name, aliases, help text, typed
//!   [`Arg`]uments and a synchronous or asynchronous handler.
//! - [`Dispatcher`] holds the commands, [`Hooks`], templates, timeout and
//!   optional [`Executor`](crate::Executor); it is shared by all sessions.
//! - [`Session`] is one connection: the embedder's context, `lastcmd`, and
//!   [`Session::handle_line`], which answers a [`Reply`].
//!
//! Commands are found by exact name, then alias, then unique prefix
//! (`wh` → `where`). Lines are split shell-style, so `say "two words"` gives
//! one argument. `help`, `help CMD` and `CMD --help` are built in.
//!
//! # Example
//!
//! A command with two typed arguments and an alias:
//!
//! ```
//! use std::{sync::Arc, time::Duration};
//! use monitor_core::{TaskId, dispatch::{Arg, Command, Dispatcher, Session}};
//!
//! /// What each session knows; a real server would hold the task registry.
//! #[derive(Default)]
//! struct Ctx {
//!     sleeping: Vec<(TaskId, Duration)>,
//! }
//!
//! let mut dispatcher = Dispatcher::<Ctx>::new();
//! dispatcher
//!     .register(
//!         Command::new("pause")
//!             .alias("pa")
//!             .about("Pause a task for a while.")
//!             .arg(Arg::task_id("TASK_ID").help("the task to pause"))
//!             .arg(Arg::duration("FOR").help("how long, e.g. 500ms or 2s"))
//!             .run(|ctx: &mut Ctx, args, out| {
//!                 let id: TaskId = args.get("TASK_ID").expect("required");
//!                 let pause: Duration = args.get("FOR").expect("required");
//!                 ctx.sleeping.push((id, pause));
//!                 out.line(format!("task {id} paused for {pause:?}"));
//!                 Ok(())
//!             }),
//!     )
//!     .unwrap();
//!
//! let mut session = Session::new(Arc::new(dispatcher), Ctx::default());
//! let reply = futures_lite::future::block_on(session.handle_line("pa 7 1500ms"));
//! assert_eq!(reply.text, "task 7 paused for 1.5s\n");
//! assert!(!reply.is_error);
//!
//! let reply = futures_lite::future::block_on(session.handle_line("pause x 2s"));
//! assert_eq!(
//!     reply.text,
//!     "pause: invalid task id \"x\" (expected a positive integer such as 42). \
//!      usage: pause TASK_ID FOR\n"
//! );
//! assert!(reply.is_error);
//! ```

mod args;
mod catalog;
mod command;
mod dispatcher;
mod error;
mod help;
mod hooks;
mod session;
mod template;

pub use args::{Arg, ArgInfo, ArgKind, Args, parse_duration};
pub use catalog::{
    Catalog, CommandInfo, DEFAULT_HELP_SHORT_TEMPLATE, DEFAULT_HELP_TEMPLATE, HELP_FIELDS,
    Resolution,
};
pub use command::{Command, Output, ReplyStream};
pub use dispatcher::{DEFAULT_INTRO, DEFAULT_PROMPT, DEFAULT_TIMEOUT, Dispatcher};
pub use error::{CommandError, RegisterError, TemplateError};
pub use hooks::{Completed, DefaultHooks, Hooks, Precmd};
pub use session::{Reply, Session};
pub use template::Template;
