//! What a command can fail with, and the exit code each failure gives (see the crate's
//! documentation for the table).

use std::fmt;
use std::process::ExitCode;

/// Why the command failed, which decides its exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Failure {
    /// The database could not be reached or failed the operation: exit 1.
    Database,
    /// The command line or a value on it is wrong: exit 2, as clap's own usage errors.
    Usage,
    /// The task, execution or schedule named does not exist: exit 3.
    NotFound,
    /// The store refused the action in the state the thing is in: exit 4.
    Refused,
}

impl Failure {
    /// The process exit code of this failure.
    pub(crate) fn code(self) -> u8 {
        match self {
            Failure::Database => 1,
            Failure::Usage => 2,
            Failure::NotFound => 3,
            Failure::Refused => 4,
        }
    }
}

/// A failed command: its kind and the one line said about it on stderr.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CliError {
    pub(crate) failure: Failure,
    pub(crate) message: String,
}

/// `Result` with a [`CliError`].
pub(crate) type CliResult<T> = Result<T, CliError>;

impl CliError {
    pub(crate) fn new(failure: Failure, message: impl Into<String>) -> Self {
        CliError {
            failure,
            message: message.into(),
        }
    }

    pub(crate) fn usage(message: impl Into<String>) -> Self {
        CliError::new(Failure::Usage, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        CliError::new(Failure::NotFound, message)
    }

    pub(crate) fn refused(message: impl Into<String>) -> Self {
        CliError::new(Failure::Refused, message)
    }

    pub(crate) fn database(message: impl Into<String>) -> Self {
        CliError::new(Failure::Database, message)
    }

    /// The exit code to end the process with.
    pub(crate) fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.failure.code())
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One line, whatever the driver's message holds: scripts read stderr line by line.
        let line: String = self
            .message
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        write!(f, "zart: {line}")
    }
}

impl From<zart::Error> for CliError {
    fn from(error: zart::Error) -> Self {
        let failure = match &error {
            zart::Error::NotFound(_) => Failure::NotFound,
            // Refused before the database saw it: an id too long, a reserved name, a URL
            // no driver takes. Fixing the command line fixes these.
            zart::Error::InvalidTask { .. }
            | zart::Error::UnsupportedUrl { .. }
            | zart::Error::AlreadyExists(_) => Failure::Usage,
            _ => Failure::Database,
        };
        CliError::new(failure, error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_line_and_codes_are_distinct() {
        let error = CliError::database("cannot connect:\n  connection refused");
        assert_eq!(
            error.to_string(),
            "zart: cannot connect: connection refused"
        );
        let codes = [
            Failure::Database,
            Failure::Usage,
            Failure::NotFound,
            Failure::Refused,
        ]
        .map(Failure::code);
        assert_eq!(codes, [1, 2, 3, 4]);
    }

    #[test]
    fn zart_errors_map_to_exit_codes() {
        let not_found = CliError::from(zart::Error::NotFound("t-1".into()));
        assert_eq!(not_found.failure, Failure::NotFound);
        let url = zart::Error::UnsupportedUrl {
            url: "mysql://x".into(),
            reason: "no driver".into(),
        };
        assert_eq!(CliError::from(url).failure, Failure::Usage);
    }
}
