//! The execution a body runs in: its loaded step log and the position of the next call,
//! carried in task-local storage so that [`step`](super::step) finds it.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use zart_core::queue::Lease;
use zart_core::steps::{Checkpointed, StepOutcome, StepRecord};
use zart_core::store::Store;

use super::checkpoints::Checkpoints;
use super::patch::PATCH_PREFIX;
use crate::task::{SchedulerTaskError, TaskInstance};

use super::TaskError;

tokio::task_local! {
    /// Set by the worker around every handler: where checkpoints go.
    static RUNTIME: Runtime;
    /// Set around a durable body.
    static EXECUTION: Arc<ExecutionContext>;
}

/// The store and the claim a handler runs under.
#[derive(Clone)]
pub(crate) struct Runtime {
    pub store: Arc<dyn Store>,
    pub checkpoints: Checkpoints,
    pub lease: Lease,
    /// The step log, when it came with the claim (shared: the runtime is cloned per body).
    pub steps: Option<Arc<[StepRecord]>>,
    /// When the execution was scheduled.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// The execution's priority (its children inherit it).
    pub priority: i16,
}

/// The current instant by the store's clock (see `Store::clock`), that of the worker's
/// store while a handler runs; the system's elsewhere.
pub(crate) fn now() -> chrono::DateTime<chrono::Utc> {
    RUNTIME
        .try_with(|runtime| runtime.store.clock().now())
        .unwrap_or_else(|_| chrono::Utc::now())
}

/// Runs `f` (a task handler) with `runtime` available to durable bodies.
pub(crate) async fn scope_runtime<F: Future>(runtime: Runtime, f: F) -> F::Output {
    RUNTIME.scope(runtime, f).await
}

/// Why an execution cannot go on, whatever its body does.
#[derive(Clone, Debug)]
pub(crate) struct Interruption {
    pub reason: String,
    /// A storage failure may pass; a contradicting record or a lost lease will not.
    pub retryable: bool,
    /// Not a failure: the execution sleeps until then.
    pub suspend_until: Option<chrono::DateTime<chrono::Utc>>,
}

impl std::fmt::Display for Interruption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// A durable body's view of its execution.
pub(crate) struct ExecutionContext {
    runtime: Option<Runtime>,
    /// The execution's deadline, if it has one: no suspension lasts past it.
    deadline: Option<chrono::DateTime<chrono::Utc>>,
    recorded: HashMap<u32, StepRecord>,
    state: Mutex<CallState>,
}

#[derive(Default)]
struct CallState {
    next_seq: u32,
    per_name: HashMap<String, u32>,
    interrupted: Option<Interruption>,
}

/// Where a `patched` call stands in the execution.
pub(crate) enum PatchCall {
    /// The change's marker is recorded here: the new side, as before.
    Marked,
    /// Another step is recorded here: the old side ran here.
    Old,
    /// The record ends here: the new side, from now on; the marker goes at this place.
    New(Call),
}

/// One step call's place in the execution.
pub(crate) struct Call {
    pub seq: u32,
    pub occurrence: u32,
    pub recorded: Option<StepRecord>,
}

impl Call {
    /// The record of this call as step `name`, completed at once with `value` (a timer's
    /// deadline, an event's payload, a change's marker).
    pub(crate) fn completed(&self, name: &str, value: serde_json::Value) -> StepRecord {
        StepRecord {
            seq: self.seq,
            name: name.to_owned(),
            occurrence: self.occurrence,
            outcome: StepOutcome::Completed(value),
            attempts: 1,
            started_at: now(),
            finished_at: None,
            failed_attempts: Vec::new(),
        }
    }
}

/// How often a checkpoint write is tried before the execution gives up on this attempt.
const SAVE_ATTEMPTS: u32 = 3;

impl ExecutionContext {
    /// The context of the body running on this task, if any.
    pub(crate) fn current() -> Option<Arc<ExecutionContext>> {
        EXECUTION.try_with(Arc::clone).ok()
    }

    /// The worker's store and claim, when a worker runs the body.
    pub(crate) fn runtime(&self) -> Option<&Runtime> {
        self.runtime.as_ref()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CallState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The marker of a change at position `seq` other than `asked`, if one is recorded
    /// there: a `patched` call the body no longer makes (or not here), passed over.
    fn passed_marker(&self, seq: u32, asked: &str) -> bool {
        self.recorded
            .get(&seq)
            .is_some_and(|record| record.name.starts_with(PATCH_PREFIX) && record.name != asked)
    }

    /// Where a `patched` call with step-log name `marker` stands (see
    /// [`patched`](super::patched)).
    pub(crate) fn patch(&self, marker: &str) -> Result<PatchCall, super::StepError> {
        let mut state = self.lock();
        if let Some(interrupted) = &state.interrupted {
            return Err(super::StepError::Interrupted(interrupted.reason.clone()));
        }
        while self.passed_marker(state.next_seq, marker) {
            state.next_seq += 1;
        }
        let seq = state.next_seq;
        let new = match self.recorded.get(&seq) {
            Some(record) if record.name == marker => false,
            Some(_) => return Ok(PatchCall::Old),
            None => true,
        };
        state.next_seq += 1;
        let count = state.per_name.entry(marker.to_owned()).or_default();
        *count += 1;
        let occurrence = *count - 1;
        Ok(match new {
            true => PatchCall::New(Call {
                seq,
                occurrence,
                recorded: None,
            }),
            false => PatchCall::Marked,
        })
    }

    /// Takes the next position for a call of step `name`, checking it against the record.
    pub(crate) fn call(&self, name: &str) -> Result<Call, super::StepError> {
        let mut state = self.lock();
        if let Some(interrupted) = &state.interrupted {
            return Err(super::StepError::Interrupted(interrupted.reason.clone()));
        }
        while self.passed_marker(state.next_seq, name) {
            state.next_seq += 1;
        }
        let seq = state.next_seq;
        state.next_seq += 1;
        let occurrence = {
            let count = state.per_name.entry(name.to_owned()).or_default();
            *count += 1;
            *count - 1
        };
        let recorded = self.recorded.get(&seq).cloned();
        if let Some(record) = &recorded {
            if record.name != name || record.occurrence != occurrence {
                let reason = TaskError::NonDeterministic(format!(
                    "step #{seq} is recorded as {:?} (occurrence {}) but this run asks for {name:?} (occurrence {occurrence})",
                    record.name, record.occurrence
                ))
                .to_string();
                state.interrupted = Some(Interruption {
                    reason: reason.clone(),
                    retryable: false,
                    suspend_until: None,
                });
                return Err(super::StepError::Interrupted(reason));
            }
        }
        Ok(Call {
            seq,
            occurrence,
            recorded,
        })
    }

    pub(crate) fn interrupt(&self, reason: String, retryable: bool) -> super::StepError {
        self.stop(Interruption {
            reason,
            retryable,
            suspend_until: None,
        })
    }

    /// Ends this run of the body so that the execution sleeps until `until`.
    pub(crate) fn suspend(&self, until: chrono::DateTime<chrono::Utc>) -> super::StepError {
        // Wake at the deadline at the latest, to fail the execution then.
        let until = self.deadline.map_or(until, |deadline| until.min(deadline));
        self.stop(Interruption {
            reason: format!("suspended until {until}"),
            retryable: false,
            suspend_until: Some(until),
        })
    }

    fn stop(&self, interruption: Interruption) -> super::StepError {
        let mut state = self.lock();
        let first = state.interrupted.get_or_insert(interruption);
        super::StepError::Interrupted(first.reason.clone())
    }

    /// The instant a recorded timer or deadline step (`{"until": ...}`) holds.
    pub(crate) fn recorded_deadline(
        &self,
        record: &StepRecord,
    ) -> Result<chrono::DateTime<chrono::Utc>, super::StepError> {
        match &record.outcome {
            StepOutcome::Completed(value) => value
                .get("until")
                .and_then(|until| serde_json::from_value(until.clone()).ok())
                .ok_or_else(|| {
                    self.interrupt(format!("{:?} has a malformed record", record.name), false)
                }),
            StepOutcome::Failed(_) | StepOutcome::Retrying { .. } => Err(self.interrupt(
                format!(
                    "{:?} is recorded as a failed or retrying step, not a timer",
                    record.name
                ),
                false,
            )),
        }
    }

    /// Writes a step's checkpoint, fenced by the lease.
    pub(crate) async fn save(&self, record: StepRecord) -> Result<(), super::StepError> {
        let Some(runtime) = &self.runtime else {
            return Ok(());
        };
        let mut pause = Duration::from_millis(100);
        for attempt in 1..=SAVE_ATTEMPTS {
            match runtime
                .checkpoints
                .save(&runtime.lease, record.clone())
                .await
            {
                Ok(Checkpointed::Saved) => return Ok(()),
                Ok(Checkpointed::Cancelled) => {
                    return Err(self.interrupt(
                        format!(
                            "cancelled while running (stopped at step {:?})",
                            record.name
                        ),
                        false,
                    ))
                }
                Ok(Checkpointed::Refused) => {
                    return Err(self.interrupt(
                        format!(
                            "the worker lost the execution's lease before step {:?} was recorded",
                            record.name
                        ),
                        false,
                    ))
                }
                Err(error) if attempt == SAVE_ATTEMPTS => {
                    return Err(self.interrupt(
                        format!(
                            "step {:?} ran but its checkpoint could not be written: {error}",
                            record.name
                        ),
                        true,
                    ))
                }
                Err(error) => {
                    tracing::warn!(%error, step = record.name, "writing a checkpoint failed; retrying");
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
            }
        }
        Ok(())
    }

    /// What ends the execution regardless of its body: an interruption, or recorded
    /// steps a successful run never asked for.
    fn verdict(&self, completed: bool) -> Option<Interruption> {
        let state = self.lock();
        if let Some(interrupted) = &state.interrupted {
            return Some(interrupted.clone());
        }
        if !completed {
            return None;
        }
        // Markers of changes the body no longer asks about are not steps it skipped.
        let mut unasked: Vec<&StepRecord> = self
            .recorded
            .values()
            .filter(|record| record.seq >= state.next_seq)
            .filter(|record| !record.name.starts_with(PATCH_PREFIX))
            .collect();
        unasked.sort_by_key(|record| record.seq);
        unasked.first().map(|record| Interruption {
            reason: TaskError::NonDeterministic(format!(
                "step #{} {:?} is recorded, but this run completed without asking for it",
                record.seq, record.name
            ))
            .to_string(),
            retryable: false,
            suspend_until: None,
        })
    }
}

/// Runs a durable body for `instance`: loads its step log (one query) when a worker runs
/// it, and reports, beside the body's own result, anything that ends the execution
/// regardless of it. Outside a worker (a unit test calling the handler) steps simply run.
pub(crate) async fn run_body<T>(
    instance: &TaskInstance,
    deadline: Option<Duration>,
    body: impl Future<Output = Result<T, TaskError>>,
) -> Result<(Result<T, TaskError>, Option<Interruption>), SchedulerTaskError> {
    let runtime = RUNTIME.try_with(Runtime::clone).ok();
    let deadline = match (&runtime, deadline) {
        (Some(runtime), Some(limit)) => Some((limit, super::later(runtime.created_at, limit))),
        _ => None,
    };
    let passed = |limit: Duration| {
        TaskError::Permanent(format!("the execution's deadline of {limit:?} passed"))
    };
    if let Some((limit, at)) = deadline {
        if now() >= at {
            return Ok((Err(passed(limit)), None));
        }
    }
    let recorded = match &runtime {
        Some(Runtime {
            steps: Some(steps), ..
        }) => steps.to_vec(),
        Some(runtime) => runtime
            .store
            .load_steps(&instance.task_id)
            .await
            .map_err(|error| {
                SchedulerTaskError::failed(format!("loading checkpoints failed: {error}"))
            })?,
        None => Vec::new(),
    };
    let context = Arc::new(ExecutionContext {
        runtime,
        deadline: deadline.map(|(_, at)| at),
        recorded: recorded.into_iter().map(|r| (r.seq, r)).collect(),
        state: Mutex::new(CallState::default()),
    });
    let scoped = EXECUTION.scope(context.clone(), body);
    let output = match deadline {
        Some((limit, at)) => {
            let remaining = (at - now()).to_std().unwrap_or_default();
            tokio::time::timeout(remaining, scoped)
                .await
                .unwrap_or_else(|_| Err(passed(limit)))
        }
        None => scoped.await,
    };
    let verdict = context.verdict(output.is_ok());
    Ok((output, verdict))
}
