//! `zart-bench limits [postgres|sqlite|all]`: what queue limits cost a worker draining a
//! backlog. Drains without limits and with a global limit that never binds alternate in
//! one run (so the machine's drift hits both alike), then a drain whose tasks spread over
//! 100 keys under a per-key limit.

use serde_json::json;
use zart::scheduler::{QueueConfig, ScheduleAtParams, TaskRegistry, TaskScheduler, WorkerConfig};

use super::{run_until_done, BoxError, Noop, DRAIN_TASKS};
use crate::target::{Bench, Driver};

/// Rounds of the unlimited and the globally limited drain, alternating.
const ROUNDS: usize = 3;
/// More than the worker ever holds (`max_concurrent_tasks` below): the limit never binds.
const NON_BINDING: u32 = 10_000;
const KEYS: usize = 100;
const PER_KEY: u32 = 10;

/// One figure of the report.
pub(crate) struct Figure {
    pub scenario: String,
    pub value: f64,
    pub unit: &'static str,
}

fn figure(scenario: impl Into<String>, value: f64, unit: &'static str) -> Figure {
    Figure {
        scenario: scenario.into(),
        value,
        unit,
    }
}

/// How the drained queue is limited.
#[derive(Clone, Copy)]
enum Limit {
    None,
    Global,
    PerKey,
}

fn config(limit: Limit) -> WorkerConfig {
    let mut config = WorkerConfig {
        max_tasks_per_poll: 500,
        max_concurrent_tasks: 2_000,
        ..WorkerConfig::default()
    };
    let queue = QueueConfig::new("default");
    match limit {
        Limit::None => {}
        Limit::Global => config.queue_configs.push(queue.global_limit(NON_BINDING)),
        Limit::PerKey => config
            .queue_configs
            .push(queue.limit_per_key("tenant", PER_KEY)),
    }
    config
}

async fn backlog(bench: &Bench) -> Result<(), BoxError> {
    for chunk in (0..DRAIN_TASKS).collect::<Vec<_>>().chunks(5_000) {
        let tasks = chunk
            .iter()
            .map(|i| {
                ScheduleAtParams::now(format!("task-{i}"), "noop", json!({ "tenant": i % KEYS }))
            })
            .collect();
        bench.scheduler.schedule_many(tasks).await?;
    }
    Ok(())
}

async fn drain(driver: &Driver, limit: Limit) -> Result<f64, BoxError> {
    let bench = driver.bench("limits").await?;
    backlog(&bench).await?;
    bench.analyze().await?;
    let mut registry = TaskRegistry::new();
    registry.register("noop", Noop);
    let elapsed = run_until_done(&bench, registry, config(limit), DRAIN_TASKS).await?;
    bench.remove().await?;
    super::settle();
    Ok(DRAIN_TASKS as f64 / elapsed.as_secs_f64())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The figures on `driver`: each round's two drains, their medians and ratio, and the
/// per-key drain.
pub(crate) async fn measure(driver: &Driver) -> Result<Vec<Figure>, BoxError> {
    let mut figures = Vec::new();
    let (mut free, mut limited) = (Vec::new(), Vec::new());
    for round in 1..=ROUNDS {
        eprintln!(
            "round {round}: drain without limits, then with a global limit of {NON_BINDING}..."
        );
        free.push(drain(driver, Limit::None).await?);
        limited.push(drain(driver, Limit::Global).await?);
        figures.push(figure(
            format!("round {round}: drain, no limit"),
            free[round - 1],
            "tasks/s",
        ));
        figures.push(figure(
            format!("round {round}: drain, global limit {NON_BINDING} (never binds)"),
            limited[round - 1],
            "tasks/s",
        ));
    }
    let (free, limited) = (median(free), median(limited));
    figures.push(figure(
        "median: global limit / no limit",
        limited / free,
        "×",
    ));
    eprintln!("drain over {KEYS} keys, at most {PER_KEY} of a key at once...");
    let keyed = drain(driver, Limit::PerKey).await?;
    figures.push(figure(
        format!("drain, {KEYS} keys, at most {PER_KEY} of a key at once"),
        keyed,
        "tasks/s",
    ));
    figures.push(figure(
        "per-key limit / no limit (median)",
        keyed / free,
        "×",
    ));
    Ok(figures)
}
