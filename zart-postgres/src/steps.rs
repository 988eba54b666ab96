//! Durable executions on PostgreSQL: step logs, checkpoints, events and children.

use async_trait::async_trait;
use serde_json::Value;
use sqlx::Row;
use zart_core::inspect::EventRecord;
use zart_core::queue::Lease;
use zart_core::steps::{Checkpointed, StepOutcome, StepRecord};
use zart_core::store::StepStore;
use zart_core::task::NewTask;
use zart_core::StoreResult;

use crate::{PostgresTaskScheduler, Shared};

/// [`StepStore::send_event`] on `executor`.
pub(crate) async fn send_event_on(
    shared: &Shared,
    executor: impl sqlx::PgExecutor<'_>,
    task_id: &str,
    name: &str,
    payload: &Value,
) -> StoreResult<bool> {
    let (woken, _): (i64, i64) = sqlx::query_as(shared.sql.send_event.clone())
        .bind(task_id)
        .bind(name)
        .bind(payload)
        .bind(&shared.channel)
        .fetch_one(executor)
        .await
        .map_err(shared.db("sending an event"))?;
    Ok(woken > 0)
}

/// [`StepStore::save_steps`] on `executor` (the pool, or a unit of work's transaction).
pub(crate) async fn save_steps_on(
    shared: &Shared,
    executor: impl sqlx::PgExecutor<'_>,
    steps: &[(Lease, StepRecord)],
) -> StoreResult<Vec<Checkpointed>> {
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
    let mut failed = Vec::with_capacity(n);
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
        failed.push(match step.failed_attempts.is_empty() {
            true => None,
            false => Some(sqlx::types::Json(&step.failed_attempts)),
        });
    }
    let rows: Vec<(String, i32, String)> = sqlx::query_as(shared.sql.save_steps.clone())
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
        .bind(failed)
        .fetch_all(executor)
        .await
        .map_err(shared.db("recording steps"))?;
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

#[async_trait]
impl StepStore for PostgresTaskScheduler {
    async fn load_steps(&self, task_id: &str) -> StoreResult<Vec<StepRecord>> {
        let log: Value = sqlx::query_scalar(self.shared.sql.load_steps.clone())
            .bind(task_id)
            .fetch_one(&mut *self.connection().await?)
            .await
            .map_err(self.shared.db("loading checkpoints"))?;
        step_log(&log).map_err(self.shared.db("decoding checkpoints"))
    }

    async fn save_steps(&self, steps: &[(Lease, StepRecord)]) -> StoreResult<Vec<Checkpointed>> {
        save_steps_on(&self.shared, &mut *self.connection().await?, steps).await
    }

    async fn send_event(&self, task_id: &str, name: &str, payload: &Value) -> StoreResult<bool> {
        send_event_on(
            &self.shared,
            &mut *self.connection().await?,
            task_id,
            name,
            payload,
        )
        .await
    }

    async fn find_event(
        &self,
        task_id: &str,
        name: &str,
        index: u32,
    ) -> StoreResult<Option<Value>> {
        sqlx::query_scalar(self.shared.sql.find_event.clone())
            .bind(task_id)
            .bind(name)
            .bind(i64::from(index))
            .fetch_optional(&mut *self.connection().await?)
            .await
            .map_err(self.shared.db("looking for an event"))
    }

    async fn events(&self, task_id: &str) -> StoreResult<Vec<EventRecord>> {
        let rows = sqlx::query(self.shared.sql.events.clone())
            .bind(task_id)
            .fetch_all(&mut *self.connection().await?)
            .await
            .map_err(self.shared.db("reading events"))?;
        rows.iter()
            .map(|row| {
                Ok(EventRecord {
                    name: row.try_get("name")?,
                    payload: row.try_get("payload")?,
                    created_at: row.try_get("created_at")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(self.shared.db("decoding events"))
    }

    async fn start_child(&self, parent: &str, child: &NewTask) -> StoreResult<bool> {
        let (params, priority) = (&child.params, child.priority);
        let inserted: i64 = sqlx::query_scalar(self.shared.sql.start_child.clone())
            .bind(&params.task_id)
            .bind(&params.task_name)
            .bind(&params.data)
            .bind(parent)
            .bind(&self.shared.channel)
            .bind(priority)
            .bind(child.trace_context.as_ref().map(|c| &c.traceparent))
            .bind(child.trace_context.as_ref().map(|c| &c.tracestate))
            .fetch_one(&mut *self.connection().await?)
            .await
            .map_err(self.shared.db("starting a child execution"))?;
        Ok(inserted > 0)
    }
}

/// Decodes a step log, as the claim and `load_steps` return it: `[[seq, name, occurrence,
/// status, output, error, attempts, started_at, finished_at, failed_attempts], ...]`.
pub(crate) fn step_log(log: &Value) -> Result<Vec<StepRecord>, sqlx::Error> {
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
                finished_at: serde_json::from_value(field(8).clone()).ok(),
                failed_attempts: match field(9) {
                    Value::Null => Vec::new(),
                    failed => serde_json::from_value(failed.clone())
                        .map_err(|_| malformed("unreadable failed attempts"))?,
                },
            })
        })
        .collect()
}
