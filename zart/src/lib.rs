//! # Zart
//!
//! Durable execution and task scheduling for Rust, on the database you already run.
//!
//! Annotate ordinary async functions: `#[zart::task]` makes a scheduled task,
//! `#[zart::durable]` a durable execution whose `#[zart::step]`s are checkpointed (a step
//! that completed never runs again, across crashes, restarts and deploys), and
//! `#[zart::recurring(..)]` puts either on a schedule. [`Zart`] is the client: it starts
//! runs with their input type checked at compile time, builds workers, and reads and steers
//! what is stored.
//!
//! ```no_run
//! use std::time::Duration;
//! use zart::{TaskError, Zart};
//!
//! #[zart::durable]
//! async fn greet(name: String) -> Result<String, TaskError> {
//!     Ok(format!("Hello, {name}!"))
//! }
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let zart = Zart::connect("sqlite://app.db").await?; // or postgres://..; creates or upgrades the tables
//! let worker = zart.worker().register(zart::registry![greet]).start().await?;
//! let handle = greet::start(&zart, "greet-1", "Ada".to_owned()).await?;
//! assert_eq!(handle.wait(Duration::from_secs(10)).await?, "Hello, Ada!");
//! worker.shutdown().await?;
//! # Ok(())
//! # }
//! ```
//!
//! Everything the macros generate can be written by hand against the traits, in the style
//! of Zart's earlier documents: [`scheduler`] holds the queue without durable machinery
//! ([`ScheduledTask`](scheduler::ScheduledTask), [`Worker`](scheduler::Worker),
//! [`TaskScheduler`](scheduler::TaskScheduler)), [`durable`](mod@durable) the durable executions,
//! [`recurring`](mod@recurring) the schedules, [`postgres`] the PostgreSQL store,
//! [`sqlite`] the embedded SQLite store (the default when no `DATABASE_URL` is set, see
//! [`Zart::connect_default`]), and [`store`] the contract every store implements. Cargo
//! features `postgres` and `sqlite` (both on by default) include each driver.
#![warn(missing_docs)]

#[doc(hidden)]
#[path = "macro_support.rs"]
pub mod __private;
mod client;
mod definition;
pub mod durable;
mod enqueue;
mod error;
pub mod in_transaction;
mod inject;
pub mod inspect;
pub mod metrics;
pub mod observe;
pub mod recurring;
mod registry;
mod retry;
pub mod scheduler;
pub mod store;
mod task;
pub mod testing;
mod trace;
mod worker;

pub use client::Zart;
pub use definition::{Handle, TaskDefinition, TaskInput, TaskResult, WaitError};
pub use durable::{require, sleep, wait_for_event, DurableExecution, DurableScheduler, TaskError};
pub use error::{Error, Result};
pub use inject::State;
pub use recurring::OverlapPolicy;
pub use worker::WorkerBuilder;
pub use zart_macros::{durable, recurring, registry, step, task};
#[cfg(feature = "postgres")]
pub use zart_postgres as postgres;
pub use zart_schedule as schedule;
#[cfg(feature = "sqlite")]
pub use zart_sqlite as sqlite;

/// The README's examples, compiled as doc tests so that it only says what is true.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The examples of `docs/durable-changes.md`, compiled as doc tests.
#[doc = include_str!("../../docs/durable-changes.md")]
#[cfg(doctest)]
pub struct DurableChangesDoctests;

/// The examples of `docs/testing.md`, compiled as doc tests.
#[doc = include_str!("../../docs/testing.md")]
#[cfg(doctest)]
pub struct TestingDoctests;

/// The examples of `docs/tracing.md`, compiled as doc tests.
#[doc = include_str!("../../docs/tracing.md")]
#[cfg(doctest)]
pub struct TracingDoctests;

/// The names most programs need: `use zart::prelude::*;`.
pub mod prelude {
    pub use crate::durable::StepError;
    pub use crate::scheduler::{
        Completion, CompletionHandler, OnComplete, Recurrence, RetryConfig, ScheduleAtParams,
        ScheduledTask, SchedulerTaskError, TaskInstance, TaskRegistry, TaskScheduler, TaskStatus,
        Worker, WorkerConfig,
    };
    pub use crate::{
        DurableExecution, DurableScheduler, Handle, OverlapPolicy, State, TaskDefinition,
        TaskError, WorkerBuilder, Zart,
    };
    pub use async_trait::async_trait;
}
