//! How the crate being compiled names the monitor.

use proc_macro_crate::{FoundCrate, crate_name};
use proc_macro2::{Span, TokenStream};
use quote::quote;

/// Crates whose root re-exports what expansions use (`Framed`, …), in the
/// order they are looked for among the caller's dependencies.
const PROVIDERS: [&str; 4] = [
    "monitor-core",
    "monitor-tokio",
    "monitor-smol",
    "monitor-async-std",
];

/// A path to the first of [`PROVIDERS`] the caller depends on, as the
/// caller names it (renames included).
///
/// # Errors
///
/// When the caller depends on none of them, an error to show at the
/// macro's call site, naming the crates that would do.
pub(crate) fn monitor_crate(macro_name: &str) -> syn::Result<TokenStream> {
    for package in PROVIDERS {
        let ident_name = package.replace('-', "_");
        match crate_name(package) {
            Ok(FoundCrate::Itself) => {
                // The package itself: `crate` inside its library, its own
                // name from its tests, examples and benches.
                let compiling = std::env::var("CARGO_CRATE_NAME").unwrap_or_default();
                if compiling == ident_name {
                    return Ok(quote!(crate));
                }
                let ident = syn::Ident::new(&ident_name, Span::call_site());
                return Ok(quote!(::#ident));
            }
            Ok(FoundCrate::Name(name)) => {
                let ident = syn::Ident::new(&name, Span::call_site());
                return Ok(quote!(::#ident));
            }
            Err(_) => continue,
        }
    }
    Err(syn::Error::new(
        Span::call_site(),
        format!(
            "#[{macro_name}] needs one of {} in this crate's [dependencies]",
            PROVIDERS.join(", ")
        ),
    ))
}
