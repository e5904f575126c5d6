//! `#[monitor_tokio::main]`: a drop-in for `#[tokio::main]` that also
//! starts the async runtime monitor, configured from the environment
//! (`MONITOR`, `MONITOR_PORT`, …). Use it through `monitor-tokio` (its
//! `macros` feature, on by default), not directly: the expansion names
//! `monitor_tokio`.
#![deny(missing_docs)]

use proc_macro::TokenStream;
use proc_macro2::Span;
use quote::{ToTokens, quote};
use syn::{
    Expr, ExprLit, ItemFn, Lit, Meta, Path, Token, parse::Parser, punctuated::Punctuated,
    spanned::Spanned,
};

/// Runs an `async fn` on a tokio runtime with the monitor attached.
///
/// Takes the options of `#[tokio::main]`: `flavor = "multi_thread"`
/// (default) or `"current_thread"`, `worker_threads = N`,
/// `start_paused = true` (tokio's `test-util`), `unhandled_panic =
/// "ignore" | "shutdown_runtime"` (tokio_unstable), and `crate = "path"`
/// for where `monitor_tokio` is found. The runtime is built with every
/// driver enabled; built with `--cfg tokio_unstable` and monitor-tokio's
/// `hooks` feature it tracks plain `tokio::spawn` tasks too; the monitor is
/// started from the environment before the body runs (a bad variable is
/// reported on stderr and the application runs without a monitor) and
/// stopped when it returns.
///
/// ```ignore
/// #[monitor_tokio::main]            // was: #[tokio::main]
/// async fn main() {
///     tokio::spawn(async { /* … */ }); // shows in `ps`
/// }
/// ```
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    let item_tokens = proc_macro2::TokenStream::from(item.clone());
    match expand(args.into(), item.into()) {
        Ok(tokens) => tokens.into(),
        // Keep the function, so that one mistake in the attribute does not
        // bury the user under errors about a missing `main`.
        Err(err) => {
            let error = err.to_compile_error();
            quote!(#error #item_tokens).into()
        }
    }
}

/// The runtime flavours `#[tokio::main]` knows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavor {
    MultiThread,
    CurrentThread,
}

struct Options {
    flavor: Flavor,
    worker_threads: Option<Expr>,
    start_paused: Option<Expr>,
    unhandled_panic: Option<Path>,
    krate: Path,
}

const ACCEPTED: &str = "accepted: flavor, worker_threads, start_paused, unhandled_panic, crate (as for #[tokio::main])";

fn parse_options(args: proc_macro2::TokenStream) -> syn::Result<Options> {
    let metas = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args)?;
    let mut options = Options {
        flavor: Flavor::MultiThread,
        worker_threads: None,
        start_paused: None,
        unhandled_panic: None,
        krate: syn::parse_quote!(::monitor_tokio),
    };
    for meta in metas {
        let Meta::NameValue(pair) = &meta else {
            return Err(syn::Error::new(
                meta.span(),
                format!("expected `name = value`; {ACCEPTED}"),
            ));
        };
        let name = pair
            .path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        let value = &pair.value;
        match name.as_str() {
            "flavor" => {
                options.flavor = match string(value)?.as_str() {
                    "multi_thread" => Flavor::MultiThread,
                    "current_thread" => Flavor::CurrentThread,
                    other => {
                        return Err(syn::Error::new(
                            value.span(),
                            format!(
                                "unknown flavor {other:?}; accepted: \"multi_thread\", \
                                 \"current_thread\""
                            ),
                        ));
                    }
                }
            }
            "worker_threads" => options.worker_threads = Some(value.clone()),
            "start_paused" => options.start_paused = Some(value.clone()),
            "unhandled_panic" => {
                let variant = match string(value)?.as_str() {
                    "ignore" => "Ignore",
                    "shutdown_runtime" => "ShutdownRuntime",
                    other => {
                        return Err(syn::Error::new(
                            value.span(),
                            format!(
                                "unknown unhandled_panic {other:?}; accepted: \"ignore\", \
                                 \"shutdown_runtime\""
                            ),
                        ));
                    }
                };
                options.unhandled_panic = Some(syn::parse_str(variant)?);
            }
            "crate" => options.krate = syn::parse_str(&string(value)?)?,
            _ => {
                return Err(syn::Error::new(
                    pair.path.span(),
                    format!(
                        "unknown option `{}`; {ACCEPTED}",
                        pair.path.to_token_stream()
                    ),
                ));
            }
        }
    }
    if options.flavor == Flavor::CurrentThread
        && let Some(threads) = &options.worker_threads
    {
        return Err(syn::Error::new(
            threads.span(),
            "worker_threads needs flavor = \"multi_thread\": a current_thread runtime has one",
        ));
    }
    Ok(options)
}

fn string(value: &Expr) -> syn::Result<String> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(text),
            ..
        }) => Ok(text.value()),
        _ => Err(syn::Error::new(value.span(), "expected a string literal")),
    }
}

fn expand(
    args: proc_macro2::TokenStream,
    item: proc_macro2::TokenStream,
) -> syn::Result<proc_macro2::TokenStream> {
    let options = parse_options(args)?;
    let mut function: ItemFn = syn::parse2(item)?;
    if function.sig.asyncness.take().is_none() {
        return Err(syn::Error::new(
            function.sig.fn_token.span(),
            "#[monitor_tokio::main] goes on an `async fn`",
        ));
    }
    let krate = &options.krate;
    let tokio = quote!(#krate::__private::tokio);
    let builder = match options.flavor {
        Flavor::MultiThread => quote!(#tokio::runtime::Builder::new_multi_thread()),
        Flavor::CurrentThread => quote!(#tokio::runtime::Builder::new_current_thread()),
    };
    let worker_threads = options
        .worker_threads
        .iter()
        .map(|threads| quote!(builder.worker_threads(#threads);));
    let start_paused = options
        .start_paused
        .iter()
        .map(|paused| quote!(builder.start_paused(#paused);));
    let unhandled_panic = options
        .unhandled_panic
        .iter()
        .map(|variant| quote!(builder.unhandled_panic(#tokio::runtime::UnhandledPanic::#variant);));
    let body = &function.block;
    let span = Span::call_site();
    let new_body = quote::quote_spanned! {span=>
        {
            let body = async move #body;
            let mut builder = #builder;
            builder.enable_all();
            #(#worker_threads)*
            #(#start_paused)*
            #(#unhandled_panic)*
            #krate::__private::prepare(&mut builder);
            let runtime = builder
                .build()
                .expect("Failed building the Runtime");
            // Declared after the runtime, so dropped (stopped) before it.
            let _monitor = #krate::__private::start(runtime.handle());
            runtime.block_on(body)
        }
    };
    function.block = syn::parse2(new_body)?;
    Ok(function.into_token_stream())
}
