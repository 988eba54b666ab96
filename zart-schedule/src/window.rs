//! Time windows: the weekdays and times of day in which occurrences may run.

use chrono::{DateTime, Datelike, Duration, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// Local weekdays and time-of-day segments in a time zone. An occurrence outside the
/// window is skipped (and the skip recorded), not postponed.
///
/// Segments are half-open, `[start, end)`. A segment whose end is not after its start
/// crosses midnight (`22:00`–`02:00`), and belongs to the weekday it starts on: with only
/// Friday allowed, Saturday 01:00 is inside `22:00`–`02:00`. A window without segments
/// allows the whole of each allowed day; one without weekdays allows every day.
///
/// ```
/// use chrono::{NaiveTime, TimeZone, Utc, Weekday};
/// use zart_schedule::TimeWindow;
///
/// let office = TimeWindow::new("Europe/Berlin")?
///     .weekdays([Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri])
///     .segment(NaiveTime::from_hms_opt(9, 0, 0).unwrap(), NaiveTime::from_hms_opt(17, 0, 0).unwrap());
/// // Monday 2026-03-02 10:00 in Berlin is 09:00 UTC.
/// assert!(office.contains(Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()));
/// assert!(!office.contains(Utc.with_ymd_and_hms(2026, 3, 2, 16, 0, 0).unwrap())); // 17:00 local
/// # Ok::<(), zart_schedule::ScheduleError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "WindowSpec", into = "WindowSpec")]
pub struct TimeWindow {
    tz: Tz,
    /// Bit n set: the weekday n days from Monday is allowed. 0 means every day.
    weekdays: u8,
    segments: Vec<(NaiveTime, NaiveTime)>,
}

impl TimeWindow {
    /// A window in the IANA time zone `timezone` allowing every day, all day, until
    /// narrowed with [`weekdays`](Self::weekdays) and [`segment`](Self::segment).
    pub fn new(timezone: &str) -> Result<Self, super::ScheduleError> {
        Ok(TimeWindow {
            tz: super::parse_timezone(timezone)?,
            weekdays: 0,
            segments: Vec::new(),
        })
    }

    /// Allows only these weekdays (added to those already allowed).
    pub fn weekdays(mut self, days: impl IntoIterator<Item = Weekday>) -> Self {
        for day in days {
            self.weekdays |= 1 << day.num_days_from_monday();
        }
        self
    }

    /// Allows only times in `[start, end)` (added to the segments already allowed); an
    /// `end` not after `start` crosses midnight.
    pub fn segment(mut self, start: NaiveTime, end: NaiveTime) -> Self {
        self.segments.push((start, end));
        self
    }

    /// A window in `timezone` from a literal: day lists and ranges (`mon-fri`,
    /// `sat,sun`, `fri-mon` wraps) and time segments (`09:00-17:00`, `22:00-02:00` crosses
    /// midnight), separated by spaces. Without days every day is allowed; without segments
    /// the whole day.
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use zart_schedule::TimeWindow;
    ///
    /// let office = TimeWindow::parse("Europe/Berlin", "mon-fri 09:00-12:00 13:00-17:00")?;
    /// assert!(office.contains(Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap())); // Monday 10:00
    /// assert!(!office.contains(Utc.with_ymd_and_hms(2026, 3, 2, 11, 30, 0).unwrap())); // 12:30
    /// assert!(TimeWindow::parse("UTC", "mon-fry").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parse(timezone: &str, spec: &str) -> Result<Self, WindowError> {
        let fail = |reason: String| WindowError {
            spec: spec.to_owned(),
            reason,
        };
        let mut window = TimeWindow::new(timezone).map_err(|e| fail(e.to_string()))?;
        if spec.trim().is_empty() {
            return Err(fail(
                "it is empty; write days (mon-fri) and/or times (09:00-17:00)".into(),
            ));
        }
        for part in spec.split_whitespace() {
            if part.contains(':') {
                let (start, end) = part.split_once('-').ok_or_else(|| {
                    fail(format!(
                        "{part:?} is not a time segment such as 09:00-17:00"
                    ))
                })?;
                let time = |t: &str| {
                    NaiveTime::parse_from_str(t, "%H:%M").map_err(|_| {
                        fail(format!(
                            "{t:?} is not a time of day (HH:MM, 00:00 to 23:59)"
                        ))
                    })
                };
                window = window.segment(time(start)?, time(end)?);
            } else {
                for days in part.split(',') {
                    let day = |name: &str| {
                        name.parse::<Weekday>()
                            .ok()
                            .filter(|_| name.len() == 3)
                            .ok_or_else(|| {
                                fail(format!(
                                    "{name:?} is not a weekday (mon, tue, wed, thu, fri, sat, sun)"
                                ))
                            })
                    };
                    let (first, last) = match days.split_once('-') {
                        Some((first, last)) => (day(first)?, day(last)?),
                        None => (day(days)?, day(days)?),
                    };
                    let mut current = first;
                    window = window.weekdays([current]);
                    while current != last {
                        current = current.succ();
                        window = window.weekdays([current]);
                    }
                }
            }
        }
        Ok(window)
    }

    /// The window's time zone.
    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// Whether `instant` falls inside the window.
    pub fn contains(&self, instant: DateTime<Utc>) -> bool {
        let local = instant.with_timezone(&self.tz).naive_local();
        let day_allowed = |weekday: Weekday| {
            self.weekdays == 0 || self.weekdays & (1 << weekday.num_days_from_monday()) != 0
        };
        if self.segments.is_empty() {
            return day_allowed(local.weekday());
        }
        let time = local.time();
        self.segments.iter().any(|&(start, end)| {
            if start < end {
                start <= time && time < end && day_allowed(local.weekday())
            } else if time >= start {
                day_allowed(local.weekday()) // the evening part: today's segment
            } else if time < end {
                let yesterday = (local - Duration::days(1)).weekday();
                day_allowed(yesterday) // the morning part: yesterday's segment
            } else {
                false
            }
        })
    }
}

/// A time window literal that does not parse (see [`TimeWindow::parse`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid time window {spec:?}: {reason}")]
pub struct WindowError {
    spec: String,
    reason: String,
}

impl WindowError {
    /// What was wrong, without the literal.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// The stored form of a [`TimeWindow`].
#[derive(Serialize, Deserialize)]
struct WindowSpec {
    timezone: String,
    #[serde(default)]
    weekdays: Vec<Weekday>,
    #[serde(default)]
    segments: Vec<(NaiveTime, NaiveTime)>,
}

impl TryFrom<WindowSpec> for TimeWindow {
    type Error = super::ScheduleError;

    fn try_from(spec: WindowSpec) -> Result<Self, Self::Error> {
        let mut window = TimeWindow::new(&spec.timezone)?.weekdays(spec.weekdays);
        window.segments = spec.segments;
        Ok(window)
    }
}

impl From<TimeWindow> for WindowSpec {
    fn from(window: TimeWindow) -> Self {
        let weekdays = [
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
            Weekday::Sat,
            Weekday::Sun,
        ]
        .into_iter()
        .filter(|day| window.weekdays & (1 << day.num_days_from_monday()) != 0)
        .collect();
        WindowSpec {
            timezone: window.tz.name().to_owned(),
            weekdays,
            segments: window.segments,
        }
    }
}
