//! Putting tasks into the store: what every scheduling path checks first, and the one way
//! a batch goes in (all or nothing, or skipping existing ids).

use std::borrow::Cow;

use serde::Serialize;
use serde_json::Value;
use zart_core::joined::JoinedTransaction;
use zart_core::store::Store;
use zart_core::task::{NewTask, ScheduleAtParams, MAX_ID_LEN, MAX_NAME_LEN, RESERVED_PREFIX};

use crate::error::{Error, Result};

/// What to do when a task id being scheduled already exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IfExists {
    /// Schedule nothing and return [`Error::AlreadyExists`] naming the existing ids.
    Error,
    /// Skip the existing ids and schedule the rest.
    Skip,
}

/// Checks what no store may be given: empty, reserved or oversized ids and names, and
/// recurrences (declared as recurring tasks instead).
pub(crate) fn validate(task: &ScheduleAtParams) -> Result<()> {
    let invalid = |reason: String| {
        Err(Error::InvalidTask {
            task_id: shortened(&task.task_id),
            reason,
        })
    };
    if task.task_id.is_empty() {
        return invalid("the task id is empty".into());
    }
    if task.task_name.is_empty() {
        return invalid("the task name is empty".into());
    }
    if task.task_id.len() > MAX_ID_LEN {
        return invalid(format!(
            "the task id is {} bytes long; at most {MAX_ID_LEN} are allowed",
            task.task_id.len()
        ));
    }
    if task.task_name.len() > MAX_NAME_LEN {
        return invalid(format!(
            "the task name is {} bytes long; at most {MAX_NAME_LEN} are allowed",
            task.task_name.len()
        ));
    }
    if task.task_id.starts_with(RESERVED_PREFIX) || task.task_name.starts_with(RESERVED_PREFIX) {
        return invalid(format!(
            "ids and names starting with {RESERVED_PREFIX:?} are reserved for Zart's own tasks"
        ));
    }
    if task.recurrence.is_some() {
        return invalid(
            "a recurrence is not supported by the plain task queue: declare a recurring task \
             instead (#[zart::recurring], RecurringTask, or WorkerBuilder::register_recurring_durable)"
                .into(),
        );
    }
    Ok(())
}

/// An id as it is quoted in an error: whole, or its first 64 characters and its length.
fn shortened(id: &str) -> String {
    match id.char_indices().nth(64) {
        None => id.to_owned(),
        Some((end, _)) => format!("{}... ({} bytes)", &id[..end], id.len()),
    }
}

/// What every scheduling path does before a store sees its tasks: checks each
/// ([`validate`]), refuses a batch naming one id twice when ids must be new, and gives the
/// tasks scheduled inside a trace its context (those given a context of their own keep it).
fn prepare(tasks: &[NewTask], if_exists: IfExists) -> Result<Cow<'_, [NewTask]>> {
    tasks.iter().try_for_each(|task| validate(&task.params))?;
    if if_exists == IfExists::Error {
        // Said before the store sees them: its conflict would call the id "existing".
        let mut seen = std::collections::HashSet::new();
        if let Some(task) = tasks.iter().find(|t| !seen.insert(&t.params.task_id)) {
            return Err(Error::InvalidTask {
                task_id: shortened(&task.params.task_id),
                reason: "the batch names this id twice: each task of a batch needs an id of \
                         its own"
                    .into(),
            });
        }
    }
    Ok(match crate::trace::current_context() {
        Some(context) => Cow::Owned(
            tasks
                .iter()
                .map(|task| NewTask {
                    trace_context: task.trace_context.clone().or_else(|| Some(context.clone())),
                    ..task.clone()
                })
                .collect(),
        ),
        None => Cow::Borrowed(tasks),
    })
}

/// Inserts `tasks` into `store`. With [`IfExists::Error`] either all are inserted or none
/// (ids that exist are named in [`Error::AlreadyExists`]; an id the batch names twice is
/// [`Error::InvalidTask`]); with [`IfExists::Skip`] existing ids, and the repeats of an id,
/// are left alone. Returns the inserted ids.
pub(crate) async fn insert(
    store: &dyn Store,
    tasks: &[NewTask],
    if_exists: IfExists,
) -> Result<Vec<String>> {
    let tasks = prepare(tasks, if_exists)?;
    if tasks.is_empty() {
        return Ok(Vec::new());
    }
    let inserted = match (if_exists, &tasks[..]) {
        // One statement is its own transaction: nothing to roll back on a conflict.
        (IfExists::Skip, _) | (IfExists::Error, [_]) => store.insert(&tasks).await?,
        (IfExists::Error, _) => {
            let mut work = store.begin().await?;
            let inserted = work.insert(&tasks, None).await?;
            if inserted.len() == tasks.len() {
                work.commit().await?;
            }
            // Otherwise dropping the unit of work rolled it back, notification included.
            inserted
        }
    };
    settle(&tasks, inserted, if_exists)
}

/// [`insert`] in the caller's transaction, through `joined`: the same checks, the same
/// all or nothing (under a savepoint: the caller's transaction goes on either way).
pub(crate) async fn insert_in(
    joined: &mut impl JoinedTransaction,
    tasks: &[NewTask],
    if_exists: IfExists,
) -> Result<Vec<String>> {
    let tasks = prepare(tasks, if_exists)?;
    if tasks.is_empty() {
        return Ok(Vec::new());
    }
    let inserted = joined.insert(&tasks, if_exists == IfExists::Error).await?;
    settle(&tasks, inserted, if_exists)
}

/// What an insert returns: the inserted ids, counted, or, when every id had to be new and
/// some were not, the error naming them (nothing was inserted).
fn settle(tasks: &[NewTask], inserted: Vec<String>, if_exists: IfExists) -> Result<Vec<String>> {
    if if_exists == IfExists::Error && inserted.len() < tasks.len() {
        return Err(Error::AlreadyExists(missing_ids(tasks, &inserted)));
    }
    crate::metrics::scheduled(tasks, &inserted);
    Ok(inserted)
}

/// The payload of event `name` for task `task_id`, as JSON.
pub(crate) fn event_payload(task_id: &str, name: &str, payload: &impl Serialize) -> Result<Value> {
    serde_json::to_value(payload).map_err(|e| Error::InvalidTask {
        task_id: shortened(task_id),
        reason: format!("the payload of event {name:?} does not serialise: {e}"),
    })
}

/// The ids of `tasks` that are not in `inserted`, each once, in input order.
pub(crate) fn missing_ids(tasks: &[NewTask], inserted: &[String]) -> Vec<String> {
    let mut remaining: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for id in inserted {
        *remaining.entry(id.as_str()).or_default() += 1;
    }
    let mut missing: Vec<String> = Vec::new();
    for task in tasks.iter().map(|task| &task.params) {
        match remaining.get_mut(task.task_id.as_str()) {
            Some(n) if *n > 0 => *n -= 1,
            _ if missing.contains(&task.task_id) => {}
            _ => missing.push(task.task_id.clone()),
        }
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_ids_and_names_are_refused_naming_the_field() {
        let long_id =
            ScheduleAtParams::now("x".repeat(MAX_ID_LEN + 1), "t", serde_json::Value::Null);
        let error = validate(&long_id)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            error.contains("the task id is 513 bytes long; at most 512"),
            "{error}"
        );
        assert!(error.len() < 300, "the id is not quoted whole: {error}");
        assert!(validate(&ScheduleAtParams::now(
            "x".repeat(MAX_ID_LEN),
            "t",
            serde_json::Value::Null
        ))
        .is_ok());
        let long_name =
            ScheduleAtParams::now("id", "n".repeat(MAX_NAME_LEN + 1), serde_json::Value::Null);
        let error = validate(&long_name)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("the task name is 201 bytes long"), "{error}");
    }

    #[test]
    fn invalid_tasks_are_rejections_not_worth_retrying() {
        let task = |id: &str, name: &str| ScheduleAtParams::now(id, name, serde_json::Value::Null);
        let mut recurring = task("r-1", "report");
        recurring.recurrence = Some(zart_core::task::Recurrence::FixedDelay {
            duration_ms: 60_000,
        });
        let invalid = [
            task(&"x".repeat(MAX_ID_LEN + 1), "report"),
            task("", "report"),
            task("r-1", ""),
            task("r-1", &"n".repeat(MAX_NAME_LEN + 1)),
            task("__zart-tick", "report"),
            recurring,
        ];
        for params in invalid {
            match validate(&params) {
                Err(error @ Error::InvalidTask { .. }) => {
                    assert!(error.is_rejection(), "{error} is not a rejection")
                }
                other => panic!("{params:?} gave {other:?}, not InvalidTask"),
            }
        }
    }
}
