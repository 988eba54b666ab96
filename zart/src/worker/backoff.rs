//! How long to wait before trying the database again after a failure.

use std::time::Duration;

/// Pauses that double from `first` up to `max`, each drawn at random from half to one and a
/// half times its nominal length: workers that failed together (a killed connection, a
/// restarted server) must not all come back in the same millisecond.
#[derive(Clone, Debug)]
pub(crate) struct Backoff {
    first: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub(crate) fn new(first: Duration, max: Duration) -> Self {
        let first = first.min(max);
        Backoff {
            first,
            max,
            next: first,
        }
    }

    /// The pause before the next try; each call doubles the one after.
    pub(crate) fn pause(&mut self) -> Duration {
        let nominal = self.next;
        self.next = (self.next * 2).min(self.max);
        nominal.mul_f64(0.5 + fastrand::f64())
    }

    /// After a success: the next failure pauses briefly again.
    pub(crate) fn reset(&mut self) {
        self.next = self.first;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_the_bound_with_jitter_and_start_over_after_a_reset() {
        let ms = Duration::from_millis;
        let mut backoff = Backoff::new(ms(20), ms(100));
        let pauses: Vec<Duration> = (0..5).map(|_| backoff.pause()).collect();
        for (pause, nominal) in pauses.iter().zip([20, 40, 80, 100, 100]) {
            assert!(
                *pause >= ms(nominal / 2) && *pause <= ms(nominal * 3 / 2),
                "{pause:?} is not within half of {nominal} ms"
            );
        }
        backoff.reset();
        assert!(backoff.pause() <= ms(30));
    }
}
