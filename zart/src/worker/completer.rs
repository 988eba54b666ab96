//! Stores attempt outcomes in batches: one statement for every plain outcome that piled up
//! while the previous batch was being written, one transaction per completion that
//! schedules follow-ups.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, OwnedSemaphorePermit};

use zart_core::queue::{Lease, Outcome, OutcomeKind};
use zart_core::store::Store;
use zart_core::task::{NewTask, TaskStatus, TraceContext};

use super::wake::Wakes;
use crate::enqueue::missing_ids;
use crate::metrics::AttemptLabels;
use crate::observe::TaskEvent;
use crate::recurring::{Decision, ScheduleState, SkipReason, TickReport};
use crate::task::Completion;

use super::executor::Finished;
use super::Observers;

/// Most outcomes written by one statement.
const MAX_BATCH: usize = 1000;

/// A finished attempt on its way to the store. The permit keeps the worker's slot taken
/// until the outcome is stored, so a slow store slows claiming instead of piling up
/// unstored outcomes.
pub(crate) struct Report {
    pub lease: Lease,
    /// The task's priority, which its follow-ups inherit.
    pub priority: i16,
    pub finished: Finished,
    pub elapsed: Duration,
    pub labels: AttemptLabels,
    /// The attempt's span context, which its follow-ups are traced under.
    pub trace_context: Option<TraceContext>,
    pub permit: OwnedSemaphorePermit,
}

/// What the completer keeps of an attempt besides its outcome.
struct Attempted {
    elapsed: Duration,
    labels: AttemptLabels,
    trace_context: Option<TraceContext>,
}

pub(crate) struct Completer {
    pub store: Arc<dyn Store>,
    pub observers: Observers,
    pub wake: Wakes,
    /// How long to keep retrying a failed write: past the lease, the tasks will have been
    /// rescued and the outcome would be fenced out anyway.
    pub give_up_after: Duration,
}

impl Completer {
    /// Writes reports until every sender is gone and the channel is drained.
    pub(crate) async fn run(self, mut reports: mpsc::UnboundedReceiver<Report>) {
        let mut batch = Vec::new();
        while let Some(first) = reports.recv().await {
            batch.push(first);
            while batch.len() < MAX_BATCH {
                match reports.try_recv() {
                    Ok(report) => batch.push(report),
                    Err(_) => break,
                }
            }
            self.flush(std::mem::take(&mut batch)).await;
        }
    }

    pub(super) async fn flush(&self, batch: Vec<Report>) {
        let mut plain = Vec::with_capacity(batch.len());
        let mut chained = Vec::new();
        // The permits are released only once the whole batch is written.
        let mut permits = Vec::with_capacity(batch.len());
        for Report {
            lease,
            finished,
            elapsed,
            labels,
            trace_context,
            permit,
            priority,
        } in batch
        {
            permits.push(permit);
            crate::metrics::attempt_ran(&labels, elapsed);
            let ran = Attempted {
                elapsed,
                labels,
                trace_context,
            };
            let kind = match finished {
                Finished::Completed(completion) if completion.follow_ups().next().is_some() => {
                    chained.push((lease, completion, ran, priority));
                    continue;
                }
                Finished::Completed(completion) => OutcomeKind::Completed {
                    result: completion.into_parts().0,
                },
                Finished::Failed(kind) => kind,
                Finished::Tick(report) => {
                    self.ticked(&lease, report);
                    continue;
                }
            };
            plain.push((Outcome { lease, kind }, ran));
        }
        for (lease, completion, ran, priority) in chained {
            if let Some(fallback) = self
                .complete_with_follow_ups(&lease, completion, &ran, priority)
                .await
            {
                plain.push((fallback, ran));
            }
        }
        self.finish(plain).await;
        drop(permits);
    }

    /// Completes one task with its follow-ups. When they cannot be scheduled (an id
    /// exists, or the database refuses the data), the task is not completed either: the
    /// returned outcome fails it.
    async fn complete_with_follow_ups(
        &self,
        lease: &Lease,
        completion: Completion,
        ran: &Attempted,
        priority: i16,
    ) -> Option<Outcome> {
        // A follow-up runs at the priority it names, else at its scheduler's, and is traced
        // as a child of the attempt that scheduled it.
        let (result, follow_ups) = completion.into_parts();
        let follow_ups: Vec<NewTask> = follow_ups
            .into_iter()
            .map(|(task, own)| NewTask {
                trace_context: ran.trace_context.clone(),
                ..task.with_priority(own.unwrap_or(priority))
            })
            .collect();
        let attempt =
            || complete_with_follow_ups(self.store.as_ref(), lease, result.as_ref(), &follow_ups);
        let error = match self
            .retrying("completing a task with follow-ups", attempt)
            .await?
        {
            Ok(FollowUpCompletion::Completed) => {
                crate::metrics::completed_with_follow_ups(&ran.labels, &follow_ups);
                self.observers.emit(|| TaskEvent::Completed {
                    task_id: lease.task_id.clone(),
                    elapsed: ran.elapsed,
                });
                return None;
            }
            Ok(FollowUpCompletion::LeaseLost) => {
                self.lease_lost(&lease.task_id);
                return None;
            }
            Ok(FollowUpCompletion::Cancelled) => {
                tracing::info!(
                    task_id = lease.task_id,
                    "cancelled while running; follow-ups discarded"
                );
                return None;
            }
            Ok(FollowUpCompletion::Conflict(ids)) => format!(
                "completed, but its follow-up task id(s) already exist: {}; \
                 nothing was scheduled and the task is not completed",
                ids.join(", ")
            ),
            Err(rejection) => format!(
                "completed, but the database refused its result or follow-ups: {rejection}; \
                 nothing was scheduled and the task is not completed"
            ),
        };
        Some(Outcome {
            lease: lease.clone(),
            kind: OutcomeKind::Failed { error },
        })
    }

    /// Stores outcomes in one statement. Should the database refuse the statement (one
    /// result it cannot hold poisons the batch), each outcome is stored alone, and one
    /// that is still refused is replaced by a failure saying why.
    async fn finish(&self, outcomes: Vec<(Outcome, Attempted)>) {
        if outcomes.is_empty() {
            return;
        }
        let (outcomes, ran): (Vec<Outcome>, Vec<Attempted>) = outcomes.into_iter().unzip();
        match self
            .retrying("storing task outcomes", || self.store.finish(&outcomes))
            .await
        {
            None => {}
            Some(Ok(stored)) => self.report(outcomes.into_iter().zip(ran), &stored),
            Some(Err(rejection)) => {
                tracing::warn!(%rejection, tasks = outcomes.len(), "outcome batch refused; storing one by one");
                for (outcome, ran) in outcomes.into_iter().zip(ran) {
                    self.finish_alone(outcome, ran).await;
                }
            }
        }
    }

    async fn finish_alone(&self, outcome: Outcome, ran: Attempted) {
        let one = std::slice::from_ref;
        let rejection = match self
            .retrying("storing a task outcome", || {
                self.store.finish(one(&outcome))
            })
            .await
        {
            None => return,
            Some(Ok(stored)) => return self.report([(outcome, ran)], &stored),
            Some(Err(rejection)) => rejection,
        };
        let fallback = Outcome {
            lease: outcome.lease,
            kind: OutcomeKind::Failed {
                error: format!("its outcome could not be stored: {rejection}"),
            },
        };
        match self
            .retrying("storing a task failure", || {
                self.store.finish(one(&fallback))
            })
            .await
        {
            None => {}
            Some(Ok(stored)) => self.report([(fallback, ran)], &stored),
            Some(Err(error)) => {
                tracing::error!(%error, "the database refused even the failure of a task; its lease will expire")
            }
        }
    }

    /// Logs and emits what became of stored outcomes; ids missing from `stored` had lost
    /// their lease.
    fn report(&self, outcomes: impl IntoIterator<Item = (Outcome, Attempted)>, stored: &[String]) {
        let stored: std::collections::HashSet<&str> = stored.iter().map(String::as_str).collect();
        for (outcome, ran) in outcomes {
            let task_id = outcome.lease.task_id;
            if !stored.contains(task_id.as_str()) {
                self.lease_lost(&task_id);
                continue;
            }
            crate::metrics::outcome_stored(&ran.labels, &outcome.kind);
            let elapsed = ran.elapsed;
            match outcome.kind {
                OutcomeKind::Completed { .. } => {
                    tracing::debug!(task_id, "task completed");
                    self.observers
                        .emit(|| TaskEvent::Completed { task_id, elapsed });
                }
                OutcomeKind::Retry { error, run_at } => {
                    tracing::info!(task_id, %error, %run_at, "task attempt failed; retry scheduled");
                    self.wake.due_at(run_at);
                    self.observers.emit(|| TaskEvent::Failed {
                        task_id,
                        error,
                        retry_at: Some(run_at),
                    });
                }
                OutcomeKind::Suspended { run_at } => {
                    tracing::debug!(task_id, %run_at, "task suspended");
                    self.wake.due_at(run_at);
                }
                OutcomeKind::Failed { error } => {
                    tracing::warn!(task_id, %error, "task failed");
                    self.observers.emit(|| TaskEvent::Failed {
                        task_id,
                        error,
                        retry_at: None,
                    });
                }
            }
        }
    }

    /// A tick stored its own outcome: log and report its decisions.
    fn ticked(&self, lease: &Lease, report: Option<TickReport>) {
        let Some(report) = report else {
            return self.lease_lost(&lease.task_id);
        };
        let schedule_id = report.schedule_id.as_str();
        if report.unrecorded_skips > 0 {
            tracing::warn!(
                schedule_id,
                skipped = report.unrecorded_skips,
                "schedule far behind: missed slots skipped without a record"
            );
        }
        for id in &report.cancelled {
            tracing::info!(
                schedule_id,
                task_id = id,
                "earlier run cancelled (cancel_and_restart)"
            );
        }
        // Missed slots are said in one line a tick: a schedule that was down for a while
        // misses many, and a line each flooded the log.
        let mut missed: Option<(
            usize,
            chrono::DateTime<chrono::Utc>,
            chrono::DateTime<chrono::Utc>,
        )> = None;
        for record in report.slots {
            match &record.decision {
                Decision::Started {
                    occurrence,
                    catch_up: true,
                    ..
                } => {
                    tracing::info!(schedule_id, slot = %record.slot, occurrence, task_id = ?record.task_id, "caught up a missed slot")
                }
                Decision::Started {
                    occurrence,
                    manual: true,
                    ..
                } => {
                    tracing::info!(schedule_id, occurrence, task_id = ?record.task_id, "fired by hand")
                }
                Decision::Started { occurrence, .. } => {
                    tracing::info!(schedule_id, slot = %record.slot, occurrence, task_id = ?record.task_id, "fired")
                }
                Decision::Buffered => {
                    tracing::info!(schedule_id, slot = %record.slot, "overlapped: run buffered")
                }
                Decision::Skipped(SkipReason::Missed) => {
                    let (count, first, last) = missed.unwrap_or((0, record.slot, record.slot));
                    missed = Some((count + 1, first.min(record.slot), last.max(record.slot)));
                }
                Decision::Skipped(SkipReason::Overlap) => {
                    tracing::info!(schedule_id, slot = %record.slot, "overlapped: slot skipped")
                }
                Decision::Skipped(reason) => {
                    tracing::info!(schedule_id, slot = %record.slot, %reason, "slot skipped")
                }
            }
            self.observers.emit(|| TaskEvent::Slot {
                schedule_id: schedule_id.to_owned(),
                slot: record.slot,
                decision: record.decision,
                task_id: record.task_id,
            });
        }
        if let Some((count, first, last)) = missed {
            tracing::warn!(schedule_id, count, %first, %last, "missed: slots skipped");
        }
        match report.state {
            ScheduleState::Paused => tracing::info!(schedule_id, "paused: tick parked"),
            ScheduleState::Finished => tracing::info!(schedule_id, "schedule finished"),
            _ => {}
        }
        if let Some(next) = report.next_slot {
            self.wake.due_at(next);
        }
    }

    fn lease_lost(&self, task_id: &str) {
        tracing::warn!(
            task_id,
            "lease lost before the outcome was stored; outcome discarded"
        );
        self.observers.emit(|| TaskEvent::LeaseLost {
            task_id: task_id.to_owned(),
        });
    }

    /// Runs `write` until it succeeds (`Some(Ok)`), the database refuses it so that running
    /// it again cannot help (`Some(Err)`), or `give_up_after` has passed (`None`: the
    /// leases will expire and the tasks be rescued).
    async fn retrying<T, E, F, Fut>(
        &self,
        what: &'static str,
        mut write: F,
    ) -> Option<crate::error::Result<T>>
    where
        E: Into<crate::error::Error>,
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        let deadline = tokio::time::Instant::now() + self.give_up_after;
        let mut pause = Duration::from_millis(50);
        loop {
            match write().await.map_err(Into::into) {
                Ok(value) => return Some(Ok(value)),
                Err(error) if error.is_rejection() => return Some(Err(error)),
                Err(error) if tokio::time::Instant::now() + pause < deadline => {
                    tracing::warn!(%error, what, "write failed; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                Err(error) => {
                    tracing::error!(%error, what, "write failed; giving up (the leases will expire and the tasks be rescued)");
                    return None;
                }
            }
        }
    }
}

/// How a completion with follow-up tasks went.
enum FollowUpCompletion {
    /// The task is completed and every follow-up scheduled.
    Completed,
    /// The lease was lost: nothing was written.
    LeaseLost,
    /// These follow-up ids already exist: nothing was written.
    Conflict(Vec<String>),
    /// The task was cancelled while it ran: it ended cancelled, no follow-up scheduled.
    Cancelled,
}

/// Completes a task, stores its result and schedules its follow-ups in one unit of work:
/// all of it, or nothing.
async fn complete_with_follow_ups(
    store: &dyn Store,
    lease: &Lease,
    result: Option<&serde_json::Value>,
    follow_ups: &[NewTask],
) -> crate::error::Result<FollowUpCompletion> {
    let mut work = store.begin().await?;
    match work.complete(lease, result).await? {
        None => return Ok(FollowUpCompletion::LeaseLost),
        Some(TaskStatus::Cancelled) => {
            work.commit().await?;
            return Ok(FollowUpCompletion::Cancelled);
        }
        Some(_) => {}
    }
    let inserted = work.insert(follow_ups, None).await?;
    if inserted.len() < follow_ups.len() {
        // Dropping the unit of work rolls the completion back too.
        return Ok(FollowUpCompletion::Conflict(missing_ids(
            follow_ups, &inserted,
        )));
    }
    work.commit().await?;
    Ok(FollowUpCompletion::Completed)
}
