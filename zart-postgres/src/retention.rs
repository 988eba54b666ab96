//! Deleting ended tasks once they are old enough (the engine's retention decides when).

use chrono::{DateTime, Utc};
use zart_core::task::TaskStatus;
use zart_core::StoreResult;

use crate::queries::reserved_pattern;
use crate::PostgresTaskScheduler;

impl PostgresTaskScheduler {
    pub(crate) async fn delete_ended_tasks(
        &self,
        status: TaskStatus,
        ended_before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<u64> {
        let names = &self.shared.names;
        // The ended-status listing index finds them by creation, which comes before the
        // end: a task that ended before the cutoff was created before it too. Rows
        // another statement holds are skipped, not waited for.
        let statement = format!(
            "WITH gone AS (
                DELETE FROM {tasks} WHERE task_id IN (
                    SELECT task_id FROM {tasks}
                    WHERE status = $1 AND created_at < $2 AND finished_at < $2
                        AND task_name NOT LIKE $4 AND task_id NOT LIKE $4
                    LIMIT $3 FOR UPDATE SKIP LOCKED
                )
                RETURNING task_id
             ),
             steps AS (DELETE FROM {steps} WHERE task_id IN (SELECT task_id FROM gone)),
             events AS (DELETE FROM {events} WHERE task_id IN (SELECT task_id FROM gone)),
             attempts AS (DELETE FROM {attempts} WHERE task_id IN (SELECT task_id FROM gone))
             SELECT count(*) FROM gone",
            tasks = names.tasks(),
            steps = names.steps(),
            events = names.events(),
            attempts = names.attempts(),
        );
        let deleted: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(statement))
            .bind(status.as_str())
            .bind(ended_before)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .bind(reserved_pattern())
            .fetch_one(&mut *self.connection().await?)
            .await
            .map_err(self.shared.db("deleting old ended tasks"))?;
        Ok(u64::try_from(deleted).unwrap_or(0))
    }
}
