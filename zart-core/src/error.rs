//! The store's error: what went wrong, classified by the driver so that the engine can
//! decide what to do about it without knowing the database.

use std::error::Error as StdError;
use std::fmt;

/// `Result` with a [`StoreError`].
pub type StoreResult<T> = Result<T, StoreError>;

/// What kind of failure a store reports. The driver classifies its database's errors; the
/// engine decides from the kind alone (retry a transient failure, give up on the others).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The operation may succeed if tried again: the connection was lost or refused, the
    /// server is shutting down or out of resources, a lock or serialization conflict.
    Transient,
    /// The database refused the operation itself (data it cannot store, a missing table, a
    /// statement it cannot run): running it again cannot succeed.
    Rejected,
    /// The operation contradicts what is stored (a unique key taken).
    Conflict,
    /// What the operation names does not exist.
    NotFound,
}

impl ErrorKind {
    /// The kind's name: `transient`, `rejected`, `conflict` or `not found`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Transient => "transient",
            ErrorKind::Rejected => "rejected",
            ErrorKind::Conflict => "conflict",
            ErrorKind::NotFound => "not found",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed store operation: its [`kind`](Self::kind), what the store was doing, and the
/// driver's own error as the source.
///
/// ```
/// use zart_core::{ErrorKind, StoreError};
///
/// let error = StoreError::new(ErrorKind::Transient, "claiming tasks", "connection reset");
/// assert!(error.is_transient());
/// assert_eq!(error.to_string(), "store error while claiming tasks (transient): connection reset");
/// ```
#[derive(Debug)]
pub struct StoreError {
    kind: ErrorKind,
    context: &'static str,
    source: Box<dyn StdError + Send + Sync>,
}

impl StoreError {
    /// A failure of `kind` while doing `context`, caused by `source`.
    pub fn new(
        kind: ErrorKind,
        context: &'static str,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        StoreError {
            kind,
            context,
            source: source.into(),
        }
    }

    /// How the driver classified the failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// What the store was doing.
    pub fn context(&self) -> &'static str {
        self.context
    }

    /// Whether trying again may succeed.
    pub fn is_transient(&self) -> bool {
        self.kind == ErrorKind::Transient
    }
}

/// Zart's tables are not where a store looked, or not at the version the code needs: said
/// with what to do.
#[derive(Debug)]
struct NotMigrated<E> {
    place: String,
    connect: &'static str,
    source: E,
}

impl<E: fmt::Display + 'static> fmt::Display for NotMigrated<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let any = &self.source as &dyn std::any::Any;
        let state = match any.downcast_ref::<crate::migrations::MigrationState>() {
            Some(crate::migrations::MigrationState::Behind { .. }) => "older than this code",
            _ => "missing",
        };
        write!(
            f,
            "Zart's tables are {state} ({}; looked in {}): run `migrate()` on the store first (`Zart::connect` and `{}` do)",
            self.source, self.place, self.connect
        )
    }
}

impl<E: StdError + 'static> StdError for NotMigrated<E> {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.source)
    }
}

impl StoreError {
    /// Zart's tables are missing from `place` (the driver's description of where it
    /// looked), as the driver's `source` error says: [`ErrorKind::Rejected`], with the
    /// advice to migrate, naming the driver's `connect` that does.
    ///
    /// ```
    /// use zart_core::{ErrorKind, StoreError};
    ///
    /// let source = std::io::Error::other("no such table: app_tasks");
    /// let error = StoreError::not_migrated("reading a task", "app.db, prefix \"app_\"", "SqliteTaskScheduler::connect", source);
    /// assert_eq!(error.kind(), ErrorKind::Rejected);
    /// assert!(error.to_string().contains("run `migrate()`"));
    /// ```
    pub fn not_migrated<E: StdError + Send + Sync + 'static>(
        context: &'static str,
        place: impl Into<String>,
        connect: &'static str,
        source: E,
    ) -> Self {
        let missing = NotMigrated {
            place: place.into(),
            connect,
            source,
        };
        StoreError::new(ErrorKind::Rejected, context, missing)
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "store error while {} ({}): {}",
            self.context, self.kind, self.source
        )
    }
}

impl StdError for StoreError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.source)
    }
}
