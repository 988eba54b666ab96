//! # Zart
//!
//! Durable execution and task scheduling on the PostgreSQL you already run.
//!
//! This release provides the task queue and its worker: schedule tasks
//! ([`TaskScheduler`]), run them with registered handlers ([`ScheduledTask`],
//! [`TaskRegistry`], [`Worker`]) and chain follow-ups atomically ([`OnComplete`]); and
//! recurring work on top of it ([`schedule`], [`recurring`](mod@recurring)).
//! Claims are batched and leased; every write a worker makes is fenced by its lease token;
//! expired leases are rescued; new tasks wake idle workers through `LISTEN/NOTIFY`.
//!
//! ```no_run
//! use std::sync::Arc;
//! use zart::prelude::*;
//!
//! struct SayHello;
//!
//! #[async_trait]
//! impl ScheduledTask for SayHello {
//!     async fn execute(&self, task: &TaskInstance) -> Result<Box<dyn CompletionHandler>, SchedulerTaskError> {
//!         println!("hello from {}", task.task_id);
//!         Ok(OnComplete::done())
//!     }
//! }
//!
//! # async fn demo() -> Result<(), zart::Error> {
//! let scheduler = Arc::new(PostgresScheduler::connect("postgres://localhost/app").await?);
//! let mut registry = TaskRegistry::new();
//! registry.register("say-hello", SayHello);
//! let worker = Arc::new(Worker::new(scheduler.clone(), Arc::new(registry), WorkerConfig::default(), vec![]));
//! tokio::spawn({
//!     let worker = worker.clone();
//!     async move { worker.run().await }
//! });
//! scheduler.schedule_now("hello-1", "say-hello", serde_json::json!({})).await?;
//! # worker.shutdown().await;
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

#[doc(hidden)]
#[path = "macro_support.rs"]
pub mod __private;
pub mod backend;
mod client;
mod definition;
pub mod durable;
mod error;
mod inject;
mod observer;
pub mod postgres;
pub mod recurring;
mod registry;
mod retry;
pub mod scheduler;
mod table_names;
mod task;
mod worker;

pub use async_trait::async_trait;
pub use client::Zart;
pub use definition::{Handle, TaskDefinition, TaskInput, TaskResult, WaitError};
pub use durable::{
    require, sleep, step, wait_for_event, DurableExecution, DurableScheduler, StepError, TaskError,
};
pub use error::{Error, Result};
pub use inject::{ContextError, State};
pub use observer::{TaskEvent, TaskObserver};
pub use postgres::{PoolConfig, PostgresScheduler, PostgresTaskScheduler};
pub use registry::{RegistryError, TaskRegistry, DEFAULT_QUEUE};
pub use retry::RetryConfig;
pub use scheduler::{IfExists, TaskScheduler};
pub use table_names::{TableNames, TableNamesError};
pub use task::{
    CompletionHandler, OnComplete, Recurrence, ScheduleAtParams, ScheduledTask, SchedulerTaskError,
    TaskInstance, TaskRecord, TaskStatus,
};
pub use worker::{ConfigError, RunningWorker, Worker, WorkerBuilder, WorkerConfig};
pub use zart_macros::{durable, recurring, registry, step, task};
pub use zart_schedule as schedule;

/// The README's examples, compiled as doc tests so that it only says what is true.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// The names most programs need: `use zart::prelude::*;`.
pub mod prelude {
    pub use crate::{
        async_trait, CompletionHandler, Handle, OnComplete, PostgresScheduler,
        PostgresTaskScheduler, RetryConfig, ScheduleAtParams, ScheduledTask, SchedulerTaskError,
        State, StepError, TableNames, TaskDefinition, TaskError, TaskInstance, TaskRegistry,
        TaskScheduler, Worker, WorkerConfig, Zart,
    };
}
