//! A PostgreSQL cluster of the program's own: initialised in a temporary directory, on a
//! free port, so that stopping, restarting and filling it touches nobody else's server.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::BoxError;

/// The role the application (workers and producer) connects as: not a superuser, so that
/// it is subject to `max_connections` minus the slots reserved for superusers, which the
/// program's own faults and reads keep using.
pub const APP_ROLE: &str = "app";

/// A running private cluster; dropping it stops the server and deletes its files.
pub struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

impl Cluster {
    /// Initialises and starts a cluster under a fresh temporary directory.
    pub fn start() -> Result<Cluster, BoxError> {
        let bin = postgres_bin()?;
        let port = free_port()?;
        let dir = std::env::temp_dir().join(format!("zart-chaos-{}", std::process::id()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        let cluster = Cluster { bin, dir, port };
        cluster.hand_over(&cluster.dir)?;
        cluster.run(
            "initdb",
            &[
                "-D",
                &cluster.data().display().to_string(),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
            ],
        )?;
        let conf = format!(
            "port = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             max_connections = 100\nsuperuser_reserved_connections = 3\nshared_buffers = '256MB'\n",
            cluster.dir.display()
        );
        let path = cluster.data().join("postgresql.auto.conf");
        let mut existing = std::fs::read_to_string(&path).unwrap_or_default();
        existing.push_str(&conf);
        std::fs::write(&path, existing)?;
        cluster.start_server()?;
        Ok(cluster)
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start_server(&self) -> Result<(), BoxError> {
        let log = self.dir.join("server.log").display().to_string();
        let data = self.data().display().to_string();
        self.run(
            "pg_ctl",
            &["-D", &data, "-l", &log, "-w", "-t", "60", "start"],
        )
    }

    /// Stops the server (`fast`: sessions are ended, as an operator's restart does).
    pub fn stop_server(&self) -> Result<(), BoxError> {
        let data = self.data().display().to_string();
        self.run("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"])
    }

    /// The URL of database `db` as `user`.
    pub fn url(&self, user: &str, db: &str) -> String {
        format!("postgres://{user}@127.0.0.1:{}/{db}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs one of the server's programs, as the `postgres` user if this process is root
    /// (the server refuses to run as root).
    fn run(&self, program: &str, args: &[&str]) -> Result<(), BoxError> {
        let program = self.bin.join(program);
        let mut command = match is_root() {
            true => {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(&program);
                c
            }
            false => Command::new(&program),
        };
        let output = command.args(args).current_dir(&self.dir).output()?;
        if !output.status.success() {
            return Err(format!(
                "{} {args:?} failed: {}{}",
                program.display(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
            .into());
        }
        Ok(())
    }

    /// Gives `path` to the `postgres` user when running as root.
    fn hand_over(&self, path: &Path) -> Result<(), BoxError> {
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(path)
                .status()?;
            if !status.success() {
                return Err(format!("chown postgres {} failed", path.display()).into());
            }
        }
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data().display().to_string();
        let _ = self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The directory of `initdb` and `pg_ctl`: `ZART_CHAOS_PG_BIN`, else the newest under
/// `/usr/lib/postgresql` (Debian's layout), else `pg_config --bindir`.
fn postgres_bin() -> Result<PathBuf, BoxError> {
    if let Ok(bin) = std::env::var("ZART_CHAOS_PG_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dir| {
            dir.filter_map(|e| e.ok().map(|e| e.path().join("bin")))
                .filter(|bin| bin.join("initdb").exists())
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    if let Some(bin) = versions.pop() {
        return Ok(bin);
    }
    let output = Command::new("pg_config").arg("--bindir").output()?;
    let bin = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    match bin.join("initdb").exists() {
        true => Ok(bin),
        false => Err("no initdb found: set ZART_CHAOS_PG_BIN to PostgreSQL's bin directory".into()),
    }
}

fn free_port() -> Result<u16, BoxError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}
