//! `zart`: inspect and steer a Zart store from a shell, on PostgreSQL or SQLite.
//!
//! ```text
//! zart migrate
//! zart tasks list [--status S] [--name N] [--queue Q] [--id-prefix P] [--since T] [--until T] [--limit N] [--after CURSOR]
//! zart tasks show|cancel|retry|restart ID
//! zart executions show ID
//! zart events send ID NAME [--payload JSON]
//! zart schedules list
//! zart schedules show|pause|resume|trigger|stop ID
//! zart queues
//! zart workers
//! zart completions bash|zsh|fish|elvish|powershell
//! ```
//!
//! Every command takes `--url` (or `DATABASE_URL`; by default the SQLite file `./zart.db`),
//! `--prefix` (`ZART_TABLE_PREFIX`), `--schema` (`ZART_SCHEMA`, PostgreSQL only) and
//! `--json` (one JSON document on stdout).
//!
//! # Exit codes
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success |
//! | 1 | a database or connection error |
//! | 2 | bad usage or bad input: clap's usage errors, invalid JSON, a bad time, an unknown status, an invalid cursor, prefix or schema |
//! | 3 | the task, execution, schedule or queue does not exist |
//! | 4 | the action was refused in the current state: retry of a task that has not ended, cancel of an ended task, pause of a schedule that is not active, ... |
//!
//! Errors are one line on stderr, `zart: <message>`; with `--json`, stdout then stays
//! empty. (`cli.rs` repeats the table for `--help`.)

mod cli;
mod commands;
mod connect;
mod error;
mod events;
mod fleet;
mod output;
mod parse;
mod records;
mod schedules;
mod serve;
mod show;
mod tasks;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::error::CliError;

/// How long background work of the drivers (a closing pool) may take once the command is
/// done.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            return fail(&CliError::database(format!(
                "cannot start the runtime: {e}"
            )))
        }
    };
    let result = runtime.block_on(commands::run(&cli));
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    match result {
        Ok(output) => print(&output.render()),
        Err(error) => fail(&error),
    }
}

fn print(text: &str) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => ExitCode::SUCCESS,
        // `zart tasks list | head`: the reader has what it wanted.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => fail(&CliError::database(format!("cannot write to stdout: {e}"))),
    }
}

fn fail(error: &CliError) -> ExitCode {
    // Nothing is left to report a failure to if stderr is gone too.
    let _ = writeln!(std::io::stderr(), "{error}");
    error.exit_code()
}
