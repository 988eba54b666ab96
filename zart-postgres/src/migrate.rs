//! The embedded migrations and the runner that applies them.
//!
//! The SQL lives in the workspace's `migrations/postgres/` folder (packaged with this crate
//! as `migrations/`) with `{{tasks}}`-style placeholders, rendered for the [`TableNames`] in
//! use: so prefixes and schemas apply to the migrations too (which `sqlx::migrate!`, with
//! its fixed SQL, could not do). Names the engine owns (a tick's id prefix) are rendered
//! from the constants of `zart-core`, so that they are written once.

use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection, PgPool, Row};
use zart_core::migrations::MigrationState;
use zart_core::task::{MAX_ID_LEN, MAX_NAME_LEN, RESERVED_PREFIX};
use zart_core::{StoreError, StoreResult};

use crate::error::store_error;
use crate::table_names::TableNames;

/// One embedded migration.
struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "tasks",
        sql: include_str!("../migrations/0001_tasks.sql"),
    },
    Migration {
        version: 2,
        name: "recurring",
        sql: include_str!("../migrations/0002_recurring.sql"),
    },
    Migration {
        version: 3,
        name: "durable",
        sql: include_str!("../migrations/0003_durable.sql"),
    },
    Migration {
        version: 4,
        name: "claim by name",
        sql: include_str!("../migrations/0004_claim_by_name.sql"),
    },
    Migration {
        version: 5,
        name: "last worker",
        sql: include_str!("../migrations/0005_last_worker.sql"),
    },
    Migration {
        version: 6,
        name: "admin",
        sql: include_str!("../migrations/0006_admin.sql"),
    },
    Migration {
        version: 7,
        name: "queue controls",
        sql: include_str!("../migrations/0007_queue_controls.sql"),
    },
    Migration {
        version: 8,
        name: "queue overrides",
        sql: include_str!("../migrations/0008_queue_overrides.sql"),
    },
    Migration {
        version: 9,
        name: "claim under a queue's lock",
        sql: include_str!("../migrations/0009_claim_locked.sql"),
    },
    Migration {
        version: 10,
        name: "trace context and application version",
        sql: include_str!("../migrations/0010_trace_and_version.sql"),
    },
    Migration {
        version: 11,
        name: "failed step attempts",
        sql: include_str!("../migrations/0011_step_attempts.sql"),
    },
    Migration {
        version: 12,
        name: "producer functions",
        sql: include_str!("../migrations/0012_producer_functions.sql"),
    },
    Migration {
        version: 13,
        name: "events wake on commit",
        sql: include_str!("../migrations/0013_events_wake_on_commit.sql"),
    },
];

/// Serialises every Zart migration on the server, whatever the table names: creating a
/// shared schema from two processes at once would otherwise race.
const MIGRATION_LOCK_KEY: i64 = 0x7a61_7274_6d69_6772; // "zartmigr"

/// Applies the migrations `names` has not seen yet, in one transaction. Safe to call twice,
/// and from many processes at once: they queue on an advisory lock and all but the first
/// find nothing to do.
pub(crate) async fn run(pool: &PgPool, names: &TableNames) -> StoreResult<()> {
    let db = |context| move |error| store_error(names, context, error);
    let mut conn = pool
        .acquire()
        .await
        .map_err(db("acquiring a connection to migrate"))?;
    let mut tx = conn
        .begin()
        .await
        .map_err(db("starting the migration transaction"))?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK_KEY)
        .execute(&mut *tx)
        .await
        .map_err(db("taking the migration lock"))?;
    // The migrations replace objects that may not be there ("DROP ... IF EXISTS"), and the
    // server's notices of that would reach the application's log as news.
    execute(&mut tx, "SET LOCAL client_min_messages = warning")
        .await
        .map_err(db("quieting the migration's notices"))?;
    if let Some(schema) = names.schema() {
        // The name was validated as a plain identifier when it was set.
        execute(
            &mut tx,
            &format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""),
        )
        .await
        .map_err(db("creating the schema"))?;
    }
    let table = names.migrations();
    let create = format!(
        "CREATE TABLE IF NOT EXISTS {table} (
            version    bigint      PRIMARY KEY,
            name       text        NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )"
    );
    execute(&mut tx, &create)
        .await
        .map_err(db("creating the migrations table"))?;
    let applied = applied_versions(&mut tx, &table)
        .await
        .map_err(db("reading applied migrations"))?;

    let pending: Vec<&Migration> = MIGRATIONS
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .collect();
    for migration in pending {
        let sql = render(migration.sql, names);
        if let Err(source) = apply(&mut tx, &table, migration, &sql).await {
            let failed = format!(
                "migration {} ({}) failed, nothing was applied: {}",
                migration.version,
                migration.name,
                crate::error::Described(&source)
            );
            return Err(StoreError::new(
                crate::error::classify(&source),
                "applying migrations",
                failed,
            ));
        }
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "applied migration"
        );
    }
    tx.commit().await.map_err(db("committing migrations"))
}

/// How the tables of `names` compare with [`MIGRATIONS`], without creating anything.
pub(crate) async fn state(
    conn: &mut PgConnection,
    names: &TableNames,
) -> StoreResult<MigrationState> {
    let db = |context| move |error| store_error(names, context, error);
    let table = names.migrations();
    // `to_regclass` is NULL for a table (or a schema) that is not there, where reading it
    // would fail.
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(&table)
        .fetch_one(&mut *conn)
        .await
        .map_err(db("looking for the migrations table"))?;
    if !exists {
        return Ok(MigrationState::Missing);
    }
    let applied = applied_versions(conn, &table)
        .await
        .map_err(db("reading applied migrations"))?;
    let embedded: Vec<i64> = MIGRATIONS.iter().map(|m| m.version).collect();
    Ok(MigrationState::of(Some(&applied), &embedded))
}

// These helpers take a concrete connection and run plain strings through
// `Executor::execute`: `sqlx::raw_sql` would make `run`'s future `Send` for one lifetime
// only, and callers must be able to `tokio::spawn` a migration.
async fn execute(conn: &mut PgConnection, sql: &str) -> std::result::Result<(), sqlx::Error> {
    // A plain string runs over the simple-query protocol: several statements are fine.
    conn.execute(AssertSqlSafe(sql)).await.map(drop)
}

async fn applied_versions(
    conn: &mut PgConnection,
    table: &str,
) -> std::result::Result<Vec<i64>, sqlx::Error> {
    let rows = sqlx::query(AssertSqlSafe(format!("SELECT version FROM {table}")))
        .fetch_all(conn)
        .await?;
    rows.iter().map(|row| row.try_get(0)).collect()
}

async fn apply(
    conn: &mut PgConnection,
    table: &str,
    migration: &Migration,
    sql: &str,
) -> std::result::Result<(), sqlx::Error> {
    execute(&mut *conn, sql).await?;
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {table} (version, name) VALUES ($1, $2)"
    )))
    .bind(migration.version)
    .bind(migration.name)
    .execute(conn)
    .await
    .map(drop)
}

fn render(sql: &str, names: &TableNames) -> String {
    sql.replace("{{tasks}}", &names.tasks())
        .replace("{{schedules}}", &names.schedules())
        .replace("{{schedule_runs}}", &names.schedule_runs())
        .replace("{{steps}}", &names.steps())
        .replace("{{events}}", &names.events())
        .replace("{{attempts}}", &names.attempts())
        .replace("{{workers}}", &names.workers())
        .replace("{{declared_tasks}}", &names.declared_tasks())
        .replace("{{queues}}", &names.queues())
        .replace("{{queue_starts}}", &names.queue_starts())
        .replace(
            "{{occurrence_finished}}",
            &names.qualified("occurrence_finished"),
        )
        .replace("{{child_finished}}", &names.qualified("child_finished"))
        .replace("{{claim_locked}}", &names.qualified("claim_locked"))
        .replace("{{event_sent}}", &names.qualified("event_sent"))
        .replace("{{fn_schedule}}", &names.qualified("schedule"))
        .replace("{{fn_start}}", &names.qualified("start"))
        .replace("{{fn_send_event}}", &names.qualified("send_event"))
        .replace("{{fn_cancel}}", &names.qualified("cancel"))
        .replace("{{fn_get_task}}", &names.qualified("get_task"))
        .replace(
            "{{fn_producer_api_version}}",
            &names.qualified("producer_api_version"),
        )
        .replace("{{function_search_path}}", function_search_path(names))
        .replace("{{notify_channel}}", &names.channel("notify"))
        .replace("{{read_from}}", &crate::queries::read_from(names))
        .replace("{{read_status}}", &crate::queries::read_status())
        .replace("{{max_id_len}}", &MAX_ID_LEN.to_string())
        .replace("{{max_name_len}}", &MAX_NAME_LEN.to_string())
        .replace("{{reserved_prefix}}", &literal(RESERVED_PREFIX))
        .replace(
            "{{reserved_prefix_quoted}}",
            &literal(&format!("{RESERVED_PREFIX:?}")),
        )
        .replace(
            "{{reserved_like}}",
            &literal(&crate::queries::reserved_pattern()),
        )
        .replace("{{prefix}}", names.prefix())
        .replace("{{tick_id_prefix}}", zart_core::schedules::TICK_ID_PREFIX)
        .replace(
            "{{wake_on_finish}}",
            zart_core::schedules::WAKE_ON_FINISH_KEY,
        )
}

/// What a function of the migrations sets its search path to: with a schema configured,
/// every Zart name in its body is qualified, so only the system catalog is searched (and
/// the session's temporary schema, last, so that its objects shadow nothing); without
/// one, the tables are where the migration found them, on the path it ran with.
fn function_search_path(names: &TableNames) -> &'static str {
    match names.schema() {
        Some(_) => "SET search_path = pg_catalog, pg_temp",
        None => "SET search_path FROM CURRENT",
    }
}

/// `text` for the inside of a SQL string literal.
fn literal(text: &str) -> String {
    text.replace('\'', "''")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_render_every_placeholder() {
        let names = TableNames::with_prefix("app_")
            .and_then(|n| n.with_schema("tenant"))
            .unwrap_or_default();
        for migration in MIGRATIONS {
            let sql = render(migration.sql, &names);
            assert!(
                !sql.contains("{{"),
                "unrendered placeholder in {}",
                migration.name
            );
            assert!(
                sql.contains("\"tenant\".\"app_"),
                "{} names its tables by the schema and prefix",
                migration.name
            );
        }
    }

    #[test]
    fn the_producer_functions_notify_the_channel_the_store_listens_on() {
        for names in [
            TableNames::default(),
            TableNames::with_prefix("app_")
                .and_then(|n| n.with_schema("tenant"))
                .unwrap_or_default(),
        ] {
            let producers = MIGRATIONS.iter().find(|m| m.version == 12);
            let sql = producers.map(|m| render(m.sql, &names)).unwrap_or_default();
            assert!(sql.contains(&format!("pg_notify('{}'", names.channel("notify"))));
            assert!(sql.contains(&format!("{}(", names.qualified("schedule"))));
        }
    }

    #[test]
    fn versions_increase() {
        assert!(MIGRATIONS.windows(2).all(|w| w[0].version < w[1].version));
    }
}
