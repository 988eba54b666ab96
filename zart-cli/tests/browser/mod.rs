//! `zart serve` on PostgreSQL in a real browser (headless Chromium over WebDriver): logged
//! in through the link it prints, every page clicked through with live updates on and a
//! refresh seen on each, then every page opened again. Each must come quickly and whole: the
//! command's pool has two connections, and when the live-update listeners held them, every
//! page after the first waited 10 s for a 503. Pictures of the pages go to
//! `$CARGO_TARGET_TMPDIR/serve-screenshots/`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::json;
use tokio::runtime::Handle;
use zart::scheduler::{ScheduleAtParams, TaskScheduler, TaskStatus};
use zart::Zart;
use zart_tests::webdriver::{Browser, WebDriverError};

use super::support::{eventually, Db};
use super::{release, start_worker, status, wait_for_status};

type Result<T = ()> = std::result::Result<T, WebDriverError>;

const TOKEN: &str = "serve-browser-token";

/// How long the browser waits to see something (a page that failed shows its error by
/// then, which the timeout's message quotes).
const SEE: Duration = Duration::from_secs(15);

/// A page of this small store comes in well under a second; one stuck behind an empty pool
/// waits its 10 s acquire timeout.
const PAGE_WITHIN: Duration = Duration::from_secs(8);

/// What a page shows when the store did not answer it.
const FAILED: [&str; 4] = [
    "Service Unavailable",
    "cannot be reached",
    "pool timed out",
    "failed to answer",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zart_serve_on_postgres_serves_every_page_live_and_again() {
    let db = Db::postgres().await;
    let worker = start_worker(&db.zart, "serve-w1").await;
    let held = seed(&db.zart).await;
    let served = db.serve(&["--token", TOKEN]).await;
    let base = format!("http://{}", served.address);
    assert_eq!(
        served.token, "<ZART_ADMIN_TOKEN>",
        "a token given is not printed"
    );
    let store = Store {
        zart: db.zart.clone(),
        runtime: Handle::current(),
    };
    let dir = shots();
    let driven = tokio::task::spawn_blocking(move || drive(&base, &dir, &store)).await;
    drop(served);
    release(&held);
    wait_for_status(&db.zart, &held, TaskStatus::Completed).await;
    worker.shutdown().await.expect("the worker stops");
    db.cleanup().await;
    match driven {
        Ok(Ok(())) => {}
        Ok(Err(error)) => panic!("the browser test failed: {error}"),
        Err(panic) => std::panic::resume_unwind(panic.into_panic()),
    }
}

/// Plain tasks that completed, failed, wait for later and were cancelled; an execution
/// waiting for its approval with two steps done; the worker's hourly schedule; and a task
/// the worker runs until released, whose id is returned.
async fn seed(zart: &Zart) -> String {
    let later = Utc::now() + chrono::Duration::hours(1);
    let tasks = zart.tasks();
    for id in ["plain-ok-1", "plain-ok-2", "plain-bad-1"] {
        tasks
            .schedule_now(id, "job", json!({}))
            .await
            .expect("scheduled");
    }
    for id in ["plain-later", "plain-cancelled"] {
        let at = ScheduleAtParams::at(id, "job", later, json!(null));
        tasks.schedule_at(at).await.expect("scheduled");
    }
    assert!(tasks.cancel("plain-cancelled").await.expect("cancels"));
    super::checkout::start(zart, "checkout-1", json!({ "id": 1, "items": 2 }))
        .await
        .expect("started");
    tasks
        .schedule_now("held-1", "hold", json!({}))
        .await
        .expect("scheduled");
    for id in ["plain-ok-1", "plain-ok-2"] {
        wait_for_status(zart, id, TaskStatus::Completed).await;
    }
    wait_for_status(zart, "plain-bad-1", TaskStatus::Failed).await;
    wait_for_status(zart, "held-1", TaskStatus::Running).await;
    eventually("the execution to wait for its event", || async {
        let steps = zart.inspector().steps("checkout-1").await.expect("steps");
        (steps.len() == 3 && status(zart, "checkout-1").await == Some(TaskStatus::AwaitingEvent))
            .then_some(())
    })
    .await;
    eventually("the schedule to be registered", || async {
        zart.inspector()
            .schedule("hourly-report")
            .await
            .expect("reads")
    })
    .await;
    "held-1".to_owned()
}

/// The store, reachable from the browser's thread.
struct Store {
    zart: Zart,
    runtime: Handle,
}

impl Store {
    /// Schedules a task for later: a change the pages hear of.
    fn change(&self) {
        let id = format!("live-{}", super::support::unique());
        let at = ScheduleAtParams::at(
            &id,
            "job",
            Utc::now() + chrono::Duration::hours(1),
            json!(null),
        );
        self.runtime
            .block_on(self.zart.tasks().schedule_at(at))
            .unwrap_or_else(|e| panic!("scheduling {id}: {e}"));
    }
}

fn shots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("serve-screenshots");
    let _ = std::fs::create_dir_all(&dir);
    // A failure's picture from an earlier run would say this one failed.
    let _ = std::fs::remove_file(dir.join("failure.png"));
    dir
}

fn drive(base: &str, dir: &Path, store: &Store) -> Result {
    let browser = Browser::start()?;
    let steps = steps(&browser, base, dir, store);
    if steps.is_err() {
        // What the page showed when it went wrong, for the one reading the failure.
        let _ = browser.screenshot(dir.join("failure.png"));
        if let (Ok(url), Ok(source)) = (browser.current_url(), browser.page_source()) {
            let source: String = source.chars().take(3000).collect();
            eprintln!("failed at {url}:\n{source}");
        }
    }
    steps
}

/// Goes to a page by `go` and waits for its heading to hold `title`: it must come within
/// [`PAGE_WITHIN`] and show no failure.
fn page(browser: &Browser, title: &str, go: impl FnOnce() -> Result) -> Result {
    let started = Instant::now();
    go()?;
    browser.wait_for_text("h1", title, SEE)?;
    let took = started.elapsed();
    let url = browser.current_url()?;
    assert!(took < PAGE_WITHIN, "{url} took {took:?}");
    let source = browser.page_source()?;
    for failure in FAILED {
        assert!(!source.contains(failure), "{url} shows {failure:?}");
    }
    Ok(())
}

/// Sees the page's live region refreshed after a change in the store: the page holds the
/// stream open, heard the change, and read its region again.
fn refreshes(browser: &Browser, store: &Store) -> Result {
    browser.wait_for_text("#live-state", "live", SEE)?;
    let before = browser.find("#live")?.attr("data-updated")?;
    store.change();
    browser.wait_for("the live region to refresh", SEE, |b| {
        Ok(b.find("#live")?.attr("data-updated")? != before)
    })?;
    let state = browser.text("#live-state")?;
    assert!(state.contains("updated"), "{state}");
    Ok(())
}

fn shoot(browser: &Browser, dir: &Path, name: &str) -> Result {
    browser.screenshot(dir.join(format!("{name}.png")))
}

fn steps(browser: &Browser, base: &str, dir: &Path, store: &Store) -> Result {
    // The link it printed, with the token given in place of the placeholder, logs in.
    page(browser, "Overview", || {
        browser.goto(&format!("{base}/?token={TOKEN}"))
    })?;
    assert!(!browser.current_url()?.contains("token="));
    refreshes(browser, store)?;
    shoot(browser, dir, "overview")?;

    // Every page by its links, each kept live.
    page(browser, "Tasks", || {
        browser.click("header.top nav a[href$='/tasks']")
    })?;
    page(browser, "Tasks", || {
        browser.click("nav.tabs a[href*='status=failed']")
    })?;
    let failed = browser.text("table.tasks")?;
    assert!(failed.contains("plain-bad-1"), "{failed}");
    assert!(!failed.contains("plain-ok-1"), "only the failed: {failed}");
    refreshes(browser, store)?;
    shoot(browser, dir, "tasks-failed")?;

    page(browser, "plain-bad-1", || {
        browser.click("table.tasks a.id[href$='/tasks/plain-bad-1']")
    })?;
    browser.wait_for_text("main", "card declined", SEE)?;
    refreshes(browser, store)?;
    shoot(browser, dir, "task")?;

    page(browser, "checkout-1", || {
        browser.goto(&format!("{base}/tasks/checkout-1"))
    })?;
    browser.wait_for_text("table.steps", "charge", SEE)?;
    let waiting = browser.text("p.waiting")?;
    assert!(waiting.contains("event approved"), "{waiting}");
    refreshes(browser, store)?;
    shoot(browser, dir, "execution")?;

    page(browser, "Schedules", || {
        browser.click("header.top nav a[href$='/schedules']")
    })?;
    browser.wait_for_text("table.schedules", "hourly-report", SEE)?;
    refreshes(browser, store)?;
    page(browser, "Schedule hourly-report", || {
        browser.click("table.schedules a")
    })?;
    browser.wait_for("the next five slots", SEE, |b| {
        Ok(b.find_all("ol.upcoming li")?.len() == 5)
    })?;
    refreshes(browser, store)?;
    shoot(browser, dir, "schedule")?;

    page(browser, "Queues", || {
        browser.click("header.top nav a[href$='/queues']")
    })?;
    browser.wait_for_text("table.queues", "slow", SEE)?;
    refreshes(browser, store)?;
    shoot(browser, dir, "queues")?;

    page(browser, "Workers", || {
        browser.click("header.top nav a[href$='/workers']")
    })?;
    browser.wait_for_text("table.workers", "serve-w1", SEE)?;
    browser.wait_for_text("table.workers", "held-1", SEE)?;
    refreshes(browser, store)?;
    shoot(browser, dir, "workers")?;

    // Every page again, while the streams the pages opened come and go.
    for (path, title, shows) in [
        ("/", "Overview", "Last hour"),
        ("/tasks?status=failed", "Tasks", "plain-bad-1"),
        ("/tasks/plain-bad-1", "plain-bad-1", "card declined"),
        ("/tasks/checkout-1", "checkout-1", "charge"),
        ("/schedules", "Schedules", "hourly-report"),
        (
            "/schedules/hourly-report",
            "Schedule hourly-report",
            "every hour",
        ),
        ("/queues", "Queues", "slow"),
        ("/workers", "Workers", "serve-w1"),
    ] {
        page(browser, title, || browser.goto(&format!("{base}{path}")))?;
        browser.wait_for_text("main", shows, SEE)?;
    }
    refreshes(browser, store)?;
    shoot(browser, dir, "workers-again")?;
    Ok(())
}
