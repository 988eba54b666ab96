//! The examples of docs/other-languages.md, run as the page shows them, each language's
//! against a schema of its own.

use std::path::Path;

use zart_tests::TestDb;

use crate::python::require_psycopg;
use crate::{here, psql_ok, run_with_schema};

/// The page's fenced blocks, in order: (language, text).
fn blocks() -> Vec<(String, String)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/other-languages.md");
    let page = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let mut blocks = Vec::new();
    let mut open: Option<(String, String)> = None;
    for line in page.lines() {
        match (open.take(), line.strip_prefix("```")) {
            (None, Some(language)) => open = Some((language.trim().to_owned(), String::new())),
            (None, None) => {}
            (Some(block), Some(_)) => blocks.push(block),
            (Some((language, mut text)), None) => {
                text.push_str(line);
                text.push('\n');
                open = Some((language, text));
            }
        }
    }
    assert!(open.is_none(), "a block of the page is not closed");
    blocks
}

/// The page's examples in `language`.
fn examples(language: &str) -> Vec<String> {
    let found: Vec<String> = blocks()
        .into_iter()
        .filter(|(l, _)| l == language)
        .map(|(_, text)| text)
        .collect();
    assert!(!found.is_empty(), "the page has no {language} example");
    found
}

#[test]
fn every_example_is_run_except_go() {
    // The page says which examples the tests run: a block of another language would go
    // untested while the page claims otherwise.
    for (language, text) in blocks() {
        assert!(
            ["sql", "python", "ts", "go", "text"].contains(&language.as_str()),
            "a {language:?} block, which no test runs:\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sql_examples_run() {
    let db = TestDb::postgres().await;
    psql_ok(&db, &examples("sql").concat()).await;
    // The trigger's task, scheduled with the order it was inserted with.
    assert_eq!(
        psql_ok(&db, "SELECT status, data FROM zart_get_task('welcome-43')").await,
        r#"pending|{"to": "grace@example.com"}"#
    );
    assert_eq!(
        psql_ok(&db, "SELECT status FROM zart_get_task('reminder-42')").await,
        "cancelled"
    );
}

/// Runs every `language` example of the page, each through a fresh `command` on the test's
/// schema, and returns what they printed; fails on the first that fails.
async fn run_all(
    db: &TestDb,
    language: &str,
    command: impl Fn() -> tokio::process::Command,
) -> String {
    let mut printed = String::new();
    for example in examples(language) {
        let output = run_with_schema(db, &mut command(), &example).await;
        assert!(
            output.status.success(),
            "{example}\nfailed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        printed.push_str(&String::from_utf8_lossy(&output.stdout));
    }
    printed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_examples_run() {
    require_psycopg();
    let db = TestDb::postgres().await;
    let printed = run_all(&db, "python", || {
        let mut python = tokio::process::Command::new("python3");
        python.arg("-");
        python
    })
    .await;
    assert!(
        printed.contains("task id(s) already exist: newsletter-0")
            && printed.contains("invalid task \"\": the task id is empty"),
        "the errors the example shows: {printed}"
    );
    assert_eq!(
        db.number(&format!(
            "SELECT count(*) FROM {} WHERE task_id LIKE 'newsletter-%'",
            db.tasks_table()
        ))
        .await,
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typescript_examples_run() {
    assert!(
        here().join("node_modules/pg").is_dir(),
        "node-postgres is needed: run scripts/test.sh, which installs it, or \
         `npm ci --prefix tests/other_languages`"
    );
    let db = TestDb::postgres().await;
    let printed = run_all(&db, "ts", || {
        // From standard input, an ES module resolves `pg` from the working directory.
        let mut node = tokio::process::Command::new("node");
        node.arg("--input-type=module").current_dir(here());
        node
    })
    .await;
    assert!(
        printed.contains("inserted: true")
            && printed.contains("task id(s) already exist: welcome-ts-1")
            && printed.contains("pending"),
        "what the example prints: {printed}"
    );
}
