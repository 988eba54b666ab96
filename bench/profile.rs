//! `zart-bench profile [SECONDS] [FIGURES] [postgres|sqlite]`: where the time goes, figure
//! by figure.
//!
//! Runs each figure on PostgreSQL alone, with `pg_stat_statements` reset before it, and
//! prints the statements that took the most execution time: how often each ran, its mean,
//! the rows it touched per call, and its share of the server's time in that figure. Beside
//! it, the figure's wall time: what the server's total leaves is the worker's own time and
//! the round trips. Needs `pg_stat_statements` loaded (`shared_preload_libraries`); the
//! message says how when it is not. Writes `target/zart-bench-profile-report.md`.
//!
//! On SQLite, where the store runs inside the process, it runs the figures alone, without
//! the ceiling, for a profiler of the process to wrap:
//! `perf record -e cpu-clock -g -- target/release/zart-bench profile 5 drain sqlite`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sqlx::{PgPool, Row};
use zart::sqlite::Synchronous;

use crate::target::{workspace, Driver};
use crate::{BoxError, Figures};

/// Statements shown per figure.
const TOP: i64 = 8;

pub async fn run(mut args: impl Iterator<Item = String>) -> Result<(), BoxError> {
    let secs: u64 = match args.next() {
        Some(arg) => arg
            .parse()
            .map_err(|_| format!("SECONDS must be a whole number, not {arg:?}"))?,
        None => 5,
    };
    let figures = Figures::parse(args.next().as_deref())?;
    let which = args.next().unwrap_or_else(|| "postgres".to_owned());
    let (drivers, dir) = crate::drivers(&which, 20, &[Synchronous::Normal]).await?;
    let Some(driver @ Driver::Postgres { pool, .. }) = drivers.first() else {
        let rows = match drivers.first() {
            Some(driver) => {
                crate::measure(
                    driver,
                    &HashMap::new(),
                    Duration::from_secs(secs),
                    true,
                    &figures,
                )
                .await?
            }
            None => Vec::new(),
        };
        let _ = std::fs::remove_dir_all(&dir);
        for row in rows {
            println!("{}: {:.1} {}", row.name, row.value, row.unit);
        }
        return Ok(());
    };
    let _ = std::fs::remove_dir_all(&dir);
    ready(pool).await?;
    let mut report = String::new();
    for name in figures.names() {
        eprintln!("profiling {name}...");
        reset(pool).await?;
        let start = Instant::now();
        let rows = crate::measure(
            driver,
            &HashMap::new(),
            Duration::from_secs(secs),
            true,
            &Figures::only(name),
        )
        .await?;
        let wall = start.elapsed();
        report.push_str(&section(pool, name, wall, &rows).await?);
    }
    println!("{report}");
    let path = workspace().join("target/zart-bench-profile-report.md");
    std::fs::write(&path, &report)?;
    eprintln!("report written to {}", path.display());
    Ok(())
}

async fn ready(pool: &PgPool) -> Result<(), BoxError> {
    let loaded: String = sqlx::query_scalar("SELECT current_setting('shared_preload_libraries')")
        .fetch_one(pool)
        .await?;
    if !loaded.split(',').any(|l| l.trim() == "pg_stat_statements") {
        return Err("pg_stat_statements is not loaded on this server: run \
             `ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'` as a \
             superuser, restart the server, and profile again"
            .into());
    }
    sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .execute(pool)
        .await?;
    Ok(())
}

async fn reset(pool: &PgPool) -> Result<(), BoxError> {
    sqlx::query("SELECT pg_stat_statements_reset()")
        .execute(pool)
        .await?;
    Ok(())
}

/// The figure's line of results and its top statements, as Markdown.
async fn section(
    pool: &PgPool,
    name: &str,
    wall: Duration,
    rows: &[crate::Row],
) -> Result<String, BoxError> {
    let statements = sqlx::query(
        "WITH s AS (
            SELECT query, calls, total_exec_time, total_plan_time, rows
            FROM pg_stat_statements
            WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
              AND query NOT LIKE '%pg_stat_statements%'
         )
         SELECT regexp_replace(query, '\\s+', ' ', 'g'), calls, total_exec_time,
                total_exec_time / greatest(calls, 1) * 1000, rows::float8 / greatest(calls, 1),
                total_exec_time / nullif(sum(total_exec_time) OVER (), 0),
                sum(total_exec_time) OVER (),
                total_plan_time / greatest(calls, 1) * 1000
         FROM s ORDER BY total_exec_time DESC LIMIT $1",
    )
    .bind(TOP)
    .fetch_all(pool)
    .await?;
    let server_ms: f64 = statements
        .first()
        .map(|row| row.try_get::<f64, _>(6))
        .transpose()?
        .unwrap_or(0.0);
    let mut out = format!(
        "### {name}\n\n{}wall {:.0} ms; statements' execution time on the server {:.0} ms\n\n\
         | share | calls | mean µs | plan µs | rows/call | statement |\n|---:|---:|---:|---:|---:|---|\n",
        rows.iter()
            .map(|row| format!("{}: {:.1} {}; ", row.name, row.value, row.unit))
            .collect::<String>(),
        wall.as_secs_f64() * 1000.0,
        server_ms,
    );
    for row in statements {
        let text: String = row.try_get(0)?;
        let calls: i64 = row.try_get(1)?;
        let mean_us: f64 = row.try_get(3)?;
        let per_call: f64 = row.try_get(4)?;
        let share: Option<f64> = row.try_get(5)?;
        // Planning is counted only with `pg_stat_statements.track_planning` on.
        let plan_us: f64 = row.try_get(7)?;
        out.push_str(&format!(
            "| {:.0} % | {calls} | {mean_us:.0} | {plan_us:.0} | {per_call:.1} | `{}` |\n",
            share.unwrap_or(0.0) * 100.0,
            shorten(&text, 140).replace('|', "\\|"),
        ));
    }
    out.push('\n');
    Ok(out)
}

fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}
