//! Cron expressions: parsing, and the next matching instant in a time zone.
//!
//! Accepted forms:
//! - five fields: `minute hour day-of-month month day-of-week`;
//! - six fields: `second minute hour day-of-month month day-of-week`;
//! - `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily` (`@midnight`), `@hourly`.
//!
//! Each field takes `*`, a value, a range `a-b`, a step `*/n`, `a-b/n` or `a/n` (from `a`
//! to the field's end), and comma-separated lists of these. Months take `JAN`..`DEC` and
//! days of the week `SUN`..`SAT` (any case); day-of-week 0 and 7 are both Sunday. `?`
//! means `*` in the day fields. `L`, `W` and `#` are not supported and are refused.
//!
//! As in Vixie cron, when both day-of-month and day-of-week are restricted (neither field
//! starts with `*`), a day matching either one fires; otherwise a day must match both.
//! An expression whose days never come (`0 0 30 2 *`) is refused, with the reason.

use std::fmt;
use std::str::FromStr;

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone,
    Timelike, Utc,
};
use chrono_tz::Tz;

use crate::describe::{join, month_name};

/// How far ahead a search looks for the next slot. Every expression that parses fires
/// again within it: the rarest days are a leap day on a given weekday (`0 0 29 2 */7`,
/// where a day field starting with `*` makes both fields count), which recur up to 40
/// years apart when a century year skips its leap day (2088, then 2128).
const SEARCH_YEARS: i32 = 40;

/// A parsed cron expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CronExpr {
    source: String,
    seconds: u64,
    minutes: u64,
    hours: u32,
    days_of_month: u32,
    months: u16,
    days_of_week: u8,
    day_of_month_star: bool,
    day_of_week_star: bool,
}

/// Why a cron expression was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid cron expression {expression:?}: {reason}")]
pub struct CronError {
    expression: String,
    reason: String,
}

impl CronError {
    /// What was wrong, without the expression.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

#[derive(Clone, Copy)]
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const SECOND: Field = Field {
    name: "second",
    min: 0,
    max: 59,
    names: &[],
};
const MINUTE: Field = Field {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: Field = Field {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
const DAY_OF_MONTH: Field = Field {
    name: "day-of-month",
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: Field = Field {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
};
// 7 is accepted as Sunday and folded onto 0 after parsing.
const DAY_OF_WEEK: Field = Field {
    name: "day-of-week",
    min: 0,
    max: 7,
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
};

impl FromStr for CronExpr {
    type Err = CronError;

    fn from_str(expression: &str) -> Result<Self, CronError> {
        let fail = |reason: String| CronError {
            expression: expression.to_owned(),
            reason,
        };
        let trimmed = expression.trim();
        let expanded = match trimmed.to_ascii_lowercase().as_str() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            other if other.starts_with('@') => {
                return Err(fail(format!(
                    "unknown macro {trimmed:?}; use @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly"
                )))
            }
            _ => trimmed,
        };
        let fields: Vec<&str> = expanded.split_whitespace().collect();
        let (second, rest) = match fields.len() {
            5 => ("0", &fields[..]),
            6 => (fields[0], &fields[1..]),
            n => {
                return Err(fail(format!(
                    "expected 5 fields (minute hour day-of-month month day-of-week) or 6 (second first), found {n}"
                )))
            }
        };
        let parse = |text: &str, field: Field| parse_field(text, field).map_err(&fail);
        let days_of_week = parse(rest[4], DAY_OF_WEEK)?;
        let cron = CronExpr {
            source: trimmed.to_owned(),
            seconds: parse(second, SECOND)?,
            minutes: parse(rest[0], MINUTE)?,
            hours: u32::try_from(parse(rest[1], HOUR)?).map_err(|_| fail("hour bits".into()))?,
            days_of_month: u32::try_from(parse(rest[2], DAY_OF_MONTH)?)
                .map_err(|_| fail("day bits".into()))?,
            months: u16::try_from(parse(rest[3], MONTH)?).map_err(|_| fail("month bits".into()))?,
            // Bit 7 (Sunday as 7) folds onto bit 0.
            days_of_week: ((days_of_week | (days_of_week >> 7)) & 0x7f) as u8,
            day_of_month_star: is_star(rest[2]),
            day_of_week_star: is_star(rest[4]),
        };
        match cron.never_fires() {
            Some(reason) => Err(fail(reason)),
            None => Ok(cron),
        }
    }
}

fn is_star(field: &str) -> bool {
    field.starts_with('*') || field == "?"
}

/// Parses one field into a bit set (bit n set = value n matches).
fn parse_field(text: &str, field: Field) -> Result<u64, String> {
    let mut bits = 0u64;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((range, step)) => {
                let step: u32 = step.parse().map_err(|_| {
                    format!(
                        "{} field {text:?}: step {step:?} is not a positive number",
                        field.name
                    )
                })?;
                if step == 0 {
                    return Err(format!(
                        "{} field {text:?}: a step of 0 never advances",
                        field.name
                    ));
                }
                (range, step)
            }
            None => (part, 1),
        };
        let (low, high) = match range {
            "*" | "?" => (field.min, field.max),
            _ => match range.split_once('-') {
                Some((low, high)) => (value(low, field, text)?, value(high, field, text)?),
                None if part.contains('/') => (value(range, field, text)?, field.max),
                None => {
                    let v = value(range, field, text)?;
                    (v, v)
                }
            },
        };
        if range == "?" && !matches!(field.name, "day-of-month" | "day-of-week") {
            return Err(format!(
                "{} field {text:?}: '?' is only allowed in the day fields",
                field.name
            ));
        }
        if low > high {
            return Err(format!(
                "{} field {text:?}: range {low}-{high} runs backwards",
                field.name
            ));
        }
        let mut v = low;
        while v <= high {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok(bits)
}

fn value(token: &str, field: Field, text: &str) -> Result<u32, String> {
    let upper = token.to_ascii_uppercase();
    let named = field
        .names
        .iter()
        .position(|name| *name == upper)
        .and_then(|i| u32::try_from(i).ok())
        .map(|i| i + field.min);
    let parsed = match named {
        Some(v) => v,
        None if token.chars().all(|c| c.is_ascii_digit()) && !token.is_empty() => token
            .parse()
            .map_err(|_| format!("{} field {text:?}: {token:?} is too large", field.name))?,
        None => {
            let hint = match token
                .chars()
                .find(|c| matches!(c, 'L' | 'W' | '#' | 'l' | 'w'))
            {
                Some(_) => " (L, W and # are not supported)",
                None => "",
            };
            return Err(format!(
                "{} field {text:?}: {token:?} is not a number{}{hint}",
                field.name,
                match field.names.first() {
                    Some(first) => format!(" or a name like {first}"),
                    None => String::new(),
                }
            ));
        }
    };
    if parsed < field.min || parsed > field.max {
        return Err(format!(
            "{} field {text:?}: {parsed} is out of range {}-{}",
            field.name, field.min, field.max
        ));
    }
    Ok(parsed)
}

impl fmt::Display for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl CronExpr {
    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Why the expression can never fire, if it cannot (`0 0 30 2 *`: "day 30 never occurs
    /// in February"). Only the days can be impossible, as every other field holds a value.
    fn never_fires(&self) -> Option<String> {
        // With both day fields restricted, a day matching either fires, and every month has
        // every weekday. With day-of-month unrestricted, it holds the 1st, which every month
        // has. Either way some day of each month fires in some year, as a date falls on
        // every weekday over the years.
        if self.day_of_month_star || !self.day_of_week_star {
            return None;
        }
        let months: Vec<u32> = (1..=12).filter(|m| self.months & (1 << m) != 0).collect();
        let days: Vec<u32> = (1..=31)
            .filter(|d| self.days_of_month & (1 << d) != 0)
            .collect();
        // February's longest: a leap year's 29th comes, every four years or so.
        let longest = |month: u32| match month {
            2 => 29,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        if months
            .iter()
            .any(|&month| days.iter().any(|&day| day <= longest(month)))
        {
            return None;
        }
        let day_words: Vec<String> = days.iter().map(u32::to_string).collect();
        let month_words: Vec<String> = months.iter().map(|&m| month_name(m)).collect();
        let (noun, verb) = match days.len() {
            1 => ("day", "occurs"),
            _ => ("days", "occur"),
        };
        Some(format!(
            "{noun} {} never {verb} in {}",
            join(&day_words, "and"),
            join(&month_words, "or")
        ))
    }

    fn day_matches(&self, date: NaiveDate) -> bool {
        let dom = self.days_of_month & (1 << date.day()) != 0;
        let dow = self.days_of_week & (1 << date.weekday().num_days_from_sunday()) != 0;
        if self.day_of_month_star || self.day_of_week_star {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// The first wall-clock time strictly after `after` that the expression matches.
    pub fn next_local_after(&self, after: NaiveDateTime) -> Option<NaiveDateTime> {
        let mut t = after.with_nanosecond(0)? + Duration::seconds(1);
        let limit = after.year() + SEARCH_YEARS;
        while t.year() <= limit {
            if self.months & (1 << t.month()) == 0 {
                t = first_of_next_month(t.date())?.and_time(NaiveTime::MIN);
                continue;
            }
            if !self.day_matches(t.date()) {
                t = t.date().succ_opt()?.and_time(NaiveTime::MIN);
                continue;
            }
            if self.hours & (1 << t.hour()) == 0 {
                t = t.with_minute(0)?.with_second(0)? + Duration::hours(1);
                continue;
            }
            if self.minutes & (1 << t.minute()) == 0 {
                t = t.with_second(0)? + Duration::minutes(1);
                continue;
            }
            if self.seconds & (1 << t.second()) == 0 {
                t += Duration::seconds(1);
                continue;
            }
            return Some(t);
        }
        None
    }

    /// The first instant strictly after `after` at which the expression fires in `tz`.
    ///
    /// Slots are wall-clock times in `tz`. A slot that falls in a gap (clocks spring
    /// forward) fires once, at the first instant after the gap; several slots in one gap
    /// fire once together. A slot that falls in an overlap (clocks fall back) fires once,
    /// at its first occurrence.
    pub fn next_after(&self, after: DateTime<Utc>, tz: Tz) -> Option<DateTime<Utc>> {
        let mut local = after.with_timezone(&tz).naive_local();
        loop {
            let slot = self.next_local_after(local)?;
            let instant = match tz.from_local_datetime(&slot) {
                LocalResult::Single(t) => t.with_timezone(&Utc),
                LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
                LocalResult::None => first_instant_after_gap(tz, slot)?,
            };
            if instant > after {
                return Some(instant);
            }
            // An overlap slot whose first occurrence has passed: it already ran.
            local = slot;
        }
    }
}

// The parsed fields, for `describe`, which phrases these rather than re-reading the
// source so that macros, names and Sunday-as-7 read like their plain equivalents.
impl CronExpr {
    pub(crate) fn second_bits(&self) -> u64 {
        self.seconds
    }
    pub(crate) fn minute_bits(&self) -> u64 {
        self.minutes
    }
    pub(crate) fn hour_bits(&self) -> u64 {
        self.hours.into()
    }
    pub(crate) fn day_of_month_bits(&self) -> u64 {
        self.days_of_month.into()
    }
    pub(crate) fn month_bits(&self) -> u64 {
        self.months.into()
    }
    pub(crate) fn day_of_week_bits(&self) -> u64 {
        self.days_of_week.into()
    }
    /// Whether the Vixie "either day field" rule applies: both day fields restricted.
    pub(crate) fn days_match_either(&self) -> bool {
        !self.day_of_month_star && !self.day_of_week_star
    }
}

fn first_of_next_month(date: NaiveDate) -> Option<NaiveDate> {
    match date.month() {
        12 => NaiveDate::from_ymd_opt(date.year() + 1, 1, 1),
        m => NaiveDate::from_ymd_opt(date.year(), m + 1, 1),
    }
}

/// The instant the clocks jumped over `wall` (which does not exist in `tz`): the earliest
/// instant whose local time is later than `wall`.
fn first_instant_after_gap(tz: Tz, wall: NaiveDateTime) -> Option<DateTime<Utc>> {
    // Gaps last minutes to hours and transitions fall on whole minutes, except in a few
    // historical zones: step minutes to the gap's end, then back in seconds.
    let mut end = wall.with_second(0)?;
    for _ in 0..(48 * 60) {
        end += Duration::minutes(1);
        if let Some(t) = valid(tz, end) {
            let mut first = t;
            for _ in 0..60 {
                match valid(
                    tz,
                    first.with_timezone(&tz).naive_local() - Duration::seconds(1),
                ) {
                    Some(earlier) if earlier.with_timezone(&tz).naive_local() > wall => {
                        first = earlier
                    }
                    _ => break,
                }
            }
            return Some(first);
        }
    }
    None
}

fn valid(tz: Tz, wall: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&wall) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
        LocalResult::None => None,
    }
}
