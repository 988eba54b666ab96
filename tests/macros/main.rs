//! The macros end to end, against a real PostgreSQL: `#[task]`, `#[durable]`, `#[step]`,
//! `#[recurring]`, typed handles and `registry!`.

mod durable;
mod recurring;
mod tasks;

use std::time::Duration;

use zart::{WorkerBuilder, Zart};
use zart_tests::quick_config;

/// How long a test waits for a run to end.
pub const WAIT: Duration = Duration::from_secs(20);

/// A worker builder with the tests' quick settings.
pub fn quick_worker(zart: &Zart) -> WorkerBuilder {
    zart.worker().config(quick_config())
}
