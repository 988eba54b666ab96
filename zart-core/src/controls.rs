//! Queue controls shared by every worker: limits declared in code ([`QueueLimits`]) and a
//! pause set from outside, as stored ([`QueueState`]).
//!
//! A claim in a queue ([`ClaimScope::queue`](crate::queue::ClaimScope::queue)) honours its
//! stored controls across every process sharing the store: the capacity check and the
//! claim are one serial step per queue, so two workers never both take the last slot.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// The limits of a queue, as a worker's code declares them. `None` is no limit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueLimits {
    /// Most of the queue's tasks running at once, across all workers.
    pub concurrency: Option<u32>,
    /// Most tasks of one key running at once, across all workers.
    pub per_key: Option<KeyLimit>,
    /// Most tasks started in any window of a period, across all workers.
    pub rate: Option<RateLimit>,
}

impl QueueLimits {
    /// The limits as a store keeps them, one nullable column each: a key limit needs its
    /// field and its limit, a rate its limit and its period in milliseconds. Numbers out
    /// of range read as 0.
    ///
    /// ```
    /// use zart_core::controls::QueueLimits;
    ///
    /// let stored = QueueLimits::from_columns(Some(5), Some("tenant".into()), None, Some(10), Some(1000));
    /// assert_eq!(stored.concurrency, Some(5));
    /// assert_eq!(stored.per_key, None, "a field without a limit is no key limit");
    /// assert_eq!(stored.rate.map(|rate| rate.limit), Some(10));
    /// ```
    pub fn from_columns(
        concurrency: Option<i64>,
        key_field: Option<String>,
        key_limit: Option<i64>,
        rate_limit: Option<i64>,
        rate_period_ms: Option<i64>,
    ) -> Self {
        let count = |n: i64| u32::try_from(n).unwrap_or(0);
        QueueLimits {
            concurrency: concurrency.map(count),
            per_key: key_field.zip(key_limit).map(|(field, limit)| KeyLimit {
                field,
                limit: count(limit),
            }),
            rate: rate_limit.zip(rate_period_ms).map(|(limit, ms)| RateLimit {
                limit: count(limit),
                period: Duration::from_millis(u64::try_from(ms).unwrap_or(0)),
            }),
        }
    }

    /// The limits as a store keeps them, one nullable column each (what
    /// [`from_columns`](Self::from_columns) reads back).
    ///
    /// ```
    /// use zart_core::controls::QueueLimits;
    ///
    /// let five = QueueLimits { concurrency: Some(5), ..QueueLimits::default() };
    /// let columns = five.columns();
    /// assert_eq!((columns.concurrency, columns.key_field), (Some(5), None));
    /// ```
    pub fn columns(&self) -> LimitColumns<'_> {
        LimitColumns {
            concurrency: self.concurrency.map(i64::from),
            key_field: self.per_key.as_ref().map(|key| key.field.as_str()),
            key_limit: self.per_key.as_ref().map(|key| i64::from(key.limit)),
            rate_limit: self.rate.map(|rate| i64::from(rate.limit)),
            rate_period_ms: self
                .rate
                .map(|rate| i64::try_from(rate.period.as_millis()).unwrap_or(i64::MAX)),
        }
    }

    /// Whether any limit is set.
    pub fn is_limited(&self) -> bool {
        self.concurrency.is_some() || self.per_key.is_some() || self.rate.is_some()
    }

    /// Checks what no queue can be claimed under: zero limits (pause the queue instead), a
    /// key field that is not a dotted path, a rate period under a millisecond. The error
    /// names the limit and says why.
    ///
    /// ```
    /// use zart_core::controls::QueueLimits;
    ///
    /// let none = QueueLimits { concurrency: Some(0), ..QueueLimits::default() };
    /// assert!(none.check().unwrap_err().contains("at least 1"));
    /// assert!(QueueLimits::default().check().is_ok());
    /// ```
    pub fn check(&self) -> Result<(), String> {
        if self.concurrency == Some(0) {
            return Err("the global limit must be at least 1 (pause the queue instead)".into());
        }
        if let Some(key) = &self.per_key {
            if key.limit == 0 {
                return Err("the limit per key must be at least 1".into());
            }
            check_key_field(&key.field)?;
        }
        if let Some(rate) = self.rate {
            if rate.limit == 0 {
                return Err("the rate limit must allow at least 1 start per period".into());
            }
            if rate.period < Duration::from_millis(1) {
                return Err("the rate limit's period must be at least a millisecond".into());
            }
        }
        Ok(())
    }

    /// The limits in a few words, for people (the wording may change; do not parse it),
    /// or `None` if there are none.
    ///
    /// ```
    /// use std::time::Duration;
    /// use zart_core::controls::{KeyLimit, QueueLimits, RateLimit};
    ///
    /// let limits = QueueLimits {
    ///     concurrency: Some(3),
    ///     per_key: Some(KeyLimit { field: "tenant".into(), limit: 1 }),
    ///     rate: Some(RateLimit { limit: 100, period: Duration::from_secs(60) }),
    /// };
    /// assert_eq!(limits.describe().as_deref(), Some("3 at once · 1 per tenant · 100 per 1 min"));
    /// assert_eq!(QueueLimits::default().describe(), None);
    /// ```
    pub fn describe(&self) -> Option<String> {
        let mut parts = Vec::new();
        if let Some(concurrency) = self.concurrency {
            parts.push(format!("{concurrency} at once"));
        }
        if let Some(key) = &self.per_key {
            parts.push(format!("{} per {}", key.limit, key.field));
        }
        if let Some(rate) = self.rate {
            parts.push(format!("{} per {}", rate.limit, period(rate.period)));
        }
        (!parts.is_empty()).then(|| parts.join(" · "))
    }
}

/// [`QueueLimits`] as a store's nullable columns hold them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitColumns<'a> {
    /// Most running at once.
    pub concurrency: Option<i64>,
    /// Where a task's key is in its input.
    pub key_field: Option<&'a str>,
    /// Most running at once of one key.
    pub key_limit: Option<i64>,
    /// Most starts in a period.
    pub rate_limit: Option<i64>,
    /// The period, in milliseconds.
    pub rate_period_ms: Option<i64>,
}

/// A period exactly, in its largest whole unit: `1 s`, `5 min`, `250 ms`.
fn period(period: Duration) -> String {
    const UNITS: [(u128, &str); 4] = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "min"),
        (1000, "s"),
    ];
    let ms = period.as_millis();
    UNITS
        .iter()
        .find(|(unit, _)| ms >= *unit && ms.is_multiple_of(*unit))
        .map(|(unit, name)| format!("{} {name}", ms / unit))
        .unwrap_or_else(|| format!("{ms} ms"))
}

/// At most `limit` tasks of one key running at once. A task's key is the value in its
/// input at `field`, a dotted path (`tenant_id`, `customer.id`); a task whose input has
/// nothing there has no key and is not held back by this limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyLimit {
    /// Where the key is in a task's input.
    pub field: String,
    /// Most tasks of one key running at once.
    pub limit: u32,
}

/// At most `limit` tasks started in any window of `period`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Most starts in one window.
    pub limit: u32,
    /// The window's length.
    pub period: Duration,
}

/// One queue's declared limits, as a worker stores them when it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueDeclaration {
    /// The queue.
    pub queue: String,
    /// Its limits.
    pub limits: QueueLimits,
}

/// A queue's stored controls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueState {
    /// The queue.
    pub queue: String,
    /// The limits its claims honour: those set from outside if they are
    /// ([`overridden_at`](Self::overridden_at)), else the declared ones.
    pub limits: QueueLimits,
    /// Its limits as workers' code last declared them (none if no worker declared it).
    pub declared: QueueLimits,
    /// Since when limits set from outside (the admin, the CLI) replace the declared ones,
    /// if they do. Workers that start keep declaring theirs, which apply again once the
    /// override is removed.
    pub overridden_at: Option<DateTime<Utc>>,
    /// Since when it is paused (nothing new is claimed from it), if it is.
    pub paused_at: Option<DateTime<Utc>>,
    /// When its limits were last declared (or its record made).
    pub declared_at: DateTime<Utc>,
    /// How many of its tasks run now.
    pub running: u64,
}

/// Checks a key field: dot-separated names of letters, digits, `_` and `-`.
///
/// ```
/// use zart_core::controls::check_key_field;
///
/// assert!(check_key_field("customer.id").is_ok());
/// assert!(check_key_field("customer..id").is_err());
/// ```
pub fn check_key_field(field: &str) -> Result<(), String> {
    let valid = |part: &str| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    match field.len() <= 200 && field.split('.').all(valid) {
        true => Ok(()),
        false => Err(format!(
            "the key field {field:?} is not a dotted path of names (letters, digits, `_`, `-`), \
             such as \"tenant_id\" or \"customer.id\""
        )),
    }
}
