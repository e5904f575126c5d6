//! `#[frame]` and `#[frame("name")]`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{ItemFn, LitStr, parse::Parser as _, spanned::Spanned as _};

use crate::paths::monitor_crate;

pub(crate) fn expand(args: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let name = parse_name(args)?;
    let function: ItemFn = syn::parse2(item).map_err(|err| {
        syn::Error::new(
            err.span(),
            format!("#[frame] marks an `async fn` (with a body): {err}"),
        )
    })?;
    if function.sig.asyncness.is_none() {
        return Err(syn::Error::new(
            function.sig.fn_token.span(),
            "#[frame] marks `async fn`s only; wrap any other future with \
             `framed(\"name\", future)`",
        ));
    }
    let monitor = monitor_crate("frame")?;
    let ident = &function.sig.ident;
    let name = match name {
        Some(name) => quote!(#name),
        None => quote!(::core::concat!(
            ::core::module_path!(),
            "::",
            ::core::stringify!(#ident)
        )),
    };
    let ItemFn {
        attrs,
        vis,
        sig,
        block,
    } = function;
    // `Framed::new` is `#[track_caller]`: called from the expansion, the
    // frame is located at this attribute, right above the function.
    Ok(quote! {
        #(#attrs)*
        #vis #sig {
            #monitor::Framed::new(#name, async move #block).await
        }
    })
}

/// `#[frame]` or `#[frame("name")]`.
fn parse_name(args: TokenStream) -> syn::Result<Option<LitStr>> {
    if args.is_empty() {
        return Ok(None);
    }
    let span = args.span();
    let parser = |input: syn::parse::ParseStream<'_>| {
        let name: LitStr = input.parse()?;
        if !input.is_empty() {
            return Err(input.error("unexpected tokens after the name"));
        }
        Ok(name)
    };
    let name = parser.parse2(args).map_err(|err| {
        syn::Error::new(
            span,
            format!("expected #[frame] or #[frame(\"name\")]: {err}"),
        )
    })?;
    if name.value().is_empty() {
        return Err(syn::Error::new(
            name.span(),
            "a frame's name cannot be empty; leave it out to use the function's path",
        ));
    }
    Ok(Some(name))
}
