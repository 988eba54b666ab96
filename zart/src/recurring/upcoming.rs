//! The slots a stored schedule will come to next, as the admin and the CLI show them.

use chrono::{DateTime, Utc};
use zart_core::schedule::Schedule;
use zart_core::schedules::{ScheduleInfo, ScheduleState};

/// A slot a schedule will come to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpcomingSlot {
    /// When.
    pub at: DateTime<Utc>,
    /// Whether it falls outside the schedule's time window (it will be skipped).
    pub outside_window: bool,
}

/// The next `limit` slots of `schedule`, from its stored next slot: none unless it is
/// active, at most as many as its `max_runs` leaves, and only the first of a fixed delay
/// (the ones after it count from the end of a run that has not happened).
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use zart::recurring::{upcoming, RecurringTask, ScheduleInfo, ScheduleState};
/// use zart::schedule::Schedule;
///
/// let first = Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0).unwrap();
/// let daily = RecurringTask::new("daily", "report", Schedule::cron_utc("0 9 * * *").unwrap());
/// let info = ScheduleInfo {
///     task: daily,
///     state: ScheduleState::Active,
///     occurrence: 0,
///     next_slot: Some(first),
///     buffered_slot: None,
///     trigger_requested: false,
///     last_finished_at: None,
/// };
/// let slots = upcoming(&info, 3);
/// assert_eq!(slots.len(), 3);
/// assert_eq!(slots[2].at, Utc.with_ymd_and_hms(2026, 1, 7, 9, 0, 0).unwrap());
/// ```
pub fn upcoming(schedule: &ScheduleInfo, limit: usize) -> Vec<UpcomingSlot> {
    let task = &schedule.task;
    let left = task
        .max_runs
        .map(|max| usize::try_from(max.saturating_sub(schedule.occurrence)).unwrap_or(usize::MAX))
        .unwrap_or(usize::MAX);
    let (ScheduleState::Active, Some(first)) = (schedule.state, schedule.next_slot) else {
        return Vec::new();
    };
    let limit = match task.schedule {
        Schedule::FixedDelay { .. } => limit.min(1),
        _ => limit,
    };
    let mut slots = Vec::new();
    let mut next = Some(first);
    // Slots outside the window are skipped without a run: they do not use up max_runs.
    let mut runs = 0;
    while let Some(at) = next {
        if slots.len() >= limit || runs >= left {
            break;
        }
        let outside_window = task.window.as_ref().is_some_and(|w| !w.contains(at));
        if !outside_window {
            runs += 1;
        }
        slots.push(UpcomingSlot { at, outside_window });
        next = task.schedule.next_after(at, at);
    }
    slots
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::TimeZone;
    use zart_core::schedule::TimeWindow;
    use zart_core::schedules::RecurringTask;

    use super::*;

    fn info(schedule: Schedule, state: ScheduleState) -> ScheduleInfo {
        ScheduleInfo {
            task: RecurringTask::new("s", "job", schedule),
            state,
            occurrence: 0,
            next_slot: Some(monday_nine()),
            buffered_slot: None,
            trigger_requested: false,
            last_finished_at: None,
        }
    }

    fn monday_nine() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 5, 9, 0, 0)
            .single()
            .unwrap_or_default()
    }

    fn hourly() -> Schedule {
        Schedule::every(Duration::from_secs(3600)).unwrap_or(Schedule::AtTimes { times: vec![] })
    }

    #[test]
    fn only_an_active_schedule_comes_to_slots() {
        for state in [
            ScheduleState::Paused,
            ScheduleState::Stopped,
            ScheduleState::Finished,
        ] {
            assert_eq!(upcoming(&info(hourly(), state), 5), vec![], "{state:?}");
        }
        let slots = upcoming(&info(hourly(), ScheduleState::Active), 5);
        assert_eq!(slots.len(), 5);
        assert_eq!(slots[4].at, monday_nine() + chrono::Duration::hours(4));
    }

    #[test]
    fn max_runs_counts_the_runs_left_and_window_skips_use_none() {
        let mut capped = info(hourly(), ScheduleState::Active);
        capped.task = capped.task.max_runs(5);
        capped.occurrence = 3;
        assert_eq!(upcoming(&capped, 5).len(), 2, "two runs left");

        let window = TimeWindow::parse("UTC", "mon-fri 10:00-12:00");
        let mut windowed = info(hourly(), ScheduleState::Active);
        windowed.task = windowed.task.max_runs(1);
        if let Ok(window) = window {
            windowed.task = windowed.task.window(window);
        }
        let slots = upcoming(&windowed, 5);
        let outside: Vec<_> = slots.iter().map(|s| s.outside_window).collect();
        assert_eq!(
            outside,
            vec![true, false],
            "09:00 is skipped, 10:00 is the one run"
        );
    }

    #[test]
    fn a_fixed_delay_shows_only_its_next_slot() {
        let delay = Schedule::fixed_delay(Duration::from_secs(60));
        let delay = delay.unwrap_or(Schedule::AtTimes { times: vec![] });
        assert_eq!(upcoming(&info(delay, ScheduleState::Active), 5).len(), 1);
    }
}
