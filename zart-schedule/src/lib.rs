//! When recurring work runs: cron expressions in a time zone, fixed-rate intervals, fixed
//! delays after each run, and explicit instants. Pure functions of time; nothing here
//! touches the database.
//!
//! Every schedule answers two questions:
//! - [`Schedule::first_after`]: the first occurrence of a schedule registered at `now`.
//!   Always in the future: a cron or interval schedule never fires at registration.
//! - [`Schedule::next_after`]: the occurrence after one that was due at `slot` and whose
//!   run ended at `finished` (only [`Schedule::FixedDelay`] looks at `finished`).
//!
//! Schedules are stored as JSON; the form is stable (see [`Schedule`]).
//!
//! This crate is re-exported by `zart` as `zart::schedule`. It stands on its own so that
//! `zart`'s attribute macros validate cron expressions, time zones, durations and windows
//! with the very parsers the runtime uses, when the user's crate compiles.

mod cron;
mod describe;
mod duration;
mod window;

use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

pub use cron::{CronError, CronExpr};
pub use duration::{parse_duration, DurationError};
pub use window::{TimeWindow, WindowError};

/// When a recurring task runs.
///
/// Stored form (JSON), one object with a `kind`:
/// - `{"kind": "cron", "expression": "0 2 * * *", "timezone": "Europe/Berlin"}`
/// - `{"kind": "interval", "every_ms": 60000}`
/// - `{"kind": "fixed_delay", "delay_ms": 5000}`
/// - `{"kind": "at_times", "times": ["2026-01-01T00:00:00Z"]}`
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use zart_schedule::Schedule;
///
/// let nightly = Schedule::cron("0 2 * * *", "Europe/Berlin")?;
/// let now = Utc.with_ymd_and_hms(2026, 6, 1, 12, 0, 0).unwrap();
/// // 02:00 in Berlin in summer is 00:00 UTC.
/// assert_eq!(nightly.first_after(now), Some(Utc.with_ymd_and_hms(2026, 6, 2, 0, 0, 0).unwrap()));
/// # Ok::<(), zart_schedule::ScheduleError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "ScheduleSpec", into = "ScheduleSpec")]
pub enum Schedule {
    /// The slots of a cron expression, as wall-clock times in a time zone (see
    /// [`CronExpr::next_after`] for daylight-saving changes).
    Cron {
        /// The parsed expression.
        expression: CronExpr,
        /// The IANA time zone it is evaluated in.
        timezone: Tz,
    },
    /// Fixed rate: slots `every` apart, anchored at the schedule's first slot, whatever
    /// the runs' durations.
    Interval {
        /// The period.
        every: Duration,
    },
    /// `delay` after the end of the previous run (the first run `delay` after
    /// registration).
    FixedDelay {
        /// The pause between runs.
        delay: Duration,
    },
    /// These instants, in order; an empty list never runs.
    AtTimes {
        /// Sorted, without duplicates.
        times: Vec<DateTime<Utc>>,
    },
}

/// A schedule that cannot be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// The cron expression does not parse.
    #[error(transparent)]
    Cron(#[from] CronError),
    /// Not a time zone name of the IANA database.
    #[error("unknown time zone {0:?}: expected an IANA name such as \"Europe/Berlin\" or \"UTC\"")]
    UnknownTimeZone(String),
    /// Intervals and delays are stored in milliseconds: they must be at least 1 ms.
    #[error("{0} must be at least 1 ms")]
    TooShort(&'static str),
}

/// The IANA time zone named `name` (`"Europe/Berlin"`, `"UTC"`).
///
/// ```
/// assert!(zart_schedule::parse_timezone("Europe/Berlin").is_ok());
/// assert!(zart_schedule::parse_timezone("Europe/Bonn").is_err());
/// ```
pub fn parse_timezone(name: &str) -> Result<Tz, ScheduleError> {
    name.parse::<Tz>()
        .map_err(|_| ScheduleError::UnknownTimeZone(name.to_owned()))
}

impl Schedule {
    /// Cron `expression` evaluated in the IANA time zone `timezone`.
    pub fn cron(expression: &str, timezone: &str) -> Result<Self, ScheduleError> {
        Ok(Schedule::Cron {
            expression: expression.parse()?,
            timezone: parse_timezone(timezone)?,
        })
    }

    /// Cron `expression` evaluated in UTC.
    pub fn cron_utc(expression: &str) -> Result<Self, ScheduleError> {
        Schedule::cron(expression, "UTC")
    }

    /// Fixed rate, one slot every `every`.
    pub fn every(every: Duration) -> Result<Self, ScheduleError> {
        if every < Duration::from_millis(1) {
            return Err(ScheduleError::TooShort("an interval"));
        }
        Ok(Schedule::Interval { every })
    }

    /// Each run `delay` after the previous one ended.
    pub fn fixed_delay(delay: Duration) -> Result<Self, ScheduleError> {
        if delay < Duration::from_millis(1) {
            return Err(ScheduleError::TooShort("a fixed delay"));
        }
        Ok(Schedule::FixedDelay { delay })
    }

    /// At these instants (sorted and deduplicated here).
    pub fn at_times(times: impl IntoIterator<Item = DateTime<Utc>>) -> Self {
        let mut times: Vec<_> = times.into_iter().collect();
        times.sort_unstable();
        times.dedup();
        Schedule::AtTimes { times }
    }

    /// The time zone the schedule is evaluated in (UTC for all but cron).
    pub fn timezone(&self) -> Tz {
        match self {
            Schedule::Cron { timezone, .. } => *timezone,
            _ => Tz::UTC,
        }
    }

    /// The first occurrence for a schedule registered at `now`: strictly after `now`.
    pub fn first_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Schedule::Cron {
                expression,
                timezone,
            } => expression.next_after(now, *timezone),
            Schedule::Interval { every: period } | Schedule::FixedDelay { delay: period } => {
                add(now, *period)
            }
            Schedule::AtTimes { times } => times.iter().find(|t| **t > now).copied(),
        }
    }

    /// The occurrence after the one due at `slot`, whose run ended at `finished`.
    pub fn next_after(
        &self,
        slot: DateTime<Utc>,
        finished: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        match self {
            Schedule::FixedDelay { delay } => add(finished.max(slot), *delay),
            Schedule::Interval { every } => add(slot, *every),
            _ => self.first_after(slot),
        }
    }

    /// The slots after `slot` up to and including `until`, at most `limit` of them: the
    /// occurrences missed while nothing ran. Empty for fixed delays, whose next slot
    /// depends on a run that did not happen.
    pub fn slots_between(
        &self,
        slot: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Vec<DateTime<Utc>> {
        let mut slots = Vec::new();
        if matches!(self, Schedule::FixedDelay { .. }) {
            return slots;
        }
        let mut current = slot;
        while slots.len() < limit {
            match self.next_after(current, current) {
                Some(next) if next <= until => {
                    slots.push(next);
                    current = next;
                }
                _ => break,
            }
        }
        slots
    }
}

fn add(t: DateTime<Utc>, d: Duration) -> Option<DateTime<Utc>> {
    t.checked_add_signed(chrono::Duration::from_std(d).ok()?)
}

/// The stored form of a [`Schedule`].
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
enum ScheduleSpec {
    Cron {
        expression: String,
        timezone: String,
    },
    Interval {
        every_ms: u64,
    },
    FixedDelay {
        delay_ms: u64,
    },
    AtTimes {
        times: Vec<DateTime<Utc>>,
    },
}

impl TryFrom<ScheduleSpec> for Schedule {
    type Error = ScheduleError;

    fn try_from(spec: ScheduleSpec) -> Result<Self, ScheduleError> {
        match spec {
            ScheduleSpec::Cron {
                expression,
                timezone,
            } => Schedule::cron(&expression, &timezone),
            ScheduleSpec::Interval { every_ms } => Schedule::every(Duration::from_millis(every_ms)),
            ScheduleSpec::FixedDelay { delay_ms } => {
                Schedule::fixed_delay(Duration::from_millis(delay_ms))
            }
            ScheduleSpec::AtTimes { times } => Ok(Schedule::at_times(times)),
        }
    }
}

impl From<Schedule> for ScheduleSpec {
    fn from(schedule: Schedule) -> Self {
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        match schedule {
            Schedule::Cron {
                expression,
                timezone,
            } => ScheduleSpec::Cron {
                expression: expression.as_str().to_owned(),
                timezone: timezone.name().to_owned(),
            },
            Schedule::Interval { every } => ScheduleSpec::Interval {
                every_ms: millis(every),
            },
            Schedule::FixedDelay { delay } => ScheduleSpec::FixedDelay {
                delay_ms: millis(delay),
            },
            Schedule::AtTimes { times } => ScheduleSpec::AtTimes { times },
        }
    }
}

#[cfg(test)]
mod tests;
