//! What the code under test logs at info level and above, for tests that check a fault is
//! reported, or that nothing floods the log.

use std::fmt::Write;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// Every event at info level and above logged in this process since the first call, each
/// as its message followed by its fields (`name=value`).
pub fn warnings() -> Warnings {
    static CAPTURED: OnceLock<Warnings> = OnceLock::new();
    CAPTURED
        .get_or_init(|| {
            let warnings = Warnings(Arc::default());
            // Fails if another subscriber was installed first; the list then stays empty
            // and the test that reads it fails, saying so.
            let _ = tracing::subscriber::set_global_default(Capture(warnings.clone()));
            warnings
        })
        .clone()
}

/// The events logged so far, with their levels.
#[derive(Clone, Default)]
pub struct Warnings(Arc<Mutex<Vec<(Level, String)>>>);

impl Warnings {
    /// The warnings and errors that contain `text`.
    pub fn containing(&self, text: &str) -> Vec<String> {
        self.at_or_above(Level::WARN, text)
    }

    /// The lines at info level and above that contain `text`.
    pub fn info_containing(&self, text: &str) -> Vec<String> {
        self.at_or_above(Level::INFO, text)
    }

    fn at_or_above(&self, level: Level, text: &str) -> Vec<String> {
        let lines = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        lines
            .iter()
            .filter(|(at, line)| *at <= level && line.contains(text))
            .map(|(_, line)| line.clone())
            .collect()
    }
}

struct Capture(Warnings);

struct Line<'a>(&'a mut String);

impl Visit for Line<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => {
                let _ = write!(self.0, "{value:?}");
            }
            name => {
                let _ = write!(self.0, " {name}={value:?}");
            }
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.0.push_str(value),
            name => {
                let _ = write!(self.0, " {name}={value}");
            }
        }
    }
}

impl Subscriber for Capture {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= Level::INFO
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut line = String::new();
        event.record(&mut Line(&mut line));
        let mut lines = (self.0).0.lock().unwrap_or_else(PoisonError::into_inner);
        lines.push((*event.metadata().level(), line));
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}
