//! How SQLite's errors map to the store's [`ErrorKind`]s.

use std::path::Path;

use rusqlite::ErrorCode;
use zart_core::{ErrorKind, StoreError};

/// The kind of a driver error: whether trying again may help, and if not, why.
pub(crate) fn classify(error: &rusqlite::Error) -> ErrorKind {
    match error {
        rusqlite::Error::SqliteFailure(failure, _) => match failure.code {
            ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::SystemIoFailure
            | ErrorCode::DiskFull
            | ErrorCode::OutOfMemory
            | ErrorCode::CannotOpen
            | ErrorCode::FileLockingProtocolFailed => ErrorKind::Transient,
            ErrorCode::ConstraintViolation => ErrorKind::Conflict,
            _ => ErrorKind::Rejected,
        },
        rusqlite::Error::QueryReturnedNoRows => ErrorKind::NotFound,
        _ => ErrorKind::Rejected,
    }
}

/// Whether `error` says another connection holds a lock this one needs.
pub(crate) fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

/// The store error for `error`, raised while doing `context` on the tables at `place`.
pub(crate) fn store_error(
    place: &str,
    context: &'static str,
    error: rusqlite::Error,
) -> StoreError {
    let missing = matches!(&error, rusqlite::Error::SqliteFailure(_, Some(message)) if message.starts_with("no such table"));
    if missing {
        let connect = "SqliteTaskScheduler::connect";
        return StoreError::not_migrated(context, place, connect, error);
    }
    StoreError::new(classify(&error), context, error)
}

/// The store error for a database file at `path` (described as `place`) that cannot be
/// opened. A folder that does not exist is said by name, and is no transient failure:
/// SQLite creates the file, never its folder, so trying again cannot help.
pub(crate) fn open_error(path: Option<&Path>, place: &str, error: rusqlite::Error) -> StoreError {
    let context = "opening the database";
    let folder = path
        .and_then(Path::parent)
        .filter(|folder| !folder.as_os_str().is_empty() && !folder.exists());
    if let Some(folder) = folder {
        return StoreError::new(
            ErrorKind::Rejected,
            context,
            format!(
                "cannot open {place}: the folder {} does not exist (SQLite creates the file, \
                 not its folder)",
                folder.display()
            ),
        );
    }
    StoreError::new(
        classify(&error),
        context,
        format!("cannot open {place}: {error}"),
    )
}

/// A value read back that is not what Zart wrote.
pub(crate) fn corrupt(column: usize, detail: impl Into<String>) -> rusqlite::Error {
    let detail: String = detail.into();
    rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, detail.into())
}
