//! `zart-chaos soak`: a steady inflow for many minutes with retention on, and what it does
//! to the tables, minute by minute: whether ended work is deleted as fast as it ends (the
//! sizes stay flat after the first retention period) or piles up.
//!
//! Usage: `cargo run --release -p zart-chaos -- soak [--rate TASKS_PER_SECOND]
//! [--minutes M] [--retention SECONDS]` (defaults: 800/s, 20 minutes, 120 s). Two worker
//! processes with default settings but the retention; 1 task in 20 is a durable execution
//! of three steps. The cluster is the program's own (autovacuum on, as in production).
//! Prints a Markdown table and writes it to `target/zart-soak-report.md` (or
//! `ZART_SOAK_REPORT`).

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::{PgPool, Row};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use zart::postgres::PostgresTaskScheduler;
use zart::scheduler::{Retention, WorkerConfig};

use crate::cluster::{Cluster, APP_ROLE};
use crate::ledger::Ledger;
use crate::{produce, BoxError, Load};

/// What a soak run does.
pub struct Settings {
    /// Tasks scheduled a second.
    pub rate: f64,
    /// How long the inflow lasts.
    pub minutes: u64,
    /// How long completed and failed tasks are kept.
    pub retention: Duration,
}

impl Settings {
    /// The settings `args` (after `soak`) name, the defaults for the rest.
    pub fn parse(args: &[String]) -> Result<Settings, BoxError> {
        let mut settings = Settings {
            rate: 800.0,
            minutes: 20,
            retention: Duration::from_secs(120),
        };
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let number: f64 = value
                .parse()
                .map_err(|_| format!("{flag} takes a number, not {value:?}"))?;
            match flag.as_str() {
                "--rate" if number > 0.0 => settings.rate = number,
                "--minutes" if number >= 1.0 => settings.minutes = number as u64,
                "--retention" if number >= 1.0 => {
                    settings.retention = Duration::from_secs_f64(number)
                }
                _ => {
                    return Err(format!(
                        "soak takes --rate (> 0), --minutes (>= 1) and --retention (>= 1 s), \
                         not {flag} {value}"
                    )
                    .into())
                }
            }
        }
        Ok(settings)
    }
}

/// A worker of a soak run: default settings, the run's retention, no ledger.
pub async fn worker(app_url: &str, retention_secs: &str, worker_id: &str) -> Result<(), BoxError> {
    let retention = Duration::from_secs_f64(retention_secs.parse()?);
    let config = WorkerConfig {
        worker_id: Some(worker_id.to_owned()),
        retention: Retention {
            completed: Some(retention),
            failed: Some(retention),
            ..Retention::default()
        },
        ..WorkerConfig::default()
    };
    crate::worker::serve(app_url, Ledger::none(), config).await
}

/// Runs the soak and writes its report.
pub async fn run(settings: Settings) -> Result<(), BoxError> {
    let cluster = Cluster::start()?;
    eprintln!("private PostgreSQL cluster on port {}", cluster.port());
    let admin = PgPool::connect(&cluster.url("postgres", "postgres")).await?;
    for sql in [
        format!("CREATE ROLE {APP_ROLE} LOGIN"),
        format!("CREATE DATABASE soak OWNER {APP_ROLE}"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&admin)
            .await?;
    }
    let app_url = cluster.url(APP_ROLE, "soak");
    let reads = PgPool::connect(&cluster.url("postgres", "soak")).await?;
    let store = Arc::new(PostgresTaskScheduler::connect(&app_url).await?);
    let retention_secs = settings.retention.as_secs_f64().to_string();
    let mut workers: Vec<Child> = Vec::new();
    for n in 0..2 {
        workers.push(
            Command::new(std::env::current_exe()?)
                .args([
                    "soak-worker",
                    &app_url,
                    &retention_secs,
                    &format!("soak-{n}"),
                ])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .kill_on_drop(true)
                .spawn()?,
        );
    }

    let (stop, stopped) = watch::channel(false);
    let producer = tokio::spawn(produce(
        store.clone(),
        Load::Steady(settings.rate),
        Arc::new(Mutex::new(Vec::new())),
        stopped,
    ));
    let mut table = vec![
        format!(
            "Soak: {} tasks/s for {} min, completed and failed kept {} s, 1 in {} durable (3 steps), 2 workers.",
            settings.rate,
            settings.minutes,
            settings.retention.as_secs(),
            crate::FLOW_EVERY
        ),
        String::new(),
        "| minute | completed/s | tasks stored | tasks + indexes MB | steps + indexes MB | dead tuples | autovacuums | oldest completed s |".to_owned(),
        "|---|---|---|---|---|---|---|---|".to_owned(),
    ];
    println!("{}", table.join("\n"));
    let mut last_completed = completed_so_far(&reads).await?;
    for minute in 1..=settings.minutes {
        tokio::time::sleep(Duration::from_secs(60)).await;
        let sample = Sample::read(&reads).await?;
        let completed = completed_so_far(&reads).await?;
        let line = format!(
            "| {minute} | {:.0} | {} | {:.1} | {:.1} | {} | {} | {:.0} |",
            (completed - last_completed) as f64 / 60.0,
            sample.stored,
            sample.tasks_bytes as f64 / 1e6,
            sample.steps_bytes as f64 / 1e6,
            sample.dead,
            sample.autovacuums,
            sample.oldest_completed_secs,
        );
        last_completed = completed;
        println!("{line}");
        table.push(line);
    }
    let _ = stop.send(true);
    producer.await?;
    for mut worker in workers {
        drop(worker.stdin.take()); // a worker stops when its standard input closes
        if tokio::time::timeout(Duration::from_secs(45), worker.wait())
            .await
            .is_err()
        {
            let _ = worker.kill().await;
        }
    }
    let path = std::env::var("ZART_SOAK_REPORT")
        .unwrap_or_else(|_| "target/zart-soak-report.md".to_owned());
    std::fs::write(&path, table.join("\n") + "\n")?;
    eprintln!("report written to {path}");
    reads.close().await;
    store.pool().close().await;
    Ok(())
}

/// The tables as one minute of the soak left them.
struct Sample {
    stored: i64,
    tasks_bytes: i64,
    steps_bytes: i64,
    dead: i64,
    autovacuums: i64,
    oldest_completed_secs: f64,
}

impl Sample {
    async fn read(reads: &PgPool) -> Result<Sample, sqlx::Error> {
        let row = sqlx::query(
            "SELECT (SELECT count(*) FROM zart_tasks),
                    pg_total_relation_size('zart_tasks'),
                    pg_total_relation_size('zart_steps'),
                    coalesce(s.n_dead_tup, 0),
                    coalesce(s.autovacuum_count, 0),
                    coalesce((SELECT extract(epoch FROM now() - min(finished_at))::float8
                              FROM zart_tasks WHERE status = 'completed'), 0)
             FROM pg_stat_user_tables s WHERE s.relname = 'zart_tasks'",
        )
        .fetch_one(reads)
        .await?;
        Ok(Sample {
            stored: row.try_get(0)?,
            tasks_bytes: row.try_get(1)?,
            steps_bytes: row.try_get(2)?,
            dead: row.try_get(3)?,
            autovacuums: row.try_get(4)?,
            oldest_completed_secs: row.try_get(5)?,
        })
    }
}

/// Tasks completed since the soak began: those retention deleted (only ended tasks are
/// deleted, and no task of a soak fails) and those still stored.
async fn completed_so_far(reads: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT coalesce(sum(n_tup_del), 0)::bigint
                + (SELECT count(*) FROM zart_tasks WHERE status = 'completed')
         FROM pg_stat_user_tables WHERE relname = 'zart_tasks'",
    )
    .fetch_one(reads)
    .await
}
