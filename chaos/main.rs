//! Zart under faults: the five scenarios of the public chaos harness for PostgreSQL
//! queues, against a PostgreSQL cluster of this program's own, each at saturation (a
//! backlog the workers cannot drain) and at a steady half of the saturated throughput.
//!
//! Usage: `cargo run --release -p zart-chaos -- [SCENARIO ...] [--load saturated|half|both]`
//! (default: every scenario, both loads). Scenarios: `no-fault` (the control: what a run's
//! ratios look like with nothing struck), `crash-recovery`, `repeated-kills`,
//! `postgres-restart`, `backend-kills`, `pool-exhaustion`. `soak` runs a steady load for
//! many minutes instead, with retention on, and reports the tables' sizes (see `soak.rs`).
//!
//! Each run: two worker processes with default settings (this program in `worker` mode),
//! 5 s of warm-up, 15 s of baseline, the fault, 30 s after it; then the producer stops and
//! the backlog drains. Every handler run and step run is recorded by its worker in a
//! ledger on the shared PostgreSQL (`DATABASE_URL`, default the local `test` database)
//! before it returns, so that the figures are counts, not estimates: lost tasks, duplicate
//! runs and whether a fault explains each, outcomes refused for a stale lease, and steps
//! re-run after their checkpoint. Prints a Markdown table and writes it to
//! `target/zart-chaos-report.md` (or `ZART_CHAOS_REPORT`).
//!
//! The cluster is started with `initdb`/`pg_ctl` from `/usr/lib/postgresql/*/bin` (or
//! `ZART_CHAOS_PG_BIN`), as the `postgres` user when run as root, on a free port, and is
//! removed at the end.

mod cluster;
mod faults;
mod ledger;
mod logs;
mod report;
mod soak;
mod worker;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgPool;
use tokio::sync::watch;
use zart::postgres::PostgresTaskScheduler;
use zart::scheduler::{NewTask, ScheduleAtParams};
use zart::store::QueueStore;

use cluster::{Cluster, APP_ROLE};
use faults::{Scenario, Workers};
use report::{Figures, Series, Timeline};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const WARMUP: Duration = Duration::from_secs(5);
const BASELINE: Duration = Duration::from_secs(15);
const AFTER: Duration = Duration::from_secs(30);
/// The longest wait for the backlog to drain after a run (a killed worker's tasks come
/// back when their 30 s leases expire and the next maintenance pass finds them).
const DRAIN_LIMIT: Duration = Duration::from_secs(180);
/// Pending tasks the saturating producer keeps ahead of the workers.
const BACKLOG: i64 = 10_000;
/// Every this many tasks, one is a durable execution of three steps.
const FLOW_EVERY: u64 = 20;

#[derive(Clone, Copy, Debug)]
enum Load {
    Saturated,
    /// Tasks per second.
    Steady(f64),
}

impl Load {
    fn name(self) -> &'static str {
        match self {
            Load::Saturated => "saturated",
            Load::Steady(_) => "half",
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let [mode, app_url, ledger_url, run_id, worker_id] = args.as_slice() {
        if mode == "worker" {
            logs::install();
            return worker::run(app_url, ledger_url, run_id, worker_id).await;
        }
    }
    if let [mode, app_url, retention, worker_id] = args.as_slice() {
        if mode == "soak-worker" {
            logs::install();
            return soak::worker(app_url, retention, worker_id).await;
        }
    }
    if args.first().is_some_and(|first| first == "soak") {
        return soak::run(soak::Settings::parse(&args[1..])?).await;
    }
    let (scenarios, saturated, half) = parse(&args)?;
    // Interrupted or terminated, the program still stops its cluster and workers (on the way out of
    // `chaos`, which owns them), instead of leaving a server running in the temporary folder.
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        finished = chaos(scenarios, saturated, half) => finished,
        _ = tokio::signal::ctrl_c() => Err("interrupted".into()),
        _ = terminate.recv() => Err("terminated".into()),
    }
}

/// Runs `scenarios` at the loads asked for, and writes the report.
async fn chaos(scenarios: Vec<Scenario>, saturated: bool, half: bool) -> Result<(), BoxError> {
    let ledger_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let ledger_pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect(&ledger_url)
        .await
        .map_err(|e| format!("the ledger's database {ledger_url} is unreachable: {e}"))?;
    ledger::prepare(&ledger_pool).await?;
    let cluster = Cluster::start()?;
    eprintln!("private PostgreSQL cluster on port {}", cluster.port());
    let admin = PgPool::connect(&cluster.url("postgres", "postgres")).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE ROLE {APP_ROLE} LOGIN")))
        .execute(&admin)
        .await?;
    let logs = std::path::PathBuf::from("target/zart-chaos-logs");
    std::fs::create_dir_all(&logs)?;

    let mut table = vec![report::HEADER.to_owned()];
    let mut shapes = Vec::new();
    let mut number = 0;
    for scenario in scenarios {
        // A half load is half of what the saturated run of the same scenario drained.
        number += 1;
        let run = Run::new(number, scenario, Load::Saturated);
        let (figures, seconds) = run
            .go(&cluster, &admin, &ledger_pool, &ledger_url, &logs)
            .await?;
        let baseline = figures.baseline;
        if saturated {
            let line = report::row(scenario.name(), "saturated", &figures);
            println!("{line}");
            table.push(line);
            shapes.push(format!("- {} saturated: {seconds}", scenario.name()));
        }
        if half {
            number += 1;
            let run = Run::new(number, scenario, Load::Steady(baseline / 2.0));
            let (figures, seconds) = run
                .go(&cluster, &admin, &ledger_pool, &ledger_url, &logs)
                .await?;
            let line = report::row(scenario.name(), "half", &figures);
            println!("{line}");
            table.push(line);
            shapes.push(format!("- {} half: {seconds}", scenario.name()));
        }
    }
    let path =
        std::env::var("ZART_CHAOS_REPORT").unwrap_or_else(|_| "target/zart-chaos-report.md".into());
    let text = format!(
        "# Zart chaos run, {}\n\n{}\n\nCompletions per second from the baseline's start, \
         the fault's seconds in brackets:\n\n{}\n",
        Utc::now().format("%Y-%m-%d %H:%M UTC"),
        table.join("\n"),
        shapes.join("\n")
    );
    std::fs::write(&path, text)?;
    eprintln!("report written to {path}");
    Ok(())
}

/// The scenarios asked for, and whether to run saturated and half loads.
fn parse(args: &[String]) -> Result<(Vec<Scenario>, bool, bool), BoxError> {
    let mut scenarios = Vec::new();
    let (mut saturated, mut half) = (true, true);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "--load" {
            match args.next().map(String::as_str) {
                Some("saturated") => half = false,
                Some("half") => saturated = false,
                Some("both") => {}
                other => {
                    return Err(
                        format!("--load takes saturated, half or both, not {other:?}").into(),
                    )
                }
            }
        } else {
            let scenario = Scenario::parse(arg).ok_or_else(|| {
                let names: Vec<_> = faults::ALL.iter().map(|s| s.name()).collect();
                format!("unknown scenario {arg:?}; one of {}", names.join(", "))
            })?;
            scenarios.push(scenario);
        }
    }
    if scenarios.is_empty() {
        scenarios = faults::ALL.to_vec();
    }
    Ok((scenarios, saturated, half))
}

/// One scenario at one load, in a database of its own.
struct Run {
    database: String,
    id: String,
    scenario: Scenario,
    load: Load,
}

impl Run {
    fn new(number: usize, scenario: Scenario, load: Load) -> Run {
        Run {
            database: format!("chaos_{number}"),
            id: format!(
                "{}-{}-{}",
                Utc::now().format("%Y%m%dT%H%M%S"),
                scenario.name(),
                load.name()
            ),
            scenario,
            load,
        }
    }

    async fn go(
        &self,
        cluster: &Cluster,
        admin: &PgPool,
        ledger_pool: &PgPool,
        ledger_url: &str,
        logs: &std::path::Path,
    ) -> Result<(Figures, String), BoxError> {
        eprintln!("== {} ({:?}) ==", self.scenario.name(), self.load);
        let sql = format!("CREATE DATABASE {} OWNER {APP_ROLE}", self.database);
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(admin).await?;
        let app_url = cluster.url(APP_ROLE, &self.database);
        let reads = PgPool::connect(&cluster.url("postgres", &self.database)).await?;
        let store = Arc::new(PostgresTaskScheduler::connect(&app_url).await?);
        let mut workers = Workers::new(
            app_url,
            ledger_url.to_owned(),
            self.id.clone(),
            logs.to_owned(),
        );
        workers.start()?;
        workers.start()?;

        let scheduled = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = watch::channel(false);
        let producer = tokio::spawn(produce(
            store.clone(),
            self.load,
            scheduled.clone(),
            stopped,
        ));
        tokio::time::sleep(WARMUP).await;
        let baseline_from = Utc::now();
        tokio::time::sleep(BASELINE).await;
        let fault_from = Utc::now();
        eprintln!("  fault: {}", self.scenario.name());
        let struck = faults::strike(self.scenario, cluster, admin, &mut workers).await?;
        let fault_until = Utc::now();
        tokio::time::sleep(AFTER).await;
        let end = Utc::now();
        let _ = stop.send(true);
        producer.await?;

        eprintln!("  draining");
        let drained = tokio::time::Instant::now() + DRAIN_LIMIT;
        while tokio::time::Instant::now() < drained {
            let open: Result<i64, _> =
                sqlx::query_scalar("SELECT count(*) FROM zart_tasks WHERE status <> 'completed'")
                    .fetch_one(&reads)
                    .await;
            if matches!(open, Ok(0)) {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        workers.stop().await;

        let timeline = Timeline {
            baseline: (baseline_from.timestamp() + 1, fault_from.timestamp()),
            fault: (fault_from.timestamp(), fault_until.timestamp() + 1),
            after: (fault_until.timestamp() + 1, end.timestamp()),
        };
        let scheduled =
            std::mem::take(&mut *scheduled.lock().unwrap_or_else(PoisonError::into_inner));
        let series = series(&reads).await?;
        let seconds = report::seconds(&series, &timeline);
        eprintln!("  completions per second: {seconds}");
        let figures = report::figures(
            &series,
            &timeline,
            &struck,
            &ledger::read(ledger_pool, &self.id).await?,
            &scheduled,
            &completed(&reads).await?,
            &checkpoints(&reads).await?,
        );
        let figures = Figures {
            deadlocks: logs::count(logs, &self.id, "deadlock detected"),
            slow_waits: logs::count(logs, &self.id, "waiting for a PostgreSQL connection"),
            ..figures
        };
        reads.close().await;
        store.pool().close().await;
        Ok((figures, seconds))
    }
}

/// Schedules tasks until `stop`: at saturation, enough to keep [`BACKLOG`] tasks pending
/// (read from the pending tasks' index, whose size is bounded); at a steady load, as many as the rate says by
/// now (catching up after an outage, as clients that retry do). Each insert is retried
/// until it is confirmed, so every id in `scheduled` was scheduled.
async fn produce(
    store: Arc<PostgresTaskScheduler>,
    load: Load,
    scheduled: Arc<Mutex<Vec<String>>>,
    mut stop: watch::Receiver<bool>,
) {
    let started = tokio::time::Instant::now();
    let mut made = 0u64;
    while !*stop.borrow() {
        let want = match load {
            Load::Saturated => match pending(store.pool()).await {
                Ok(pending) if pending < BACKLOG => 1000,
                _ => 0,
            },
            Load::Steady(rate) => {
                let due = (rate * started.elapsed().as_secs_f64()) as u64;
                due.saturating_sub(made).min(2000)
            }
        };
        if want > 0 {
            let ids: Vec<(String, &str)> = (made..made + want)
                .map(|n| {
                    let name = match n % FLOW_EVERY == FLOW_EVERY - 1 {
                        true => worker::FLOW,
                        false => worker::JOB,
                    };
                    (format!("t{n}"), name)
                })
                .collect();
            let batch: Vec<NewTask> = ids
                .iter()
                .map(|(id, name)| {
                    NewTask::from(ScheduleAtParams::now(id.clone(), *name, json!({})))
                })
                .collect();
            while let Err(error) = store.insert(&batch).await {
                eprintln!("  scheduling failed, retrying: {error}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            made += want;
            let mut scheduled = scheduled.lock().unwrap_or_else(PoisonError::into_inner);
            scheduled.extend(ids.into_iter().map(|(id, _)| id));
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = stop.changed() => {}
        }
    }
}

async fn pending(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT count(*) FROM zart_tasks WHERE status = 'pending'")
        .fetch_one(pool)
        .await
}

/// Completions per second.
async fn series(reads: &PgPool) -> Result<Series, BoxError> {
    let rows: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT extract(epoch FROM date_trunc('second', finished_at))::bigint, count(*)
         FROM zart_tasks WHERE status = 'completed' AND finished_at IS NOT NULL GROUP BY 1",
    )
    .fetch_all(reads)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(s, n)| (s, u64::try_from(n).unwrap_or(0)))
        .collect())
}

async fn completed(reads: &PgPool) -> Result<HashSet<String>, BoxError> {
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT task_id FROM zart_tasks WHERE status = 'completed'")
            .fetch_all(reads)
            .await?;
    Ok(ids.into_iter().collect())
}

/// When each step's checkpoint was written.
async fn checkpoints(reads: &PgPool) -> Result<HashMap<(String, String), DateTime<Utc>>, BoxError> {
    let rows: Vec<(String, String, DateTime<Utc>)> =
        sqlx::query_as("SELECT task_id, name, finished_at FROM zart_steps")
            .fetch_all(reads)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(task, step, at)| ((task, step), at))
        .collect())
}
