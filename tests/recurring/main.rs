//! Recurring schedules against a real PostgreSQL, with short intervals; each test in its
//! own schema. Where waiting would be slow (hours of downtime), the tests move the
//! schedule's stored state back in time instead of waiting.

mod control;
mod firing;
mod missed;
mod overlap;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use zart::recurring::RunContext;
use zart::scheduler::{OnComplete, SchedulerTaskError, TaskRegistry};
use zart_tests::task;

/// One run as its handler saw it.
#[derive(Clone, Debug)]
pub struct Run {
    pub task_id: String,
    pub context: RunContext,
    pub started: DateTime<Utc>,
    pub ended: DateTime<Utc>,
}

/// Records every run of task `name`; each run takes `busy`.
#[derive(Clone, Default)]
pub struct Runs(Arc<Mutex<Vec<Run>>>);

impl Runs {
    pub fn register(&self, registry: &mut TaskRegistry, name: &str, busy: Duration) {
        let runs = self.clone();
        registry.register(
            name,
            task(move |instance| {
                let runs = runs.clone();
                async move {
                    let started = Utc::now();
                    tokio::time::sleep(busy).await;
                    let context = instance
                        .run_context()
                        .ok_or_else(|| SchedulerTaskError::permanent("no run context"))?;
                    let run = Run {
                        task_id: instance.task_id.clone(),
                        context,
                        started,
                        ended: Utc::now(),
                    };
                    runs.0.lock().expect("runs lock").push(run);
                    Ok(OnComplete::done())
                }
            }),
        );
    }

    pub fn all(&self) -> Vec<Run> {
        let mut runs = self.0.lock().expect("runs lock").clone();
        runs.sort_by_key(|r| r.context.occurrence);
        runs
    }

    pub fn count(&self) -> usize {
        self.0.lock().expect("runs lock").len()
    }

    /// Waits until at least `n` runs ended, or panics after `within`.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Run> {
        let deadline = tokio::time::Instant::now() + within;
        while self.count() < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "only {} of {n} runs after {within:?}",
                self.count()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.all()
    }
}
