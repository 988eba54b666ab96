//! `zart serve`: the admin (zart-admin's router) on an address of its own.

use std::io::Write;

use crate::cli::{Global, ServeArgs};
use crate::connect::{self, connect, Missing};
use crate::error::{CliError, CliResult};
use crate::output::Output;

/// Serves until the process is stopped; prints where, with the link that logs a browser in.
pub(crate) async fn run(global: &Global, args: &ServeArgs) -> CliResult<Output> {
    let zart = connect(global, Missing::Refuse).await?;
    let admin = zart_admin::Admin::new(zart)
        .with_token(args.token.clone().unwrap_or_default())
        .read_only(args.read_only);
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .map_err(|e| CliError::usage(format!("cannot listen on {}: {e}", args.bind)))?;
    let address = listener
        .local_addr()
        .map_err(|e| CliError::database(format!("cannot read the listening address: {e}")))?;
    let token = match args.token.as_deref().filter(|t| !t.is_empty()) {
        Some(_) => "<ZART_ADMIN_TOKEN>".to_owned(),
        None => admin.token().to_owned(),
    };
    let mut note = format!(
        "zart admin on http://{address}/ for {}{}\nopen http://{address}/?token={token}\n",
        connect::describe(global),
        if args.read_only { " (read-only)" } else { "" },
    );
    if !address.ip().is_loopback() {
        note.push_str(
            "warning: listening beyond this machine: anyone who can reach it and has the \
             token can change what runs\n",
        );
    }
    // Printed at once (and flushed): whoever started it is waiting for the link.
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(note.as_bytes())
        .and_then(|()| stdout.flush());
    drop(stdout);
    zart_admin::serve(&admin, listener)
        .await
        .map_err(|e| CliError::database(format!("the admin server stopped: {e}")))?;
    Ok(Output::Text(String::new()))
}
