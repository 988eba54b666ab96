//! `#[each_store]`: one integration test, run against every store driver.
//!
//! ```ignore
//! #[each_store]
//! #[tokio::test]
//! async fn a_task_runs(db: TestDb) { .. }
//! ```
//!
//! keeps `a_task_runs` as a plain async function of the database, and beside it (modules
//! and functions do not share a namespace) a module `a_task_runs` with one test per driver,
//! `postgres` and `sqlite`, each carrying the test attributes written under
//! `#[each_store]` and calling the function on a fresh `TestDb` of its driver. So the test
//! runner lists `a_task_runs::postgres` and `a_task_runs::sqlite`, and a filter on the
//! driver's name runs one driver's tests.

use proc_macro::TokenStream;
use quote::{format_ident, quote};
use syn::{parse_macro_input, FnArg, ItemFn};

/// The drivers, each with the `TestDb` constructor that makes its database.
const DRIVERS: [&str; 2] = ["postgres", "sqlite"];

/// See the crate docs.
#[proc_macro_attribute]
pub fn each_store(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut function = parse_macro_input!(item as ItemFn);
    if !args.is_empty() {
        let args = proc_macro2::TokenStream::from(args);
        return syn::Error::new_spanned(args, "#[each_store] takes no arguments")
            .to_compile_error()
            .into();
    }
    if function.sig.asyncness.is_none() || function.sig.inputs.len() != 1 {
        return syn::Error::new_spanned(
            &function.sig,
            "#[each_store] goes on an `async fn name(db: TestDb)`",
        )
        .to_compile_error()
        .into();
    }
    if let Some(FnArg::Receiver(receiver)) = function.sig.inputs.first() {
        return syn::Error::new_spanned(receiver, "#[each_store] takes a function, not a method")
            .to_compile_error()
            .into();
    }
    // The test attributes (and everything else written under #[each_store]) go to the
    // generated tests; the function keeps only its docs.
    let (docs, test_attrs): (Vec<_>, Vec<_>) = function
        .attrs
        .drain(..)
        .partition(|attr| attr.path().is_ident("doc"));
    function.attrs = docs;
    let name = &function.sig.ident;
    let tests = DRIVERS.iter().map(|driver| {
        let test = format_ident!("{driver}");
        quote! {
            #(#test_attrs)*
            async fn #test() {
                super::#name(::zart_tests::TestDb::#test().await).await
            }
        }
    });
    quote! {
        #function

        #[doc = "This test on each store driver."]
        mod #name {
            #(#tests)*
        }
    }
    .into()
}
