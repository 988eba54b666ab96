//! The web UI in a real browser: headless Chromium, driven over WebDriver, against the admin
//! served on a local port over a seeded store. Every view is opened (and photographed into
//! `$CARGO_TARGET_TMPDIR/admin-screenshots/<driver>/`); cancel, retry, an event, a bulk
//! retry, a queue's pause and its limits are clicked and seen in the database; a live update arrives (and waits while
//! paused); a script in a task id shows as text; a browser without the token is refused.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::runtime::Handle;
use zart::scheduler::{TaskScheduler, TaskStatus};
use zart::store::Store;
use zart_admin::Admin;
use zart_tests::webdriver::{Browser, WebDriverError};
use zart_tests::TestDb;

use super::seed;

const SEE: Duration = Duration::from_secs(10);

type Result<T = ()> = std::result::Result<T, WebDriverError>;

/// The store, reachable from the browser's thread.
struct Db {
    store: Arc<dyn Store>,
    runtime: Handle,
}

impl Db {
    fn status(&self, id: &str) -> Option<TaskStatus> {
        self.runtime
            .block_on(self.store.status(id))
            .unwrap_or_else(|e| panic!("reading {id}: {e}"))
    }

    /// The limits in force on queue `queue`, as stored.
    fn limits(&self, queue: &str) -> Option<zart::store::QueueLimits> {
        let states = self.runtime.block_on(self.store.queue_states());
        let states = states.unwrap_or_else(|e| panic!("reading queues: {e}"));
        states
            .into_iter()
            .find(|state| state.queue == queue)
            .map(|state| state.limits)
    }

    fn attempts(&self, id: &str) -> u32 {
        let task = self.runtime.block_on(self.store.get_task(id));
        task.ok().flatten().map(|t| t.attempts).unwrap_or(0)
    }

    fn schedule(&self, id: &str, name: &str) {
        self.runtime
            .block_on(self.store.schedule_now(id, name, json!({})))
            .unwrap_or_else(|e| panic!("scheduling {id}: {e}"));
    }

    /// Waits (on the browser's thread) until `check` holds.
    fn until(&self, what: &str, check: impl Fn(&Db) -> bool) {
        let deadline = std::time::Instant::now() + SEE;
        while !check(self) {
            assert!(std::time::Instant::now() < deadline, "timed out: {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn shots(driver: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("admin-screenshots")
        .join(driver);
    let _ = std::fs::create_dir_all(&dir);
    dir
}

fn shoot(browser: &Browser, dir: &std::path::Path, name: &str) -> Result {
    let path = dir.join(format!("{name}.png"));
    browser.screenshot(&path)?;
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    assert!(size > 10_000, "{name}.png is a real picture ({size} bytes)");
    Ok(())
}

/// Clicks the submit button of the form posting to a path ending in `action`, accepting
/// its confirmation if it asks one.
fn press(browser: &Browser, action: &str, confirms: bool) -> Result {
    browser.click(&format!("form[action*='{action}'] button"))?;
    if confirms {
        browser.wait_for("the confirmation", SEE, |b| {
            Ok(b.find("dialog#confirm-dialog[open]").is_ok())
        })?;
        browser.click("#confirm-yes")?;
    }
    Ok(())
}

#[zart_tests::each_store]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_ui_shows_every_view_and_acts_in_a_browser(db: TestDb) {
    let worker = seed(&db).await;
    let evil = "<script>alert(1)</script>";
    db.scheduler
        .schedule_now(evil, "no-worker-knows-it", json!({}))
        .await
        .expect("scheduled");
    let admin = Admin::new(db.zart());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let address = listener.local_addr().expect("an address");
    let server = tokio::spawn({
        let admin = admin.clone();
        async move { zart_admin::serve(&admin, listener).await }
    });
    let base = format!("http://{address}");
    let token = admin.token().to_owned();
    let dir = shots(if db.is_sqlite() { "sqlite" } else { "postgres" });
    browse(steps, &base, &token, dir, &db, server, worker).await;
}

/// Runs `steps` against the admin at `base`, which `server` serves, then stops the server
/// and `worker`, and fails as the steps did.
async fn browse<T>(
    steps: Steps,
    base: &str,
    token: &str,
    dir: PathBuf,
    db: &TestDb,
    server: tokio::task::JoinHandle<T>,
    worker: zart::scheduler::RunningWorker,
) {
    let store = Db {
        store: db.scheduler.clone(),
        runtime: Handle::current(),
    };
    let (base, token) = (base.to_owned(), token.to_owned());
    let driven =
        tokio::task::spawn_blocking(move || drive(steps, &base, &token, &dir, &store)).await;
    server.abort();
    worker.shutdown().await.expect("the worker stops");
    match driven {
        Ok(Ok(())) => {}
        Ok(Err(error)) => panic!("the browser test failed: {error}"),
        Err(panic) => std::panic::resume_unwind(panic.into_panic()),
    }
}

/// The steps a browser test takes: the browser, the admin's base URL, the token, where
/// screenshots go, and the store.
type Steps = fn(&Browser, &str, &str, &std::path::Path, &Db) -> Result;

/// Runs `steps` in a browser of their own, saying what the page showed if they fail.
fn drive(steps: Steps, base: &str, token: &str, dir: &std::path::Path, db: &Db) -> Result {
    let browser = Browser::start()?;
    let steps = steps(&browser, base, token, dir, db);
    if steps.is_err() {
        // What the page showed when it went wrong, for the one reading the failure.
        let _ = browser.screenshot(dir.join("failure.png"));
        if let (Ok(url), Ok(source)) = (browser.current_url(), browser.page_source()) {
            eprintln!(
                "failed at {url}:\n{}",
                source.chars().take(3000).collect::<String>()
            );
        }
    }
    steps
}

fn steps(browser: &Browser, base: &str, token: &str, dir: &std::path::Path, db: &Db) -> Result {
    // Without the token: refused, with a field to give it.
    browser.goto(&format!("{base}/tasks"))?;
    browser.wait_for_text("h1", "Token required", SEE)?;
    shoot(browser, dir, "token-required")?;
    assert!(browser.page_source()?.contains("needs its token"));

    // The link with the token logs in and lands on the overview, token gone from the URL.
    browser.goto(&format!("{base}/?token={token}"))?;
    browser.wait_for_text("h1", "Overview", SEE)?;
    assert!(
        !browser.current_url()?.contains("token="),
        "the token left the address"
    );
    let completed = browser.text("a.card .count.completed")?;
    assert_eq!(completed, "3");
    assert_eq!(browser.text("a.card .count.awaiting_event")?, "1");
    shoot(browser, dir, "overview")?;

    // The failed emails, one status at a time.
    browser.goto(&format!("{base}/tasks?status=failed"))?;
    browser.wait_for_text("table.tasks", "email-2", SEE)?;
    let rows = browser.find_all("table.tasks tbody tr")?;
    assert_eq!(rows.len(), 2, "two failed emails");
    shoot(browser, dir, "tasks")?;

    // The checkout waiting for its approval: under its own tab, with the event's name.
    browser.click("nav.tabs a[href*='status=awaiting_event']")?;
    browser.wait_for_text("table.tasks", "checkout-7", SEE)?;
    let status = browser.text("table.tasks tbody td:nth-child(3)")?;
    assert_eq!(status, "awaiting event approved");
    shoot(browser, dir, "tasks-awaiting-event")?;

    // The checkout: its steps, and what it waits on.
    browser.goto(&format!("{base}/tasks/checkout-7"))?;
    browser.wait_for_text("table.steps", "charge", SEE)?;
    let waiting = browser.text("p.waiting")?;
    assert!(waiting.contains("event approved"), "{waiting}");
    assert_eq!(browser.text("p.actions .status")?, "awaiting event");
    assert!(
        browser.page_source()?.contains("2026.12.2"),
        "the version that began the execution is shown"
    );
    shoot(browser, dir, "execution")?;

    // The charge's two declined attempts, under its row in the step list.
    let failures = browser.find_all("table.steps table.step-attempts tbody tr")?;
    assert_eq!(failures.len(), 2, "the charge's failed attempts");
    let first = browser.text("table.step-attempts tbody tr")?;
    assert!(
        first.starts_with('1') && first.contains("card declined for order 7"),
        "{first}"
    );
    browser.execute(
        "document.querySelector('table.steps').scrollIntoView()",
        vec![],
    )?;
    shoot(browser, dir, "execution-steps")?;

    // Send it the event it waits for, from the form: it completes.
    browser.type_into("form.event input[name=name]", "approved")?;
    browser.type_into(
        "form.event textarea[name=payload]",
        "{\"by\": \"the browser\"}",
    )?;
    browser.click("form.event button")?;
    browser.wait_for_text("p.notice", "Event \"approved\" sent", SEE)?;
    db.until("the checkout completes", |db| {
        db.status("checkout-7") == Some(TaskStatus::Completed)
    });

    // Retry a failed email from its page: it runs (and fails) again.
    browser.goto(&format!("{base}/tasks/email-2"))?;
    browser.wait_for_text("h1", "email-2", SEE)?;
    press(browser, "/tasks/email-2/retry", true)?;
    browser.wait_for_text("p.notice", "Task retried", SEE)?;
    db.until("email-2 failed again, after one fresh attempt", |db| {
        db.status("email-2") == Some(TaskStatus::Failed) && db.attempts("email-2") == 1
    });

    // Cancel the task no worker knows.
    browser.goto(&format!("{base}/tasks/mystery-1"))?;
    browser.wait_for_text("h1", "mystery-1", SEE)?;
    press(browser, "/tasks/mystery-1/cancel", true)?;
    browser.wait_for_text("p.notice", "Task cancelled", SEE)?;
    assert_eq!(db.status("mystery-1"), Some(TaskStatus::Cancelled));

    // Bulk retry of everything failed: the count first, then the action.
    browser.goto(&format!("{base}/tasks?status=failed"))?;
    browser.wait_for_text("table.tasks", "email-4", SEE)?;
    browser.click("p.bulk a.button")?;
    browser.wait_for_text("#bulk-count", "Retry 2 tasks", SEE)?;
    shoot(browser, dir, "bulk-confirm")?;
    browser.click("form[action*='/bulk'] button")?;
    browser.wait_for_text("p.notice", "retried 2 of 2 matching tasks", SEE)?;
    db.until("both emails ran again", |db| {
        db.attempts("email-4") == 1 && db.status("email-4") == Some(TaskStatus::Failed)
    });

    // A live update: a task scheduled meanwhile appears without a reload; paused, it waits.
    browser.goto(&format!("{base}/tasks?status=pending"))?;
    browser.wait_for_text("#live-state", "live", SEE)?;
    db.schedule("live-1", "arrives-later");
    browser.wait_for_text("table.tasks", "live-1", SEE)?;
    browser.click("#live-toggle")?;
    browser.wait_for_text("#live-state", "paused", SEE)?;
    db.schedule("live-2", "arrives-later");
    std::thread::sleep(Duration::from_millis(2500));
    assert!(
        !browser.text("table.tasks")?.contains("live-2"),
        "no update while paused"
    );
    browser.click("#live-toggle")?;
    browser.wait_for_text("table.tasks", "live-2", SEE)?;
    shoot(browser, dir, "live")?;

    // A script in a task id is text, and never runs.
    browser.goto(&format!("{base}/tasks?status=pending"))?;
    browser.wait_for_text("table.tasks", "<script>alert(1)</script>", SEE)?;
    assert!(browser.alert_text().is_err(), "no alert opened");
    let link = browser.text("table.tasks a.id[href*='%3Cscript']")?;
    assert_eq!(link, "<script>alert(1)</script>");
    shoot(browser, dir, "escaped")?;

    // The other views.
    browser.goto(&format!("{base}/schedules"))?;
    browser.wait_for_text("table.schedules", "Monday through Friday", SEE)?;
    shoot(browser, dir, "schedules")?;
    browser.click("table.schedules a")?;
    // 09:00 in Paris, shown in UTC (08:00 in winter, 07:00 in summer).
    browser.wait_for_text("ol.upcoming", ":00:00", SEE)?;
    assert_eq!(
        browser.find_all("ol.upcoming li")?.len(),
        5,
        "the next five slots"
    );
    shoot(browser, dir, "schedule")?;
    press(browser, "/pause", false)?;
    browser.wait_for_text("p.notice", "Schedule paused", SEE)?;
    browser.goto(&format!("{base}/queues"))?;
    browser.wait_for_text("table.queues", "50 at once", SEE)?;
    press(browser, "/queues/default/pause", true)?;
    browser.wait_for_text("p.notice", "Queue default paused", SEE)?;
    browser.wait_for_text("table.queues", "paused", SEE)?;
    // Limits set here, over the ones the workers' code declares, then reset.
    browser.click("table.queues td.limits a[href*='/queues/default/limits']")?;
    browser.wait_for_text("form.limits", "Global limit", SEE)?;
    browser.type_into("form.limits input[name=global]", "3")?;
    browser.type_into("form.limits input[name=key_field]", "tenant")?;
    browser.type_into("form.limits input[name=key_limit]", "1")?;
    shoot(browser, dir, "queue-limits")?;
    browser.click("form.limits button")?;
    browser.wait_for_text("p.notice", "Queue default's limits set", SEE)?;
    browser.wait_for_text("table.queues", "3 at once · 1 per tenant", SEE)?;
    browser.wait_for_text("table.queues", "set here", SEE)?;
    let stored = db.limits("default").unwrap_or_default();
    assert_eq!(stored.concurrency, Some(3), "{stored:?}");
    assert_eq!(
        stored.per_key.map(|key| (key.field, key.limit)),
        Some(("tenant".into(), 1))
    );
    shoot(browser, dir, "queues")?;
    press(browser, "/queues/default/limits/reset", true)?;
    browser.wait_for_text("p.notice", "back to its declared limits", SEE)?;
    browser.wait_for_text("table.queues", "50 at once", SEE)?;
    assert_eq!(db.limits("default").and_then(|l| l.concurrency), Some(50));
    press(browser, "/queues/default/resume", false)?;
    browser.wait_for_text("p.notice", "Queue default resumed", SEE)?;
    browser.goto(&format!("{base}/workers"))?;
    browser.wait_for_text("table.workers", "all", SEE)?;
    shoot(browser, dir, "workers")?;
    Ok(())
}

/// The admin nested in an application under `/admin`, as docs/admin.md shows, on
/// PostgreSQL: logged in by the link, every view reached by clicking its links, each
/// rendered and kept live.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_admin_nested_under_a_path_works_in_a_browser() {
    let db = TestDb::postgres().await;
    let worker = seed(&db).await;
    let admin = Admin::new(db.zart());
    let app = axum::Router::new().nest("/admin", admin.router());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let address = listener.local_addr().expect("an address");
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let base = format!("http://{address}/admin");
    let token = admin.token().to_owned();
    let dir = shots("postgres-nested");
    browse(nested_steps, &base, &token, dir, &db, server, worker).await;
}

/// Waits for page `title` at `path` (under `base`), then sees its live region refreshed
/// after a change in the store: the page reached the stream and its own fragment.
fn shown_live(browser: &Browser, base: &str, path: &str, title: &str, db: &Db) -> Result {
    browser.wait_for_text("h1", title, SEE)?;
    assert_eq!(browser.current_url()?, format!("{base}{path}"));
    let before = browser.find("#live")?.attr("data-updated")?;
    db.schedule(&format!("nested-{}", uuid::Uuid::new_v4()), "arrives-later");
    browser.wait_for("the live region to refresh", SEE, |b| {
        Ok(b.find("#live")?.attr("data-updated")? != before)
    })?;
    let state = browser.text("#live-state")?;
    assert!(state.contains("updated"), "{path}: {state}");
    Ok(())
}

fn nested_steps(
    browser: &Browser,
    base: &str,
    token: &str,
    dir: &std::path::Path,
    db: &Db,
) -> Result {
    // The link with the token logs in on the overview, at the admin's own path.
    browser.goto(&format!("{base}?token={token}"))?;
    shown_live(browser, base, "", "Overview", db)?;
    shoot(browser, dir, "overview")?;

    browser.click("header.top nav a[href$='/tasks']")?;
    shown_live(browser, base, "/tasks", "Tasks", db)?;
    browser.click("table.tasks a.id[href$='/tasks/checkout-7']")?;
    shown_live(browser, base, "/tasks/checkout-7", "checkout-7", db)?;
    browser.wait_for_text("table.steps", "charge", SEE)?;
    shoot(browser, dir, "execution")?;

    // Back to the overview by the brand, then by the navigation.
    browser.click("header.top a.brand")?;
    shown_live(browser, base, "", "Overview", db)?;
    browser.click("header.top nav a[href$='/schedules']")?;
    shown_live(browser, base, "/schedules", "Schedules", db)?;
    browser.click("table.schedules a")?;
    browser.wait_for_text("h1", "Schedule ", SEE)?;
    browser.wait_for_text("ol.upcoming", ":00:00", SEE)?;
    // An action redirects back inside the admin.
    press(browser, "/pause", false)?;
    browser.wait_for_text("p.notice", "Schedule paused", SEE)?;
    assert!(browser
        .current_url()?
        .starts_with(&format!("{base}/schedules/")));

    browser.click("header.top nav a[href$='/queues']")?;
    shown_live(browser, base, "/queues", "Queues", db)?;
    browser.wait_for_text("table.queues", "default", SEE)?;
    shoot(browser, dir, "queues")?;
    browser.click("header.top nav a[href$='/workers']")?;
    shown_live(browser, base, "/workers", "Workers", db)?;
    browser.wait_for_text("table.workers", "all", SEE)?;
    browser.click("header.top nav a")?;
    shown_live(browser, base, "", "Overview", db)?;
    Ok(())
}
