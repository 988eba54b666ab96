//! The ledger: every handler run and every step run, written by the worker that ran it
//! before the run returns, on the shared PostgreSQL (never on the cluster under faults),
//! and what the ledger says once a scenario is over.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

use crate::BoxError;

/// Creates the ledger's table if missing, and forgets runs older than a day.
pub async fn prepare(pool: &PgPool) -> Result<(), BoxError> {
    for sql in [
        "CREATE SCHEMA IF NOT EXISTS zart_chaos",
        "CREATE TABLE IF NOT EXISTS zart_chaos.runs (
            run_id  text        NOT NULL,
            kind    text        NOT NULL,
            task_id text        NOT NULL,
            step    text,
            attempt integer,
            token   bigint,
            worker  text        NOT NULL,
            at      timestamptz NOT NULL DEFAULT clock_timestamp()
         )",
        "CREATE INDEX IF NOT EXISTS runs_by_run ON zart_chaos.runs (run_id, kind)",
        "DELETE FROM zart_chaos.runs WHERE at < now() - interval '1 day'",
    ] {
        sqlx::query(sql).execute(pool).await?;
    }
    Ok(())
}

/// What a worker records.
#[derive(Clone, Debug)]
pub struct Entry {
    /// `task` (a handler ran), `step` (a step's body ran) or `lease_lost` (an outcome was
    /// refused: the attempt's lease had passed to another).
    pub kind: &'static str,
    pub task_id: String,
    pub step: Option<String>,
    pub attempt: Option<i32>,
    pub token: Option<i64>,
}

/// A worker's writer to the ledger: entries are written in batches, and a run waits for
/// its batch to commit, so that a run the ledger lacks did not happen.
#[derive(Clone)]
pub struct Ledger {
    entries: mpsc::UnboundedSender<(Entry, Option<oneshot::Sender<()>>)>,
}

impl Ledger {
    pub fn start(pool: PgPool, run_id: String, worker: String) -> Ledger {
        let (entries, received) = mpsc::unbounded_channel();
        tokio::spawn(write(pool, run_id, worker, received));
        Ledger { entries }
    }

    /// A ledger that keeps nothing: for runs whose figures are not counts of runs.
    pub fn none() -> Ledger {
        let (entries, _) = mpsc::unbounded_channel();
        Ledger { entries }
    }

    /// Records `entry` and waits until it is committed.
    pub async fn record(&self, entry: Entry) {
        let (done, committed) = oneshot::channel();
        if self.entries.send((entry, Some(done))).is_ok() {
            let _ = committed.await;
        }
    }

    /// Records `entry` without waiting (lost if the process dies first).
    pub fn note(&self, entry: Entry) {
        let _ = self.entries.send((entry, None));
    }
}

async fn write(
    pool: PgPool,
    run_id: String,
    worker: String,
    mut received: mpsc::UnboundedReceiver<(Entry, Option<oneshot::Sender<()>>)>,
) {
    while let Some(first) = received.recv().await {
        let mut batch = vec![first];
        while batch.len() < 2000 {
            match received.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let column = |f: fn(&Entry) -> Option<String>| -> Vec<Option<String>> {
            batch.iter().map(|(e, _)| f(e)).collect()
        };
        let kinds = column(|e| Some(e.kind.to_owned()));
        let ids = column(|e| Some(e.task_id.clone()));
        let steps = column(|e| e.step.clone());
        let attempts: Vec<Option<i32>> = batch.iter().map(|(e, _)| e.attempt).collect();
        let tokens: Vec<Option<i64>> = batch.iter().map(|(e, _)| e.token).collect();
        loop {
            let written = sqlx::query(
                "INSERT INTO zart_chaos.runs (run_id, kind, task_id, step, attempt, token, worker)
                 SELECT $1, * , $7 FROM unnest($2::text[], $3::text[], $4::text[], $5::int[], $6::int8[])",
            )
            .bind(&run_id)
            .bind(&kinds)
            .bind(&ids)
            .bind(&steps)
            .bind(&attempts)
            .bind(&tokens)
            .bind(&worker)
            .execute(&pool)
            .await;
            match written {
                Ok(_) => break,
                Err(error) => {
                    eprintln!("ledger write failed, retrying: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
        for (_, done) in batch {
            if let Some(done) = done {
                let _ = done.send(());
            }
        }
    }
}

/// One row of the ledger.
#[derive(Clone, Debug)]
pub struct Run {
    pub kind: String,
    pub task_id: String,
    pub step: Option<String>,
    pub worker: String,
    pub at: DateTime<Utc>,
}

/// Every entry of run `run_id`, oldest first.
pub async fn read(pool: &PgPool, run_id: &str) -> Result<Vec<Run>, BoxError> {
    use sqlx::Row;
    let rows = sqlx::query(
        "SELECT kind, task_id, step, worker, at FROM zart_chaos.runs WHERE run_id = $1 ORDER BY at",
    )
    .bind(run_id)
    .fetch_all(pool)
    .await?;
    let run = |row: &sqlx::postgres::PgRow| -> Result<Run, sqlx::Error> {
        Ok(Run {
            kind: row.try_get(0)?,
            task_id: row.try_get(1)?,
            step: row.try_get(2)?,
            worker: row.try_get(3)?,
            at: row.try_get(4)?,
        })
    };
    Ok(rows.iter().map(run).collect::<Result<_, _>>()?)
}
