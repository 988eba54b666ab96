//! From `--url`, `--prefix` and `--schema` to a connected [`Zart`]: migrated by `zart
//! migrate`, and only checked by every other command, which must not create a store where a
//! name was mistyped.
//!
//! The drivers are built by hand rather than through `Zart::connect` because only they
//! take table names: PostgreSQL through [`TableNames`] (prefix and schema), SQLite through
//! [`SqliteOptions::prefix`].

use std::time::Duration;

use zart::postgres::{PoolConfig, PostgresTaskScheduler, TableNames};
use zart::sqlite::{SqliteOptions, SqliteTaskScheduler};
use zart::store::MigrationState;
use zart::Zart;

use crate::cli::Global;
use crate::error::{CliError, CliResult};

/// A command runs a few statements one after the other, and `serve` a few at once: two
/// connections are plenty (a listener has one of its own, outside the pool).
const POOL_SIZE: u32 = 2;
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// What a command may do to a store (a SQLite file, Zart's tables) that is not there, or
/// is older than this `zart`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Missing {
    /// Create or upgrade it (`migrate`).
    Create,
    /// Refuse, saying to run `zart migrate`: a mistyped path, schema or prefix would
    /// otherwise leave an empty store behind and show nothing, as if it had no tasks.
    Refuse,
}

/// The store the options name, connected; its tables created or upgraded (`Create`), or
/// found current (`Refuse`).
pub(crate) async fn connect(global: &Global, missing: Missing) -> CliResult<Zart> {
    let prefix = non_empty(&global.prefix);
    let schema = non_empty(&global.schema);
    let url = global.url();
    match scheme(url) {
        Some("postgres" | "postgresql") => {
            let store = postgres(url, prefix, schema, missing).await?;
            if missing == Missing::Refuse {
                current(global, store.migration_state().await)?;
            }
            Ok(Zart::from_backend(&store))
        }
        Some("sqlite") => {
            if schema.is_some() {
                return Err(CliError::usage(
                    "--schema (or ZART_SCHEMA) is for PostgreSQL: SQLite has no schemas; \
                     use --prefix to keep several sets of tables in one file",
                ));
            }
            let store = sqlite(url, prefix, missing).await?;
            if missing == Missing::Refuse {
                current(global, store.migration_state().await)?;
            }
            Ok(Zart::from_backend(&store))
        }
        // Zart's own connect names the URLs it takes.
        _ => Ok(Zart::connect(url).await?),
    }
}

/// Refuses tables that are missing or older than this `zart`, saying where they were
/// looked for and to run `zart migrate`.
fn current(global: &Global, state: zart::store::StoreResult<MigrationState>) -> CliResult<()> {
    let place = describe(global);
    match state.map_err(zart::Error::from)? {
        MigrationState::Current => Ok(()),
        MigrationState::Missing => Err(CliError::database(format!(
            "Zart's tables are not there ({place}): run `zart migrate` with the same \
             options to create them, or check --url, --schema and --prefix"
        ))),
        MigrationState::Behind { applied, embedded } => Err(CliError::database(format!(
            "Zart's tables ({place}) are older than this zart ({applied} of its {embedded} \
             migrations applied): run `zart migrate` with the same options to upgrade them"
        ))),
        // A state a newer driver tells of: nothing this zart knows to refuse.
        _ => Ok(()),
    }
}

/// Where the tables are, for messages: the URL without its password, the schema and the
/// prefix.
pub(crate) fn describe(global: &Global) -> String {
    let mut place = without_password(global.url());
    if let Some(schema) = non_empty(&global.schema) {
        place += &format!(", schema {schema:?}");
    }
    let prefix = non_empty(&global.prefix).unwrap_or("zart_");
    place + &format!(", prefix {prefix:?}")
}

fn scheme(url: &str) -> Option<&str> {
    url.split_once(':').map(|(scheme, _)| scheme)
}

/// An empty `ZART_TABLE_PREFIX=` means the default, as `TableNames::from_env_or_default`
/// reads it.
fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

async fn postgres(
    url: &str,
    prefix: Option<&str>,
    schema: Option<&str>,
    missing: Missing,
) -> CliResult<PostgresTaskScheduler> {
    let names = match prefix {
        Some(prefix) => TableNames::with_prefix(prefix),
        None => Ok(TableNames::default()),
    };
    let names = match schema {
        Some(schema) => names.and_then(|n| n.with_schema(schema)),
        None => names,
    }
    .map_err(|e| CliError::usage(e.to_string()))?;
    // One command, a statement or two: nothing to keep open.
    let config = PoolConfig {
        max_connections: POOL_SIZE,
        min_connections: 0,
        acquire_timeout: ACQUIRE_TIMEOUT,
    };
    // The driver's connect says an unreachable server at once, with its address, and a
    // database that is not there by name.
    let store = PostgresTaskScheduler::open_with(url, config, names)
        .await
        .map_err(|e| match e.kind() {
            zart::store::ErrorKind::Rejected => CliError::usage(format!(
                "invalid PostgreSQL URL {}: {e}",
                without_password(url)
            )),
            _ => CliError::from(zart::Error::from(e)),
        })?;
    if missing == Missing::Create {
        store.migrate().await.map_err(zart::Error::from)?;
    }
    Ok(store)
}

async fn sqlite(
    url: &str,
    prefix: Option<&str>,
    missing: Missing,
) -> CliResult<SqliteTaskScheduler> {
    let mut options: SqliteOptions = url
        .parse()
        .map_err(|e: zart::sqlite::OptionsError| CliError::usage(e.to_string()))?;
    if let Some(prefix) = prefix {
        options = options
            .prefix(prefix)
            .map_err(|e| CliError::usage(e.to_string()))?;
    }
    if let (Missing::Refuse, Some(path)) = (missing, options.path()) {
        if !path.exists() {
            return Err(CliError::database(format!(
                "no SQLite database at {}: run `zart migrate` to create it, or pass --url \
                 (or set DATABASE_URL) to name the store",
                path.display()
            )));
        }
    }
    let store = match missing {
        Missing::Create => SqliteTaskScheduler::connect_with(options).await,
        Missing::Refuse => SqliteTaskScheduler::open(options),
    };
    Ok(store.map_err(zart::Error::from)?)
}

/// `url` with its password, if any, replaced by `***`.
pub(crate) fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((credentials, host)) if credentials.contains(':') => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}{path}")
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn global(url: &str, prefix: Option<&str>, schema: Option<&str>) -> Global {
        Global {
            url: url.to_owned(),
            prefix: prefix.map(str::to_owned),
            schema: schema.map(str::to_owned),
            json: false,
        }
    }

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            without_password("postgres://app:s3cret@db:5432/app"),
            "postgres://app:***@db:5432/app"
        );
        assert_eq!(without_password("sqlite://a.db"), "sqlite://a.db");
        let place = describe(&global("postgres://u:p@h/d", Some(""), Some("t1")));
        assert_eq!(
            place,
            "postgres://u:***@h/d, schema \"t1\", prefix \"zart_\""
        );
    }

    #[tokio::test]
    async fn bad_names_and_a_schema_on_sqlite_are_usage_errors() {
        let failure =
            |g: Global| async move { connect(&g, Missing::Create).await.err().map(|e| e.failure) };
        let usage = Some(crate::error::Failure::Usage);
        let dir = std::env::temp_dir().join("zart-cli-never-created.db");
        let url = format!("sqlite://{}", dir.display());
        assert_eq!(failure(global(&url, None, Some("s"))).await, usage);
        assert_eq!(failure(global(&url, Some("1x"), None)).await, usage);
        assert_eq!(
            failure(global("postgres://h/d", Some("a;b"), None)).await,
            usage
        );
        assert_eq!(failure(global("mysql://h/d", None, None)).await, usage);
        assert!(!dir.exists(), "nothing was created");
    }
}
