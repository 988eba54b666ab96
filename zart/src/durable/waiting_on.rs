//! What a suspended durable execution waits for, read from its step log: the admin's
//! "waiting on" and the CLI's.

use chrono::{DateTime, Utc};
use serde_json::Value;
use zart_core::steps::{StepOutcome, StepRecord};
use zart_core::task::{TaskRecord, TaskStatus};

/// What a suspended durable execution waits for.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitingOn {
    /// A durable sleep ([`sleep`](super::sleep)) named `name`, until `until`.
    Sleep {
        /// The sleep's name.
        name: String,
        /// When it ends.
        until: DateTime<Utc>,
    },
    /// Event `name` ([`wait_for_event`](super::wait_for_event)), at most until `deadline`.
    Event {
        /// The event's name.
        name: String,
        /// When the wait times out.
        deadline: DateTime<Utc>,
    },
    /// Child execution `child_id` ([`child`](super::child)) to end, at most until
    /// `deadline`.
    Child {
        /// The child's id.
        child_id: String,
        /// When the wait times out.
        deadline: DateTime<Utc>,
    },
    /// Step `name`'s next attempt, due at `until` after a long retry backoff.
    Retry {
        /// The step's name.
        name: String,
        /// When the next attempt is due.
        until: DateTime<Utc>,
        /// The last attempt's error.
        error: String,
    },
}

impl WaitingOn {
    /// What execution `task`, with step log `steps`, waits for now; `None` if it waits for
    /// nothing (it runs, is due, has ended, or is a plain task).
    ///
    /// ```
    /// use chrono::{Duration, Utc};
    /// use serde_json::json;
    /// use zart::durable::{StepOutcome, StepRecord, WaitingOn};
    ///
    /// let until = Utc::now() + Duration::hours(1);
    /// let sleep = StepRecord {
    ///     seq: 0,
    ///     name: "sleep:cool-down".into(),
    ///     occurrence: 0,
    ///     outcome: StepOutcome::Completed(json!({ "until": until })),
    ///     attempts: 1,
    ///     started_at: Utc::now(),
    ///     finished_at: None,
    ///     failed_attempts: Vec::new(),
    /// };
    /// assert_eq!(
    ///     WaitingOn::in_steps(&[sleep], Utc::now()),
    ///     Some(WaitingOn::Sleep { name: "cool-down".into(), until })
    /// );
    /// ```
    pub fn of(task: &TaskRecord, steps: &[StepRecord]) -> Option<WaitingOn> {
        let now = Utc::now();
        match task.status == TaskStatus::Pending && task.run_at > now {
            true => WaitingOn::in_steps(steps, now),
            false => None,
        }
    }

    /// What a step log that ends with `steps` waits for at `now`, whatever the
    /// execution's status.
    pub fn in_steps(steps: &[StepRecord], now: DateTime<Utc>) -> Option<WaitingOn> {
        let last = steps.last()?;
        if let StepOutcome::Retrying { until, error } = &last.outcome {
            return Some(WaitingOn::Retry {
                name: last.name.clone(),
                until: *until,
                error: error.clone(),
            });
        }
        let until = recorded_until(last)?;
        if let Some(name) = last.name.strip_prefix("sleep:") {
            return (until > now).then(|| WaitingOn::Sleep {
                name: name.to_owned(),
                until,
            });
        }
        // The deadline is recorded as the wait starts; the event step follows it once the
        // event came (or the wait timed out).
        let name = last.name.strip_prefix("event-deadline:")?;
        Some(match name.strip_prefix("child:") {
            Some(child_id) => WaitingOn::Child {
                child_id: child_id.to_owned(),
                deadline: until,
            },
            None => WaitingOn::Event {
                name: name.to_owned(),
                deadline: until,
            },
        })
    }
}

fn recorded_until(step: &StepRecord) -> Option<DateTime<Utc>> {
    match &step.outcome {
        StepOutcome::Completed(Value::Object(fields)) => {
            serde_json::from_value(fields.get("until")?.clone()).ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;
    use serde_json::json;

    fn step(name: &str, outcome: StepOutcome) -> StepRecord {
        StepRecord {
            seq: 0,
            name: name.into(),
            occurrence: 0,
            outcome,
            attempts: 1,
            started_at: Utc::now(),
            finished_at: None,
            failed_attempts: Vec::new(),
        }
    }

    fn until(at: DateTime<Utc>) -> StepOutcome {
        StepOutcome::Completed(json!({ "until": at }))
    }

    #[test]
    fn each_kind_of_wait_is_read_from_the_last_step() {
        let now = Utc::now();
        let later = now + Duration::minutes(5);
        let charge = step("charge", StepOutcome::Completed(json!(1)));
        assert_eq!(
            WaitingOn::in_steps(std::slice::from_ref(&charge), now),
            None,
            "a plain step"
        );
        assert_eq!(WaitingOn::in_steps(&[], now), None, "no step");
        assert_eq!(
            WaitingOn::in_steps(&[charge.clone(), step("sleep:nap", until(later))], now),
            Some(WaitingOn::Sleep {
                name: "nap".into(),
                until: later
            })
        );
        assert_eq!(
            WaitingOn::in_steps(&[step("sleep:nap", until(now - Duration::seconds(1)))], now),
            None,
            "a sleep that is over"
        );
        assert_eq!(
            WaitingOn::in_steps(&[step("event-deadline:paid", until(later))], now),
            Some(WaitingOn::Event {
                name: "paid".into(),
                deadline: later
            })
        );
        assert_eq!(
            WaitingOn::in_steps(
                &[
                    step("event-deadline:paid", until(later)),
                    step("event:paid", until(later))
                ],
                now
            ),
            None,
            "the event came"
        );
        assert_eq!(
            WaitingOn::in_steps(&[step("event-deadline:child:c-1", until(later))], now),
            Some(WaitingOn::Child {
                child_id: "c-1".into(),
                deadline: later
            })
        );
        let retrying = StepOutcome::Retrying {
            until: later,
            error: "busy".into(),
        };
        assert_eq!(
            WaitingOn::in_steps(&[step("charge", retrying)], now),
            Some(WaitingOn::Retry {
                name: "charge".into(),
                until: later,
                error: "busy".into()
            })
        );
    }
}
