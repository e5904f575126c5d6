//! # monitor-macros
//!
//! The attribute macros of the async runtime monitor. Do not depend on
//! this crate directly: use them through `monitor-core` or an adapter,
//! which re-export them (`#[monitor_core::frame]`, `#[monitor_tokio::frame]`,
//! `#[monitor_smol::frame]`, `#[monitor_async_std::frame]`).
//!
//! Each macro lives in a module of its own; `paths` finds how the calling
//! crate names the monitor (directly, renamed, or through an adapter), so
//! expansions work whichever of those crates the application depends on.
#![deny(missing_docs)]

use proc_macro::TokenStream;

mod frame;
mod paths;

/// Records calls of an async function as frames of the awaiting task's
/// await stack, shown by the monitor's `where TASK_ID`.
///
/// `#[frame]` names the frame after the function's path
/// (`my_app::handlers::fetch`); `#[frame("fetch user")]` gives it a name of
/// your own. The location shown is the attribute's, right above the
/// function.
///
/// ```ignore
/// #[monitor_tokio::frame]
/// async fn fetch(url: &str) -> Result<Body, Error> { /* … */ }
///
/// #[monitor_tokio::frame("wait for a report")]
/// async fn next_report(rx: &mut Receiver<Report>) -> Option<Report> { rx.recv().await }
/// ```
///
/// Only `async fn` can be marked; wrap any other future with
/// `framed("name", future)`. See `monitor_core::Framed` for what a frame
/// costs and where it goes in the tree.
#[proc_macro_attribute]
pub fn frame(args: TokenStream, item: TokenStream) -> TokenStream {
    frame::expand(args.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
