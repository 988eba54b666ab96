//! The attribute macros of [Zart](https://docs.rs/zart): `#[task]`, `#[durable]`,
//! `#[step]`, `#[recurring]`, and `registry!`. Use them through `zart` (`zart::task`, ...),
//! which re-exports them; the code they generate names `::zart`.
//!
//! Each macro parses its arguments and the function into a model, validates every literal
//! with the runtime's own parsers (cron expressions, time zones, durations, windows),
//! reports all mistakes at once, each on its token, and re-emits the function in a form
//! nothing else trips on (as written; a missing `async` stands in its return type), so
//! that one mistake is one error.

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
///
/// The function stays an ordinary function; beside it, a type of the same name implements
/// `zart::TaskDefinition` and `zart::scheduler::ScheduledTask`, with typed starts:
/// `name::schedule_now(&zart, id, input)`, `name::schedule_at(&zart, id, at, input)`,
/// `name::schedule_with(&zart, id, zart::scheduler::StartOptions, input)` (due time and priority),
/// `name::schedule_if_absent(&zart, id, input)` and `name::handle(&zart, id)`; and the same
/// starts in the caller's transaction, `name::schedule_in(&mut *tx, id, input)`,
/// `schedule_at_in`, `schedule_with_in` and `schedule_if_absent_in` (see
/// `zart::in_transaction`). Its one value parameter is the input (stored as JSON); other
/// parameters may be `State<T>` (state registered on the worker) and `TaskInstance` or
/// `&TaskInstance` (the run itself). It returns `Result<T, E>`: `T` is stored as the result
/// (or is an `OnComplete` that schedules follow-ups atomically), `E` converts into
/// `SchedulerTaskError`. A plain `fn` runs on Tokio's blocking pool.
///
/// Keys: `name = ".."` (default: the function's name), `queue = ".."`, `priority = 10`
/// (what its runs start with; higher is claimed first; default 0), `retry = 5 | none |
/// exponential(max_attempts = .., initial = "..", max = "..", multiplier = .., jitter = ..) |
/// fixed(max_attempts = .., delay = "..", jitter = ..)`, `timeout = "30s"` (one attempt).
///
/// ```
/// use zart::TaskError;
///
/// #[zart::task(queue = "emails", retry = 3, timeout = "30s")]
/// async fn send_welcome(email: String) -> Result<(), TaskError> {
///     println!("welcome, {email}");
///     Ok(())
/// }
///
/// # async fn demo(zart: zart::Zart) -> Result<(), zart::Error> {
/// let run = send_welcome::schedule_now(&zart, "welcome-42", "ada@example.com".to_owned()).await?;
/// # let _ = run;
/// # Ok(())
/// # }
/// ```
#[proc_macro_attribute]
pub fn task(args: TokenStream, item: TokenStream) -> TokenStream {
    task::expand(task::Kind::Task, args.into(), item.into()).into()
}

/// A durable execution: the body re-runs from the top whenever the execution resumes, and
/// each `#[step]` it calls is checkpointed, so a step that completed never runs again.
///
/// As for `#[task]`, a type of the same name implements `zart::TaskDefinition` and
/// `zart::DurableExecution`, with `name::start(&zart, id, inputs..)`, `name::start_at`,
/// `name::start_with` (a `zart::scheduler::StartOptions` before the inputs),
/// `name::start_if_absent` and `name::handle`, and the same starts in the caller's
/// transaction: `name::start_in(&mut *tx, id, inputs..)`, `start_at_in`, `start_with_in`,
/// `start_if_absent_in` (see `zart::in_transaction`). It may take several inputs (stored as one object with a field per
/// parameter) besides `State<T>` and `TaskInstance`, and returns `Result<T, E>` with
/// `T: Serialize` and `E: Into<TaskError>`.
///
/// Keys: `name`, `queue`, `priority`, `retry`, `timeout` (one run of the body, between suspensions),
/// `deadline = "1h"` (the whole execution, from when it was started).
///
/// ```
/// use std::time::Duration;
/// use zart::durable::StepError;
/// use zart::TaskError;
///
/// #[zart::step]
/// async fn charge(cents: u64) -> Result<String, StepError> {
///     Ok(format!("payment-{cents}"))
/// }
///
/// #[zart::durable(deadline = "1h")]
/// async fn checkout(order: String, cents: u64) -> Result<String, TaskError> {
///     let payment = charge(cents).await?;                    // charged once, ever
///     zart::sleep("settle", Duration::from_secs(60)).await?; // the worker is free meanwhile
///     Ok(format!("{order}: {payment}"))
/// }
///
/// # async fn demo(zart: zart::Zart) -> Result<(), Box<dyn std::error::Error>> {
/// let run = checkout::start(&zart, "order-42", "order-42".to_owned(), 4200).await?;
/// let receipt: String = run.wait(Duration::from_secs(120)).await?;
/// # let _ = receipt;
/// # Ok(())
/// # }
/// ```
#[proc_macro_attribute]
pub fn durable(args: TokenStream, item: TokenStream) -> TokenStream {
    task::expand(task::Kind::Durable, args.into(), item.into()).into()
}

/// A checkpointed step: called inside a `#[durable]` body, its result is recorded, and a
/// replay returns the record instead of running it again; called anywhere else, it is a
/// plain call (so a unit test can call it).
///
/// The function is `async` (a `&self` method is fine) and returns `Result<T, StepError>`
/// with `T: Serialize + DeserializeOwned`. Each attempt gets fresh clones of owned
/// arguments. Keys: `name = ".."` (the checkpoint key with the call's occurrence: keep it
/// stable; default: the function's name), `retry` (as for `#[task]`; default three
/// attempts with exponential backoff), `timeout = "10s"` (one attempt).
///
/// ```
/// use zart::durable::StepError;
///
/// #[zart::step(retry = exponential(max_attempts = 5, initial = "200ms", max = "30s"), timeout = "10s")]
/// async fn reserve_stock(sku: String, count: u32) -> Result<u32, StepError> {
///     if count == 0 {
///         return Err(StepError::permanent("nothing to reserve"));
///     }
///     Ok(count)
/// }
/// ```
#[proc_macro_attribute]
pub fn step(args: TokenStream, item: TokenStream) -> TokenStream {
    step::expand(args.into(), item.into()).into()
}

/// A schedule for a `#[task]` or `#[durable]` function, above or below its attribute;
/// several stack, one schedule each.
///
/// Keys: one of `cron = "0 2 * * *"` (5 fields, or 6 with seconds), `every = "5m"` (fixed
/// rate) or `fixed_delay = "30s"` (from the end of the previous run); `timezone =
/// "Europe/Berlin"` (the IANA zone of `cron` and `window`; default UTC); `schedule = ".."`
/// (the schedule's id; default: the task's name); `id = "report-{occurrence}"` (the runs'
/// task ids; default `"{schedule}-{occurrence}"`); `input = expr` (what every run starts
/// with, of the task's input type: required when the task takes an input); `overlap =
/// skip_if_running | buffer_one | cancel_and_restart | always_start`; `missed = skip |
/// catch_up_once | replay_all`; `max_runs = 10`; `window = "mon-fri 09:00-17:00"`; `grace =
/// "1m"` (how late the latest slot may start before it counts as missed).
///
/// ```
/// use zart::TaskError;
///
/// #[zart::recurring(cron = "0 2 * * *", timezone = "Europe/Berlin", input = "all".to_owned(), overlap = skip_if_running)]
/// #[zart::recurring(schedule = "hourly-eu", every = "1h", input = "eu".to_owned())]
/// #[zart::task]
/// async fn report(region: String) -> Result<(), TaskError> {
///     println!("report for {region}");
///     Ok(())
/// }
/// ```
#[proc_macro_attribute]
pub fn recurring(args: TokenStream, item: TokenStream) -> TokenStream {
    recurring::expand(args.into(), item.into()).into()
}

/// The `zart::scheduler::TaskRegistry` of the listed tasks and durable executions (paths to
/// `#[task]` or `#[durable]` functions), their schedules and the states they need, for
/// `WorkerBuilder::register`. A path listed twice, two tasks with one name and a path that
/// is not a task are compile errors.
///
/// ```
/// use zart::TaskError;
///
/// #[zart::task]
/// async fn resize(width: u32) -> Result<u32, TaskError> {
///     Ok(width / 2)
/// }
///
/// let registry = zart::registry![resize];
/// assert_eq!(registry.names(), ["resize"]);
/// ```
#[proc_macro]
pub fn registry(input: TokenStream) -> TokenStream {
    registry::expand(input.into()).into()
}

#[cfg(test)]
mod expansion_docs;
