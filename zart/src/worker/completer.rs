//! Stores attempt outcomes in batches: one statement for every plain outcome that piled up
//! while the previous batch was being written, one transaction per completion that
//! schedules follow-ups.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, OwnedSemaphorePermit};

use crate::backend::{FollowUpCompletion, Lease, Outcome, OutcomeKind, TaskBackend, WakeSignal};
use crate::observer::TaskEvent;
use crate::task::OnComplete;

use super::executor::Finished;
use super::Observers;

/// Most outcomes written by one statement.
const MAX_BATCH: usize = 1000;

/// A finished attempt on its way to the store. The permit keeps the worker's slot taken
/// until the outcome is stored, so a slow store slows claiming instead of piling up
/// unstored outcomes.
pub(crate) struct Report {
    pub lease: Lease,
    pub finished: Finished,
    pub elapsed: Duration,
    pub permit: OwnedSemaphorePermit,
}

pub(crate) struct Completer {
    pub backend: Arc<dyn TaskBackend>,
    pub observers: Observers,
    pub wake: WakeSignal,
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

    async fn flush(&self, batch: Vec<Report>) {
        let mut plain = Vec::with_capacity(batch.len());
        let mut chained = Vec::new();
        // The permits are released only once the whole batch is written.
        let mut permits = Vec::with_capacity(batch.len());
        for Report {
            lease,
            finished,
            elapsed,
            permit,
        } in batch
        {
            permits.push(permit);
            let kind = match finished {
                Finished::Completed(completion) if !completion.schedule_next.is_empty() => {
                    chained.push((lease, completion, elapsed));
                    continue;
                }
                Finished::Completed(OnComplete { result, .. }) => OutcomeKind::Completed { result },
                Finished::Failed(kind) => kind,
            };
            plain.push((Outcome { lease, kind }, elapsed));
        }
        for (lease, completion, elapsed) in chained {
            if let Some(fallback) = self
                .complete_with_follow_ups(&lease, completion, elapsed)
                .await
            {
                plain.push((fallback, elapsed));
            }
        }
        self.finish(plain).await;
        drop(permits);
    }

    /// Completes one task with its follow-ups. When a follow-up cannot be scheduled (its
    /// id exists), the task is not completed either: the returned outcome fails it.
    async fn complete_with_follow_ups(
        &self,
        lease: &Lease,
        completion: OnComplete,
        elapsed: Duration,
    ) -> Option<Outcome> {
        let attempt = || {
            self.backend.complete_with_follow_ups(
                lease,
                completion.result.clone(),
                completion.schedule_next.clone(),
            )
        };
        match self
            .retrying("completing a task with follow-ups", attempt)
            .await?
        {
            FollowUpCompletion::Completed => {
                self.observers.emit(|| TaskEvent::Completed {
                    task_id: lease.task_id.clone(),
                    elapsed,
                });
                None
            }
            FollowUpCompletion::LeaseLost => {
                self.lease_lost(&lease.task_id);
                None
            }
            FollowUpCompletion::Conflict(ids) => Some(Outcome {
                lease: lease.clone(),
                kind: OutcomeKind::Failed {
                    error: format!(
                        "completed, but its follow-up task id(s) already exist: {}; \
                         nothing was scheduled and the task is not completed",
                        ids.join(", ")
                    ),
                },
            }),
        }
    }

    async fn finish(&self, outcomes: Vec<(Outcome, Duration)>) {
        if outcomes.is_empty() {
            return;
        }
        let (outcomes, elapsed): (Vec<Outcome>, Vec<Duration>) = outcomes.into_iter().unzip();
        let Some(stored) = self
            .retrying("storing task outcomes", || self.backend.finish(&outcomes))
            .await
        else {
            return;
        };
        let stored: std::collections::HashSet<&str> = stored.iter().map(String::as_str).collect();
        for (outcome, elapsed) in outcomes.into_iter().zip(elapsed) {
            let task_id = outcome.lease.task_id;
            if !stored.contains(task_id.as_str()) {
                self.lease_lost(&task_id);
                continue;
            }
            match outcome.kind {
                OutcomeKind::Completed { .. } => {
                    tracing::debug!(task_id, "task completed");
                    self.observers
                        .emit(|| TaskEvent::Completed { task_id, elapsed });
                }
                OutcomeKind::Retry { error, run_at } => {
                    tracing::info!(task_id, %error, %run_at, "task attempt failed; retry scheduled");
                    self.wake.due_at_millis(run_at.timestamp_millis());
                    self.observers.emit(|| TaskEvent::Failed {
                        task_id,
                        error,
                        retry_at: Some(run_at),
                    });
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

    fn lease_lost(&self, task_id: &str) {
        tracing::warn!(
            task_id,
            "lease lost before the outcome was stored; outcome discarded"
        );
        self.observers.emit(|| TaskEvent::LeaseLost {
            task_id: task_id.to_owned(),
        });
    }

    /// Runs `write` until it succeeds or `give_up_after` has passed.
    async fn retrying<T, F, Fut>(&self, what: &'static str, mut write: F) -> Option<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = crate::Result<T>>,
    {
        let deadline = tokio::time::Instant::now() + self.give_up_after;
        let mut pause = Duration::from_millis(50);
        loop {
            match write().await {
                Ok(value) => return Some(value),
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
