//! The doorbell between the store's notifications and the claim loop.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use zart_core::queue::Wake;

/// The doorbell between a backend's notifications and a worker's claim loop: "work may be
/// due now", or "work will be due at this instant".
#[derive(Clone, Debug)]
pub(crate) struct WakeSignal {
    inner: Arc<WakeInner>,
}

#[derive(Debug)]
struct WakeInner {
    notify: Notify,
    /// Announced future instants (epoch milliseconds), so that the worker wakes when the
    /// earliest comes: one schedule's slot must not hide another's.
    due: Mutex<BTreeSet<i64>>,
}

/// Most future instants remembered; past that the latest are forgotten (polling finds
/// their tasks).
const MAX_REMEMBERED: usize = 1024;

impl Default for WakeSignal {
    fn default() -> Self {
        WakeSignal {
            inner: Arc::new(WakeInner {
                notify: Notify::new(),
                due: Mutex::new(BTreeSet::new()),
            }),
        }
    }
}

impl WakeSignal {
    /// Work may be due now.
    pub(crate) fn wake(&self) {
        self.inner.notify.notify_one();
    }

    /// Work becomes due at `due` (epoch milliseconds); a past instant wakes at once.
    pub(crate) fn due_at_millis(&self, due: i64) {
        if due > Utc::now().timestamp_millis() {
            let mut remembered = self
                .inner
                .due
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            remembered.insert(due);
            if remembered.len() > MAX_REMEMBERED {
                remembered.pop_last();
            }
        }
        self.wake();
    }

    /// Work becomes due at `due`.
    pub(crate) fn due_at(&self, due: DateTime<Utc>) {
        // Rounded up: waking a millisecond early would find nothing due yet.
        let partial = i64::from(!due.timestamp_subsec_nanos().is_multiple_of(1_000_000));
        self.due_at_millis(due.timestamp_millis() + partial);
    }

    /// What a store's notification says.
    pub(crate) fn heard(&self, wake: Wake) {
        match wake {
            Wake::Now => self.wake(),
            Wake::At(due) => self.due_at(due),
        }
    }

    pub(crate) async fn notified(&self) {
        self.inner.notify.notified().await;
    }

    /// The earliest announced instant still in the future (instants that have passed are
    /// forgotten: the claim that follows them finds their work).
    pub(crate) fn next_due(&self) -> Option<DateTime<Utc>> {
        let now = Utc::now().timestamp_millis();
        let mut remembered = self
            .inner
            .due
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        while remembered.first().is_some_and(|due| *due <= now) {
            remembered.pop_first();
        }
        remembered
            .first()
            .and_then(|due| DateTime::from_timestamp_millis(*due))
    }
}

/// Every claim loop's signal: what wakes workers wakes each of a worker's loops (one
/// per queue), each of which remembers due instants for itself.
#[derive(Clone, Debug, Default)]
pub(crate) struct Wakes(Arc<[WakeSignal]>);

impl Wakes {
    pub(crate) fn new(signals: Vec<WakeSignal>) -> Self {
        Wakes(signals.into())
    }

    pub(crate) fn due_at(&self, due: DateTime<Utc>) {
        self.0.iter().for_each(|signal| signal.due_at(due));
    }

    pub(crate) fn heard(&self, wake: Wake) {
        self.0.iter().for_each(|signal| signal.heard(wake));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_earliest_future_instant_comes_first_and_passed_ones_are_dropped() {
        let wake = WakeSignal::default();
        let now = Utc::now();
        let soon = now + chrono::Duration::milliseconds(50);
        let later = now + chrono::Duration::seconds(60);
        wake.due_at(later);
        wake.due_at(soon);
        wake.due_at(now - chrono::Duration::seconds(1));
        let first = wake.next_due().map(|t| t.timestamp_millis());
        assert!(first
            .is_some_and(|ms| ms >= soon.timestamp_millis() && ms <= soon.timestamp_millis() + 1));
        std::thread::sleep(std::time::Duration::from_millis(60));
        let next = wake.next_due().map(|t| t.timestamp_millis());
        assert!(
            next.is_some_and(|ms| ms >= later.timestamp_millis()),
            "a passed instant does not hide a later one"
        );
    }
}
