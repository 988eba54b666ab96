//! `#[step]`: inside a durable body, a call of the function is a checkpointed step
//! (recorded once, replayed from the record); anywhere else it is a plain call.
//!
//! The body is wrapped in a closure that may run several times (retries), so each attempt
//! gets its own clone of the arguments: references are copied, owned values cloned.

use proc_macro2::TokenStream;
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, Pat, ReturnType};

use crate::args::Args;
use crate::errors::{self, Errors};
use crate::literals;
use crate::options::Options;
use crate::signature::is_generic_path;

pub fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let Ok(mut function) = syn::parse2::<ItemFn>(item.clone()) else {
        let error = syn::Error::new_spanned(&item, "#[step] goes on an async function");
        return item.into_iter().chain(error.to_compile_error()).collect();
    };
    let args = Args::parse(args, "step", &["name", "retry", "timeout"], &mut errors);
    let options = Options::read(&args, &mut errors);
    let sig = &function.sig;
    // Reported through the return type (see `in_return_type`): a sync step is awaited by
    // some callers and called plainly by others, and neither may see a second error.
    let not_async = sig.asyncness.is_none().then(|| {
        syn::Error::new_spanned(
            sig.fn_token,
            "a #[step] function is `async`: write `async fn`",
        )
    });
    let output = match &sig.output {
        // A result type is generic (`Result<T, StepError>` or an alias of it); anything
        // else is refused here, before type checking would report it three ways.
        ReturnType::Type(_, ty) if !is_generic_path(ty) => {
            errors.spanned(
                ty,
                "a #[step] function returns `Result<T, StepError>`: its `T` is checkpointed",
            );
            None
        }
        ReturnType::Type(_, ty) => Some((**ty).clone()),
        ReturnType::Default => {
            errors.spanned(
                &sig.ident,
                "a #[step] function returns `Result<T, StepError>`: its `T` is checkpointed",
            );
            None
        }
    };
    for input in &sig.inputs {
        if let FnArg::Receiver(receiver) = input {
            if receiver.reference.is_none() || receiver.mutability.is_some() {
                errors.spanned(
                    receiver,
                    "a step may run several times (retries): take `&self`",
                );
            }
        }
    }
    let (Some(output), true, None) = (output, errors.is_empty(), &not_async) else {
        if let Some(error) = &not_async {
            errors::in_return_type(&mut function, error);
        }
        let errors = errors.to_compile_errors();
        return quote!(#function #errors);
    };

    let name = options.name_or(&sig.ident);
    let retry = options
        .retry
        .clone()
        .unwrap_or_else(|| quote!(::zart::scheduler::RetryConfig::default()));
    let timeout = match options.timeout {
        Some(ms) => {
            let duration = literals::millis(ms);
            quote!(::core::option::Option::Some(#duration))
        }
        None => quote!(::core::option::Option::None),
    };

    // Each typed parameter gets a plain name in the signature; the closure rebinds the
    // original pattern from a clone, once per attempt.
    let mut rebinds = TokenStream::new();
    for (index, input) in function.sig.inputs.iter_mut().enumerate() {
        let FnArg::Typed(typed) = input else { continue };
        let pattern = (*typed.pat).clone();
        let plain = match &pattern {
            Pat::Ident(binding) if binding.subpat.is_none() => binding.ident.clone(),
            _ => format_ident!("__zart_arg_{}", index),
        };
        let ty = &typed.ty;
        rebinds.extend(quote_spanned! {ty.span()=>
            #[allow(unused_mut)]
            let #pattern = ::core::clone::Clone::clone(&#plain);
        });
        *typed.pat = syn::parse_quote!(#plain);
    }

    let body = &function.block;
    // Spanned on the return type: a result that cannot be checkpointed is reported there,
    // once (the call and its `.await` raise the same obligations at the same span).
    let run = quote_spanned! {output.span()=>
        ::zart::durable::step_with::<<#output as ::zart::__private::StepReturn>::Value, _, _>(
            #name,
            ::zart::durable::StepOptions { retry: #retry, timeout: #timeout },
            __zart_attempt,
        )
        .await
    };
    let new_body = quote! {{
        #[allow(unused_mut)]
        let mut __zart_attempt = || {
            #rebinds
            ::zart::__private::step_body::<#output, _>(async move #body)
        };
        if !::zart::__private::in_execution() {
            return __zart_attempt().await;
        }
        #run
    }};
    function.block = match syn::parse2(new_body) {
        Ok(block) => Box::new(block),
        Err(error) => return error.to_compile_error(),
    };
    quote!(#function)
}
