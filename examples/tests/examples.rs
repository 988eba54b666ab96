//! Runs every example as a user would, `cargo run --example NAME` with no setting: in an
//! empty folder of its own, with `DATABASE_URL` unset, so on the embedded SQLite default
//! (`./zart.db`). Each must end on its own, successfully, within a generous bound.
//!
//! The README's first example (`examples/readme.rs` compiles README.md's text) runs twice,
//! as for a reader who runs it again.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Far above what any example takes (the longest, about 20 s), for a loaded machine.
const LIMIT: Duration = Duration::from_secs(180);

/// An empty folder of its own, removed when the test ends (also when it fails).
struct Scratch(PathBuf);

impl Scratch {
    fn new(label: &str) -> Scratch {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "zart-example-{label}-{}-{nanos:09}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|error| panic!("cannot create {}: {error}", dir.display()));
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The example's binary. Cargo builds a package's examples along with its tests, into
/// `examples/` beside the `deps/` folder this test runs from.
fn binary(example: &str) -> PathBuf {
    let test = std::env::current_exe().expect("the test binary's path");
    let profile = test
        .parent()
        .and_then(Path::parent)
        .expect("a test binary lives in <target>/<profile>/deps");
    let path = profile
        .join("examples")
        .join(format!("{example}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: build the examples (`cargo build -p zart-examples --examples`)",
        path.display()
    );
    path
}

/// Runs `example` in `dir` with no database setting, and returns what it printed; fails
/// the test, with the output, if it fails or outlasts [`LIMIT`].
fn run(example: &str, dir: &Path) -> String {
    run_with(example, dir, &[])
}

/// [`run`] with these environment variables set.
fn run_with(example: &str, dir: &Path, env: &[(&str, &str)]) -> String {
    let stdout_path = dir.join(format!("{example}.stdout"));
    let stderr_path = dir.join(format!("{example}.stderr"));
    let mut child = Command::new(binary(example))
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .env_remove("ZART_SCHEMA")
        .env_remove("ZART_TABLE_PREFIX")
        .envs(env.iter().copied())
        .stdout(File::create(&stdout_path).expect("a file for stdout"))
        .stderr(File::create(&stderr_path).expect("a file for stderr"))
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start the example {example}: {error}"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("the example's status") {
            break Some(status);
        }
        if started.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    match status {
        Some(status) if status.success() => stdout,
        Some(status) => panic!(
            "the example {example} ended with {status}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
        ),
        None => panic!(
            "the example {example} still ran after {LIMIT:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
        ),
    }
}

/// Runs `example` twice in a folder of its own, as a user who runs it again would, checks
/// it used the embedded default store, and returns what each run printed.
fn run_twice(example: &str) -> [String; 2] {
    let dir = Scratch::new(example);
    let first = run(example, &dir.0);
    assert!(
        dir.0.join("zart.db").exists(),
        "the example {example} did not keep its tasks in ./zart.db, the default with no \
         DATABASE_URL set; it printed:\n{first}"
    );
    [first, run(example, &dir.0)]
}

#[test]
fn the_readme_first_example_runs_and_runs_again() {
    // Only warnings and errors among the worker's logs: there should be none.
    let quiet = [("RUST_LOG", "warn")];
    let dir = Scratch::new("readme");
    let first = run_with("readme", &dir.0, &quiet);
    assert!(
        dir.0.join("zart.db").exists(),
        "the README's example did not use ./zart.db"
    );
    assert_eq!(first, "stripe:order-42 (charged now)\n");
    // The id is an idempotency key: a second run finds the first one's execution and its
    // stored result, and charges nothing.
    let second = run_with("readme", &dir.0, &quiet);
    assert_eq!(second, "stripe:order-42 (charged by an earlier run)\n");
}

#[test]
fn quickstart() {
    for stdout in run_twice("quickstart") {
        assert!(stdout.contains("checkout order-"), "{stdout}");
        assert!(stdout.ends_with("=== done ===\n"), "{stdout}");
    }
}

#[test]
fn scheduler_only() {
    for stdout in run_twice("scheduler_only") {
        assert!(
            stdout.contains("[generate-report] Report generated"),
            "{stdout}"
        );
        assert!(stdout.contains("Hello, User-parallel-2!"), "{stdout}");
        assert!(
            stdout.ends_with("=== All demos completed ===\n"),
            "{stdout}"
        );
    }
}

#[test]
fn recurring_tasks() {
    for stdout in run_twice("recurring_tasks") {
        assert!(stdout.contains("triggered by hand"), "{stdout}");
        assert!(stdout.contains("  cool-down: "), "{stdout}");
        assert!(stdout.ends_with("=== Done ===\n"), "{stdout}");
    }
}

#[test]
fn recurring_durable() {
    let [first, second] = run_twice("recurring_durable");
    for stdout in [&first, &second] {
        assert!(stdout.contains("audit-window (AlwaysStart): "), "{stdout}");
        assert!(stdout.ends_with("=== Done ===\n"), "{stdout}");
    }
    // The first run stopped its schedules; the second resumes them, and they fire again.
    assert!(
        second.contains("resumed audit-window, stopped by an earlier run"),
        "{second}"
    );
    assert!(
        !second.contains("audit-window (AlwaysStart): 0 started"),
        "{second}"
    );
}

#[test]
fn otel_stdout() {
    // This one keeps its tasks in a file of the temporary folder, removed at its end.
    let dir = Scratch::new("otel_stdout");
    let stdout = run("otel_stdout", &dir.0);
    assert!(stdout.contains("result: Hello, Ada!"), "{stdout}");
}

#[test]
fn outbox_on_postgres() {
    // The README's transactional enqueue runs on PostgreSQL: the one example that needs a
    // server (its transaction is sqlx's).
    let url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let dir = Scratch::new("outbox");
    let stdout = run_with("outbox", &dir.0, &[("DATABASE_URL", &url)]);
    assert_eq!(
        stdout,
        "receipt for order 1 sent\norder 1 placed, and its receipt's task completed\n"
    );
}
