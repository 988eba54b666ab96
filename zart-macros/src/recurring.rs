//! `#[recurring(..)]`, stacked on `#[task]` or `#[durable]`: a schedule registered with
//! the task. Whichever attribute expands first, the task's macro reads the recurring ones.

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::{Attribute, ItemFn, LitStr, Meta};

use crate::args::Args;
use crate::errors::Errors;
use crate::literals;

const KEYS: &[&str] = &[
    "cron",
    "timezone",
    "every",
    "fixed_delay",
    "overlap",
    "missed",
    "id",
    "max_runs",
    "window",
    "grace",
    "schedule",
    "input",
];

/// A schedule, ready to register.
pub struct Recurring {
    pub schedule_id: String,
    pub span: Span,
    /// Statements registering it, inside `TaskDefinition::register`.
    pub registration: TokenStream,
}

fn is_named(attr: &Attribute, name: &str) -> bool {
    attr.path().segments.last().is_some_and(|s| s.ident == name)
}

/// Removes the `#[recurring]` attributes from a task function, in order.
pub fn take_attributes(attrs: &mut Vec<Attribute>) -> Vec<Attribute> {
    let (recurring, rest) = std::mem::take(attrs)
        .into_iter()
        .partition(|attr| is_named(attr, "recurring"));
    *attrs = rest;
    recurring
}

/// `#[recurring]` expanding before the task's attribute: it moves itself below that
/// attribute, which then reads it.
pub fn expand(args: TokenStream, item: TokenStream) -> TokenStream {
    let Ok(mut function) = syn::parse2::<ItemFn>(item.clone()) else {
        let error = syn::Error::new_spanned(
            &item,
            "#[recurring] goes on a #[task] or #[durable] function",
        );
        return item.into_iter().chain(error.to_compile_error()).collect();
    };
    let Some(position) = function
        .attrs
        .iter()
        .position(|attr| is_named(attr, "task") || is_named(attr, "durable"))
    else {
        let error = syn::Error::new(
            Span::call_site(),
            "#[recurring] schedules a task: put it on a function that also has #[zart::task] or #[zart::durable]",
        );
        return function
            .into_token_stream()
            .into_iter()
            .chain(error.to_compile_error())
            .collect();
    };
    let moved: Attribute = syn::parse_quote!(#[::zart::recurring(#args)]);
    function.attrs.insert(position + 1, moved);
    function.into_token_stream()
}

/// Reads every `#[recurring]` of a task named `task_name`.
pub fn read_all(
    attrs: &[Attribute],
    task_name: &LitStr,
    has_input: bool,
    errors: &mut Errors,
) -> Vec<Recurring> {
    let mut schedules: Vec<Recurring> = Vec::new();
    for attr in attrs {
        let Some(schedule) = read(attr, task_name, has_input, errors) else {
            continue;
        };
        if schedules
            .iter()
            .any(|s| s.schedule_id == schedule.schedule_id)
        {
            errors.at(
                schedule.span,
                format!(
                    "two schedules of this task have the id {:?}: give each `schedule = \"..\"`",
                    schedule.schedule_id
                ),
            );
            continue;
        }
        schedules.push(schedule);
    }
    schedules
}

fn read(
    attr: &Attribute,
    task_name: &LitStr,
    has_input: bool,
    errors: &mut Errors,
) -> Option<Recurring> {
    let tokens = match &attr.meta {
        Meta::List(list) => list.tokens.clone(),
        other => {
            errors.spanned(other, "#[recurring] needs a schedule: `#[recurring(cron = \"0 2 * * *\")]`, `every = \"5m\"` or `fixed_delay = \"30s\"`");
            return None;
        }
    };
    let before = errors.len();
    let args = Args::parse(tokens, "recurring", KEYS, errors);

    let timezone = args.get("timezone").and_then(|arg| {
        let lit = literals::string(arg, errors, "timezone = \"Europe/Berlin\"")?;
        literals::timezone(&lit, errors).then_some(lit)
    });
    let tz_value = timezone
        .as_ref()
        .map_or_else(|| "UTC".to_owned(), LitStr::value);
    let tz_tokens = timezone
        .as_ref()
        .map_or_else(|| quote!("UTC"), ToTokens::to_token_stream);

    let kinds: Vec<&str> = ["cron", "every", "fixed_delay"]
        .into_iter()
        .filter(|key| args.get(key).is_some())
        .collect();
    let schedule = match kinds.as_slice() {
        ["cron"] => args.get("cron").and_then(|arg| {
            let lit = literals::string(arg, errors, "cron = \"0 2 * * *\"")?;
            literals::cron(&lit, errors)
                .then(|| quote!(::zart::schedule::Schedule::cron(#lit, #tz_tokens)?))
        }),
        ["every"] => args.get("every").and_then(|arg| {
            let every = literals::millis(literals::duration(arg, errors)?);
            Some(quote!(::zart::schedule::Schedule::every(#every)?))
        }),
        [_] => args.get("fixed_delay").and_then(|arg| {
            let delay = literals::millis(literals::duration(arg, errors)?);
            Some(quote!(::zart::schedule::Schedule::fixed_delay(#delay)?))
        }),
        // With an argument unread (a misspelt `crom`), the schedule may be in it: that
        // mistake is reported already.
        [] if !args.is_complete() => None,
        [] => {
            errors.spanned(attr, "#[recurring] needs a schedule: one of `cron = \"..\"`, `every = \"..\"` or `fixed_delay = \"..\"`");
            None
        }
        [_, second, ..] => {
            errors.at(
                args.span_of(second).unwrap_or_else(Span::call_site),
                format!("a #[recurring] has one schedule: `{}` and `{second}` are both given (stack two #[recurring] attributes for two schedules)", kinds[0]),
            );
            None
        }
    };
    if let (Some(span), false) = (
        args.span_of("timezone"),
        kinds.contains(&"cron") || args.get("window").is_some() || !args.is_complete(),
    ) {
        errors.at(span, "`timezone` applies to `cron` and `window`; intervals and delays are the same in every zone");
    }

    let mut settings = TokenStream::new();
    if let Some(lit) = args
        .get("id")
        .and_then(|arg| literals::string(arg, errors, "id = \"report-{occurrence}\""))
    {
        let value = lit.value();
        if !value.contains("{occurrence}") {
            errors.spanned(&lit, "a run id template contains `{occurrence}`, or run ids would repeat: `\"report-{occurrence}\"`");
        } else if value.starts_with("__zart") {
            errors.spanned(
                &lit,
                "ids starting with `__zart` are reserved for Zart's own tasks",
            );
        } else {
            settings.extend(quote!(.id_template(#lit)));
        }
    }
    if let Some(policy) = args.get("overlap").and_then(|arg| {
        literals::policy(
            arg,
            errors,
            quote!(::zart::recurring::OverlapPolicy),
            &[
                ("skip_if_running", "SkipIfRunning"),
                ("buffer_one", "BufferOne"),
                ("cancel_and_restart", "CancelAndRestart"),
                ("always_start", "AlwaysStart"),
            ],
        )
    }) {
        settings.extend(quote!(.overlap(#policy)));
    }
    if let Some(policy) = args.get("missed").and_then(|arg| {
        literals::policy(
            arg,
            errors,
            quote!(::zart::recurring::MissedRunPolicy),
            &[
                ("skip", "Skip"),
                ("catch_up_once", "CatchUpOnce"),
                ("replay_all", "ReplayAll"),
            ],
        )
    }) {
        settings.extend(quote!(.missed(#policy)));
    }
    if let Some(max) = args
        .get("max_runs")
        .and_then(|arg| literals::integer(arg, errors, "max_runs = 10"))
    {
        settings.extend(quote!(.max_runs(#max)));
    }
    if let Some(lit) = args
        .get("window")
        .and_then(|arg| literals::string(arg, errors, "window = \"mon-fri 09:00-17:00\""))
    {
        if literals::window(&lit, &tz_value, errors) {
            settings
                .extend(quote!(.window(::zart::schedule::TimeWindow::parse(#tz_tokens, #lit)?)));
        }
    }
    if let Some(grace) = args
        .get("grace")
        .and_then(|arg| literals::duration(arg, errors))
    {
        let grace = literals::millis(grace);
        settings.extend(quote!(.grace(#grace)));
    }
    let schedule_id = args
        .get("schedule")
        .and_then(|arg| literals::name(arg, errors))
        .unwrap_or_else(|| task_name.clone());

    let input = match (args.get("input"), has_input) {
        (Some(arg), true) => arg.value.as_ref().map(ToTokens::to_token_stream),
        (None, false) => Some(quote!(())),
        (Some(arg), false) => {
            errors.spanned(&arg.key, "this task takes no input: remove `input`");
            None
        }
        (None, true) if !args.is_complete() => None,
        (None, true) => {
            errors.spanned(attr, "this task takes an input: give the one its scheduled runs start with, `input = ...`");
            None
        }
    };

    if errors.len() > before {
        return None;
    }
    let (schedule, input) = (schedule?, input?);
    Some(Recurring {
        schedule_id: schedule_id.value(),
        span: schedule_id.span(),
        registration: quote! {
            ::zart::__private::recurring(registry, #schedule_id, || {
                let __zart_input: <Self as ::zart::TaskDefinition>::Input = #input;
                ::core::result::Result::Ok(
                    ::zart::recurring::RecurringTask::new(#schedule_id, <Self as ::zart::TaskDefinition>::NAME, #schedule)
                        .data(::zart::__private::input_json(&__zart_input)?)
                        #settings,
                )
            });
        },
    })
}
