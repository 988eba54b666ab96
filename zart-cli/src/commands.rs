//! Dispatch: each command to its module, and the two that need no module of their own
//! (`migrate`, `completions`).

use clap::CommandFactory;
use serde_json::json;

use crate::cli::{Cli, Command, ExecutionsCommand, Global};
use crate::connect::{self, connect, Missing};
use crate::error::CliResult;
use crate::output::Output;
use crate::{events, fleet, schedules, serve, show, tasks};

/// Runs the command `cli` names and returns what it prints.
pub(crate) async fn run(cli: &Cli) -> CliResult<Output> {
    let global = &cli.global;
    match &cli.command {
        Command::Migrate => migrate(global).await,
        Command::Tasks(command) => tasks::run(global, command).await,
        Command::Executions(ExecutionsCommand::Show { id }) => {
            show::run(global, id, show::Order::StepsFirst).await
        }
        Command::Events(command) => events::run(global, command).await,
        Command::Schedules(command) => schedules::run(global, command).await,
        Command::Queues { action } => fleet::run(global, action.as_ref()).await,
        Command::Workers => fleet::workers(global).await,
        Command::Serve(args) => serve::run(global, args).await,
        Command::Completions { shell } => Ok(completions(*shell)),
    }
}

/// Connecting creates or upgrades the tables: that is the whole of `migrate`.
async fn migrate(global: &Global) -> CliResult<Output> {
    connect(global, Missing::Create).await?;
    let place = connect::describe(global);
    Ok(match global.json {
        true => Output::Json(json!({ "migrated": true, "store": place })),
        false => Output::Text(format!(
            "migrated: Zart's tables are created and up to date ({place})\n"
        )),
    })
}

fn completions(shell: clap_complete::Shell) -> Output {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "zart", &mut script);
    Output::Text(String::from_utf8_lossy(&script).into_owned())
}
