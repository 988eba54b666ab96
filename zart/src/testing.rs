//! Testing workflows without waiting: a fresh store per test, due tasks run from the test's
//! own task, and a clock the test moves ahead.
//!
//! [`TestZart`] is a [`Zart`] (it dereferences to one) over a private in-memory SQLite store
//! whose clock the test drives. Nothing runs in the background: [`run_until_idle`] claims,
//! runs and stores every due task, through the same claim, executor, checkpoint writer and
//! completer a worker uses, until none is due. [`advance`] moves the clock ahead, so that a
//! durable sleep, an event's deadline, a retry's backoff or a recurring slot an hour away
//! comes due at once; the store decides what is due by the same statements as in
//! production, reading the driven clock.
//!
//! ```
//! use std::time::Duration;
//! use zart::testing::{Ending, TestZart};
//! use zart::TaskError;
//!
//! #[zart::durable]
//! async fn remind(user: String) -> Result<String, TaskError> {
//!     zart::sleep("a day", Duration::from_secs(24 * 3600)).await?;
//!     Ok(format!("reminded {user}"))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let zart = TestZart::new(zart::registry![remind]).await?;
//! let handle = remind::start(&zart, "remind-ada", "ada".to_owned()).await?;
//!
//! let ran = zart.run_until_idle().await?;
//! assert!(matches!(ran[0].ending, Ending::Suspended { .. })); // asleep for a day
//!
//! zart.advance(Duration::from_secs(24 * 3600));
//! zart.run_until_idle().await?;
//! assert_eq!(handle.wait(Duration::from_secs(1)).await?, "reminded ada");
//! # Ok(())
//! # }
//! ```
//!
//! [`run_until_idle`]: TestZart::run_until_idle
//! [`advance`]: TestZart::advance

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use zart_core::clock::Clock;
use zart_core::store::Store;
use zart_core::task::{TaskFilter, TaskRecord, TaskStatus};

use crate::definition::TaskDefinition;
use crate::registry::TaskRegistry;
use crate::worker::{Inline, WorkerConfig};
use crate::Zart;

pub use crate::worker::{Ending, Ran};

/// Most attempts [`TestZart::run_until_idle`] runs before it gives up on the store ever
/// becoming idle (a task that reschedules itself at once, say).
pub const MAX_ATTEMPTS_TO_IDLE: usize = 10_000;

/// Most tasks [`TestZart::scheduled`] lists: a test that schedules more asserts on counts.
const MAX_LISTED: usize = 10_000;

/// What a test's expectation found instead.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestError {
    /// Reading or writing the store failed.
    #[error(transparent)]
    Zart(#[from] crate::Error),
    /// Tasks kept coming due.
    #[error("still not idle after {attempts} attempts; the last ran {last:?}")]
    NeverIdle {
        /// The attempts run.
        attempts: usize,
        /// The ids of the last tasks run.
        last: Vec<String>,
    },
    /// No task of this name with this input is scheduled.
    #[error("no {task_name:?} task with input {input} is scheduled; scheduled: {scheduled:?}")]
    NotScheduled {
        /// The task name looked for.
        task_name: String,
        /// The input looked for.
        input: Value,
        /// The inputs of the tasks of that name that are scheduled.
        scheduled: Vec<Value>,
    },
    /// The store's clock is the system's, which cannot be moved.
    #[error("this store's clock is the system's and cannot be advanced: open the store with a driven clock (TestZart::new does)")]
    ClockNotDriven,
}

/// A [`Zart`] for one test: a fresh store, due tasks run by hand, a driven clock.
///
/// It dereferences to [`Zart`], so typed starts (`checkout::start(&zart, ..)`), handles,
/// events and every read work on it as on a connected client.
pub struct TestZart {
    zart: Zart,
    clock: Clock,
    runner: Inline,
}

impl TestZart {
    /// A private in-memory SQLite store with a driven clock, running `registry`'s
    /// handlers with the default [`WorkerConfig`].
    #[cfg(feature = "sqlite")]
    pub async fn new(registry: TaskRegistry) -> Result<TestZart, TestError> {
        TestZart::with_config(registry, WorkerConfig::default()).await
    }

    /// [`new`](Self::new), with these worker settings (queues and their limits, retry
    /// aging, application versions).
    #[cfg(feature = "sqlite")]
    pub async fn with_config(
        registry: TaskRegistry,
        config: WorkerConfig,
    ) -> Result<TestZart, TestError> {
        let options = zart_sqlite::SqliteOptions::memory().clock(Clock::driven());
        let store = zart_sqlite::SqliteTaskScheduler::connect_with(options)
            .await
            .map_err(crate::Error::from)?;
        TestZart::on_store(Arc::new(store), registry, config).await
    }

    /// Runs `registry`'s handlers over a store of the test's own (a PostgreSQL schema of
    /// its own, say: see [`TableNames`](zart_postgres::TableNames)). Its clock is the
    /// store's: [`advance`](Self::advance) needs one opened with a driven clock.
    pub async fn on_store(
        store: Arc<dyn Store>,
        registry: TaskRegistry,
        config: WorkerConfig,
    ) -> Result<TestZart, TestError> {
        let clock = store.clock();
        let runner = Inline::start(store.clone(), Arc::new(registry), config).await?;
        Ok(TestZart {
            zart: Zart::from_store(store),
            clock,
            runner,
        })
    }

    /// The client, as typed starts take it (`&zart` works too).
    pub fn zart(&self) -> &Zart {
        &self.zart
    }

    /// The store's clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Moves the clock ahead by `by`: what is due within it is due now. Runs nothing (see
    /// [`run_until_idle`](Self::run_until_idle)). A store on the system's clock cannot be
    /// moved: [`try_advance`](Self::try_advance) says so.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }

    /// [`advance`](Self::advance), or [`TestError::ClockNotDriven`].
    pub fn try_advance(&self, by: Duration) -> Result<(), TestError> {
        match self.clock.is_driven() {
            true => {
                self.clock.advance(by);
                Ok(())
            }
            false => Err(TestError::ClockNotDriven),
        }
    }

    /// Claims the task a worker would claim next, runs its attempt and stores the outcome
    /// before it returns. `None`: nothing is due.
    pub async fn run_next(&self) -> Result<Option<Ran>, TestError> {
        Ok(self.runner.run_next().await?)
    }

    /// Runs due tasks one at a time until none is due (what they schedule for now runs
    /// too), and returns every attempt, in order. Fails with [`TestError::NeverIdle`] after
    /// [`MAX_ATTEMPTS_TO_IDLE`] attempts.
    pub async fn run_until_idle(&self) -> Result<Vec<Ran>, TestError> {
        let mut ran = Vec::new();
        while let Some(attempt) = self.run_next().await? {
            ran.push(attempt);
            if ran.len() >= MAX_ATTEMPTS_TO_IDLE {
                let last = ran
                    .iter()
                    .rev()
                    .take(5)
                    .map(|r| r.task_id.clone())
                    .collect();
                return Err(TestError::NeverIdle {
                    attempts: ran.len(),
                    last,
                });
            }
        }
        Ok(ran)
    }

    /// [`advance`](Self::advance)s the clock by `by`, then [`run_until_idle`](Self::run_until_idle).
    pub async fn advance_and_run(&self, by: Duration) -> Result<Vec<Ran>, TestError> {
        self.try_advance(by)?;
        self.run_until_idle().await
    }

    /// The tasks named `task_name` waiting to run (due or not, durable executions
    /// suspended in a wait included), oldest first (at most 10,000).
    pub async fn scheduled_named(&self, task_name: &str) -> Result<Vec<TaskRecord>, TestError> {
        let mut tasks = Vec::new();
        for status in TaskStatus::ALL
            .into_iter()
            .filter(|s| s.stored() == TaskStatus::Pending)
        {
            let filter = TaskFilter::matching(Some(task_name), Some(status));
            tasks.extend(self.zart.inspector().tasks(&filter, MAX_LISTED).await?);
        }
        tasks.sort_by(|a, b| (a.created_at, &a.task_id).cmp(&(b.created_at, &b.task_id)));
        tasks.truncate(MAX_LISTED);
        Ok(tasks)
    }

    /// The runs of `D` waiting to run (due or not), oldest first.
    pub async fn scheduled<D: TaskDefinition>(&self) -> Result<Vec<TaskRecord>, TestError> {
        self.scheduled_named(D::NAME).await
    }

    /// The run of `D` with this input that is waiting to run; [`TestError::NotScheduled`],
    /// listing the inputs that are, if there is none.
    pub async fn assert_scheduled<D: TaskDefinition>(
        &self,
        input: &D::Input,
    ) -> Result<TaskRecord, TestError> {
        let input = crate::durable::input_json(D::NAME, input)?;
        let scheduled = self.scheduled::<D>().await?;
        if let Some(found) = scheduled.iter().find(|task| task.data == input) {
            return Ok(found.clone());
        }
        Err(TestError::NotScheduled {
            task_name: D::NAME.to_owned(),
            input,
            scheduled: scheduled.into_iter().map(|task| task.data).collect(),
        })
    }
}

impl std::ops::Deref for TestZart {
    type Target = Zart;

    fn deref(&self) -> &Zart {
        &self.zart
    }
}

impl std::fmt::Debug for TestZart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestZart")
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}
