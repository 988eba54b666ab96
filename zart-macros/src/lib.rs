//! Attribute macros for Zart.
//!
//! The macros (`#[task]`, `#[durable]`, `#[step]`, `#[recurring]`) land with the macro DSL;
//! until then every Zart feature is reachable through the runtime's traits, as the
//! examples show.
