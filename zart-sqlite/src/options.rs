//! Where a SQLite store lives and how it writes: [`SqliteOptions`], parsed from a URL or
//! built by hand.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;
use zart_core::clock::Clock;

/// The longest table prefix accepted.
const MAX_PREFIX_LEN: usize = 40;

/// How SQLite makes a commit durable (`PRAGMA synchronous`). The journal is always WAL.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Synchronous {
    /// A commit is written to the WAL before it is acknowledged, and the WAL is flushed to
    /// disk at checkpoints: an acknowledged commit survives a killed process, and may be
    /// lost only if the machine itself loses power or crashes.
    #[default]
    Normal,
    /// Every commit is flushed to disk before it is acknowledged: it survives a power loss
    /// too, at the price of one `fsync` per commit.
    Full,
}

impl Synchronous {
    /// The pragma's value: `NORMAL` or `FULL`.
    pub fn as_str(self) -> &'static str {
        match self {
            Synchronous::Normal => "NORMAL",
            Synchronous::Full => "FULL",
        }
    }
}

/// Where the database is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Location {
    /// A file, created if missing (its folder must exist).
    File(PathBuf),
    /// A private in-memory database: gone when the store is dropped, seen by no other
    /// process, and by no other store of this one.
    Memory,
}

/// A SQLite store's settings: its database, table prefix, durability and how often it
/// looks for work that other processes scheduled.
///
/// ```
/// use std::time::Duration;
/// use zart_sqlite::{SqliteOptions, Synchronous};
///
/// let options: SqliteOptions = "sqlite://data/app.db?synchronous=full".parse()?;
/// assert_eq!(options.synchronous(), Synchronous::Full);
///
/// let options = SqliteOptions::file("app.db").prefix("billing_")?.poll_interval(Duration::from_millis(20));
/// assert_eq!(options.table_prefix(), "billing_");
///
/// assert!("sqlite://app.db?journal=off".parse::<SqliteOptions>().is_err());
/// # Ok::<(), zart_sqlite::OptionsError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqliteOptions {
    pub(crate) location: Location,
    pub(crate) prefix: String,
    pub(crate) synchronous: Synchronous,
    pub(crate) poll_interval: Duration,
    pub(crate) lock_timeout: Duration,
    pub(crate) clock: Clock,
}

/// Settings that cannot be used: a malformed URL, an unknown parameter, a bad prefix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid SQLite store setting {what}: {reason}")]
pub struct OptionsError {
    what: String,
    reason: String,
}

impl OptionsError {
    fn new(what: impl fmt::Display, reason: impl Into<String>) -> Self {
        OptionsError {
            what: what.to_string(),
            reason: reason.into(),
        }
    }
}

impl SqliteOptions {
    /// The database file at `path` (created if missing), with the defaults: prefix
    /// `zart_`, [`Synchronous::Normal`], a 50 ms poll interval and a 30 s lock timeout.
    pub fn file(path: impl AsRef<Path>) -> Self {
        SqliteOptions::at(Location::File(path.as_ref().to_owned()))
    }

    /// A private in-memory database, with the defaults. For tests and trials: nothing
    /// survives the process.
    pub fn memory() -> Self {
        SqliteOptions::at(Location::Memory)
    }

    fn at(location: Location) -> Self {
        SqliteOptions {
            location,
            prefix: "zart_".to_owned(),
            synchronous: Synchronous::default(),
            poll_interval: Duration::from_millis(50),
            lock_timeout: Duration::from_secs(30),
            clock: Clock::system(),
        }
    }

    /// Tables named `<prefix>tasks` and so on, instead of `zart_tasks`: two prefixes in one
    /// file never see each other's tasks. Refused unless a plain identifier (ASCII letters,
    /// digits and `_`, not starting with a digit).
    pub fn prefix(self, prefix: &str) -> Result<Self, OptionsError> {
        let what = || format!("prefix {prefix:?}");
        let mut chars = prefix.chars();
        match chars.next() {
            None => return Err(OptionsError::new(what(), "it is empty")),
            Some(c) if c.is_ascii_digit() => {
                return Err(OptionsError::new(what(), "it starts with a digit"))
            }
            _ => {}
        }
        if !prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(OptionsError::new(
                what(),
                "only ASCII letters, digits and `_` are allowed",
            ));
        }
        if prefix.len() > MAX_PREFIX_LEN {
            return Err(OptionsError::new(
                what(),
                format!("at most {MAX_PREFIX_LEN} characters"),
            ));
        }
        Ok(SqliteOptions {
            prefix: prefix.to_owned(),
            ..self
        })
    }

    /// How commits are made durable.
    pub fn synchronous(&self) -> Synchronous {
        self.synchronous
    }

    /// Sets how commits are made durable.
    pub fn with_synchronous(self, synchronous: Synchronous) -> Self {
        SqliteOptions {
            synchronous,
            ..self
        }
    }

    /// How often a listening worker looks at the file for work that another process
    /// scheduled (workers of this process are woken at once). The bound on how late such
    /// work is noticed.
    pub fn poll_interval(self, poll_interval: Duration) -> Self {
        SqliteOptions {
            poll_interval: poll_interval.max(Duration::from_millis(1)),
            ..self
        }
    }

    /// How long a write waits for another process to finish its write before failing
    /// with a transient error.
    pub fn lock_timeout(self, lock_timeout: Duration) -> Self {
        SqliteOptions {
            lock_timeout,
            ..self
        }
    }

    /// Judges what is due by `clock` (the system's by default): a test's driven clock makes
    /// what is due later due as soon as the test moves it ahead. Every statement of the
    /// store reads it, so set it on the store's only options: another process on the same
    /// file would read the system's.
    ///
    /// ```
    /// use zart_core::clock::Clock;
    /// use zart_sqlite::SqliteOptions;
    ///
    /// let clock = Clock::driven();
    /// let options = SqliteOptions::memory().clock(clock.clone());
    /// assert_eq!(options.clock_in_use(), &clock);
    /// ```
    pub fn clock(self, clock: Clock) -> Self {
        SqliteOptions { clock, ..self }
    }

    /// The clock the store judges what is due by.
    pub fn clock_in_use(&self) -> &Clock {
        &self.clock
    }

    /// The table prefix.
    pub fn table_prefix(&self) -> &str {
        &self.prefix
    }

    /// The database file, or `None` for an in-memory database.
    pub fn path(&self) -> Option<&Path> {
        match &self.location {
            Location::File(path) => Some(path),
            Location::Memory => None,
        }
    }

    /// Where the tables are, for messages.
    pub(crate) fn describe(&self) -> String {
        match &self.location {
            Location::File(path) => format!("{}, prefix {:?}", path.display(), self.prefix),
            Location::Memory => format!("an in-memory database, prefix {:?}", self.prefix),
        }
    }
}

/// Parses `sqlite::memory:`, `sqlite://relative/path.db`, `sqlite:///absolute/path.db` or
/// `sqlite:path.db`, with optional parameters `synchronous=normal|full` and
/// `prefix=<identifier>` (`?synchronous=full&prefix=app_`).
impl FromStr for SqliteOptions {
    type Err = OptionsError;

    fn from_str(url: &str) -> Result<Self, OptionsError> {
        let rest = url.strip_prefix("sqlite:").ok_or_else(|| {
            OptionsError::new(format!("URL {url:?}"), "it must start with `sqlite:`")
        })?;
        let (place, query) = match rest.split_once('?') {
            Some((place, query)) => (place, Some(query)),
            None => (rest, None),
        };
        let place = place.strip_prefix("//").unwrap_or(place);
        let mut options = match place {
            ":memory:" | "memory:" => SqliteOptions::memory(),
            "" => {
                return Err(OptionsError::new(
                    format!("URL {url:?}"),
                    "it names no file (write `sqlite://path/to/file.db` or `sqlite::memory:`)",
                ))
            }
            path => SqliteOptions::file(path),
        };
        for pair in query
            .into_iter()
            .flat_map(|q| q.split('&'))
            .filter(|p| !p.is_empty())
        {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            options = match key {
                "synchronous" => match value.to_ascii_lowercase().as_str() {
                    "normal" => options.with_synchronous(Synchronous::Normal),
                    "full" => options.with_synchronous(Synchronous::Full),
                    _ => {
                        return Err(OptionsError::new(
                            format!("synchronous={value:?}"),
                            "expected `normal` or `full`",
                        ))
                    }
                },
                "prefix" => options.prefix(value)?,
                _ => {
                    return Err(OptionsError::new(
                        format!("parameter {key:?} in {url:?}"),
                        "unknown; the parameters are `synchronous` and `prefix`",
                    ))
                }
            };
        }
        Ok(options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_files_memory_and_settings() {
        let parse = |url: &str| url.parse::<SqliteOptions>();
        assert_eq!(
            parse("sqlite::memory:").map(|o| o.location),
            Ok(Location::Memory)
        );
        assert_eq!(
            parse("sqlite://a/b.db").map(|o| o.location),
            Ok(Location::File("a/b.db".into()))
        );
        assert_eq!(
            parse("sqlite:///tmp/b.db").map(|o| o.location),
            Ok(Location::File("/tmp/b.db".into()))
        );
        assert_eq!(
            parse("sqlite:b.db").map(|o| o.location),
            Ok(Location::File("b.db".into()))
        );
        let full = parse("sqlite://b.db?synchronous=FULL&prefix=app_");
        assert_eq!(full.as_ref().map(|o| o.synchronous), Ok(Synchronous::Full));
        assert_eq!(full.as_ref().map(|o| o.prefix.as_str()), Ok("app_"));
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        let error = |url: &str| {
            url.parse::<SqliteOptions>()
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        assert!(error("postgres://x").contains("must start with `sqlite:`"));
        assert!(error("sqlite://").contains("names no file"));
        assert!(error("sqlite://a.db?synchronous=off").contains("expected `normal` or `full`"));
        assert!(error("sqlite://a.db?cache=shared").contains("unknown"));
        assert!(error("sqlite://a.db?prefix=1x").contains("starts with a digit"));
        assert!(error("sqlite://a.db?prefix=a-b").contains("only ASCII letters"));
    }
}
