//! The attribute macros of [Zart](https://docs.rs/zart): `#[task]`, `#[durable]`,
//! `#[step]`, `#[recurring]`, and `registry!`. Use them through `zart` (`zart::task`, ...),
//! which re-exports them; the code they generate names `::zart`.
//!
//! Each macro parses its arguments and the function into a model, validates every literal
//! with the runtime's own parsers (cron expressions, time zones, durations, windows),
//! reports all mistakes at once, each on its token, and re-emits the function as written,
//! so that one mistake is one error.

mod args;
mod errors;
mod literals;
mod options;
mod recurring;
mod registry;
mod signature;
mod step;
mod task;

use proc_macro::TokenStream;

/// A plain task: the function runs once per scheduled run (no steps, no replay).
/// See `zart::task` for the documentation.
#[proc_macro_attribute]
pub fn task(args: TokenStream, item: TokenStream) -> TokenStream {
    task::expand(task::Kind::Task, args.into(), item.into()).into()
}

/// A durable execution. See `zart::durable` for the documentation.
#[proc_macro_attribute]
pub fn durable(args: TokenStream, item: TokenStream) -> TokenStream {
    task::expand(task::Kind::Durable, args.into(), item.into()).into()
}

/// A checkpointed step. See `zart::step` for the documentation.
#[proc_macro_attribute]
pub fn step(args: TokenStream, item: TokenStream) -> TokenStream {
    step::expand(args.into(), item.into()).into()
}

/// A schedule for a task or durable execution. See `zart::recurring` for the documentation.
#[proc_macro_attribute]
pub fn recurring(args: TokenStream, item: TokenStream) -> TokenStream {
    recurring::expand(args.into(), item.into()).into()
}

/// A `TaskRegistry` of the listed tasks. See `zart::registry` for the documentation.
#[proc_macro]
pub fn registry(input: TokenStream) -> TokenStream {
    registry::expand(input.into()).into()
}

#[cfg(test)]
mod expansion_docs;
