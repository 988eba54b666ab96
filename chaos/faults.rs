//! The five faults, and the worker processes they strike.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{Connection, PgPool};
use tokio::process::{Child, Command};

use crate::cluster::{Cluster, APP_ROLE};
use crate::BoxError;

/// The scenarios, in the order they run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// Nothing happens: how far the figures of a run without a fault stray from 100%.
    NoFault,
    /// One worker process is killed (SIGKILL) and a new one started.
    CrashRecovery,
    /// A worker process is killed every 20 s, three times, each replaced at once.
    RepeatedKills,
    /// PostgreSQL is stopped (ending every session), left down 3 s, and started again.
    PostgresRestart,
    /// Every application connection is terminated twice a second for 20 s.
    BackendKills,
    /// Every free connection slot of the server is held for 15 s.
    PoolExhaustion,
}

pub const ALL: [Scenario; 6] = [
    Scenario::NoFault,
    Scenario::CrashRecovery,
    Scenario::RepeatedKills,
    Scenario::PostgresRestart,
    Scenario::BackendKills,
    Scenario::PoolExhaustion,
];

impl Scenario {
    pub fn name(self) -> &'static str {
        match self {
            Scenario::NoFault => "no-fault",
            Scenario::CrashRecovery => "crash-recovery",
            Scenario::RepeatedKills => "repeated-kills",
            Scenario::PostgresRestart => "postgres-restart",
            Scenario::BackendKills => "backend-kills",
            Scenario::PoolExhaustion => "pool-exhaustion",
        }
    }

    pub fn parse(name: &str) -> Option<Scenario> {
        ALL.into_iter().find(|s| s.name() == name)
    }
}

/// A fault as the ledger's analysis needs it: when it struck, until when, and whom (a
/// worker process, or everyone).
#[derive(Clone, Debug)]
pub struct Fault {
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub worker: Option<String>,
}

/// The worker processes of one run, each this program in `worker` mode.
pub struct Workers {
    app_url: String,
    ledger_url: String,
    run_id: String,
    logs: PathBuf,
    running: Vec<(String, Child)>,
    started: usize,
}

impl Workers {
    pub fn new(app_url: String, ledger_url: String, run_id: String, logs: PathBuf) -> Self {
        Workers {
            app_url,
            ledger_url,
            run_id,
            logs,
            running: Vec::new(),
            started: 0,
        }
    }

    /// Starts one more worker process.
    pub fn start(&mut self) -> Result<(), BoxError> {
        self.started += 1;
        let id = format!("w{}", self.started);
        let log = std::fs::File::create(self.logs.join(format!("{}-{id}.log", self.run_id)))?;
        let child = Command::new(std::env::current_exe()?)
            .args(["worker", &self.app_url, &self.ledger_url, &self.run_id, &id])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()?;
        self.running.push((id, child));
        Ok(())
    }

    /// Kills the oldest worker process at once (SIGKILL) and starts a new one; returns
    /// the killed worker's id.
    pub async fn kill_and_replace(&mut self) -> Result<String, BoxError> {
        let (id, mut child) = self.running.remove(0);
        child.start_kill()?;
        let _ = child.wait().await;
        self.start()?;
        Ok(id)
    }

    /// Stops every worker gracefully (its standard input closes), killing any that has
    /// not stopped within 45 s.
    pub async fn stop(&mut self) {
        for (_, child) in &mut self.running {
            drop(child.stdin.take());
        }
        for (id, mut child) in self.running.drain(..) {
            if tokio::time::timeout(Duration::from_secs(45), child.wait())
                .await
                .is_err()
            {
                eprintln!("worker {id} did not stop; killing it");
                let _ = child.start_kill();
            }
        }
    }
}

/// Kills a worker process: the fault lasts until the process is gone, since what it
/// recorded up to then may have been cut short.
async fn kill(workers: &mut Workers) -> Result<Fault, BoxError> {
    let from = Utc::now();
    let killed = workers.kill_and_replace().await?;
    Ok(Fault {
        from,
        until: Utc::now(),
        worker: Some(killed),
    })
}

/// Strikes `scenario`'s fault; returns what struck, once it is over.
pub async fn strike(
    scenario: Scenario,
    cluster: &Cluster,
    admin: &PgPool,
    workers: &mut Workers,
) -> Result<Vec<Fault>, BoxError> {
    let mut faults = Vec::new();
    match scenario {
        Scenario::NoFault => {}
        Scenario::CrashRecovery => faults.push(kill(workers).await?),
        Scenario::RepeatedKills => {
            for round in 0..3 {
                if round > 0 {
                    tokio::time::sleep(Duration::from_secs(20)).await;
                }
                faults.push(kill(workers).await?);
            }
        }
        Scenario::PostgresRestart => {
            let from = Utc::now();
            cluster.stop_server()?;
            tokio::time::sleep(Duration::from_secs(3)).await;
            cluster.start_server()?;
            faults.push(Fault {
                from,
                until: Utc::now(),
                worker: None,
            });
        }
        Scenario::BackendKills => {
            let from = Utc::now();
            let end = tokio::time::Instant::now() + Duration::from_secs(20);
            while tokio::time::Instant::now() < end {
                let killed = sqlx::query_scalar::<_, i64>(
                    "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                     WHERE usename = $1) k",
                )
                .bind(APP_ROLE)
                .fetch_one(admin)
                .await;
                if let Err(error) = killed {
                    eprintln!("terminating backends failed: {error}");
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            faults.push(Fault {
                from,
                until: Utc::now(),
                worker: None,
            });
        }
        Scenario::PoolExhaustion => {
            let from = Utc::now();
            let url = cluster.url(APP_ROLE, "postgres");
            let mut held = Vec::new();
            while let Ok(connection) = sqlx::PgConnection::connect(&url).await {
                held.push(connection);
            }
            eprintln!("  holding {} free connection slots for 15 s", held.len());
            tokio::time::sleep(Duration::from_secs(15)).await;
            for connection in held {
                let _ = connection.close().await;
            }
            faults.push(Fault {
                from,
                until: Utc::now(),
                worker: None,
            });
        }
    }
    Ok(faults)
}
