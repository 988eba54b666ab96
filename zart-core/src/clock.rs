//! The clock a store judges what is due by, and that the engine reads when it decides when
//! something becomes due: the system's, or one a test drives ([`Clock::driven`]).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// The time a store and the engine over it read.
///
/// The system clock by default. A driven clock runs with the system's but a test moves it
/// ahead at will: what is due an hour from now is due once the test has advanced it an
/// hour, through the same statements and decisions as in production (only the reading of
/// the time differs). It never moves back: time stored by it stays in the past.
///
/// ```
/// use std::time::Duration;
/// use zart_core::clock::Clock;
///
/// let clock = Clock::driven();
/// let before = clock.now();
/// clock.advance(Duration::from_secs(3600));
/// assert!(clock.now() - before >= chrono::Duration::hours(1));
/// assert!(!Clock::system().is_driven());
/// ```
#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// How far a driven clock runs ahead of the system's, in milliseconds.
    ahead_ms: Option<Arc<AtomicI64>>,
}

/// Clocks are equal when they read the same: both the system's, or one driven clock.
impl PartialEq for Clock {
    fn eq(&self, other: &Clock) -> bool {
        match (&self.ahead_ms, &other.ahead_ms) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for Clock {}

impl Clock {
    /// The system's clock.
    pub fn system() -> Clock {
        Clock { ahead_ms: None }
    }

    /// A clock a test moves ahead with [`advance`](Self::advance). Its clones share it.
    pub fn driven() -> Clock {
        Clock {
            ahead_ms: Some(Arc::new(AtomicI64::new(0))),
        }
    }

    /// Whether this clock is driven.
    pub fn is_driven(&self) -> bool {
        self.ahead_ms.is_some()
    }

    /// The current instant.
    pub fn now(&self) -> DateTime<Utc> {
        let now = Utc::now();
        match self.ahead() {
            0 => now,
            ahead => now
                .checked_add_signed(chrono::Duration::milliseconds(ahead))
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        }
    }

    /// The current instant in milliseconds since the epoch.
    pub fn now_millis(&self) -> i64 {
        Utc::now().timestamp_millis().saturating_add(self.ahead())
    }

    /// How far this clock runs ahead of the system's.
    pub fn ahead(&self) -> i64 {
        self.ahead_ms
            .as_ref()
            .map_or(0, |ahead| ahead.load(Ordering::Acquire))
    }

    /// Moves a driven clock ahead by `by` (whole milliseconds); the system clock cannot be
    /// moved, and stays as it is.
    pub fn advance(&self, by: Duration) {
        if let Some(ahead) = &self.ahead_ms {
            let by = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
            let _ = ahead.fetch_update(Ordering::AcqRel, Ordering::Acquire, |ahead| {
                Some(ahead.saturating_add(by))
            });
        }
    }
}
