//! Errors collected across a whole attribute, so that one expansion reports every mistake.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned, ToTokens};
use syn::{ItemFn, ReturnType};

/// Every error found so far, combined into one `syn::Error` (each keeps its own span).
#[derive(Default)]
pub struct Errors(Option<syn::Error>);

impl Errors {
    pub fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(errors) => errors.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub fn at(&mut self, span: Span, message: impl std::fmt::Display) {
        self.push(syn::Error::new(span, message));
    }

    pub fn spanned(&mut self, tokens: impl quote::ToTokens, message: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// How many errors were reported so far.
    pub fn len(&self) -> usize {
        self.0
            .clone()
            .map_or(0, |errors| errors.into_iter().count())
    }

    pub fn to_compile_errors(&self) -> TokenStream {
        self.0
            .as_ref()
            .map(syn::Error::to_compile_error)
            .unwrap_or_default()
    }
}

/// Re-emits `function` with `error` standing in its return type, reported once on its
/// span: an array whose length is the error. The compiler checks nothing against a type
/// holding an error, so no use of the function reports more (a caller's `.await` or `?`,
/// the generated code's call). The body still type-checks, as an `async` block of the
/// declared output (so an `.await` inside is no second error).
pub fn in_return_type(function: &mut ItemFn, error: &syn::Error) {
    let output = match &function.sig.output {
        ReturnType::Type(_, ty) => ty.to_token_stream(),
        ReturnType::Default => quote!(()),
    };
    let message = error.to_string();
    let span = error.span();
    // `compile_error!` as a type stands for `()`, which callers would trip on; as an
    // expression it is an error value, and an array of that length an error type.
    let poisoned = quote_spanned!(span=> [(); ::core::compile_error!(#message)]);
    function.sig.output = ReturnType::Type(
        syn::Token![->](span),
        Box::new(syn::Type::Verbatim(poisoned)),
    );
    let body = &function.block;
    *function.block = syn::parse_quote!({
        ::zart::__private::step_body::<#output, _>(async move #body)
    });
}
