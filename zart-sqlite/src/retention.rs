//! Deleting ended tasks once they are old enough (the engine's retention decides when).

use chrono::{DateTime, Utc};
use zart_core::task::TaskStatus;
use zart_core::StoreResult;

use crate::codec::millis;
use crate::queries::not_reserved;
use crate::SqliteTaskScheduler;

impl SqliteTaskScheduler {
    pub(crate) async fn delete_ended_tasks(
        &self,
        status: TaskStatus,
        ended_before: DateTime<Utc>,
        limit: usize,
    ) -> StoreResult<u64> {
        let prefix = &self.shared.options.table_prefix().to_owned();
        let table = |name: &str| format!("\"{prefix}{name}\"");
        let (tasks, steps, events, attempts) = (
            table("tasks"),
            table("steps"),
            table("events"),
            table("attempts"),
        );
        // Read by creation (the index listings use), which comes before the end.
        let select = format!(
            "SELECT task_id FROM {tasks}
             WHERE created_at < ?2 AND status = ?1 AND finished_at < ?2 AND {} AND {}
             LIMIT ?3",
            not_reserved("task_name"),
            not_reserved("task_id")
        );
        let cutoff = millis(ended_before);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.write("deleting old ended tasks", |conn, _, _| {
            let ids: Vec<String> = conn
                .prepare_cached(&select)?
                .query_map((status.as_str(), cutoff, limit), |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            for table in [&steps, &events, &attempts, &tasks] {
                let mut delete =
                    conn.prepare_cached(&format!("DELETE FROM {table} WHERE task_id = ?1"))?;
                for id in &ids {
                    delete.execute([id])?;
                }
            }
            Ok(ids.len() as u64)
        })
        .await
    }
}
