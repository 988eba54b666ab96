//! The tick decisions, with the clock driven by hand.

use std::time::Duration;

use chrono::{DateTime, NaiveTime, TimeZone, Utc};

use super::*;
use crate::recurring::RecurringTask;
use zart_schedule::TimeWindow;

fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
    match Utc.with_ymd_and_hms(2026, 1, 5, h, m, s) {
        chrono::LocalResult::Single(t) => t,
        _ => panic!("invalid test instant"),
    }
}

fn hourly() -> RecurringTask {
    let schedule = Schedule::cron("0 * * * *", "UTC").unwrap_or_else(|e| panic!("{e}"));
    RecurringTask::new("report", "make-report", schedule)
}

fn input(task: &RecurringTask, next_slot: DateTime<Utc>, now: DateTime<Utc>) -> TickInput {
    TickInput {
        schedule: ScheduleInfo {
            task: task.clone(),
            state: ScheduleState::Active,
            occurrence: 0,
            next_slot: Some(next_slot),
            buffered_slot: None,
            trigger_requested: false,
            last_finished_at: None,
        },
        active_runs: Vec::new(),
        now,
    }
}

fn started(occurrence: u64) -> Decision {
    Decision::Started {
        occurrence,
        catch_up: false,
        manual: false,
    }
}

fn caught_up(occurrence: u64) -> Decision {
    Decision::Started {
        occurrence,
        catch_up: true,
        manual: false,
    }
}

fn due(at: DateTime<Utc>) -> NextTick {
    NextTick::Due {
        at,
        wake_on_finish: false,
    }
}

#[test]
fn a_slot_on_time_starts_a_run_and_schedules_the_next_tick() {
    let task = hourly();
    let plan = plan_tick(&input(&task, at(1, 0, 0), at(1, 0, 0)));
    assert_eq!(plan.slots, [(at(1, 0, 0), started(0))]);
    assert_eq!(plan.occurrence, 1);
    assert_eq!(plan.tick, due(at(2, 0, 0)));
    assert_eq!(plan.next_slot, Some(at(2, 0, 0)));
}

#[test]
fn a_slot_late_within_the_grace_is_not_missed() {
    let task = hourly();
    let plan = plan_tick(&input(&task, at(1, 0, 0), at(1, 0, 45)));
    assert_eq!(
        plan.slots,
        [(at(1, 0, 0), started(0))],
        "45 s late: a busy worker, not a missed slot"
    );
}

#[test]
fn missed_slots_are_skipped_by_default() {
    let task = hourly();
    // Workers were down from before 01:00 until 03:00:10.
    let plan = plan_tick(&input(&task, at(1, 0, 0), at(3, 0, 10)));
    assert_eq!(
        plan.slots,
        [
            (at(1, 0, 0), Decision::Skipped(SkipReason::Missed)),
            (at(2, 0, 0), Decision::Skipped(SkipReason::Missed)),
            (at(3, 0, 0), started(0)),
        ]
    );
    assert_eq!(plan.tick, due(at(4, 0, 0)));
    // Back at 03:30: even the 03:00 slot is half an hour old, so missed too.
    let plan = plan_tick(&input(&task, at(1, 0, 0), at(3, 30, 0)));
    assert!(plan
        .slots
        .iter()
        .all(|(_, d)| *d == Decision::Skipped(SkipReason::Missed)));
    assert_eq!(plan.slots.len(), 3);
    assert_eq!(plan.occurrence, 0);
    assert_eq!(plan.tick, due(at(4, 0, 0)));
}

#[test]
fn catch_up_once_runs_the_latest_missed_slot() {
    let task = hourly().missed(MissedRunPolicy::CatchUpOnce);
    let plan = plan_tick(&input(&task, at(1, 0, 0), at(3, 30, 0)));
    assert_eq!(
        plan.slots,
        [
            (at(1, 0, 0), Decision::Skipped(SkipReason::Missed)),
            (at(2, 0, 0), Decision::Skipped(SkipReason::Missed)),
            (at(3, 0, 0), caught_up(0)),
        ]
    );
}

#[test]
fn replay_all_runs_each_missed_slot_in_order() {
    let task = hourly()
        .missed(MissedRunPolicy::ReplayAll)
        .overlap(OverlapPolicy::AlwaysStart);
    let plan = plan_tick(&input(&task, at(1, 0, 0), at(3, 30, 0)));
    assert_eq!(
        plan.slots,
        [
            (at(1, 0, 0), caught_up(0)),
            (at(2, 0, 0), caught_up(1)),
            (at(3, 0, 0), caught_up(2))
        ]
    );
    // The overlap policy still rules: replays do not run over each other.
    let task = hourly().missed(MissedRunPolicy::ReplayAll);
    let plan = plan_tick(&input(&task, at(1, 0, 0), at(3, 30, 0)));
    assert_eq!(
        plan.slots,
        [
            (at(1, 0, 0), caught_up(0)),
            (at(2, 0, 0), Decision::Skipped(SkipReason::Overlap)),
            (at(3, 0, 0), Decision::Skipped(SkipReason::Overlap)),
        ]
    );
}

#[test]
fn overlap_policies() {
    let running = |task: &RecurringTask| {
        let mut input = input(task, at(2, 0, 0), at(2, 0, 0));
        input.active_runs = vec!["report-0".into()];
        input.schedule.occurrence = 1;
        plan_tick(&input)
    };
    let skip = running(&hourly());
    assert_eq!(
        skip.slots,
        [(at(2, 0, 0), Decision::Skipped(SkipReason::Overlap))]
    );
    assert_eq!(skip.occurrence, 1);

    let always = running(&hourly().overlap(OverlapPolicy::AlwaysStart));
    assert_eq!(always.slots, [(at(2, 0, 0), started(1))]);
    assert!(always.cancel.is_empty());

    let restart = running(&hourly().overlap(OverlapPolicy::CancelAndRestart));
    assert_eq!(restart.slots, [(at(2, 0, 0), started(1))]);
    assert_eq!(restart.cancel, ["report-0"]);

    let buffer = running(&hourly().overlap(OverlapPolicy::BufferOne));
    assert_eq!(buffer.slots, [(at(2, 0, 0), Decision::Buffered)]);
    assert_eq!(buffer.buffered_slot, Some(at(2, 0, 0)));
    assert_eq!(
        buffer.tick,
        NextTick::Due {
            at: at(3, 0, 0),
            wake_on_finish: true
        },
        "the tick wakes when the running run ends"
    );
}

#[test]
fn buffer_one_keeps_one_pending_run_and_starts_it_when_the_running_one_ends() {
    let task = hourly().overlap(OverlapPolicy::BufferOne);
    // 03:00, the 01:00 run still running, the 02:00 slot already buffered.
    let mut still_running = input(&task, at(3, 0, 0), at(3, 0, 0));
    still_running.active_runs = vec!["report-0".into()];
    still_running.schedule.occurrence = 1;
    still_running.schedule.buffered_slot = Some(at(2, 0, 0));
    let plan = plan_tick(&still_running);
    assert_eq!(
        plan.slots,
        [(at(3, 0, 0), Decision::Skipped(SkipReason::Overlap))],
        "at most one pending run"
    );
    assert_eq!(plan.buffered_slot, Some(at(2, 0, 0)));

    // 03:20: the run ended and woke the tick early; the buffered run starts.
    let mut ended = input(&task, at(4, 0, 0), at(3, 20, 0));
    ended.schedule.occurrence = 1;
    ended.schedule.buffered_slot = Some(at(2, 0, 0));
    let plan = plan_tick(&ended);
    assert_eq!(plan.slots, [(at(2, 0, 0), started(1))]);
    assert_eq!(plan.buffered_slot, None);
    assert_eq!(plan.tick, due(at(4, 0, 0)), "the next slot is unchanged");
}

#[test]
fn runs_outside_the_time_window_are_skipped() {
    let t = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap_or(NaiveTime::MIN);
    let window = TimeWindow::new("UTC")
        .unwrap_or_else(|e| panic!("{e}"))
        .segment(t(9), t(17));
    let task = hourly().window(window);
    let night = plan_tick(&input(&task, at(3, 0, 0), at(3, 0, 0)));
    assert_eq!(
        night.slots,
        [(
            at(3, 0, 0),
            Decision::Skipped(SkipReason::OutsideTimeWindow)
        )]
    );
    assert_eq!(night.tick, due(at(4, 0, 0)));
    let day = plan_tick(&input(&task, at(9, 0, 0), at(9, 0, 0)));
    assert_eq!(day.slots, [(at(9, 0, 0), started(0))]);
}

#[test]
fn max_runs_counts_runs_started_and_then_finishes_the_schedule() {
    let task = hourly().max_runs(2).overlap(OverlapPolicy::AlwaysStart);
    let mut second = input(&task, at(2, 0, 0), at(2, 0, 0));
    second.schedule.occurrence = 1;
    let plan = plan_tick(&second);
    assert_eq!(plan.slots, [(at(2, 0, 0), started(1))]);
    assert_eq!(plan.state, ScheduleState::Finished);
    assert_eq!(plan.tick, NextTick::Done);

    // Skipped slots do not count against max_runs.
    let task = hourly().max_runs(1);
    let mut busy = input(&task, at(2, 0, 0), at(2, 0, 0));
    busy.active_runs = vec!["x".into()];
    let plan = plan_tick(&busy);
    assert_eq!(
        plan.slots,
        [(at(2, 0, 0), Decision::Skipped(SkipReason::Overlap))]
    );
    assert_eq!(plan.state, ScheduleState::Active);
}

#[test]
fn fixed_delays_wait_for_the_run_and_count_from_its_end() {
    let schedule =
        Schedule::fixed_delay(Duration::from_secs(600)).unwrap_or_else(|e| panic!("{e}"));
    let task = RecurringTask::new("sync", "sync", schedule);
    let first = plan_tick(&input(&task, at(1, 0, 0), at(1, 0, 0)));
    assert_eq!(first.slots, [(at(1, 0, 0), started(0))]);
    assert_eq!(
        first.tick,
        NextTick::Wait {
            wake_on_finish: true
        }
    );
    assert_eq!(first.next_slot, None);

    // The run took 25 minutes; its end woke the tick.
    let mut woken = input(&task, at(1, 0, 0), at(1, 25, 0));
    woken.schedule.next_slot = None;
    woken.schedule.occurrence = 1;
    woken.schedule.last_finished_at = Some(at(1, 25, 0));
    let plan = plan_tick(&woken);
    assert!(plan.slots.is_empty());
    assert_eq!(
        plan.tick,
        due(at(1, 35, 0)),
        "ten minutes after the end, not after the start"
    );

    let mut due_now = input(&task, at(1, 35, 0), at(1, 35, 2));
    due_now.schedule.occurrence = 1;
    let plan = plan_tick(&due_now);
    assert_eq!(plan.slots, [(at(1, 35, 0), started(1))]);
}

#[test]
fn at_times_finish_when_used_up() {
    let task = RecurringTask::new("once", "once", Schedule::at_times([at(1, 0, 0)]));
    let plan = plan_tick(&input(&task, at(1, 0, 0), at(1, 0, 0)));
    assert_eq!(plan.slots, [(at(1, 0, 0), started(0))]);
    assert_eq!(plan.tick, NextTick::Done);
    assert_eq!(plan.state, ScheduleState::Finished);
}

#[test]
fn a_manual_trigger_runs_now_and_obeys_the_overlap_policy() {
    let task = hourly();
    let mut trigger = input(&task, at(2, 0, 0), at(1, 17, 0));
    trigger.schedule.trigger_requested = true;
    let plan = plan_tick(&trigger);
    assert_eq!(
        plan.slots,
        [(
            at(1, 17, 0),
            Decision::Started {
                occurrence: 0,
                catch_up: false,
                manual: true
            }
        )]
    );
    assert_eq!(
        plan.tick,
        due(at(2, 0, 0)),
        "the regular slots are unchanged"
    );

    trigger.active_runs = vec!["report-3".into()];
    let plan = plan_tick(&trigger);
    assert_eq!(
        plan.slots,
        [(at(1, 17, 0), Decision::Skipped(SkipReason::Overlap))]
    );
}

#[test]
fn a_paused_schedule_parks_its_tick() {
    let task = hourly();
    let mut paused = input(&task, at(1, 0, 0), at(1, 0, 0));
    paused.schedule.state = ScheduleState::Paused;
    let plan = plan_tick(&paused);
    assert!(plan.slots.is_empty());
    assert_eq!(
        plan.tick,
        NextTick::Wait {
            wake_on_finish: false
        }
    );
    assert_eq!(plan.state, ScheduleState::Paused);
}

#[test]
fn a_schedule_far_behind_jumps_ahead_with_bounded_records() {
    let schedule = Schedule::every(Duration::from_secs(1)).unwrap_or_else(|e| panic!("{e}"));
    let task = RecurringTask::new("tick", "tock", schedule);
    let now = at(10, 0, 0);
    let plan = plan_tick(&input(&task, at(0, 0, 0), now));
    assert!(plan.slots.len() <= 101, "{}", plan.slots.len());
    assert_eq!(
        plan.slots.last(),
        Some(&(now, started(0))),
        "the current slot still runs"
    );
    assert_eq!(
        plan.slots.len() - 1 + plan.unrecorded_skips,
        36_000,
        "every missed slot is accounted for"
    );
    assert_eq!(plan.tick, due(at(10, 0, 1)));
}
