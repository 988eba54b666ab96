//! Reading the values of the command line that mean something to Zart: statuses, times,
//! cursors and JSON payloads. Each refusal names what would have been accepted.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::Value;
use zart::scheduler::{TaskCursor, TaskStatus};
use zart::store::{KeyLimit, RateLimit};

use crate::error::{CliError, CliResult};

/// A task status by its name (`failed`, `sleeping`), in any case.
pub(crate) fn status(text: &str) -> CliResult<TaskStatus> {
    TaskStatus::parse(&text.to_ascii_lowercase()).ok_or_else(|| {
        let valid: Vec<&str> = TaskStatus::ALL.iter().map(|s| s.as_str()).collect();
        CliError::usage(format!(
            "unknown status {text:?}: expected one of {}",
            valid.join(", ")
        ))
    })
}

/// An instant for `option`: RFC 3339 (`2026-01-05T09:00:00Z`), a date (midnight UTC),
/// `now`, or a time ago such as `-30m`, `-1h`, `-2d`, `-1h30m` (units `s`, `m`, `h`, `d`,
/// `w`), counted back from `now`.
pub(crate) fn time(option: &str, text: &str, now: DateTime<Utc>) -> CliResult<DateTime<Utc>> {
    let text = text.trim();
    let refused = || {
        CliError::usage(format!(
            "invalid time {text:?} for {option}: expected RFC 3339 (2026-01-05T09:00:00Z), \
             a date (2026-01-05), `now`, or a time ago (-30m, -1h, -2d)"
        ))
    };
    if text.eq_ignore_ascii_case("now") {
        return Ok(now);
    }
    if let Some(ago) = text.strip_prefix('-') {
        let ago = duration(ago).ok_or_else(refused)?;
        return now.checked_sub_signed(ago).ok_or_else(refused);
    }
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    let day = NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| refused())?;
    Ok(day.and_time(chrono::NaiveTime::MIN).and_utc())
}

/// `30m`, `1h30m`, `2d`: whole numbers with a unit each, largest or not.
fn duration(text: &str) -> Option<Duration> {
    let mut total = Duration::zero();
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let amount: i64 = digits.parse().ok()?;
        digits.clear();
        let part = match c {
            's' => Duration::try_seconds(amount)?,
            'm' => Duration::try_minutes(amount)?,
            'h' => Duration::try_hours(amount)?,
            'd' => Duration::try_days(amount)?,
            'w' => Duration::try_weeks(amount)?,
            _ => return None,
        };
        total = total.checked_add(&part)?;
    }
    // A trailing number without a unit ("-30") says nothing certain: refuse it.
    (digits.is_empty() && !text.is_empty()).then_some(total)
}

/// A key limit, `FIELD=N` (`tenant.id=2`).
pub(crate) fn key_limit(text: &str) -> CliResult<KeyLimit> {
    let refused = || {
        CliError::usage(format!(
            "invalid --per-key {text:?}: expected FIELD=N, such as tenant.id=2"
        ))
    };
    let (field, limit) = text.rsplit_once('=').ok_or_else(refused)?;
    Ok(KeyLimit {
        field: field.trim().to_owned(),
        limit: limit.trim().parse().map_err(|_| refused())?,
    })
}

/// A rate limit, `N/PERIOD` (`100/1m`, `5/10s`, `20/500ms`).
pub(crate) fn rate(text: &str) -> CliResult<RateLimit> {
    let refused = || {
        CliError::usage(format!(
            "invalid --rate {text:?}: expected N/PERIOD, such as 100/1m or 20/500ms \
             (units ms, s, m, h, d)"
        ))
    };
    let (limit, period) = text.split_once('/').ok_or_else(refused)?;
    let period = period.trim();
    let period = match period.strip_suffix("ms") {
        Some(ms) => std::time::Duration::from_millis(ms.parse().map_err(|_| refused())?),
        None => duration(period)
            .and_then(|period| period.to_std().ok())
            .ok_or_else(refused)?,
    };
    Ok(RateLimit {
        limit: limit.trim().parse().map_err(|_| refused())?,
        period,
    })
}

/// A listing position, as `tasks list` printed it.
pub(crate) fn cursor(text: &str) -> CliResult<TaskCursor> {
    text.parse()
        .map_err(|e: zart::scheduler::CursorError| CliError::usage(e.to_string()))
}

/// A JSON document given for `option`.
pub(crate) fn json(option: &str, text: &str) -> CliResult<Value> {
    serde_json::from_str(text)
        .map_err(|e| CliError::usage(format!("invalid JSON in {option}: {e}")))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::error::Failure;

    fn noon() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 5, 12, 0, 0)
            .single()
            .unwrap_or_default()
    }

    #[test]
    fn times_are_absolute_dates_or_ago() {
        let at = |text| time("--since", text, noon());
        assert_eq!(at("-30m"), Ok(noon() - Duration::minutes(30)));
        assert_eq!(at("-1h30m"), Ok(noon() - Duration::minutes(90)));
        assert_eq!(at("-2d"), Ok(noon() - Duration::days(2)));
        assert_eq!(at("now"), Ok(noon()));
        assert_eq!(
            at("2026-01-05T09:00:00+01:00"),
            Ok(noon() - Duration::hours(4))
        );
        assert_eq!(at("2026-01-05"), Ok(noon() - Duration::hours(12)));
        for bad in ["-", "-30", "-3y", "yesterday", "-m", "2026-13-01"] {
            let error = at(bad).err().map(|e| (e.failure, e.message));
            assert!(
                matches!(&error, Some((Failure::Usage, m)) if m.contains("--since")),
                "{bad}: {error:?}"
            );
        }
    }

    #[test]
    fn statuses_name_the_valid_ones() {
        assert_eq!(status("Failed"), Ok(TaskStatus::Failed));
        assert_eq!(status("awaiting_event"), Ok(TaskStatus::AwaitingEvent));
        let error = status("broken").err().map(|e| e.message);
        assert_eq!(
            error.as_deref(),
            Some("unknown status \"broken\": expected one of pending, waiting, running, sleeping, awaiting_event, awaiting_child, completed, failed, dead, cancelled")
        );
    }

    #[test]
    fn limits_read_as_written_and_refusals_show_the_form() {
        let key = key_limit("tenant.id=2").map_err(|e| e.to_string());
        assert_eq!(key.map(|k| (k.field, k.limit)), Ok(("tenant.id".into(), 2)));
        let rate_of = |text: &str| {
            rate(text)
                .map(|r| (r.limit, r.period))
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            rate_of("100/1m"),
            Ok((100, std::time::Duration::from_secs(60)))
        );
        assert_eq!(
            rate_of("20/500ms"),
            Ok((20, std::time::Duration::from_millis(500)))
        );
        for bad in ["100", "x/1m", "5/soon"] {
            let error = rate_of(bad).err().unwrap_or_default();
            assert!(error.contains("N/PERIOD"), "{bad}: {error}");
        }
        let error = key_limit("tenant")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("FIELD=N"), "{error}");
    }

    #[test]
    fn json_and_cursors_say_what_is_wrong() {
        assert_eq!(
            json("--payload", "{\"a\": 1}"),
            Ok(serde_json::json!({"a": 1}))
        );
        let error = json("--payload", "{a}").err().map(|e| e.message);
        assert!(error.is_some_and(|m| m.starts_with("invalid JSON in --payload: key must be")));
        assert!(cursor("1700000000000000.t-1").is_ok());
        assert!(cursor("later").is_err());
    }
}
