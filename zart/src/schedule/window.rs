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
/// use zart::schedule::TimeWindow;
///
/// let office = TimeWindow::new("Europe/Berlin")?
///     .weekdays([Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri])
///     .segment(NaiveTime::from_hms_opt(9, 0, 0).unwrap(), NaiveTime::from_hms_opt(17, 0, 0).unwrap());
/// // Monday 2026-03-02 10:00 in Berlin is 09:00 UTC.
/// assert!(office.contains(Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()));
/// assert!(!office.contains(Utc.with_ymd_and_hms(2026, 3, 2, 16, 0, 0).unwrap())); // 17:00 local
/// # Ok::<(), zart::schedule::ScheduleError>(())
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
            tz: super::parse_tz(timezone)?,
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
