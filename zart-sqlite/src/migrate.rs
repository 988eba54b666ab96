//! The embedded migrations and the runner that applies them.
//!
//! The SQL lives in the workspace's `migrations/sqlite/` folder (packaged with this crate
//! as `migrations/`) with `{{prefix}}`-style placeholders, rendered for the store's table
//! prefix.

use rusqlite::OptionalExtension;
use zart_core::migrations::MigrationState;
use zart_core::StoreResult;

use crate::codec::{NOW, SYSTEM_NOW};
use crate::db::Db;

/// One embedded migration.
struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "schema",
        sql: include_str!("../migrations/0001_schema.sql"),
    },
    Migration {
        version: 2,
        name: "admin",
        sql: include_str!("../migrations/0002_admin.sql"),
    },
    Migration {
        version: 3,
        name: "queue controls",
        sql: include_str!("../migrations/0003_queue_controls.sql"),
    },
    Migration {
        version: 4,
        name: "queue overrides",
        sql: include_str!("../migrations/0004_queue_overrides.sql"),
    },
    Migration {
        version: 5,
        name: "trace context and application version",
        sql: include_str!("../migrations/0005_trace_and_version.sql"),
    },
    Migration {
        version: 6,
        name: "failed step attempts",
        sql: include_str!("../migrations/0006_step_attempts.sql"),
    },
];

/// Applies the migrations the tables of `prefix` have not seen yet, in one write
/// transaction: safe to call twice, and from several processes at once (the second waits
/// for the first's lock, then finds nothing to do).
pub(crate) async fn run(db: &Db, prefix: &str) -> StoreResult<()> {
    let applied = db
        .write("applying migrations", |conn| {
            conn.execute_batch(&format!(
                "CREATE TABLE IF NOT EXISTS \"{prefix}migrations\" (
                    version    INTEGER PRIMARY KEY,
                    name       TEXT    NOT NULL,
                    applied_at INTEGER NOT NULL
                 )"
            ))?;
            let done: Vec<i64> = conn
                .prepare(&format!("SELECT version FROM \"{prefix}migrations\""))?
                .query_map([], |row| row.get(0))?
                .collect::<Result<_, _>>()?;
            let mut applied = Vec::new();
            for migration in MIGRATIONS.iter().filter(|m| !done.contains(&m.version)) {
                conn.execute_batch(&render(migration.sql, prefix))?;
                conn.execute(
                    &format!("INSERT INTO \"{prefix}migrations\" (version, name, applied_at) VALUES (?1, ?2, {NOW})"),
                    (migration.version, migration.name),
                )?;
                applied.push(migration);
            }
            Ok(applied)
        })
        .await?;
    for migration in applied {
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "applied migration"
        );
    }
    Ok(())
}

/// How the tables of `prefix` compare with [`MIGRATIONS`], without creating anything.
pub(crate) async fn state(db: &Db, prefix: &str) -> StoreResult<MigrationState> {
    let table = format!("{prefix}migrations");
    let applied = db
        .read("reading applied migrations", |conn| {
            let exists = conn
                .query_row(
                    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                    [&table],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
            if !exists {
                return Ok(None);
            }
            conn.prepare(&format!("SELECT version FROM \"{table}\""))?
                .query_map([], |row| row.get(0))?
                .collect::<Result<Vec<i64>, _>>()
                .map(Some)
        })
        .await?;
    let embedded: Vec<i64> = MIGRATIONS.iter().map(|m| m.version).collect();
    Ok(MigrationState::of(applied.as_deref(), &embedded))
}

/// A migration's SQL for the tables of `prefix`.
fn render(sql: &str, prefix: &str) -> String {
    sql.replace("{{prefix}}", prefix)
        .replace("{{now}}", SYSTEM_NOW)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_is_rendered() {
        for migration in MIGRATIONS {
            let sql = render(migration.sql, "p_");
            assert!(
                !sql.contains("{{"),
                "migration {} keeps a placeholder",
                migration.name
            );
        }
    }
}
