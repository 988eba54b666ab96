//! How PostgreSQL's errors map to the store's [`ErrorKind`]s, and how they are said.

use std::error::Error as StdError;
use std::fmt;

use sqlx::postgres::PgDatabaseError;
use zart_core::{ErrorKind, StoreError};

use crate::table_names::TableNames;

/// The kind of a driver error: whether trying again may help, and if not, why.
pub(crate) fn classify(error: &sqlx::Error) -> ErrorKind {
    match error {
        sqlx::Error::Database(error) => match error.code().as_deref() {
            // unique_violation
            Some("23505") => ErrorKind::Conflict,
            // 08 connection, 40 rollback (serialization, deadlock), 53 resources, 55 lock
            // not available, 57 operator intervention (shutdown, cancel): worth retrying.
            Some(code) if ["08", "40", "53", "55", "57"].contains(&code.get(..2).unwrap_or("")) => {
                ErrorKind::Transient
            }
            _ => ErrorKind::Rejected,
        },
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => ErrorKind::Transient,
        sqlx::Error::RowNotFound => ErrorKind::NotFound,
        _ => ErrorKind::Rejected,
    }
}

/// The store error for `error`, raised while doing `context` on the tables of `names`.
pub(crate) fn store_error(
    names: &TableNames,
    context: &'static str,
    error: sqlx::Error,
) -> StoreError {
    let missing = match &error {
        // undefined_table, invalid_schema_name, undefined_function
        sqlx::Error::Database(e) => matches!(e.code().as_deref(), Some("42P01" | "3F000")),
        _ => false,
    };
    if missing {
        let connect = "PostgresTaskScheduler::connect";
        return StoreError::not_migrated(context, names.describe(), connect, PgError(error));
    }
    StoreError::new(classify(&error), context, PgError(error))
}

/// A driver error as people read it: what PostgreSQL said, with its detail and hint, but
/// not the line of PostgreSQL's own source that raised it, which sqlx's `Display` appends
/// (`... at line 948`) and which means nothing to a user of Zart.
pub(crate) struct Described<'a>(pub &'a sqlx::Error);

impl fmt::Display for Described<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sqlx::Error::Database(error) = self.0 else {
            return self.0.fmt(f);
        };
        f.write_str(error.message())?;
        if let Some(error) = error.try_downcast_ref::<PgDatabaseError>() {
            if let Some(detail) = error.detail() {
                write!(f, " ({detail})")?;
            }
            if let Some(hint) = error.hint() {
                write!(f, " (hint: {hint})")?;
            }
        }
        Ok(())
    }
}

/// A driver error as a store error's source, said as [`Described`] says it.
#[derive(Debug)]
pub(crate) struct PgError(pub sqlx::Error);

impl fmt::Display for PgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Described(&self.0).fmt(f)
    }
}

impl StdError for PgError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.0 {
            // Said above already; its own `Display` would add the source line again.
            sqlx::Error::Database(_) => None,
            other => other.source(),
        }
    }
}

/// A decoding failure: what the store read is not what Zart wrote.
pub(crate) fn corrupt(context: &'static str, detail: impl Into<String>) -> StoreError {
    StoreError::new(ErrorKind::Rejected, context, detail.into())
}
