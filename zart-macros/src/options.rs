//! The options `#[task]`, `#[durable]` and `#[step]` share: name, retry, timeout (and a
//! task's queue, a durable execution's deadline).

use proc_macro2::TokenStream;
use quote::quote;
use syn::LitStr;

use crate::args::Args;
use crate::errors::Errors;
use crate::literals;

pub struct Options {
    /// The explicit name, if given.
    pub name: Option<LitStr>,
    /// The queue, if given.
    pub queue: Option<LitStr>,
    /// A `RetryConfig` expression.
    pub retry: Option<TokenStream>,
    /// Milliseconds.
    pub timeout: Option<u64>,
    /// Milliseconds.
    pub deadline: Option<u64>,
    /// The priority its runs start with, if given.
    pub priority: Option<i16>,
}

impl Options {
    pub fn read(args: &Args, errors: &mut Errors) -> Options {
        Options {
            name: args.get("name").and_then(|arg| literals::name(arg, errors)),
            queue: args
                .get("queue")
                .and_then(|arg| literals::queue(arg, errors)),
            retry: args
                .get("retry")
                .and_then(|arg| literals::retry(arg, errors)),
            timeout: args
                .get("timeout")
                .and_then(|arg| literals::duration(arg, errors)),
            deadline: args
                .get("deadline")
                .and_then(|arg| literals::duration(arg, errors)),
            priority: args
                .get("priority")
                .and_then(|arg| literals::priority(arg, errors)),
        }
    }

    /// The name: the explicit one, or the function's.
    pub fn name_or(&self, ident: &syn::Ident) -> LitStr {
        self.name
            .clone()
            .unwrap_or_else(|| LitStr::new(&ident.to_string(), ident.span()))
    }

    /// Trait methods overriding `retry_config`, `timeout` and `deadline` where given.
    pub fn trait_methods(&self) -> TokenStream {
        let mut methods = TokenStream::new();
        if let Some(retry) = &self.retry {
            methods.extend(quote! {
                fn retry_config(&self) -> ::zart::scheduler::RetryConfig {
                    #retry
                }
            });
        }
        if let Some(ms) = self.timeout {
            let duration = literals::millis(ms);
            methods.extend(quote! {
                fn timeout(&self) -> ::core::option::Option<::core::time::Duration> {
                    ::core::option::Option::Some(#duration)
                }
            });
        }
        if let Some(ms) = self.deadline {
            let duration = literals::millis(ms);
            methods.extend(quote! {
                fn deadline(&self) -> ::core::option::Option<::core::time::Duration> {
                    ::core::option::Option::Some(#duration)
                }
            });
        }
        methods
    }
}
