//! # zart-core
//!
//! The ground floor of [Zart](https://docs.rs/zart): the records a task store keeps (tasks,
//! leases, claims, outcomes, steps, events, schedules and their history) and the **store
//! contract** that every driver implements ([`store`]). Nothing here talks to a database or
//! decides anything: a store method writes, reads or notifies, and the engine in `zart`
//! makes the decisions (retry or fail, what a tick does with its due slots, how long to
//! wait).
//!
//! Drivers (`zart-postgres`, and others) depend on this crate only; the engine depends on it
//! and on the drivers it can connect to. One conformance suite runs against every driver.
#![warn(missing_docs)]

pub mod clock;
pub mod controls;
pub mod error;
pub mod inspect;
pub mod joined;
pub mod migrations;
pub mod queue;
pub mod schedules;
pub mod steps;
pub mod store;
pub mod task;
pub mod workers;

pub use error::{ErrorKind, StoreError, StoreResult};
pub use zart_schedule as schedule;
