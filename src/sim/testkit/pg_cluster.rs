//! A throw-away PostgreSQL cluster for tests and benchmarks: `initdb` in a temporary directory,
//! the server on a free loopback port, stopped and removed on drop. The binaries come from the
//! OS packages (`postgresql`); as root the cluster runs as the `postgres` user, as PostgreSQL
//! refuses to run as root.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A running cluster; dropping it stops the server and removes its files.
pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
    max_connections: u32,
}

/// Why no cluster could be started (PostgreSQL not installed, or it would not start).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unavailable(pub String);

/// The directory of `initdb` and `pg_ctl`: `SIPAMO_PG_BIN` when set, else on the PATH, else the
/// newest under /usr/lib/postgresql (Debian does not put them on the PATH).
fn bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SIPAMO_PG_BIN") {
        let dir = PathBuf::from(dir);
        return dir.join("initdb").is_file().then_some(dir);
    }
    let on_path = std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p).find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file())
    });
    on_path.or_else(|| {
        let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|d| d.join("initdb").is_file())
            .collect();
        versions.sort();
        versions.pop()
    })
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

impl Cluster {
    /// Starts a cluster with one superuser `sipamo` (trust authentication on loopback), taking
    /// 600 connections.
    pub fn start() -> Result<Cluster, Unavailable> {
        Self::start_with(600)
    }

    /// [`Cluster::start`] taking at most `max_connections` (PostgreSQL's default is 100).
    pub fn start_with(max_connections: u32) -> Result<Cluster, Unavailable> {
        let bin = bin_dir().ok_or_else(|| {
            Unavailable(
                "initdb was not found (on the PATH, in /usr/lib/postgresql/*/bin or $SIPAMO_PG_BIN)"
                    .into(),
            )
        })?;
        let dir = tempfile::Builder::new()
            .prefix("sipamo-pg-")
            .tempdir()
            .map_err(|e| Unavailable(format!("cannot make a temporary directory: {e}")))?
            .keep();
        let mut cluster = Cluster {
            dir,
            bin,
            port: 0,
            as_postgres: is_root(),
            max_connections,
        };
        if cluster.as_postgres {
            cluster.chown_to_postgres()?;
        }
        let data = cluster.dir.join("data");
        cluster.run(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-A".as_ref(),
                "trust".as_ref(),
                "-U".as_ref(),
                "sipamo".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--no-sync".as_ref(),
            ],
        )?;
        let mut last = String::new();
        for _ in 0..3 {
            cluster.port = free_port()?;
            match cluster.pg_ctl_start(&data) {
                Ok(()) => return Ok(cluster),
                Err(e) => last = e.0,
            }
        }
        Err(Unavailable(last))
    }

    fn pg_ctl_start(&self, data: &Path) -> Result<(), Unavailable> {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections={}",
            self.port,
            self.dir.display(),
            self.max_connections
        );
        let log = self.dir.join("server.log");
        self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-o".as_ref(),
                opts.as_ref(),
                "-l".as_ref(),
                log.as_os_str(),
                "-w".as_ref(),
                "start".as_ref(),
            ],
        )
    }

    fn chown_to_postgres(&self) -> Result<(), Unavailable> {
        let out = Command::new("chown")
            .arg("postgres")
            .arg(&self.dir)
            .output()
            .map_err(|e| Unavailable(format!("cannot run chown: {e}")))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(Unavailable(format!(
                "running as root, the cluster's directory must belong to the `postgres` user: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )))
        }
    }

    fn run(&self, tool: &str, args: &[&std::ffi::OsStr]) -> Result<(), Unavailable> {
        let exe = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        let out = cmd
            .args(args)
            .output()
            .map_err(|e| Unavailable(format!("cannot run {}: {e}", exe.display())))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(Unavailable(format!(
                "{tool} failed: {}{}",
                String::from_utf8_lossy(&out.stderr).trim(),
                String::from_utf8_lossy(&out.stdout).trim()
            )))
        }
    }

    /// Stops the server (fast shutdown: open connections are cut), keeping its data.
    pub fn stop(&self) -> Result<(), Unavailable> {
        let data = self.dir.join("data");
        self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                "fast".as_ref(),
                "-w".as_ref(),
                "stop".as_ref(),
            ],
        )
    }

    /// Starts the server again on the same port.
    pub fn restart(&self) -> Result<(), Unavailable> {
        self.pg_ctl_start(&self.dir.join("data"))
    }

    /// Creates a database and answers its URL. Callable from async code: the synchronous
    /// client runs on a thread of its own.
    pub fn database(&self, name: &str) -> Result<String, Unavailable> {
        let admin_url = self.url("postgres");
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut admin = postgres::Client::connect(&admin_url, postgres::NoTls)
                    .map_err(|e| Unavailable(format!("cannot connect to the cluster: {e}")))?;
                admin
                    .batch_execute(&format!("CREATE DATABASE \"{name}\""))
                    .map_err(|e| Unavailable(format!("cannot create database {name}: {e}")))
            })
            .join()
            .map_err(|_| Unavailable("creating a database panicked".into()))?
        })?;
        Ok(self.url(name))
    }

    /// The URL of a database of this cluster.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://sipamo@127.0.0.1:{}/{db}", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        let _ = self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                "immediate".as_ref(),
                "stop".as_ref(),
            ],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> Result<u16, Unavailable> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Unavailable(format!("no free loopback port: {e}")))
}
