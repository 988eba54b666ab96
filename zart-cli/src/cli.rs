//! The command line, as clap types. Values with a meaning of their own (statuses, times,
//! cursors, JSON) stay strings here and are read by the commands, so that a wrong one is
//! reported as one `zart: ...` line naming what would be right.

use clap::{Args, Parser, Subcommand};
use clap_complete::Shell;

/// What `--help` says about exit codes; the crate documentation repeats it.
const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  a database or connection error
  2  bad usage or bad input (unknown option, invalid JSON, bad time, unknown status)
  3  the task, execution, schedule or queue does not exist
  4  the action was refused in the current state (retry of a task that has not
     ended, cancel of an ended task, pause of a paused schedule, ...)

Errors are one line on stderr: `zart: <message>`. With --json, stdout holds one JSON
document on success and nothing on failure.";

/// Where the options every command takes are listed in `--help`, apart from its own.
const GLOBAL: &str = "Global options";

/// Inspect and steer a Zart store: tasks, durable executions, recurring schedules,
/// queues and workers.
#[derive(Debug, Parser)]
#[command(
    name = "zart",
    version,
    long_about = "Inspect and steer a Zart store: tasks, durable executions, recurring \
                  schedules, queues and workers, on PostgreSQL or SQLite.\n\n\
                  The store is --url (or DATABASE_URL), by default the SQLite file \
                  ./zart.db. Only `migrate` creates or upgrades Zart's tables (and a \
                  missing SQLite file); every other command refuses a store whose tables \
                  are missing or older than this zart, and says to run `zart migrate`.",
    after_long_help = EXIT_CODES
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Where the store is, and how to print.
#[derive(Debug, Args)]
pub(crate) struct Global {
    /// The store: postgres://... or sqlite://path/to/file.db
    #[arg(
        long,
        global = true,
        help_heading = GLOBAL,
        env = "DATABASE_URL",
        default_value = zart::Zart::DEFAULT_URL,
        // The URL may hold a password: --help must not print it.
        hide_env_values = true
    )]
    pub(crate) url: String,
    /// Table name prefix (default zart_)
    #[arg(long, global = true, help_heading = GLOBAL, env = "ZART_TABLE_PREFIX")]
    pub(crate) prefix: Option<String>,
    /// PostgreSQL schema of Zart's tables (PostgreSQL only)
    #[arg(long, global = true, help_heading = GLOBAL, env = "ZART_SCHEMA")]
    pub(crate) schema: Option<String>,
    /// Print one JSON document on stdout instead of text
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub(crate) json: bool,
}

impl Global {
    /// The store's URL. An empty `DATABASE_URL=` means the default, as
    /// `Zart::connect_default` reads it.
    pub(crate) fn url(&self) -> &str {
        match self.url.trim() {
            "" => zart::Zart::DEFAULT_URL,
            url => url,
        }
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create or upgrade Zart's tables
    Migrate,
    /// List, show, cancel and re-run tasks
    #[command(subcommand)]
    Tasks(TasksCommand),
    /// Show durable executions with their step timeline
    #[command(subcommand)]
    Executions(ExecutionsCommand),
    /// Send events to durable executions
    #[command(subcommand)]
    Events(EventsCommand),
    /// List, show and steer recurring schedules
    #[command(subcommand)]
    Schedules(SchedulesCommand),
    /// Tasks per queue (pending, running, failed, dead, oldest due), limits and pauses;
    /// pause and resume a queue
    Queues {
        #[command(subcommand)]
        action: Option<QueuesCommand>,
    },
    /// Live workers and how many tasks each runs now
    Workers,
    /// Serve the admin: the web UI and the JSON API
    Serve(ServeArgs),
    /// Print a shell completion script to stdout
    Completions {
        /// The shell to complete for
        shell: Shell,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum QueuesCommand {
    /// Every queue (what `zart queues` alone prints)
    List,
    /// Stop every worker from starting the queue's tasks (running ones finish)
    Pause {
        /// The queue
        queue: String,
    },
    /// Let workers start the queue's tasks again
    Resume {
        /// The queue
        queue: String,
    },
    /// Set the queue's limits for every worker, in place of those its workers' code
    /// declares (until `reset`); a limit not given is no limit
    Limit {
        /// The queue
        queue: String,
        /// At most N of its tasks running at once, across all workers
        #[arg(long, value_name = "N")]
        global: Option<u32>,
        /// At most N tasks of one key running at once: FIELD=N, FIELD a dotted path into
        /// the input (tenant.id=2)
        #[arg(long, value_name = "FIELD=N")]
        per_key: Option<String>,
        /// At most N starts in any window of PERIOD: N/PERIOD (100/1m, 5/10s; units ms, s,
        /// m, h, d)
        #[arg(long, value_name = "N/PERIOD")]
        rate: Option<String>,
    },
    /// Put back the limits the queue's workers' code declares
    Reset {
        /// The queue
        queue: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TasksCommand {
    /// List tasks, newest first, a page at a time
    List(ListArgs),
    /// Everything stored about a task (and its steps, waits, events and children)
    Show {
        /// The task's id
        id: String,
    },
    /// Cancel a task (a running one is asked to stop)
    Cancel {
        /// The task's id
        id: String,
    },
    /// Run an ended task again, keeping its step log (completed steps are not re-run)
    Retry {
        /// The task's id
        id: String,
    },
    /// Run an ended task again from scratch, forgetting its step log and events
    Restart {
        /// The task's id
        id: String,
    },
}

/// The filters and page of `tasks list`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Only tasks with this status: pending, waiting, running, completed, failed, dead,
    /// cancelled, or, for a durable execution suspended in a wait (stored as pending),
    /// sleeping, awaiting_event or awaiting_child
    #[arg(long, value_name = "STATUS")]
    pub(crate) status: Option<String>,
    /// Only tasks of this name
    #[arg(long, value_name = "NAME")]
    pub(crate) name: Option<String>,
    /// Only tasks of this queue's names
    #[arg(long, value_name = "QUEUE")]
    pub(crate) queue: Option<String>,
    /// Only tasks whose id starts with this
    #[arg(long, value_name = "PREFIX")]
    pub(crate) id_prefix: Option<String>,
    /// Only tasks created at or after this: RFC 3339, a date, or ago (-30m, -1h, -2d)
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub(crate) since: Option<String>,
    /// Only tasks created before this: RFC 3339, a date, or ago (-30m, -1h, -2d)
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub(crate) until: Option<String>,
    /// Most tasks on the page
    #[arg(long, value_name = "N", default_value_t = 50,
          value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub(crate) limit: u16,
    /// Go on after this cursor (printed at the end of the previous page)
    #[arg(long, value_name = "CURSOR")]
    pub(crate) after: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ExecutionsCommand {
    /// A durable execution: its step timeline first, then the record
    Show {
        /// The execution's id
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum EventsCommand {
    /// Send event NAME to execution ID (kept until the execution waits for it)
    Send {
        /// The execution's id
        id: String,
        /// The event's name
        name: String,
        /// The event's payload, as JSON (default null)
        #[arg(long, value_name = "JSON", allow_hyphen_values = true)]
        payload: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum SchedulesCommand {
    /// Every recurring schedule
    List,
    /// A schedule: declaration, state, next slots and history
    Show {
        /// The schedule's id
        id: String,
    },
    /// Stop firing; slots meanwhile count as missed on resume
    Pause {
        /// The schedule's id
        id: String,
    },
    /// Fire again (a stopped schedule starts from its next future slot)
    Resume {
        /// The schedule's id
        id: String,
    },
    /// Start one run now, outside the slots, as the overlap policy allows
    Trigger {
        /// The schedule's id
        id: String,
    },
    /// Stop firing until resumed; started runs finish
    Stop {
        /// The schedule's id
        id: String,
    },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn globals_go_anywhere_and_times_may_start_with_a_hyphen() {
        let cli = Cli::try_parse_from([
            "zart", "tasks", "list", "--since", "-1h", "--json", "--limit", "7",
        ]);
        let Ok(Cli {
            global,
            command: Command::Tasks(TasksCommand::List(args)),
        }) = cli
        else {
            panic!("parses: {cli:?}");
        };
        assert!(global.json);
        assert_eq!(args.since.as_deref(), Some("-1h"));
        assert_eq!(args.limit, 7);
        assert!(Cli::try_parse_from(["zart", "tasks", "list", "--limit", "1001"]).is_err());
    }
}

/// Where and how `serve` serves the admin.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The address to listen on: loopback unless told otherwise (the admin can change
    /// what runs: expose it only behind your own access control)
    #[arg(long, value_name = "ADDRESS", default_value = "127.0.0.1:7080")]
    pub(crate) bind: std::net::SocketAddr,
    /// The token every request must carry; a random one is made (and printed) when unset
    #[arg(long, env = "ZART_ADMIN_TOKEN", hide_env_values = true)]
    pub(crate) token: Option<String>,
    /// Refuse every change: see, never steer
    #[arg(long)]
    pub(crate) read_only: bool,
}
