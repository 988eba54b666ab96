//! Schedule semantics, with every expected instant written out.

use std::time::Duration;

use chrono::{DateTime, NaiveTime, TimeZone, Utc, Weekday};
use serde_json::json;

use super::*;

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> DateTime<Utc> {
    match Utc.with_ymd_and_hms(y, mo, d, h, mi, s) {
        chrono::LocalResult::Single(t) => t,
        _ => panic!("invalid test instant"),
    }
}

fn cron(expression: &str, tz: &str) -> Schedule {
    Schedule::cron(expression, tz).unwrap_or_else(|e| panic!("{e}"))
}

/// The first `n` occurrences after `from`.
fn run(schedule: &Schedule, from: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    let mut t = schedule.first_after(from);
    while let Some(slot) = t {
        out.push(slot);
        if out.len() == n {
            break;
        }
        t = schedule.next_after(slot, slot);
    }
    out
}

#[test]
fn standard_five_field_cron_runs_every_day_not_once() {
    let nightly = cron("0 2 * * *", "UTC");
    assert_eq!(
        run(&nightly, utc(2026, 1, 1, 3, 0, 0), 3),
        [
            utc(2026, 1, 2, 2, 0, 0),
            utc(2026, 1, 3, 2, 0, 0),
            utc(2026, 1, 4, 2, 0, 0)
        ]
    );
}

#[test]
fn the_first_occurrence_is_never_now() {
    let nightly = cron("0 2 * * *", "UTC");
    assert_eq!(
        nightly.first_after(utc(2026, 1, 1, 2, 0, 0)),
        Some(utc(2026, 1, 2, 2, 0, 0))
    );
    let every_minute = Schedule::every(Duration::from_secs(60)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        every_minute.first_after(utc(2026, 1, 1, 0, 0, 0)),
        Some(utc(2026, 1, 1, 0, 1, 0))
    );
}

#[test]
fn six_fields_put_seconds_first() {
    let quarter_minutes = cron("*/15 * * * * *", "UTC");
    assert_eq!(
        run(&quarter_minutes, utc(2026, 1, 1, 0, 0, 7), 4),
        [
            utc(2026, 1, 1, 0, 0, 15),
            utc(2026, 1, 1, 0, 0, 30),
            utc(2026, 1, 1, 0, 0, 45),
            utc(2026, 1, 1, 0, 1, 0)
        ]
    );
    let odd = cron("30 5 10 * * *", "UTC");
    assert_eq!(
        odd.first_after(utc(2026, 1, 1, 10, 5, 30)),
        Some(utc(2026, 1, 2, 10, 5, 30))
    );
}

#[test]
fn macros() {
    let from = utc(2026, 5, 17, 10, 30, 0); // a Sunday
    let first = |m: &str| cron(m, "UTC").first_after(from);
    assert_eq!(first("@hourly"), Some(utc(2026, 5, 17, 11, 0, 0)));
    assert_eq!(first("@daily"), Some(utc(2026, 5, 18, 0, 0, 0)));
    assert_eq!(first("@midnight"), Some(utc(2026, 5, 18, 0, 0, 0)));
    assert_eq!(first("@weekly"), Some(utc(2026, 5, 24, 0, 0, 0)));
    assert_eq!(first("@monthly"), Some(utc(2026, 6, 1, 0, 0, 0)));
    assert_eq!(first("@yearly"), Some(utc(2027, 1, 1, 0, 0, 0)));
    assert_eq!(first("@annually"), Some(utc(2027, 1, 1, 0, 0, 0)));
}

#[test]
fn restricted_day_of_month_and_day_of_week_match_either() {
    // The 13th or any Friday. April 2026: Fridays 3, 10, 17; the 13th is a Monday.
    let either = cron("0 0 13 * 5", "UTC");
    assert_eq!(
        run(&either, utc(2026, 4, 1, 0, 0, 0), 4),
        [
            utc(2026, 4, 3, 0, 0, 0),
            utc(2026, 4, 10, 0, 0, 0),
            utc(2026, 4, 13, 0, 0, 0),
            utc(2026, 4, 17, 0, 0, 0)
        ]
    );
    // A field starting with '*' is unrestricted: then both must match.
    // Odd days of January 2026 that are Mondays: the 5th and the 19th.
    let both = cron("0 0 */2 * MON", "UTC");
    assert_eq!(
        run(&both, utc(2026, 1, 1, 0, 0, 0), 2),
        [utc(2026, 1, 5, 0, 0, 0), utc(2026, 1, 19, 0, 0, 0)]
    );
}

#[test]
fn leap_days_and_month_ends() {
    let leap = cron("0 0 29 2 *", "UTC");
    assert_eq!(
        run(&leap, utc(2026, 3, 1, 0, 0, 0), 2),
        [utc(2028, 2, 29, 0, 0, 0), utc(2032, 2, 29, 0, 0, 0)]
    );
    let thirty_first = cron("0 0 31 * *", "UTC");
    assert_eq!(
        run(&thirty_first, utc(2026, 1, 31, 1, 0, 0), 3),
        [
            utc(2026, 3, 31, 0, 0, 0),
            utc(2026, 5, 31, 0, 0, 0),
            utc(2026, 7, 31, 0, 0, 0)
        ]
    );
}

#[test]
fn a_cron_whose_days_never_come_is_refused_with_the_reason() {
    let reason = |e: &str| match e.parse::<CronExpr>() {
        Ok(_) => panic!("{e:?} never fires and should be refused"),
        Err(err) => err.reason().to_owned(),
    };
    assert_eq!(reason("0 0 30 2 *"), "day 30 never occurs in February");
    assert_eq!(reason("0 0 31 4 *"), "day 31 never occurs in April");
    assert_eq!(reason("0 0 0 31 2 ?"), "day 31 never occurs in February");
    assert_eq!(
        reason("0 0 30,31 feb *"),
        "days 30 and 31 never occur in February"
    );
    assert_eq!(
        reason("0 0 31 2,4,6,9,11 *"),
        "day 31 never occurs in February, April, June, September or November"
    );
    // A day-of-week starting with '*' is unrestricted: the day of the month must match.
    assert_eq!(reason("0 0 31 4 */2"), "day 31 never occurs in April");
    // The error names the expression, whether built in code or read from storage.
    assert_eq!(
        Schedule::cron("0 0 30 2 *", "UTC").map_err(|e| e.to_string()),
        Err("invalid cron expression \"0 0 30 2 *\": day 30 never occurs in February".into())
    );
    let stored = json!({"kind": "cron", "expression": "0 0 31 4 *", "timezone": "UTC"});
    let read = serde_json::from_value::<Schedule>(stored).map_err(|e| e.to_string());
    assert_eq!(
        read,
        Err("invalid cron expression \"0 0 31 4 *\": day 31 never occurs in April".into())
    );
}

#[test]
fn crons_on_rare_days_are_kept_and_fire() {
    let from = utc(2026, 1, 1, 0, 0, 0);
    // Both day fields restricted: a day matching either fires, so Mondays in February.
    assert_eq!(
        run(&cron("0 0 30 2 1", "UTC"), from, 2),
        [utc(2026, 2, 2, 0, 0, 0), utc(2026, 2, 9, 0, 0, 0)]
    );
    // One month of the list has the day.
    assert_eq!(
        cron("0 0 31 2,3 *", "UTC").first_after(from),
        Some(utc(2026, 3, 31, 0, 0, 0))
    );
    // A day-of-month starting with '*' holds the 1st.
    assert_eq!(
        cron("0 0 */30 2 *", "UTC").first_after(from),
        Some(utc(2026, 2, 1, 0, 0, 0))
    );
    // The rarest days: a leap day on a Sunday comes in 2088, then not until 2128, as 2100
    // is no leap year.
    assert_eq!(
        cron("0 0 29 2 */7", "UTC").first_after(utc(2088, 3, 1, 0, 0, 0)),
        Some(utc(2128, 2, 29, 0, 0, 0))
    );
}

#[test]
fn names_ranges_lists_and_sunday_as_seven() {
    let weekday_mornings = cron("0 9 * jan-Mar Mon-FRI", "UTC");
    // Friday 2026-03-27, then Monday 2026-03-30, then nothing until January.
    assert_eq!(
        run(&weekday_mornings, utc(2026, 3, 27, 0, 0, 0), 4),
        [
            utc(2026, 3, 27, 9, 0, 0),
            utc(2026, 3, 30, 9, 0, 0),
            utc(2026, 3, 31, 9, 0, 0),
            utc(2027, 1, 1, 9, 0, 0)
        ]
    );
    // 2026-05-17 is a Sunday: 7 and 0 both name it.
    for sunday in ["0 0 * * 7", "0 0 * * 0", "0 0 * * sun"] {
        assert_eq!(
            run(&cron(sunday, "UTC"), utc(2026, 5, 12, 0, 0, 0), 2),
            [utc(2026, 5, 17, 0, 0, 0), utc(2026, 5, 24, 0, 0, 0)],
            "{sunday}"
        );
    }
    let list = cron("5,10-12,50/5 0 1 1 *", "UTC");
    let minutes: Vec<u32> = run(&list, utc(2025, 12, 31, 0, 0, 0), 6)
        .iter()
        .map(chrono::Timelike::minute)
        .collect();
    assert_eq!(minutes, [5, 10, 11, 12, 50, 55]);
}

#[test]
fn malformed_expressions_are_refused_with_the_reason() {
    let reason = |e: &str| match e.parse::<CronExpr>() {
        Ok(_) => panic!("{e:?} should be refused"),
        Err(err) => err.reason().to_owned(),
    };
    assert_eq!(
        reason("0 2 * *"),
        "expected 5 fields (minute hour day-of-month month day-of-week) or 6 (second first), found 4"
    );
    assert_eq!(
        reason("61 * * * *"),
        "minute field \"61\": 61 is out of range 0-59"
    );
    assert_eq!(
        reason("0 0 L * *"),
        "day-of-month field \"L\": \"L\" is not a number (L, W and # are not supported)"
    );
    assert_eq!(
        reason("*/0 * * * *"),
        "minute field \"*/0\": a step of 0 never advances"
    );
    assert_eq!(
        reason("0 5-2 * * *"),
        "hour field \"5-2\": range 5-2 runs backwards"
    );
    assert_eq!(
        reason("0 0 * FOO *"),
        "month field \"FOO\": \"FOO\" is not a number or a name like JAN"
    );
    assert!(reason("@every_minute").starts_with("unknown macro"));
    assert_eq!(
        Schedule::cron("0 2 * * *", "Mars/Olympus"),
        Err(ScheduleError::UnknownTimeZone("Mars/Olympus".into()))
    );
}

#[test]
fn a_slot_in_a_spring_forward_gap_runs_once_when_the_gap_ends() {
    // Berlin, 2026-03-29: 02:00 CET jumps to 03:00 CEST (01:00 UTC).
    let half_past_two = cron("30 2 * * *", "Europe/Berlin");
    assert_eq!(
        run(&half_past_two, utc(2026, 3, 28, 12, 0, 0), 2),
        [utc(2026, 3, 29, 1, 0, 0), utc(2026, 3, 30, 0, 30, 0)]
    );
    // Four slots inside the gap run once, together.
    let quarters = cron("*/15 2 * * *", "Europe/Berlin");
    assert_eq!(
        run(&quarters, utc(2026, 3, 28, 12, 0, 0), 6),
        [
            utc(2026, 3, 29, 1, 0, 0),
            utc(2026, 3, 30, 0, 0, 0),
            utc(2026, 3, 30, 0, 15, 0),
            utc(2026, 3, 30, 0, 30, 0),
            utc(2026, 3, 30, 0, 45, 0),
            utc(2026, 3, 31, 0, 0, 0),
        ]
    );
    // New York, 2026-03-08: 02:00 EST jumps to 03:00 EDT (07:00 UTC).
    let two = cron("0 2 * * *", "America/New_York");
    assert_eq!(
        run(&two, utc(2026, 3, 7, 12, 0, 0), 2),
        [utc(2026, 3, 8, 7, 0, 0), utc(2026, 3, 9, 6, 0, 0)]
    );
}

#[test]
fn a_slot_in_a_fall_back_overlap_runs_once() {
    // Berlin, 2026-10-25: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice
    // (00:30 and 01:30 UTC). It runs at the first, not again at the second.
    let half_past_two = cron("30 2 * * *", "Europe/Berlin");
    assert_eq!(
        run(&half_past_two, utc(2026, 10, 24, 12, 0, 0), 2),
        [utc(2026, 10, 25, 0, 30, 0), utc(2026, 10, 26, 1, 30, 0)]
    );
    // Registered during the second pass, a slot whose first pass is over waits for the
    // next day.
    assert_eq!(
        half_past_two.first_after(utc(2026, 10, 25, 1, 10, 0)),
        Some(utc(2026, 10, 26, 1, 30, 0))
    );
    // Hourly slots are wall-clock times too: the repeated 02:00 runs once.
    let hourly = cron("0 * * * *", "Europe/Berlin");
    assert_eq!(
        run(&hourly, utc(2026, 10, 24, 23, 30, 0), 3),
        [
            utc(2026, 10, 25, 0, 0, 0),
            utc(2026, 10, 25, 2, 0, 0),
            utc(2026, 10, 25, 3, 0, 0)
        ]
    );
}

#[test]
fn intervals_keep_their_rate_and_fixed_delays_follow_the_run() {
    let start = utc(2026, 1, 1, 0, 0, 0);
    let rate = Schedule::every(Duration::from_secs(10)).unwrap_or_else(|e| panic!("{e}"));
    let slot = rate.first_after(start).unwrap_or(start);
    assert_eq!(slot, utc(2026, 1, 1, 0, 0, 10));
    // A run that took 25 s does not move the grid.
    assert_eq!(
        rate.next_after(slot, utc(2026, 1, 1, 0, 0, 35)),
        Some(utc(2026, 1, 1, 0, 0, 20))
    );

    let delay = Schedule::fixed_delay(Duration::from_secs(10)).unwrap_or_else(|e| panic!("{e}"));
    let slot = delay.first_after(start).unwrap_or(start);
    assert_eq!(slot, utc(2026, 1, 1, 0, 0, 10));
    assert_eq!(
        delay.next_after(slot, utc(2026, 1, 1, 0, 0, 35)),
        Some(utc(2026, 1, 1, 0, 0, 45))
    );

    assert_eq!(
        Schedule::every(Duration::ZERO),
        Err(ScheduleError::TooShort("an interval"))
    );
    assert_eq!(
        Schedule::fixed_delay(Duration::from_micros(10)),
        Err(ScheduleError::TooShort("a fixed delay"))
    );
}

#[test]
fn at_times_run_in_order_and_an_empty_list_never_runs() {
    let times = Schedule::at_times([
        utc(2026, 3, 1, 0, 0, 0),
        utc(2026, 1, 1, 0, 0, 0),
        utc(2026, 2, 1, 0, 0, 0),
        utc(2026, 1, 1, 0, 0, 0),
    ]);
    assert_eq!(
        run(&times, utc(2026, 1, 1, 0, 0, 0), 10),
        [utc(2026, 2, 1, 0, 0, 0), utc(2026, 3, 1, 0, 0, 0)],
        "past instants are not run at registration, duplicates once"
    );
    assert_eq!(
        Schedule::at_times([]).first_after(utc(2026, 1, 1, 0, 0, 0)),
        None
    );
}

#[test]
fn missed_slots_are_enumerated_in_order() {
    let hourly = cron("0 * * * *", "UTC");
    assert_eq!(
        hourly.slots_between(utc(2026, 1, 1, 0, 0, 0), utc(2026, 1, 1, 3, 30, 0), 100),
        [
            utc(2026, 1, 1, 1, 0, 0),
            utc(2026, 1, 1, 2, 0, 0),
            utc(2026, 1, 1, 3, 0, 0)
        ]
    );
    assert_eq!(
        hourly
            .slots_between(utc(2026, 1, 1, 0, 0, 0), utc(2026, 1, 2, 0, 0, 0), 2)
            .len(),
        2
    );
    let delay = Schedule::fixed_delay(Duration::from_secs(1)).unwrap_or_else(|e| panic!("{e}"));
    assert!(delay
        .slots_between(utc(2026, 1, 1, 0, 0, 0), utc(2026, 1, 2, 0, 0, 0), 10)
        .is_empty());
}

#[test]
fn the_stored_form_is_stable() {
    let cases = [
        (
            cron("0 2 * * *", "Europe/Berlin"),
            json!({"kind": "cron", "expression": "0 2 * * *", "timezone": "Europe/Berlin"}),
        ),
        (
            Schedule::every(Duration::from_secs(60)).unwrap_or_else(|e| panic!("{e}")),
            json!({"kind": "interval", "every_ms": 60000}),
        ),
        (
            Schedule::fixed_delay(Duration::from_millis(5000)).unwrap_or_else(|e| panic!("{e}")),
            json!({"kind": "fixed_delay", "delay_ms": 5000}),
        ),
        (
            Schedule::at_times([utc(2026, 1, 1, 0, 0, 0)]),
            json!({"kind": "at_times", "times": ["2026-01-01T00:00:00Z"]}),
        ),
    ];
    for (schedule, stored) in cases {
        assert_eq!(serde_json::to_value(&schedule).ok(), Some(stored.clone()));
        let back: Schedule = serde_json::from_value(stored).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, schedule);
    }
    let bad = serde_json::from_value::<Schedule>(
        json!({"kind": "cron", "expression": "0 2 * *", "timezone": "UTC"}),
    );
    assert!(bad.is_err_and(|e| e.to_string().contains("expected 5 fields")));
    let unknown =
        serde_json::from_value::<Schedule>(json!({"kind": "interval", "every_ms": 5, "jitter": 1}));
    assert!(unknown.is_err());
}

#[test]
fn time_windows_cover_weekdays_and_segments_across_midnight() {
    let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN);
    let nights = TimeWindow::new("UTC")
        .unwrap_or_else(|e| panic!("{e}"))
        .weekdays([Weekday::Fri])
        .segment(t(22, 0), t(2, 0));
    // 2026-03-06 is a Friday.
    assert!(
        nights.contains(utc(2026, 3, 6, 22, 0, 0)),
        "start is inside"
    );
    assert!(
        nights.contains(utc(2026, 3, 7, 1, 59, 0)),
        "Saturday morning belongs to Friday's segment"
    );
    assert!(!nights.contains(utc(2026, 3, 7, 2, 0, 0)), "end is outside");
    assert!(
        !nights.contains(utc(2026, 3, 7, 22, 30, 0)),
        "Saturday's own evening is not allowed"
    );
    assert!(
        !nights.contains(utc(2026, 3, 6, 1, 0, 0)),
        "Friday morning belongs to Thursday"
    );

    let berlin_mornings = TimeWindow::new("Europe/Berlin")
        .unwrap_or_else(|e| panic!("{e}"))
        .segment(t(9, 0), t(12, 0));
    assert!(
        berlin_mornings.contains(utc(2026, 7, 1, 7, 0, 0)),
        "09:00 CEST"
    );
    assert!(
        !berlin_mornings.contains(utc(2026, 7, 1, 10, 0, 0)),
        "12:00 CEST"
    );

    let stored = serde_json::to_value(&nights).unwrap_or_default();
    assert_eq!(
        stored,
        json!({"timezone": "UTC", "weekdays": ["Fri"], "segments": [["22:00:00", "02:00:00"]]})
    );
    let back: TimeWindow = serde_json::from_value(stored).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, nights);
}

#[test]
fn window_literals_parse_into_the_windows_they_name() {
    let built = TimeWindow::new("Europe/Berlin")
        .unwrap_or_else(|e| panic!("{e}"))
        .weekdays([Weekday::Fri, Weekday::Sat, Weekday::Sun, Weekday::Mon])
        .segment(time(22, 0), time(2, 0))
        .segment(time(9, 0), time(10, 30));
    let parsed = TimeWindow::parse("Europe/Berlin", "fri-mon 22:00-02:00 09:00-10:30");
    assert_eq!(parsed, Ok(built));
    let list = TimeWindow::parse("UTC", "SAT,sun").unwrap_or_else(|e| panic!("{e}"));
    assert!(list.contains(utc(2026, 3, 7, 12, 0, 0))); // a Saturday
    assert!(!list.contains(utc(2026, 3, 6, 12, 0, 0))); // a Friday
}

#[test]
fn window_literals_name_what_is_wrong() {
    let cases = [
        ("UTC", "", "empty"),
        ("UTC", "mon-fry", "\"fry\" is not a weekday"),
        ("UTC", "monday", "\"monday\" is not a weekday"),
        ("UTC", "09:00", "not a time segment"),
        ("UTC", "09:00-25:00", "\"25:00\" is not a time of day"),
        ("Mars/Olympus", "mon", "unknown time zone"),
    ];
    for (tz, spec, reason) in cases {
        let error = TimeWindow::parse(tz, spec).err();
        assert!(
            error.as_ref().is_some_and(|e| e.reason().contains(reason)),
            "{spec}: {error:?}"
        );
    }
}

fn time(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap_or_else(|| panic!("invalid test time"))
}
