//! What a tick does: the pure decision, from a schedule's state and the time, to runs to
//! start, slots to skip, runs to cancel and the next tick. The store applies the plan in
//! one transaction; tests drive the clock by hand.

use chrono::{DateTime, Utc};

use super::{MissedRunPolicy, OverlapPolicy, ScheduleInfo, ScheduleState};
use zart_schedule::Schedule;

/// Most due slots one tick looks at one by one; past that, the older ones are dropped
/// unrecorded (they would be skipped or replayed by the thousand).
const MAX_DUE_SLOTS: usize = 1000;
/// Most skipped slots one tick records in the history.
const MAX_RECORDED_SKIPS: usize = 100;

/// What a tick knows: its schedule as stored (its `next_slot` is the slot the tick was
/// scheduled for, `None` while a fixed delay waits for its run), the schedule's runs that
/// are pending or running, and the time.
#[derive(Clone, Debug)]
pub(crate) struct TickInput {
    pub schedule: ScheduleInfo,
    /// Ids of the schedule's runs that are pending or running.
    pub active_runs: Vec<String>,
    pub now: DateTime<Utc>,
}

/// What became of one slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// A run started.
    Started {
        /// The run's number.
        occurrence: u64,
        /// It makes up for a missed slot.
        catch_up: bool,
        /// It was triggered by hand.
        manual: bool,
    },
    /// The run waits for the running one to end ([`OverlapPolicy::BufferOne`]).
    Buffered,
    /// No run, for this reason.
    Skipped(SkipReason),
}

/// Why a slot started no run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SkipReason {
    /// No worker ran it in time, and the [`MissedRunPolicy`] does not make it up.
    Missed,
    /// An earlier run was still pending or running ([`OverlapPolicy`]).
    Overlap,
    /// The run would have started outside the schedule's time window.
    OutsideTimeWindow,
    /// The schedule had started `max_runs` runs already.
    MaxRuns,
    /// A later slot of the same tick replaced it ([`OverlapPolicy::CancelAndRestart`]).
    Superseded,
    /// A task with the run's id already existed (scheduled by other means).
    RunIdExists,
}

impl SkipReason {
    /// The name recorded in the history: `missed`, `overlap`, `outside_time_window`,
    /// `max_runs`, `superseded` or `run_id_exists`.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::Missed => "missed",
            SkipReason::Overlap => "overlap",
            SkipReason::OutsideTimeWindow => "outside_time_window",
            SkipReason::MaxRuns => "max_runs",
            SkipReason::Superseded => "superseded",
            SkipReason::RunIdExists => "run_id_exists",
        }
    }
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// When the tick runs next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NextTick {
    /// At the next slot; `wake_on_finish`: also as soon as a run ends.
    Due {
        at: DateTime<Utc>,
        wake_on_finish: bool,
    },
    /// Parked until woken: by a run ending (`wake_on_finish`) or by a resume.
    Wait { wake_on_finish: bool },
    /// Never: the schedule is over (or stopped).
    Done,
}

/// What a tick does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TickPlan {
    /// Each slot's decision, in slot order.
    pub slots: Vec<(DateTime<Utc>, Decision)>,
    /// Runs to cancel before the new one starts.
    pub cancel: Vec<String>,
    pub occurrence: u64,
    pub next_slot: Option<DateTime<Utc>>,
    pub buffered_slot: Option<DateTime<Utc>>,
    pub state: ScheduleState,
    pub tick: NextTick,
    /// Missed slots past what the history records.
    pub unrecorded_skips: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Buffered,
    Missed,
    Current,
    Manual,
}

pub(crate) fn plan_tick(input: &TickInput) -> TickPlan {
    let schedule = &input.schedule;
    let task = &schedule.task;
    let now = input.now;
    let mut plan = TickPlan {
        slots: Vec::new(),
        cancel: Vec::new(),
        occurrence: schedule.occurrence,
        next_slot: schedule.next_slot,
        buffered_slot: schedule.buffered_slot,
        state: schedule.state,
        tick: NextTick::Done,
        unrecorded_skips: 0,
    };
    match schedule.state {
        ScheduleState::Active => {}
        ScheduleState::Paused => {
            plan.tick = NextTick::Wait {
                wake_on_finish: false,
            };
            return plan;
        }
        ScheduleState::Stopped | ScheduleState::Finished => return plan,
    }

    let mut active = input.active_runs.len();
    let mut candidates: Vec<(DateTime<Utc>, Kind)> = Vec::new();
    if let Some(buffered) = schedule.buffered_slot.filter(|_| active == 0) {
        candidates.push((buffered, Kind::Buffered));
        plan.buffered_slot = None;
    }
    let fixed_delay = match task.schedule {
        Schedule::FixedDelay { delay } => Some(delay),
        _ => None,
    };
    let mut last_due = None;
    if let Some(delay) = fixed_delay {
        if active == 0 {
            let slot = schedule.next_slot.or_else(|| {
                let since = schedule.last_finished_at.unwrap_or(now);
                since.checked_add_signed(chrono::Duration::from_std(delay).ok()?)
            });
            plan.next_slot = slot;
            if let Some(slot) = slot.filter(|slot| *slot <= now) {
                candidates.push((slot, Kind::Current));
                plan.next_slot = None;
            }
        }
    } else if let Some(first) = schedule.next_slot.filter(|slot| *slot <= now) {
        let mut due = vec![first];
        due.extend(task.schedule.slots_between(first, now, MAX_DUE_SLOTS));
        let mut dropped = 0;
        if due.len() > MAX_DUE_SLOTS {
            // Far behind: jump to the latest due slot, dropping the ones between.
            while let Some(next) = due
                .last()
                .and_then(|last| task.schedule.next_after(*last, *last))
            {
                if next > now {
                    break;
                }
                let len = due.len();
                due[len - 1] = next;
                dropped += 1;
            }
        }
        plan.unrecorded_skips = dropped;
        let latest = due.last().copied().unwrap_or(first);
        last_due = Some(latest);
        let late_but_current = (now - latest)
            .to_std()
            .map(|late| late <= task.grace)
            .unwrap_or(true);
        let missed: &[DateTime<Utc>] = match late_but_current {
            true => &due[..due.len() - 1],
            false => &due[..],
        };
        match task.missed {
            MissedRunPolicy::Skip => skip_missed(&mut plan, missed),
            MissedRunPolicy::CatchUpOnce => {
                if let Some((last, earlier)) = missed.split_last() {
                    skip_missed(&mut plan, earlier);
                    candidates.push((*last, Kind::Missed));
                }
            }
            MissedRunPolicy::ReplayAll => {
                candidates.extend(missed.iter().map(|slot| (*slot, Kind::Missed)))
            }
        }
        if late_but_current {
            candidates.push((latest, Kind::Current));
        }
    }
    if schedule.trigger_requested {
        candidates.push((now, Kind::Manual));
    }

    let last_candidate = candidates.len().checked_sub(1);
    for (index, (slot, kind)) in candidates.into_iter().enumerate() {
        let decision = if task.max_runs.is_some_and(|max| plan.occurrence >= max) {
            Decision::Skipped(SkipReason::MaxRuns)
        } else if task
            .window
            .as_ref()
            .is_some_and(|window| !window.contains(now))
        {
            Decision::Skipped(SkipReason::OutsideTimeWindow)
        } else if task.overlap == OverlapPolicy::CancelAndRestart && Some(index) != last_candidate {
            // Only the newest slot of a tick survives: starting the others only to cancel
            // them at once would be pointless.
            Decision::Skipped(SkipReason::Superseded)
        } else if active > 0 && task.overlap == OverlapPolicy::SkipIfRunning {
            Decision::Skipped(SkipReason::Overlap)
        } else if active > 0 && task.overlap == OverlapPolicy::BufferOne {
            if plan.buffered_slot.is_none() {
                plan.buffered_slot = Some(slot);
                Decision::Buffered
            } else {
                Decision::Skipped(SkipReason::Overlap)
            }
        } else {
            if active > 0 && task.overlap == OverlapPolicy::CancelAndRestart {
                plan.cancel = input.active_runs.clone();
                active = 0;
            }
            active += 1;
            plan.occurrence += 1;
            Decision::Started {
                occurrence: plan.occurrence - 1,
                catch_up: kind == Kind::Missed,
                manual: kind == Kind::Manual,
            }
        };
        plan.slots.push((slot, decision));
    }

    let wake_on_finish = plan.buffered_slot.is_some() || (fixed_delay.is_some() && active > 0);
    if fixed_delay.is_some() {
        plan.tick = match (active > 0, plan.next_slot) {
            (true, _) => {
                plan.next_slot = None;
                NextTick::Wait {
                    wake_on_finish: true,
                }
            }
            (false, Some(at)) => NextTick::Due { at, wake_on_finish },
            (false, None) => NextTick::Done,
        };
    } else {
        if let Some(latest) = last_due {
            plan.next_slot = task.schedule.next_after(latest, now);
        }
        plan.tick = match plan.next_slot {
            Some(at) => NextTick::Due { at, wake_on_finish },
            None if wake_on_finish => NextTick::Wait { wake_on_finish },
            None => NextTick::Done,
        };
    }
    if task.max_runs.is_some_and(|max| plan.occurrence >= max) {
        plan.next_slot = None;
        plan.buffered_slot = None;
        plan.tick = NextTick::Done;
    }
    if plan.tick == NextTick::Done {
        plan.state = ScheduleState::Finished;
    }
    plan
}

fn skip_missed(plan: &mut TickPlan, missed: &[DateTime<Utc>]) {
    let recorded = missed.len().saturating_sub(MAX_RECORDED_SKIPS);
    plan.unrecorded_skips += recorded;
    plan.slots.extend(
        missed[recorded..]
            .iter()
            .map(|slot| (*slot, Decision::Skipped(SkipReason::Missed))),
    );
}

#[cfg(test)]
mod tests;
