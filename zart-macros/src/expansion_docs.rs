//! `docs/macros.md` shows what each macro expands to. This test renders the expansions
//! from the macros themselves and fails when the page differs, so the page stays true;
//! `ZART_BLESS=1 cargo test -p zart-macros` rewrites it.

use proc_macro2::TokenStream;
use quote::quote;

fn pretty(tokens: TokenStream) -> String {
    match syn::parse2::<syn::File>(tokens.clone()) {
        Ok(file) => prettyplease::unparse(&file),
        Err(error) => panic!("the expansion does not parse as items: {error}\n{tokens}"),
    }
}

fn section(title: &str, text: &str, source: TokenStream, expanded: TokenStream) -> String {
    format!(
        "## {title}\n\n{text}\n\n```rust,ignore\n{}```\n\nexpands to\n\n```rust,ignore\n{}```\n\n",
        pretty(source),
        pretty(expanded)
    )
}

fn page() -> String {
    let task = quote! {
        async fn send_receipt(receipt: Receipt, mailer: State<Mailer>) -> Result<(), TaskError> {
            mailer.send(&receipt).await
        }
    };
    let durable = quote! {
        async fn checkout(order: Order, gift_wrap: bool) -> Result<Receipt, TaskError> {
            let payment = charge_card(&order).await?;
            Ok(Receipt::new(payment, gift_wrap))
        }
    };
    let step = quote! {
        async fn charge_card(order: &Order) -> Result<Payment, StepError> {
            bank::charge(order.cents).await
        }
    };
    let recurring = quote! {
        #[zart::task]
        async fn nightly_report() -> Result<(), TaskError> {
            Ok(())
        }
    };
    let recurring_source = quote! {
        #[zart::recurring(cron = "0 2 * * *", timezone = "Europe/Berlin", overlap = skip_if_running)]
        #recurring
    };
    // `#[recurring]` above `#[task]` moves itself below it; `#[task]` then reads it.
    let moved = crate::recurring::expand(
        quote!(
            cron = "0 2 * * *",
            timezone = "Europe/Berlin",
            overlap = skip_if_running
        ),
        recurring.clone(),
    );
    let moved: syn::ItemFn = syn::parse2(moved).unwrap_or_else(|e| panic!("{e}"));
    let (task_attr, rest) = moved
        .attrs
        .split_first()
        .unwrap_or_else(|| panic!("no attributes"));
    let args = match &task_attr.meta {
        syn::Meta::List(list) => list.tokens.clone(),
        _ => TokenStream::new(),
    };
    let mut function = moved.clone();
    function.attrs = rest.to_vec();
    let recurring_expanded = crate::task::expand(crate::task::Kind::Task, args, quote!(#function));
    let registry = crate::registry::expand(quote!(checkout, send_receipt));

    let mut page = String::from(
        "# What the macros generate\n\n\
         Generated from the macros by `zart-macros/src/expansion_docs.rs` (a test fails when this\n\
         page is stale; `ZART_BLESS=1 cargo test -p zart-macros` rewrites it). Everything here can\n\
         be written by hand against the same traits, as `examples/scheduler_only.rs` does. Names\n\
         starting with `__zart` are the macros' own; the rest is public API.\n\n",
    );
    page += &section(
        "`#[task]`",
        "The function stays as written. Beside it: a type of the same name (types and functions\n\
         live in different namespaces) implementing `TaskDefinition` and `ScheduledTask`, and its\n\
         typed starts and handle.",
        quote!(#[zart::task(queue = "emails", retry = 3, timeout = "30s")] #task),
        crate::task::expand(
            crate::task::Kind::Task,
            quote!(queue = "emails", retry = 3, timeout = "30s"),
            task,
        ),
    );
    page += &section(
        "`#[durable]`",
        "Several inputs are packed into an arguments struct, stored as one JSON object.",
        quote!(#[zart::durable(deadline = "1h")] #durable),
        crate::task::expand(crate::task::Kind::Durable, quote!(deadline = "1h"), durable),
    );
    page += &section(
        "`#[step]`",
        "Outside a durable execution the body runs once, as a plain call; inside one, it is a\n\
         checkpointed step with retries (each attempt gets fresh clones of the arguments).",
        quote!(#[zart::step(retry = fixed(max_attempts = 3, delay = "1s"))] #step),
        crate::step::expand(quote!(retry = fixed(max_attempts = 3, delay = "1s")), step),
    );
    page += &section(
        "`#[recurring]`",
        "Registered with the task, in `TaskDefinition::register`; the literals were checked\n\
         at expansion, and are parsed again (by the same parsers) when the worker starts.",
        recurring_source,
        recurring_expanded,
    );
    page += &format!(
        "## `registry!`\n\n`zart::registry![checkout, send_receipt]` expands to (duplicate names fail in\nconst evaluation):\n\n```rust,ignore\n{}```\n",
        pretty(quote!(fn registry() -> ::zart::scheduler::TaskRegistry #registry))
    );
    page
}

#[test]
fn the_expansion_page_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/macros.md");
    let expected = page();
    if std::env::var_os("ZART_BLESS").is_some() {
        std::fs::write(path, &expected).unwrap_or_else(|e| panic!("writing {path}: {e}"));
    }
    let current = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        current == expected,
        "docs/macros.md is stale: run `ZART_BLESS=1 cargo test -p zart-macros`"
    );
}
