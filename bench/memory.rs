//! The worker's memory: its resident set with many tasks in flight, over a small and a
//! large backlog, and what one task in flight costs.
//!
//! The worker runs in the benchmark's process, whose resident set (`VmRSS` in
//! `/proc/self/status`, Linux only) is read with the tasks held. The backlog is inserted
//! beforehand in batches of 5,000, so inserting a million tasks leaves no more heap behind
//! than inserting a hundred thousand. The million is measured first: a worker whose memory
//! grew with the backlog would show it as the difference, in spite of the order.
//! The cost of one task in flight is the slope between 100 and 2,000 in flight over the
//! million, on a heap no earlier figure of this one has used.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::Semaphore;
use zart::scheduler::{
    CompletionHandler, OnComplete, ScheduledTask, SchedulerTaskError, TaskInstance, TaskRegistry,
    WorkerConfig,
};

use crate::target::Driver;
use crate::BoxError;

/// Tasks the worker holds at once in the in-flight figures.
pub const IN_FLIGHT: usize = 2_000;
/// The smaller level, for the cost of one more task in flight.
const FEW_IN_FLIGHT: usize = 100;

/// The process's resident set and its peak since the last [`reset_peak`], in KiB.
#[derive(Clone, Copy, Debug)]
pub struct Resident {
    pub now_kib: u64,
    pub peak_kib: u64,
}

/// Reads `/proc/self/status`; `None` where there is none (not Linux).
pub fn resident() -> Option<Resident> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    };
    Some(Resident {
        now_kib: field("VmRSS:")?,
        peak_kib: field("VmHWM:")?,
    })
}

/// Starts a new peak: the kernel sets `VmHWM` back to the current resident set.
pub fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// What the memory figures found.
pub struct Figures {
    /// The process's resident set (MiB) with [`IN_FLIGHT`] tasks running, 100,000 more
    /// pending.
    pub in_flight_small_backlog: f64,
    /// The same with 1,000,000 pending.
    pub in_flight_large_backlog: f64,
    /// One task in flight, in KiB: the slope between 100 and 2,000 in flight.
    pub per_task_kib: f64,
}

/// Holds every task it starts until the gate closes.
struct Hold {
    started: Arc<AtomicUsize>,
    gate: Arc<Semaphore>,
}

#[async_trait]
impl ScheduledTask for Hold {
    async fn execute(
        &self,
        _: &TaskInstance,
    ) -> Result<Box<dyn CompletionHandler>, SchedulerTaskError> {
        self.started.fetch_add(1, Ordering::Relaxed);
        // Closed: every holder goes on at once.
        let _ = self.gate.acquire().await;
        Ok(OnComplete::done())
    }
}

/// The memory figures on `driver`.
pub async fn measure(driver: &Driver) -> Result<Option<Figures>, BoxError> {
    if resident().is_none() {
        eprintln!("memory: /proc/self/status is not readable here; skipped");
        return Ok(None);
    }
    // The large backlog first: the small one then runs after more history of the
    // allocator, not less, so that a difference in the large one's disfavour is its own.
    let bench = driver.bench("memory").await?;
    crate::backlog(&bench, "hold", 1_000_000).await?;
    bench.analyze().await?;
    let (_, few) = with_in_flight(&bench, FEW_IN_FLIGHT).await?;
    let (large, large_growth) = with_in_flight(&bench, IN_FLIGHT).await?;
    bench.remove().await?;

    let bench = driver.bench("memory").await?;
    crate::backlog(&bench, "hold", 100_000).await?;
    bench.analyze().await?;
    let (small, _) = with_in_flight(&bench, IN_FLIGHT).await?;
    bench.remove().await?;

    let mib = |kib: u64| kib as f64 / 1024.0;
    Ok(Some(Figures {
        in_flight_small_backlog: mib(small),
        in_flight_large_backlog: mib(large),
        per_task_kib: (large_growth - few) as f64 / (IN_FLIGHT - FEW_IN_FLIGHT) as f64,
    }))
}

/// Runs a worker that holds `in_flight` tasks of `bench`'s backlog; the resident set (KiB)
/// when all of them had started, and its growth from before the worker started.
async fn with_in_flight(
    bench: &crate::target::Bench,
    in_flight: usize,
) -> Result<(u64, i64), BoxError> {
    let started = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Semaphore::new(0));
    let mut registry = TaskRegistry::new();
    registry.register(
        "hold",
        Hold {
            started: started.clone(),
            gate: gate.clone(),
        },
    );
    let config = WorkerConfig {
        max_tasks_per_poll: 500,
        max_concurrent_tasks: in_flight,
        ..WorkerConfig::default()
    };
    let before = resident().ok_or("the resident set became unreadable")?;
    let running = crate::Running::start(bench.scheduler.clone(), registry, config, vec![]);
    let deadline = Instant::now() + Duration::from_secs(120);
    while started.load(Ordering::Relaxed) < in_flight {
        if Instant::now() > deadline {
            return Err(format!(
                "memory: {} of {in_flight} tasks started in 120 s",
                started.load(Ordering::Relaxed)
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Let the claims' rows and the held tasks' spans settle into the heap.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = resident().ok_or("the resident set became unreadable")?;
    gate.close();
    running.stop().await?;
    Ok((held.now_kib, held.now_kib as i64 - before.now_kib as i64))
}
