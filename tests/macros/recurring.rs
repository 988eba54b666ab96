//! `#[recurring]` stacked on `#[task]` and `#[durable]`: the schedules are registered with
//! the task, stored when the worker starts, and fire.

use serde::{Deserialize, Serialize};
use zart::recurring::{MissedRunPolicy, OverlapPolicy};
use zart::schedule::Schedule;
use zart::scheduler::TaskStatus;
use zart::TaskError;
use zart_tests::TestDb;

use super::quick_worker;

#[derive(Serialize, Deserialize)]
pub struct Region {
    name: String,
}

#[zart::recurring(every = "300ms", id = "ping-{occurrence}", max_runs = 2)]
#[zart::task]
async fn ping() -> Result<(), TaskError> {
    Ok(())
}

#[zart::durable]
#[zart::recurring(
    cron = "0 2 * * *",
    timezone = "Europe/Berlin",
    overlap = buffer_one,
    missed = catch_up_once,
    window = "mon-fri",
    grace = "5m",
    input = Region { name: "eu".into() },
)]
#[zart::recurring(schedule = "report-us", fixed_delay = "1h", input = Region { name: "us".into() })]
async fn report(region: Region) -> Result<String, TaskError> {
    Ok(region.name)
}

#[zart_tests::each_store]
#[tokio::test]
async fn recurring_attributes_register_their_schedules_and_they_fire(db: TestDb) {
    let zart = db.zart();
    let worker = quick_worker(&zart)
        .register(zart::registry![ping, report])
        .start()
        .await
        .expect("the worker starts");

    // Fires every 300 ms, twice (max_runs), with run ids from the template.
    db.wait_for_status("ping-1", TaskStatus::Completed, super::WAIT)
        .await;

    let schedules = db.schedules();
    let nightly = wait_for_schedule(&schedules, "report").await;
    assert_eq!(
        nightly.task.schedule_id(),
        "report",
        "the schedule id defaults to the task name"
    );
    let expected = zart::recurring::RecurringTask::new(
        "report",
        "report",
        Schedule::cron("0 2 * * *", "Europe/Berlin").expect("valid"),
    )
    .data(serde_json::json!({ "name": "eu" }))
    .overlap(OverlapPolicy::BufferOne)
    .missed(MissedRunPolicy::CatchUpOnce)
    .window(zart::schedule::TimeWindow::parse("Europe/Berlin", "mon-fri").expect("valid"))
    .grace(std::time::Duration::from_secs(300));
    assert_eq!(nightly.task, expected);

    let us = wait_for_schedule(&schedules, "report-us").await;
    assert_eq!(
        us.task,
        zart::recurring::RecurringTask::new(
            "report-us",
            "report",
            Schedule::fixed_delay(std::time::Duration::from_secs(3600)).expect("valid"),
        )
        .data(serde_json::json!({ "name": "us" }))
    );
    let ping = wait_for_schedule(&schedules, "ping").await;
    assert_eq!(ping.occurrence, 2);
    worker.shutdown().await.expect("clean stop");
}

async fn wait_for_schedule(
    schedules: &zart::recurring::Schedules,
    id: &str,
) -> zart::recurring::ScheduleInfo {
    for _ in 0..200 {
        if let Some(info) = schedules.info(id).await.expect("reading a schedule") {
            return info;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("schedule {id} was never stored")
}
