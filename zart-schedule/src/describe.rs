//! Plain-English descriptions of schedules, for people reading an admin screen.
//!
//! Short phrases are used only where they are exact; anything else falls back to naming
//! each field, which is long but never wrong.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::{CronExpr, Schedule};

const SECONDS_PER_DAY: usize = 86_400;
/// Longer lists, of fire times or of a field's values, read worse than a range.
const MAX_LISTED: usize = 6;
/// From this many, evenly spaced fire times read better as a range than as a list.
const MIN_RANGED_TIMES: usize = 5;
const MAX_LISTED_INSTANTS: usize = 3;
const MONTHS: &str = "January February March April May June July August September October \
                      November December";
// Indexed by cron number with Sunday as 7, so a weekend reads as one run (Friday through
// Sunday) rather than wrapping around the start of the week.
const WEEKDAYS: &str = "Sunday Monday Tuesday Wednesday Thursday Friday Saturday Sunday";

impl CronExpr {
    /// What the expression does, in plain English, for people (the wording may change
    /// between versions; do not parse it).
    ///
    /// When both day-of-month and day-of-week are restricted, the text says "or", as the
    /// expression fires on a day matching either. Times are wall-clock times in the
    /// schedule's time zone; [`Schedule::describe`] names the zone.
    ///
    /// ```
    /// use zart_schedule::CronExpr;
    ///
    /// let describe = |e: &str| e.parse::<CronExpr>().map(|c| c.describe());
    /// assert_eq!(describe("*/5 * * * *")?, "every 5 minutes");
    /// assert_eq!(describe("0 9 * * MON-FRI")?, "at 09:00 on Monday through Friday");
    /// assert_eq!(describe("0 0 13 * 5")?, "at 00:00 on day 13 of the month or on Friday");
    /// # Ok::<(), zart_schedule::CronError>(())
    /// ```
    pub fn describe(&self) -> String {
        let seconds = values(self.second_bits(), 0, 59);
        let minutes = values(self.minute_bits(), 0, 59);
        let hours = values(self.hour_bits(), 0, 23);
        let months = values(self.month_bits(), 1, 12);
        let mut days = values(self.day_of_month_bits(), 1, 31);
        // Sunday (bit 0) goes last, as 7: see WEEKDAYS.
        let mut weekdays = values(self.day_of_week_bits(), 1, 7);
        if self.day_of_week_bits() & 1 != 0 && weekdays.last() != Some(&7) {
            weekdays.push(7);
        }
        let mut either = self.days_match_either();
        // Under "either", an empty day field adds no days: the other one alone decides.
        if either && days.is_empty() {
            (either, days) = (false, (1..=31).collect());
        }
        if either && weekdays.is_empty() {
            (either, weekdays) = (false, (1..=7).collect());
        }
        let fields = [&seconds, &minutes, &hours, &months, &days, &weekdays];
        if fields.iter().any(|field| field.is_empty()) {
            return "never (no time matches)".to_owned();
        }
        let (mut text, separator) = match time_of_day(&seconds, &minutes, &hours) {
            Some(text) => (text, " "),
            // The per-field phrase is long: commas keep the day and month apart from it.
            None => (field_by_field(&seconds, &minutes, &hours), ", "),
        };
        let (day, month) = calendar(&days, &weekdays, &months, either);
        if let Some(day) = &day {
            text += separator;
            text += day;
        }
        if let Some(month) = month {
            text += if day.is_some() { ", " } else { separator };
            text += &month;
        }
        text
    }
}

impl Schedule {
    /// What the schedule does, in plain English, for people (the wording may change
    /// between versions; do not parse it). Cron schedules end with their time zone in
    /// parentheses, UTC included.
    ///
    /// ```
    /// use std::time::Duration;
    /// use zart_schedule::Schedule;
    ///
    /// let nightly = Schedule::cron("0 2 * * *", "Europe/Paris")?;
    /// assert_eq!(nightly.describe(), "at 02:00 (Europe/Paris)");
    /// let poll = Schedule::every(Duration::from_secs(150 * 60))?;
    /// assert_eq!(poll.describe(), "every 2 hours 30 minutes");
    /// let cooldown = Schedule::fixed_delay(Duration::from_secs(15 * 60))?;
    /// assert_eq!(cooldown.describe(), "15 minutes after the previous run ends");
    /// # Ok::<(), zart_schedule::ScheduleError>(())
    /// ```
    pub fn describe(&self) -> String {
        match self {
            Schedule::Cron {
                expression,
                timezone,
            } => format!("{} ({})", expression.describe(), timezone.name()),
            Schedule::Interval { every: period } => every(*period),
            Schedule::FixedDelay { delay } => {
                format!("{} after the previous run ends", duration_words(*delay))
            }
            Schedule::AtTimes { times } => at_times(times),
        }
    }
}

/// The members of a field's bit set, ascending.
fn values(bits: u64, min: u32, max: u32) -> Vec<u32> {
    (min..=max.min(63))
        .filter(|v| bits & (1 << v) != 0)
        .collect()
}

/// A short phrase for the times of day, if one is exact.
fn time_of_day(seconds: &[u32], minutes: &[u32], hours: &[u32]) -> Option<String> {
    let clock = |t: usize| {
        let hm = format!("{:02}:{:02}", t / 3600, t / 60 % 60);
        match seconds {
            [0] => hm,
            _ => format!("{hm}:{:02}", t % 60),
        }
    };
    let times = || {
        hours.iter().flat_map(move |&h| {
            minutes.iter().flat_map(move |&m| {
                let base = h as usize * 3600 + m as usize * 60;
                seconds.iter().map(move |&s| base + s as usize)
            })
        })
    };
    let count = seconds.len() * minutes.len() * hours.len();
    if let Some((first, step, last)) = spacing(times()) {
        let every_step = every(Duration::from_secs(step as u64));
        // Evenly spaced all day long, so "every <step>" needs no bounds.
        let all_day = count.checked_mul(step) == Some(SECONDS_PER_DAY);
        if all_day && first == 0 && count >= 3 {
            return Some(every_step);
        }
        if all_day && step == 60 {
            return Some(format!("at second {first} of every minute"));
        }
        if all_day && step == 3600 && first.is_multiple_of(60) {
            return Some(format!("at minute {} of every hour", first / 60));
        }
        if count >= MIN_RANGED_TIMES {
            let (first, last) = (clock(first), clock(last));
            return Some(format!("{every_step} from {first} through {last}"));
        }
    }
    (count <= MAX_LISTED).then(|| {
        let listed: Vec<String> = times().map(clock).collect();
        format!("at {}", join(&listed, "and"))
    })
}

/// First item, common gap and last item of an ascending sequence of two or more, if
/// evenly spaced.
fn spacing(mut items: impl Iterator<Item = usize>) -> Option<(usize, usize, usize)> {
    let first = items.next()?;
    let second = items.next()?;
    let step = second.saturating_sub(first);
    let last = items.try_fold(second, |last, item| {
        (item.saturating_sub(last) == step).then_some(item)
    })?;
    Some((first, step, last))
}

/// "at second 30 of minutes 0 and 30 past hours 9 through 17": each restricted field
/// named, the finest first.
fn field_by_field(seconds: &[u32], minutes: &[u32], hours: &[u32]) -> String {
    let (mut text, mut cadence) = match seconds {
        [0] => lead(minutes, "minute"),
        _ => lead(seconds, "second"),
    };
    // "every 10 seconds" already says "of every minute", and "every minute" already says
    // "of every hour".
    if seconds != [0] && !(cadence && minutes.len() == 60) {
        text += if cadence { " during " } else { " of " };
        text += &within(minutes, "minute");
        cadence = minutes.len() == 60;
    }
    if hours.len() < 24 {
        text += if cadence { " during " } else { " past " };
        text += &within(hours, "hour");
    } else if !cadence {
        text += " of every hour";
    }
    text
}

/// The opening phrase for the seconds or minutes, and whether it is a cadence ("every 5
/// minutes") rather than positions ("at minutes 5 and 10").
fn lead(values: &[u32], unit: &str) -> (String, bool) {
    match spacing(values.iter().map(|&v| v as usize)) {
        _ if values.len() == 60 => (format!("every {unit}"), true),
        Some((0, step, _)) if values.len() * step == 60 => (format!("every {step} {unit}s"), true),
        _ => (format!("at {}", within(values, unit)), false),
    }
}

/// "minute 5", "hours 9 through 17", or "every minute" for a full field.
fn within(values: &[u32], unit: &str) -> String {
    if values.len() == 60 {
        return format!("every {unit}");
    }
    let listed = list(values, |v| v.to_string(), "and");
    format!("{unit}{} {listed}", plural(values.len() as u64))
}

/// The day phrase and the month phrase, each absent when unrestricted.
fn calendar(
    days: &[u32],
    weekdays: &[u32],
    months: &[u32],
    either: bool,
) -> (Option<String>, Option<String>) {
    let month_name = |m: u32| month_name(m);
    let days_of = |of: &str| {
        let listed = list(days, |d| d.to_string(), "and");
        format!("day{} {listed} of {of}", plural(days.len() as u64))
    };
    let weekday_list = |conj| list(weekdays, |d| name(WEEKDAYS, d), conj);
    let month = (months.len() < 12).then(|| format!("in {}", list(months, month_name, "and")));
    let (in_month, any_weekday) = (days_of("the month"), weekday_list("or"));
    let day = match (days.len() == 31, weekdays.len() == 7) {
        // Under "either", one unrestricted field already admits every day.
        (true, _) | (_, true) if either => None,
        (true, true) => None,
        (false, true) => match (months, days) {
            ([m], [d]) => return (Some(format!("on {} {d}", month_name(*m))), None),
            ([m], _) => return (Some(format!("on {}", days_of(&month_name(*m)))), None),
            _ => Some(format!("on {in_month}")),
        },
        (true, false) => Some(format!("on {}", weekday_list("and"))),
        (false, false) if either => Some(format!("on {in_month} or on {any_weekday}")),
        (false, false) => Some(format!("on {in_month} when it falls on {any_weekday}")),
    };
    (day, month)
}

/// "February" for month 2.
pub(crate) fn month_name(month: u32) -> String {
    name(MONTHS, month.saturating_sub(1))
}

/// The `index`th of space-separated `names`, or the number itself.
fn name(names: &str, index: u32) -> String {
    let name = names.split(' ').nth(index as usize);
    name.map_or_else(|| index.to_string(), str::to_owned)
}

/// "1, 5 and 9 through 17"; a long evenly stepped list reads "0 through 56 in steps of 7".
fn list(values: &[u32], name: impl Fn(u32) -> String, conj: &str) -> String {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for &v in values {
        match runs.last_mut() {
            Some((_, end)) if end.saturating_add(1) == v => *end = v,
            _ => runs.push((v, v)),
        }
    }
    let mut items = Vec::new();
    for (start, end) in runs {
        match end.saturating_sub(start) {
            0 => items.push(name(start)),
            1 => items.extend([name(start), name(end)]),
            _ => items.push(format!("{} through {}", name(start), name(end))),
        }
    }
    match spacing(values.iter().map(|&v| v as usize)) {
        Some((first, step, last)) if items.len() > MAX_LISTED => {
            let (first, last) = (name(first as u32), name(last as u32));
            format!("{first} through {last} in steps of {step}")
        }
        _ => join(&items, conj),
    }
}

/// "a, b and c" (or "or").
pub(crate) fn join(items: &[String], conj: &str) -> String {
    match items.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} {conj} {last}", rest.join(", ")),
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// "2 hours 30 minutes"; zero reads "0 seconds".
fn duration_words(d: Duration) -> String {
    let secs = d.as_secs();
    let parts = [
        (secs / 86_400, "day"),
        (secs / 3600 % 24, "hour"),
        (secs / 60 % 60, "minute"),
        (secs % 60, "second"),
        (u64::from(d.subsec_millis()), "millisecond"),
        (u64::from(d.subsec_nanos() % 1_000_000), "nanosecond"),
    ];
    let words: Vec<String> = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|&(n, unit)| format!("{n} {unit}{}", plural(n)))
        .collect();
    if words.is_empty() {
        "0 seconds".to_owned()
    } else {
        words.join(" ")
    }
}

/// "every hour" rather than "every 1 hour", but "every 1 hour 30 minutes".
fn every(d: Duration) -> String {
    let words = duration_words(d);
    match words.strip_prefix("1 ") {
        Some(unit) if !unit.contains(' ') => format!("every {unit}"),
        _ => format!("every {words}"),
    }
}

fn at_times(times: &[DateTime<Utc>]) -> String {
    let shown: Vec<String> = times
        .iter()
        .take(MAX_LISTED_INSTANTS)
        .map(instant)
        .collect();
    match times.len() {
        0 => "never (no times)".to_owned(),
        n if n <= MAX_LISTED_INSTANTS => format!("at {}", join(&shown, "and")),
        n => format!(
            "at {n} fixed times: {} and {} more",
            shown.join(", "),
            n - MAX_LISTED_INSTANTS
        ),
    }
}

fn instant(t: &DateTime<Utc>) -> String {
    let time = t.time().to_string();
    // Most instants are on the minute, and read better without ":00".
    let time = time.strip_suffix(":00").unwrap_or(&time);
    format!("{} {time} UTC", t.date_naive())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use chrono::{DateTime, TimeZone, Utc};

    use crate::{CronExpr, Schedule, ScheduleError};

    /// `expression | description`, one a line; `#` starts a comment line.
    const CRON: &str = "
        * * * * *               | every minute
        */5 * * * *             | every 5 minutes
        0,20,40 * * * *         | every 20 minutes
        0 9 * * *               | at 09:00
        0 9 * * 1-5             | at 09:00 on Monday through Friday
        0 0 1 * *               | at 00:00 on day 1 of the month
        15 * * * *              | at minute 15 of every hour
        0 9,17 * * *            | at 09:00 and 17:00
        0,30 9,17 * * *         | at 09:00, 09:30, 17:00 and 17:30
        0 2 * * 0               | at 02:00 on Sunday
        0 2 * * 7               | at 02:00 on Sunday
        0 2 * * sun             | at 02:00 on Sunday
        0 0 * * 0,7             | at 00:00 on Sunday
        0 */2 * * *             | every 2 hours
        0 */6 * * *             | every 6 hours
        0 */5 * * *             | every 5 hours from 00:00 through 20:00
        0 0,12 * * *            | at 00:00 and 12:00
        0 1,2,3,5,8 * * *       | at 01:00, 02:00, 03:00, 05:00 and 08:00
        0 9-17 * * MON-FRI      | every hour from 09:00 through 17:00 on Monday through Friday
        */15 9-17 * * 1-5       | every 15 minutes from 09:00 through 17:45 on Monday through Friday
        */7 * * * *             | at minutes 0 through 56 in steps of 7 of every hour
        5,10 * * * *            | at minutes 5 and 10 of every hour
        * 9,17 * * *            | every minute during hours 9 and 17
        0 12 * jan,JUL *        | at 12:00 in January and July
        0 0 1 1-3 *             | at 00:00 on day 1 of the month, in January through March
        0 0 1,15 6 *            | at 00:00 on days 1 and 15 of June
        0 0 29 2 *              | at 00:00 on February 29
        0 9 * 1 1               | at 09:00 on Monday, in January
        0 0 * * 6,0             | at 00:00 on Saturday and Sunday
        0 0 * * 5-7             | at 00:00 on Friday through Sunday
        0 0 * * */2             | at 00:00 on Tuesday, Thursday, Saturday and Sunday
        0 0 ? * 1               | at 00:00 on Monday
        # Both day fields restricted: a day matching either fires.
        0 0 13 * 5              | at 00:00 on day 13 of the month or on Friday
        0 0 1 * MON,FRI         | at 00:00 on day 1 of the month or on Monday or Friday
        0 0 1 * 0-6             | at 00:00
        # A day field starting with '*' is unrestricted: a day must match both.
        0 0 */2 * MON           | at 00:00 on days 1 through 31 in steps of 2 of the month when it falls on Monday
        5,10,20 9-17 1,15 1,7 * | at minutes 5, 10 and 20 past hours 9 through 17, on days 1 and 15 of the month, in January and July
        @hourly                 | every hour
        @daily                  | at 00:00
        @midnight               | at 00:00
        @weekly                 | at 00:00 on Sunday
        @monthly                | at 00:00 on day 1 of the month
        @yearly                 | at 00:00 on January 1
        @annually               | at 00:00 on January 1
        # Seconds are named unless they are just 0.
        0 30 9 * * *            | at 09:30
        30 15 10 * * *          | at 10:15:30
        * * * * * *             | every second
        */30 * * * * *          | every 30 seconds
        30 * * * * *            | at second 30 of every minute
        15,45 * * * * *         | every 30 seconds from 00:00:15 through 23:59:45
        30 15 * * * *           | every hour from 00:15:30 through 23:15:30
        */10 * 9,17 * * *       | every 10 seconds during hours 9 and 17
        */10 */5 9 * * *        | every 10 seconds during minutes 0 through 55 in steps of 5 past hour 9
        30 0,7 * * * MON        | at second 30 of minutes 0 and 7 of every hour, on Monday
        5,10 * * * * *          | at seconds 5 and 10 of every minute
        30 * 9,17 * * *         | at second 30 of every minute during hours 9 and 17
    ";

    #[test]
    fn cron_expressions_read_as_what_they_do() {
        let cases = CRON.lines().map(str::trim);
        for case in cases.filter(|line| !line.is_empty() && !line.starts_with('#')) {
            let Some((expression, expected)) = case.split_once('|') else {
                panic!("no '|' in {case:?}");
            };
            let cron: CronExpr = expression.parse().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(cron.describe(), expected.trim(), "{expression}");
        }
    }

    fn at(day: u32, hour: u32, second: u32) -> DateTime<Utc> {
        match Utc.with_ymd_and_hms(2026, 1, day, hour, 0, second) {
            chrono::LocalResult::Single(t) => t,
            _ => panic!("invalid test instant"),
        }
    }

    #[test]
    fn schedules_name_their_kind_and_time_zone() {
        let ok = |s: Result<Schedule, ScheduleError>| s.unwrap_or_else(|e| panic!("{e}"));
        let minutes = |m: u64| Duration::from_secs(m * 60);
        let check = |schedule: Schedule, expected: &str| {
            assert_eq!(schedule.describe(), expected, "{schedule:?}");
        };
        let paris = ok(Schedule::cron("0 9 * * 1-5", "Europe/Paris"));
        check(paris, "at 09:00 on Monday through Friday (Europe/Paris)");
        check(ok(Schedule::cron_utc("* * * * *")), "every minute (UTC)");
        check(ok(Schedule::every(minutes(15))), "every 15 minutes");
        check(
            ok(Schedule::every(minutes(150))),
            "every 2 hours 30 minutes",
        );
        check(ok(Schedule::every(minutes(60))), "every hour");
        check(
            ok(Schedule::every(minutes(24 * 60 + 1))),
            "every 1 day 1 minute",
        );
        let ms = ok(Schedule::every(Duration::from_millis(1500)));
        check(ms, "every 1 second 500 milliseconds");
        check(
            Schedule::Interval {
                every: Duration::ZERO,
            },
            "every 0 seconds",
        );
        let delay = ok(Schedule::fixed_delay(minutes(15)));
        check(delay, "15 minutes after the previous run ends");
        let delay = ok(Schedule::fixed_delay(Duration::from_secs(1)));
        check(delay, "1 second after the previous run ends");
        check(Schedule::at_times([]), "never (no times)");
        check(Schedule::at_times([at(1, 9, 0)]), "at 2026-01-01 09:00 UTC");
        let two = Schedule::at_times([at(2, 9, 30), at(1, 9, 0)]);
        check(two, "at 2026-01-01 09:00 UTC and 2026-01-02 09:00:30 UTC");
        check(
            Schedule::at_times((1..=5).map(|d| at(d, 12, 0))),
            "at 5 fixed times: 2026-01-01 12:00 UTC, 2026-01-02 12:00 UTC, \
             2026-01-03 12:00 UTC and 2 more",
        );
    }
}
