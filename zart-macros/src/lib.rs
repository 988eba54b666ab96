//! placeholder
use proc_macro::TokenStream;
#[proc_macro_attribute]
pub fn task(_: TokenStream, item: TokenStream) -> TokenStream { item }
#[proc_macro_attribute]
pub fn durable(_: TokenStream, item: TokenStream) -> TokenStream { item }
#[proc_macro_attribute]
pub fn step(_: TokenStream, item: TokenStream) -> TokenStream { item }
#[proc_macro_attribute]
pub fn recurring(_: TokenStream, item: TokenStream) -> TokenStream { item }
#[proc_macro]
pub fn registry(_: TokenStream) -> TokenStream { TokenStream::new() }
