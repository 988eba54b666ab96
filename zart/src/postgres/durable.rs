//! Durable executions on PostgreSQL: step logs, checkpoints, events, children, and the
//! control of executions by id.

use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;

use super::{listener, PostgresTaskScheduler};
use crate::backend::{Checkpointed, Lease, StepOutcome, StepRecord};
use crate::error::{db, Error, Result};
use crate::scheduler::{validate, TaskScheduler};
use crate::task::{ScheduleAtParams, TaskRecord};

impl PostgresTaskScheduler {
    /// [`TaskBackend::save_steps`](crate::backend::TaskBackend::save_steps) on `executor` (the pool, or a transactional step's own
    /// transaction).
    pub(crate) async fn save_steps_on(
        &self,
        executor: impl sqlx::PgExecutor<'_>,
        steps: &[(Lease, StepRecord)],
    ) -> Result<Vec<Checkpointed>> {
        let n = steps.len();
        let mut ids = Vec::with_capacity(n);
        let mut tokens = Vec::with_capacity(n);
        let mut seqs = Vec::with_capacity(n);
        let mut names = Vec::with_capacity(n);
        let mut occurrences = Vec::with_capacity(n);
        let mut statuses = Vec::with_capacity(n);
        let mut outputs = Vec::with_capacity(n);
        let mut errors = Vec::with_capacity(n);
        let mut attempts = Vec::with_capacity(n);
        let mut started = Vec::with_capacity(n);
        let int = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
        for (lease, step) in steps {
            let (status, output, error) = match &step.outcome {
                StepOutcome::Completed(value) => ("completed", Some(value.clone()), None),
                StepOutcome::Failed(error) => ("failed", None, Some(error.as_str())),
                StepOutcome::Retrying { until, error } => (
                    "retrying",
                    Some(serde_json::json!({ "until": until })),
                    Some(error.as_str()),
                ),
            };
            ids.push(lease.task_id.as_str());
            tokens.push(lease.token);
            seqs.push(int(step.seq));
            names.push(step.name.as_str());
            occurrences.push(int(step.occurrence));
            statuses.push(status);
            outputs.push(output);
            errors.push(error);
            attempts.push(int(step.attempts));
            started.push(step.started_at);
        }
        let rows: Vec<(String, i32, String)> = sqlx::query_as(&self.sql.save_steps)
            .bind(ids)
            .bind(tokens)
            .bind(seqs)
            .bind(names)
            .bind(occurrences)
            .bind(statuses)
            .bind(outputs)
            .bind(errors)
            .bind(attempts)
            .bind(started)
            .fetch_all(executor)
            .await
            .map_err(db("recording steps"))?;
        let outcomes: std::collections::HashMap<(&str, i32), Checkpointed> = rows
            .iter()
            .map(|(id, seq, outcome)| {
                let outcome = match outcome.as_str() {
                    "saved" => Checkpointed::Saved,
                    "cancelled" => Checkpointed::Cancelled,
                    _ => Checkpointed::Refused,
                };
                ((id.as_str(), *seq), outcome)
            })
            .collect();
        Ok(steps
            .iter()
            .map(|(lease, step)| {
                outcomes
                    .get(&(lease.task_id.as_str(), int(step.seq)))
                    .copied()
                    .unwrap_or(Checkpointed::Refused)
            })
            .collect())
    }

    pub(super) async fn rerun(&self, task_id: &str, forget: bool) -> Result<bool> {
        let rescheduled: i64 = sqlx::query_scalar(&self.sql.rerun)
            .bind(task_id)
            .bind(forget)
            .bind(&*self.channel)
            .fetch_one(&self.pool)
            .await
            .map_err(db("rescheduling an ended task"))?;
        Ok(rescheduled > 0)
    }

    pub(super) async fn insert_child(
        &self,
        parent: &str,
        child: &ScheduleAtParams,
    ) -> Result<bool> {
        validate(child)?;
        let inserted: i64 = sqlx::query_scalar(&self.sql.start_child)
            .bind(&child.task_id)
            .bind(&child.task_name)
            .bind(&child.data)
            .bind(parent)
            .bind(&*self.channel)
            .fetch_one(&self.pool)
            .await
            .map_err(db("starting a child execution"))?;
        Ok(inserted > 0)
    }

    pub(super) async fn event(
        &self,
        task_id: &str,
        name: &str,
        index: u32,
    ) -> Result<Option<Value>> {
        sqlx::query_scalar(&self.sql.find_event)
            .bind(task_id)
            .bind(name)
            .bind(i64::from(index))
            .fetch_optional(&self.pool)
            .await
            .map_err(db("looking for an event"))
    }

    pub(super) async fn step_log_of(&self, task_id: &str) -> Result<Vec<StepRecord>> {
        let log: Value = sqlx::query_scalar(&self.sql.load_steps)
            .bind(task_id)
            .fetch_one(&self.pool)
            .await
            .map_err(db("loading checkpoints"))?;
        step_log(&log).map_err(db("decoding checkpoints"))
    }
}

/// Decodes a step log, as the claim and `load_steps` return it: `[[seq, name, occurrence,
/// status, output, error, attempts, started_at], ...]`.
pub(super) fn step_log(log: &Value) -> std::result::Result<Vec<StepRecord>, sqlx::Error> {
    let malformed = |detail: &str| sqlx::Error::ColumnDecode {
        index: "steps".to_owned(),
        source: format!("malformed step log: {detail}").into(),
    };
    let rows = log.as_array().ok_or_else(|| malformed("not an array"))?;
    rows.iter()
        .map(|row| {
            let field = |i: usize| row.get(i).unwrap_or(&Value::Null);
            let number = |i: usize| {
                field(i)
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| malformed("a number is missing"))
            };
            let outcome = match field(3).as_str() {
                Some("completed") => StepOutcome::Completed(field(4).clone()),
                Some("failed") => {
                    StepOutcome::Failed(field(5).as_str().unwrap_or_default().to_owned())
                }
                Some("retrying") => StepOutcome::Retrying {
                    until: field(4)
                        .get("until")
                        .and_then(|until| serde_json::from_value(until.clone()).ok())
                        .ok_or_else(|| malformed("a retrying step has no due time"))?,
                    error: field(5).as_str().unwrap_or_default().to_owned(),
                },
                _ => return Err(malformed("unknown status")),
            };
            Ok(StepRecord {
                seq: number(0)?,
                name: field(1)
                    .as_str()
                    .ok_or_else(|| malformed("no name"))?
                    .to_owned(),
                occurrence: number(2)?,
                outcome,
                attempts: number(6)?,
                started_at: serde_json::from_value(field(7).clone())
                    .map_err(|_| malformed("no start time"))?,
            })
        })
        .collect()
}

#[async_trait]
impl crate::durable::ExecutionControl for PostgresTaskScheduler {
    async fn send_event(&self, execution_id: &str, name: &str, payload: Value) -> Result<bool> {
        let (woken, _): (i64, i64) = sqlx::query_as(&self.sql.send_event)
            .bind(execution_id)
            .bind(name)
            .bind(payload)
            .bind(&*self.channel)
            .fetch_one(&self.pool)
            .await
            .map_err(db("sending an event"))?;
        Ok(woken > 0)
    }

    async fn retry(&self, execution_id: &str) -> Result<bool> {
        self.rerun(execution_id, false).await
    }

    async fn restart(&self, execution_id: &str) -> Result<bool> {
        self.rerun(execution_id, true).await
    }

    async fn wait(&self, execution_id: &str, timeout: Duration) -> Result<TaskRecord> {
        // Subscribed before the first look, so that an end between the look and the wait
        // is not missed.
        let mut ended = self
            .ended
            .get_or_init(|| async {
                listener::watch_ended(self.pool.clone(), self.ended_channel.to_string())
            })
            .await
            .clone();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let record = self
                .get_task(execution_id)
                .await?
                .ok_or_else(|| Error::NotFound(execution_id.to_owned()))?;
            let now = tokio::time::Instant::now();
            if record.status.is_terminal() || now >= deadline {
                return Ok(record);
            }
            // Notifications can be lost (a reconnecting listener): look again at least
            // every second.
            let pause = (deadline - now).min(Duration::from_secs(1));
            tokio::select! {
                _ = ended.changed() => {}
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }
}
