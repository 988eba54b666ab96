//! Every attribute and key the macros take, in one program that must compile.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use zart::durable::StepError;
use zart::{State, TaskError, Zart};
use zart::scheduler::{OnComplete, SchedulerTaskError, TaskInstance};

#[derive(Clone, Serialize, Deserialize)]
pub struct Order {
    pub id: String,
    pub cents: u64,
}

pub struct Bank {
    pub name: String,
}

#[zart::task]
async fn plain(order: Order) -> Result<u64, TaskError> {
    Ok(order.cents)
}

#[zart::task(name = "named-task", queue = "billing", priority = 10, retry = 5, timeout = "1h30m")]
async fn named(order: Order, bank: State<Bank>, task: &TaskInstance) -> Result<OnComplete, SchedulerTaskError> {
    let _ = (order.id, &bank.name, task.attempt);
    Ok(OnComplete::default())
}

#[zart::task(retry = none)]
fn blocking(owned: TaskInstance) -> Result<String, String> {
    Ok(owned.task_id)
}

#[zart::task(retry = exponential(max_attempts = 4, initial = "200ms", max = "30s", multiplier = 3.0, jitter = 0.1))]
async fn exponential_retry() -> Result<(), TaskError> {
    Ok(())
}

#[zart::task(retry = fixed(max_attempts = 3, delay = "2s", jitter = 0))]
async fn fixed_retry() -> Result<(), TaskError> {
    Ok(())
}

#[zart::step]
async fn charge(order: &Order) -> Result<String, StepError> {
    Ok(format!("pay-{}", order.id))
}

#[zart::step(name = "reserve", retry = fixed(max_attempts = 2, delay = "100ms"), timeout = "10s")]
async fn reserve(order: Order, (count, _unused): (u32, u32)) -> Result<u32, StepError> {
    Ok(count + u32::try_from(order.cents).unwrap_or(0))
}

struct Warehouse;

impl Warehouse {
    #[zart::step(retry = none)]
    async fn ship(&self, order: &Order) -> Result<bool, StepError> {
        Ok(!order.id.is_empty())
    }
}

#[zart::durable(name = "checkout-v2", queue = "checkouts", priority = -2, retry = 3, timeout = "5m", deadline = "2d")]
async fn checkout(order: Order, gift: bool, bank: State<Bank>) -> Result<String, TaskError> {
    let payment = charge(&order).await?;
    let reserved = reserve(order.clone(), (1, 2)).await?;
    let shipped = Warehouse.ship(&order).await?;
    zart::sleep("settle", Duration::from_secs(1)).await?;
    Ok(format!("{payment} {reserved} {shipped} {gift} {}", bank.name))
}

#[zart::recurring(
    cron = "0 2 * * 1-5",
    timezone = "Europe/Berlin",
    overlap = skip_if_running,
    missed = replay_all,
    id = "nightly-{occurrence}",
    max_runs = 10,
    window = "mon-fri 01:00-05:00",
    grace = "2m",
)]
#[zart::recurring(schedule = "nightly-fast", every = "15m", overlap = always_start, missed = skip)]
#[zart::recurring(schedule = "nightly-delay", fixed_delay = "30s", overlap = cancel_and_restart)]
// Rare but real days: leap days, and February's Mondays (either day field matches).
#[zart::recurring(schedule = "nightly-leap", cron = "0 0 29 2 *")]
#[zart::recurring(schedule = "nightly-feb-mondays", cron = "0 0 30 2 1")]
#[zart::task]
async fn nightly() -> Result<(), TaskError> {
    Ok(())
}

#[zart::durable]
#[zart::recurring(every = "1h", input = Order { id: "hourly".into(), cents: 0 }, overlap = "buffer_one", missed = catch_up_once)]
async fn hourly(order: Order) -> Result<u64, TaskError> {
    Ok(order.cents)
}

async fn use_handles(zart: &Zart) -> Result<(), Box<dyn std::error::Error>> {
    let order = Order { id: "o-1".into(), cents: 100 };
    let handle = checkout::start(zart, "c-1", order.clone(), true).await?;
    let receipt: String = handle.wait(Duration::from_secs(1)).await?;
    let later = plain::schedule_at(zart, "p-1", chrono::Utc::now(), order).await?;
    let cents: u64 = later.wait(Duration::from_secs(1)).await?;
    let _: zart::Handle<named> = named::handle(zart, "n-1");
    let _: Option<serde_json::Value> = zart.handle::<named>("n-1").wait(Duration::from_secs(1)).await?;
    let _ = (receipt, cents, checkout::NAME);
    let _ = hourly::start_at(zart, "h-1", chrono::Utc::now(), Order { id: "h".into(), cents: 1 });
    Ok(())
}

fn main() {
    let registry = zart::registry![plain, named, blocking, exponential_retry, fixed_retry, checkout, nightly, hourly];
    assert_eq!(registry.len(), 8);
    assert_eq!(<named as zart::TaskDefinition>::NAME, "named-task");
    assert_eq!(<named as zart::TaskDefinition>::PRIORITY, 10);
    assert_eq!(<checkout as zart::TaskDefinition>::PRIORITY, -2);
    assert_eq!(<plain as zart::TaskDefinition>::PRIORITY, 0);
    assert_eq!(registry.queue_of("named-task"), Some("billing"));
    assert_eq!(registry.queue_of("checkout-v2"), Some("checkouts"));
    assert_eq!(registry.queue_names(), ["billing", "checkouts", "default"]);
    let _ = use_handles;
    let local = {
        #[zart::task]
        async fn inside_a_function(n: u32) -> Result<u32, TaskError> {
            Ok(n)
        }
        zart::registry![inside_a_function]
    };
    assert_eq!(local.names(), ["inside_a_function"]);
}
