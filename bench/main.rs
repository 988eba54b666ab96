//! Zart's queue benchmark: prints each figure beside the raw ceiling of its driver measured
//! in the same run (`shared/bench/sql-limit/run.sh` for PostgreSQL,
//! `shared/bench/sqlite-limit/run.sh` for SQLite), as a ratio, and writes a Markdown report.
//!
//! Usage: `cargo run --release -p zart-bench -- [SECONDS] [postgres|sqlite|all] [FIGURES]`
//! (default 10 s per timed figure, all drivers, every figure; FIGURES is a comma-separated
//! list of `schedule_now`, `schedule_many`, `drain`, `latency`, `durable`, `calls`,
//! `memory`). SQLite runs every figure with its default
//! `synchronous=NORMAL` (against the `sqlite_` ceiling), then the drain and 3-step
//! executions with `synchronous=FULL` (against `sqlite_syncfull_`).
//! Env: `DATABASE_URL` (default the local `test` database), `ZART_SQL_LIMIT` and
//! `ZART_SQLITE_LIMIT` (paths of the ceiling scripts; default `../shared/bench/*/run.sh`
//! beside the workspace), `ZART_BENCH_REPORT` (report path; default
//! `target/zart-bench-report.md`).
//!
//! `-- admin [DRIVERS]` times the admin's endpoints over 1M tasks; `-- limits [DRIVERS]`
//! the drain with and without queue limits (`target/zart-bench-limits-report.md`);
//! `-- compare REV [RUNS] [SECONDS] [DRIVERS]` runs this build and commit `REV`'s
//! interleaved and prints each figure's ratio after/before (see `compare.rs`);
//! `-- profile [SECONDS] [FIGURES]` prints, figure by figure, the PostgreSQL statements the
//! time went to (see `profile.rs`).

mod admin;
mod compare;
mod counting;
mod figures;
mod limits;
mod memory;
mod profile;
mod target;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::json;
use sqlx::postgres::PgPoolOptions;
use tokio::sync::{mpsc, Notify};
use zart::durable::{step, DurableExecution, StepError, TaskError};
use zart::observe::{TaskEvent, TaskObserver};
use zart::scheduler::{
    CompletionHandler, OnComplete, ScheduleAtParams, ScheduledTask, SchedulerTaskError, TaskFilter,
    TaskInstance, TaskRegistry, TaskScheduler, TaskStatus, Worker, WorkerConfig,
};
use zart::sqlite::Synchronous;

use figures::Figures;
use target::{workspace, Bench, Driver};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const DRAIN_TASKS: usize = 100_000;
const LATENCY_SAMPLES: usize = 300;
const FOREIGN_BACKLOG: usize = 200_000;
const DURABLE_EXECUTIONS: usize = 10_000;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("admin") {
        args.next();
        return admin_report(args.next().unwrap_or_else(|| "all".to_owned())).await;
    }
    if args.peek().map(String::as_str) == Some("compare") {
        args.next();
        return compare::run(args);
    }
    if args.peek().map(String::as_str) == Some("profile") {
        args.next();
        return profile::run(args).await;
    }
    if args.peek().map(String::as_str) == Some("limits") {
        args.next();
        return limits_report(args.next().unwrap_or_else(|| "all".to_owned())).await;
    }
    let secs: u64 = match args.next() {
        Some(arg) => arg
            .parse()
            .map_err(|_| format!("SECONDS must be a whole number, not {arg:?}"))?,
        None => 10,
    };
    let which = args.next().unwrap_or_else(|| "all".to_owned());
    let figures = Figures::parse(args.next().as_deref())?;
    let window = Duration::from_secs(secs);
    let (drivers, dir) = drivers(&which, 20, &[Synchronous::Normal, Synchronous::Full]).await?;

    let mut report = String::new();
    let mut sqlite_ceiling = None;
    for driver in &drivers {
        eprintln!("== {} ==", driver.label());
        let ceiling = match (driver, &sqlite_ceiling) {
            // One SQLite ceiling run measures both settings.
            (Driver::Sqlite { .. }, Some(ceiling)) => Clone::clone(ceiling),
            _ => {
                eprintln!("measuring the raw ceiling ({secs} s per figure)...");
                let ceiling = driver.ceiling(secs)?;
                settle();
                if let Driver::Sqlite { .. } = driver {
                    sqlite_ceiling = Some(ceiling.clone());
                }
                ceiling
            }
        };
        let full_run = !matches!(
            driver,
            Driver::Sqlite {
                synchronous: Synchronous::Full,
                ..
            }
        );
        let rows = measure(driver, &ceiling, window, full_run, &figures).await?;
        report.push_str(&render(driver, &rows, &ceiling, secs));
        report.push('\n');
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("{report}");
    let path = std::env::var("ZART_BENCH_REPORT")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace().join("target/zart-bench-report.md"));
    std::fs::write(&path, &report)?;
    eprintln!("report written to {}", path.display());
    Ok(())
}

/// Lets the disk settle after a ceiling run or a scenario: their rows may still be being
/// flushed by the kernel, and a SQLite figure measured meanwhile competes with that.
fn settle() {
    let _ = std::process::Command::new("sync").status();
    std::thread::sleep(Duration::from_secs(3));
}

/// The `figures` on `driver`; with `full_run` false (a second setting of one driver), only
/// the drain and the 3-step executions.
async fn measure(
    driver: &Driver,
    ceiling: &HashMap<String, f64>,
    window: Duration,
    full_run: bool,
    figures: &Figures,
) -> Result<Vec<Row>, BoxError> {
    let key = |name: &str| format!("{}{name}", driver.ceiling_prefix());
    let wants =
        |name: &str| figures.wants(name) && (full_run || matches!(name, "drain" | "durable"));
    let mut rows: Vec<Row> = Vec::new();
    if wants("schedule_now") {
        eprintln!("enqueue, one task per call (8 producers)...");
        let single = enqueue(driver, 8, 1, window).await?;
        rows.push(Row::ratio(
            "enqueue, schedule_now (8 producers)",
            single,
            "tasks/s",
            ceiling,
            key("enqueue_single"),
        ));
    }
    if wants("schedule_many") {
        eprintln!("enqueue, 100 tasks per schedule_many call (4 producers)...");
        let batched = enqueue(driver, 4, 100, window).await?;
        rows.push(Row::ratio(
            "enqueue, schedule_many of 100 (4 producers)",
            batched,
            "tasks/s",
            ceiling,
            key("enqueue_batch100"),
        ));
    }
    if wants("drain") {
        eprintln!("drain of a {DRAIN_TASKS}-task backlog by one worker...");
        let (drained, peak_mib) = drain(driver).await?;
        rows.push(Row::ratio(
            "drain, 100k no-op backlog, one worker",
            drained,
            "tasks/s",
            ceiling,
            key("claim_complete_batch100"),
        ));
        if let (true, Some(peak_mib)) = (full_run, peak_mib) {
            rows.push(Row::plain(
                "drain, the worker's peak resident set (growth)",
                peak_mib,
                "MiB",
            ));
        }
    }
    if wants("latency") {
        let scenarios = [
            (
                0,
                [
                    "latency p50, schedule_now → handler start",
                    "latency p99, schedule_now → handler start",
                ],
            ),
            (
                FOREIGN_BACKLOG,
                [
                    "latency p50, beside a 200k backlog of tasks the worker does not run",
                    "latency p99, beside a 200k backlog of tasks the worker does not run",
                ],
            ),
        ];
        for (foreign, [p50_name, p99_name]) in scenarios {
            eprintln!(
                "schedule_now to handler start on an idle worker, {foreign} foreign tasks due ({LATENCY_SAMPLES} samples)..."
            );
            let (p50, p99) = latency(driver, foreign).await?;
            rows.push(Row::plain(p50_name, p50, "ms"));
            rows.push(Row::plain(p99_name, p99, "ms"));
        }
    }
    if wants("durable") {
        eprintln!("durable executions: 3 no-op steps, one worker...");
        let three = durable(driver, 3, DURABLE_EXECUTIONS).await?;
        rows.push(Row::ratio(
            "durable, 3-step executions",
            three,
            "executions/s",
            ceiling,
            key("claim_complete_batch100"),
        ));
        if full_run {
            eprintln!("durable executions: 10 no-op steps, one worker...");
            let ten = durable(driver, 10, DURABLE_EXECUTIONS / 2).await?;
            rows.push(Row::ratio(
                "durable, 10-step executions",
                ten,
                "executions/s",
                ceiling,
                key("claim_complete_batch100"),
            ));
            let checkpoint_us = (1.0 / ten - 1.0 / three) / 7.0 * 1e6;
            rows.push(Row::plain(
                "durable, one checkpoint (worker time, derived)",
                checkpoint_us,
                "µs",
            ));
        }
    }
    if wants("calls") {
        let (trips, tally) = round_trips(driver).await?;
        rows.push(Row::plain(
            "durable, store calls of one 3-step execution",
            trips as f64,
            "calls",
        ));
        eprintln!("store calls by kind: {tally:?}");
    }
    if wants("memory") {
        eprintln!(
            "memory: {} tasks in flight over 100k, then 1M pending...",
            memory::IN_FLIGHT
        );
        if let Some(found) = memory::measure(driver).await? {
            rows.push(Row::plain(
                "memory, resident set, 2,000 in flight, 100k pending",
                found.in_flight_small_backlog,
                "MiB",
            ));
            rows.push(Row::plain(
                "memory, resident set, 2,000 in flight, 1M pending",
                found.in_flight_large_backlog,
                "MiB",
            ));
            rows.push(Row::plain(
                "memory, one more task in flight",
                found.per_task_kib,
                "KiB",
            ));
        }
    }
    Ok(rows)
}

pub(crate) struct Row {
    pub name: &'static str,
    pub value: f64,
    pub unit: &'static str,
    ceiling: Option<(String, f64)>,
}

impl Row {
    fn ratio(
        name: &'static str,
        value: f64,
        unit: &'static str,
        ceiling: &HashMap<String, f64>,
        key: String,
    ) -> Row {
        Row {
            name,
            value,
            unit,
            ceiling: ceiling.get(&key).map(|c| (key, *c)),
        }
    }

    fn plain(name: &'static str, value: f64, unit: &'static str) -> Row {
        Row {
            name,
            value,
            unit,
            ceiling: None,
        }
    }
}

fn render(driver: &Driver, rows: &[Row], ceiling: &HashMap<String, f64>, secs: u64) -> String {
    let mut out = String::new();
    let script = match driver {
        Driver::Postgres { .. } => "sql-limit",
        Driver::Sqlite { .. } => "sqlite-limit",
    };
    out.push_str(&format!(
        "Zart queue benchmark on {}, {} ({secs} s windows; ceiling: shared/bench/{script}/run.sh {secs}, same run)\n\n",
        driver.label(),
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    ));
    out.push_str("| figure | zart | raw-SQL ceiling | ratio |\n|---|---:|---:|---:|\n");
    for row in rows {
        let value = format!("{:.1} {}", row.value, row.unit);
        match row.ceiling {
            Some((ref key, c)) => out.push_str(&format!(
                "| {} | {value} | {key} = {c:.0} | {:.2} × |\n",
                row.name,
                row.value / c
            )),
            None => out.push_str(&format!("| {} | {value} | | |\n", row.name)),
        }
    }
    let mut keys: Vec<_> = ceiling
        .iter()
        .filter(|(k, _)| k.starts_with(driver.ceiling_prefix()))
        .collect();
    keys.sort_by(|a, b| a.0.cmp(b.0));
    out.push_str("\nCeiling figures (tasks/s): ");
    out.push_str(
        &keys
            .iter()
            .map(|(k, v)| format!("{k} {v:.0}"))
            .collect::<Vec<_>>()
            .join(", "),
    );
    out.push('\n');
    out
}

/// Tasks/s enqueued by `producers` concurrent callers, `per_call` tasks a call.
async fn enqueue(
    driver: &Driver,
    producers: usize,
    per_call: usize,
    window: Duration,
) -> Result<f64, BoxError> {
    let bench = driver.bench("enqueue").await?;
    let start = Instant::now();
    let deadline = start + window;
    let mut handles = Vec::new();
    for p in 0..producers {
        let scheduler = bench.scheduler.clone();
        handles.push(tokio::spawn(async move {
            let mut n = 0usize;
            while Instant::now() < deadline {
                if per_call == 1 {
                    scheduler
                        .schedule_now(&format!("p{p}-{n}"), "noop", json!({ "n": 1 }))
                        .await?;
                } else {
                    let batch = (n..n + per_call)
                        .map(|i| {
                            ScheduleAtParams::now(format!("p{p}-{i}"), "noop", json!({ "n": 1 }))
                        })
                        .collect();
                    scheduler.schedule_many(batch).await?;
                }
                n += per_call;
            }
            Ok::<usize, zart::Error>(n)
        }));
    }
    let mut total = 0;
    for handle in handles {
        total += handle.await??;
    }
    let rate = total as f64 / start.elapsed().as_secs_f64();
    bench.remove().await?;
    Ok(rate)
}

struct Noop;

#[async_trait]
impl ScheduledTask for Noop {
    async fn execute(
        &self,
        _: &TaskInstance,
    ) -> Result<Box<dyn CompletionHandler>, SchedulerTaskError> {
        Ok(OnComplete::done())
    }
}

/// Counts completions and rings when `target` is reached.
struct Completions {
    count: AtomicU64,
    target: u64,
    done: Notify,
}

impl TaskObserver for Completions {
    fn on_event(&self, event: &TaskEvent) {
        if let TaskEvent::Completed { .. } = event {
            if self.count.fetch_add(1, Ordering::Relaxed) + 1 == self.target {
                self.done.notify_one();
            }
        }
    }
}

/// Inserts `n` tasks named `name` (ids `task-<i>`), in batches.
pub(crate) async fn backlog(bench: &Bench, name: &str, n: usize) -> Result<(), BoxError> {
    for chunk in (0..n).collect::<Vec<_>>().chunks(5_000) {
        let tasks = chunk
            .iter()
            .map(|i| ScheduleAtParams::now(format!("task-{i}"), name, json!({ "n": 1 })))
            .collect();
        bench.scheduler.schedule_many(tasks).await?;
    }
    Ok(())
}

/// A worker running in the background.
pub(crate) struct Running {
    worker: Arc<Worker>,
    task: tokio::task::JoinHandle<zart::Result<()>>,
}

impl Running {
    /// Starts a worker over `store`.
    pub(crate) fn start(
        store: Arc<dyn zart::store::Store>,
        registry: TaskRegistry,
        config: WorkerConfig,
        observers: Vec<Arc<dyn TaskObserver>>,
    ) -> Running {
        let worker = Arc::new(Worker::new(store, Arc::new(registry), config, observers));
        let task = tokio::spawn({
            let worker = worker.clone();
            async move { worker.run().await }
        });
        Running { worker, task }
    }

    /// Shuts the worker down and waits for it.
    pub(crate) async fn stop(self) -> Result<(), BoxError> {
        self.worker.shutdown().await;
        self.task.await??;
        Ok(())
    }
}

/// Runs a worker over `bench` until `n` tasks completed; the time that took.
async fn run_until_done(
    bench: &Bench,
    registry: TaskRegistry,
    config: WorkerConfig,
    n: usize,
) -> Result<Duration, BoxError> {
    let completions = Arc::new(Completions {
        count: AtomicU64::new(0),
        target: n as u64,
        done: Notify::new(),
    });
    let start = Instant::now();
    let running = Running::start(
        bench.scheduler.clone(),
        registry,
        config,
        vec![completions.clone()],
    );
    completions.done.notified().await;
    let elapsed = start.elapsed();
    running.stop().await?;
    Ok(elapsed)
}

/// Tasks/s for one worker draining a backlog of no-op tasks, and the growth of the
/// process's peak resident set (MiB) while it did (none where it cannot be read).
async fn drain(driver: &Driver) -> Result<(f64, Option<f64>), BoxError> {
    let bench = driver.bench("drain").await?;
    backlog(&bench, "noop", DRAIN_TASKS).await?;
    bench.analyze().await?;
    let mut registry = TaskRegistry::new();
    registry.register("noop", Noop);
    let config = WorkerConfig {
        max_tasks_per_poll: 500,
        max_concurrent_tasks: 2_000,
        ..WorkerConfig::default()
    };
    let before = memory::resident();
    memory::reset_peak();
    let elapsed = run_until_done(&bench, registry, config, DRAIN_TASKS).await?;
    let peak_mib = match (before, memory::resident()) {
        (Some(before), Some(after)) => {
            Some((after.peak_kib as f64 - before.now_kib as f64) / 1024.0)
        }
        _ => None,
    };

    let completed = bench
        .scheduler
        .count(&TaskFilter::default().status(TaskStatus::Completed))
        .await?;
    if completed != DRAIN_TASKS as u64 {
        return Err(format!("drain: {completed} of {DRAIN_TASKS} tasks completed").into());
    }
    bench.remove().await?;
    Ok((DRAIN_TASKS as f64 / elapsed.as_secs_f64(), peak_mib))
}

/// Sends the instant each task's handler started.
struct Stamp(mpsc::UnboundedSender<(String, Instant)>);

#[async_trait]
impl ScheduledTask for Stamp {
    async fn execute(
        &self,
        task: &TaskInstance,
    ) -> Result<Box<dyn CompletionHandler>, SchedulerTaskError> {
        let _ = self.0.send((task.task_id.clone(), Instant::now()));
        Ok(OnComplete::done())
    }
}

/// p50 and p99 (ms) from `schedule_now` being called to the handler starting, on an idle
/// worker that relies on notifications (its poll interval is far longer than any sample).
/// With a `foreign` backlog: that many due tasks of a name the worker does not run (another
/// queue's, or newer code's) wait in the table, older than every sample.
async fn latency(driver: &Driver, foreign: usize) -> Result<(f64, f64), BoxError> {
    let bench = driver.bench("latency").await?;
    if foreign > 0 {
        backlog(&bench, "elsewhere", foreign).await?;
        bench.analyze().await?;
    }
    let (stamps, mut started) = mpsc::unbounded_channel();
    let mut registry = TaskRegistry::new();
    registry.register("stamp", Stamp(stamps));
    let config = WorkerConfig {
        poll_interval: Duration::from_secs(60),
        ..WorkerConfig::default()
    };
    let running = Running::start(bench.scheduler.clone(), registry, config, vec![]);
    tokio::time::sleep(Duration::from_millis(500)).await; // listening, idle

    let mut samples = Vec::with_capacity(LATENCY_SAMPLES);
    // The part of each sample the call itself took (insert and commit); the rest is the
    // wake-up, the claim and the handler's start.
    let mut calls = Vec::with_capacity(LATENCY_SAMPLES);
    for i in 0..LATENCY_SAMPLES {
        let id = format!("latency-{i}");
        let sent = Instant::now();
        bench
            .scheduler
            .schedule_now(&id, "stamp", json!({}))
            .await?;
        calls.push(sent.elapsed().as_secs_f64() * 1000.0);
        let (task_id, at) = tokio::time::timeout(Duration::from_secs(10), started.recv())
            .await?
            .ok_or("the worker stopped")?;
        if task_id != id {
            return Err(format!("expected {id} to start, got {task_id}").into());
        }
        samples.push((at - sent).as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_millis(10)).await; // let the worker go idle again
    }
    running.stop().await?;
    bench.remove().await?;
    samples.sort_by(f64::total_cmp);
    calls.sort_by(f64::total_cmp);
    let at = |samples: &[f64], q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    eprintln!(
        "latency: the schedule_now call itself took p50 {:.2} ms, p99 {:.2} ms",
        at(&calls, 0.5),
        at(&calls, 0.99)
    );
    Ok((at(&samples, 0.50), at(&samples, 0.99)))
}

/// A durable execution of `steps` no-op steps.
struct NoopSteps {
    names: Vec<String>,
}

#[async_trait]
impl DurableExecution for NoopSteps {
    type Data = serde_json::Value;
    type Output = usize;

    async fn run(&self, _: serde_json::Value) -> Result<usize, TaskError> {
        for name in &self.names {
            step(name, || async { Ok::<_, StepError>(()) }).await?;
        }
        Ok(self.names.len())
    }
}

fn noop_steps(steps: usize) -> NoopSteps {
    NoopSteps {
        names: (0..steps).map(|i| format!("step-{i}")).collect(),
    }
}

fn durable_config() -> WorkerConfig {
    WorkerConfig {
        max_tasks_per_poll: 200,
        max_concurrent_tasks: 400,
        ..WorkerConfig::default()
    }
}

/// Executions/s for one worker running `n` executions of `steps` no-op steps.
async fn durable(driver: &Driver, steps: usize, n: usize) -> Result<f64, BoxError> {
    let bench = driver.bench("durable").await?;
    backlog(&bench, "noop-steps", n).await?;
    let mut registry = TaskRegistry::new();
    registry.durable("noop-steps", noop_steps(steps));
    let elapsed = run_until_done(&bench, registry, durable_config(), n).await?;
    let completed = bench
        .scheduler
        .count(&TaskFilter::default().status(TaskStatus::Completed))
        .await?;
    if completed != n as u64 {
        return Err(format!("durable: {completed} of {n} executions completed").into());
    }
    // Every execution's log holds its steps: checked on a sample (a full read would
    // outlast the measurement).
    for i in (0..n).step_by((n / 100).max(1)) {
        let log = bench.scheduler.load_steps(&format!("task-{i}")).await?;
        if log.len() != steps {
            return Err(format!("task-{i} recorded {} of {steps} steps", log.len()).into());
        }
    }
    bench.remove().await?;
    Ok(n as f64 / elapsed.as_secs_f64())
}

/// The worker's round trips for one 3-step execution on an otherwise idle worker, and
/// their tally by kind (claims that found nothing, heartbeats and maintenance excluded
/// from the count).
async fn round_trips(
    driver: &Driver,
) -> Result<(u64, std::collections::BTreeMap<&'static str, u64>), BoxError> {
    let bench = driver.bench("trips").await?;
    let counting = Arc::new(counting::Counting::new(bench.scheduler.clone()));
    let completions = Arc::new(Completions {
        count: AtomicU64::new(0),
        target: 1,
        done: Notify::new(),
    });
    let mut registry = TaskRegistry::new();
    registry.durable("noop-steps", noop_steps(3));
    let running = Running::start(
        counting.clone(),
        registry,
        durable_config(),
        vec![completions.clone()],
    );
    tokio::time::sleep(Duration::from_millis(500)).await; // idle, listening
    counting.take();
    bench
        .scheduler
        .schedule_now("one", "noop-steps", json!({}))
        .await?;
    completions.done.notified().await;
    let tally = counting.take();
    running.stop().await?;
    bench.remove().await?;
    let counted = tally
        .iter()
        .filter(|(kind, _)| {
            !matches!(
                **kind,
                "claim (found nothing)" | "heartbeat" | "rescue (transaction)"
            )
        })
        .map(|(_, n)| n)
        .sum();
    Ok((counted, tally))
}

/// `zart-bench admin [postgres|sqlite|all]`: the admin API's endpoints over 1M tasks.
async fn admin_report(which: String) -> Result<(), BoxError> {
    let (drivers, dir) = drivers(&which, 10, &[Synchronous::Normal]).await?;
    let mut report =
        String::from("| driver | endpoint (1M tasks) | p50 ms | p95 ms |\n|---|---|---:|---:|\n");
    for driver in &drivers {
        eprintln!("== {} ==", driver.label());
        for timing in admin::measure(driver).await? {
            report.push_str(&format!(
                "| {} | {} | {:.1} | {:.1} |\n",
                driver.label(),
                timing.endpoint,
                timing.p50_ms,
                timing.p95_ms
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("{report}");
    let path = workspace().join("target/zart-bench-admin-report.md");
    std::fs::write(&path, &report)?;
    eprintln!("report written to {}", path.display());
    Ok(())
}

/// `zart-bench limits [postgres|sqlite|all]`: the drain with and without queue limits.
async fn limits_report(which: String) -> Result<(), BoxError> {
    let (drivers, dir) = drivers(&which, 20, &[Synchronous::Normal]).await?;
    let mut report = String::from(
        "| driver | scenario (100k no-op tasks, one worker) | value | |\n|---|---|---:|---|\n",
    );
    for driver in &drivers {
        eprintln!("== {} ==", driver.label());
        for figure in limits::measure(driver).await? {
            report.push_str(&format!(
                "| {} | {} | {:.2} | {} |\n",
                driver.label(),
                figure.scenario,
                figure.value,
                figure.unit
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("{report}");
    let path = workspace().join("target/zart-bench-limits-report.md");
    std::fs::write(&path, &report)?;
    eprintln!("report written to {}", path.display());
    Ok(())
}

/// The drivers `which` names (`postgres`, `sqlite` or `all`): PostgreSQL at `DATABASE_URL`
/// with a pool of `pool_size`, and SQLite with each of `settings`, its files in the
/// returned folder (removed by the caller).
async fn drivers(
    which: &str,
    pool_size: u32,
    settings: &[Synchronous],
) -> Result<(Vec<Driver>, PathBuf), BoxError> {
    let mut drivers = Vec::new();
    if matches!(which, "all" | "postgres") {
        let url = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let pool = PgPoolOptions::new()
            .max_connections(pool_size)
            .connect(&url)
            .await?;
        drivers.push(Driver::Postgres { pool, url });
    }
    let dir = std::env::temp_dir().join(format!("zart-bench-{}", std::process::id()));
    if matches!(which, "all" | "sqlite") {
        std::fs::create_dir_all(&dir)?;
        for synchronous in settings {
            drivers.push(Driver::Sqlite {
                dir: dir.clone(),
                synchronous: *synchronous,
            });
        }
    }
    if drivers.is_empty() {
        return Err(format!("DRIVERS is `postgres`, `sqlite` or `all`, not {which:?}").into());
    }
    Ok((drivers, dir))
}
