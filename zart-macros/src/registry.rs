//! `registry![a, b::c]`: a `TaskRegistry` holding the listed tasks. A task listed twice,
//! or two tasks with one name, do not compile.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned, ToTokens};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Path, Token};

use crate::errors::Errors;

pub fn expand(input: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let paths = match Punctuated::<Path, Token![,]>::parse_terminated.parse2(input) {
        Ok(paths) => paths.into_iter().collect::<Vec<_>>(),
        Err(error) => {
            let message = format!("{error}; registry! lists #[task] and #[durable] functions: `zart::registry![checkout, send_email]`");
            return syn::Error::new(error.span(), message).to_compile_error();
        }
    };
    let text = |path: &Path| path.to_token_stream().to_string().replace(' ', "");
    let mut checks = TokenStream::new();
    for (j, later) in paths.iter().enumerate() {
        let definition = |path: &Path| quote!(<#path as ::zart::TaskDefinition>);
        for earlier in &paths[..j] {
            if text(earlier) == text(later) {
                errors.spanned(later, format!("`{}` is listed twice", text(later)));
                continue;
            }
            let message = format!(
                "`{}` and `{}` have the same task name: give one another with `#[task(name = \"..\")]`",
                text(earlier),
                text(later)
            );
            let (a, b) = (definition(earlier), definition(later));
            checks.extend(quote_spanned! {later.span()=>
                const _: () = if ::zart::__private::same_name(#a::NAME, #b::NAME) {
                    ::core::panic!(#message)
                };
            });
        }
    }
    let registrations = paths.iter().map(|path| {
        quote_spanned!(path.span()=> <#path as ::zart::TaskDefinition>::register(&mut registry);)
    });
    let errors = errors.to_compile_errors();
    quote! {{
        #checks
        #errors
        let mut registry = ::zart::scheduler::TaskRegistry::new();
        #(#registrations)*
        registry
    }}
}
