//! `sipamo bench --only scale`: thousands of accounts on PostgreSQL's default connection limit.
//! Two replicas (each its own pool, as two processes would have) serve every account, the
//! accounts added as `sipamo accounts add` adds them and sharing a few dozen mock amoCRMs;
//! measured: the time to start them all, the connections each replica holds, the memory per
//! account, and the time from adding an account while serving to its first call handled.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::server::fleet::vault::Vault;
use crate::server::store::DbUrl;
use crate::sim::mock::MockCrm;

/// Mock amoCRMs the accounts share.
const MOCKS: usize = 24;
/// Connections per replica (`serve --db-pool`'s default).
pub(crate) const POOL: u32 = 16;
/// Replicas serving the accounts.
const REPLICAS: usize = 2;
/// The key the accounts' tokens are sealed with (hex).
const KEY: &str = "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd";

/// What one scale run measured.
#[derive(Debug)]
pub(crate) struct Scale {
    pub(crate) accounts: usize,
    pub(crate) mocks: usize,
    pub(crate) added_secs: f64,
    /// From launching the replicas until both had started every account.
    pub(crate) started_secs: f64,
    /// From the first event until one call of every account was handled.
    pub(crate) served_secs: f64,
    /// The most connections each replica held at any sampling.
    pub(crate) most_connections: BTreeMap<String, i64>,
    /// Resident memory the replicas added, per account.
    pub(crate) rss_kib_per_account: u64,
    /// From `accounts add` while serving to the account's first call handled, sorted.
    pub(crate) add_to_first_call: Vec<Duration>,
}

impl Scale {
    /// The median and p99 of [`Scale::add_to_first_call`].
    pub(crate) fn add_to_first_call_p50_p99(&self) -> (Duration, Duration) {
        let t = &self.add_to_first_call;
        let at = |p: usize| {
            t.get((t.len().saturating_sub(1) * p).div_ceil(100))
                .copied()
        };
        (at(50).unwrap_or_default(), at(99).unwrap_or_default())
    }
}

/// The set-up the run shares: the mocks, the files, the database and the key.
struct World {
    dir: std::path::PathBuf,
    mocks: Vec<MockCrm>,
    cfg: crate::server::ServeConfig,
    vault: Arc<Vault>,
}

/// Runs the scale figure on the PostgreSQL database `pg`: `accounts` accounts, then `late`
/// more added one by one while the replicas serve.
pub(crate) async fn run(pg: &str, accounts: usize, late: usize) -> anyhow::Result<Scale> {
    let world = World::start(pg, accounts.clamp(1, MOCKS)).await?;
    let started = Instant::now();
    world.add_all(0..accounts).await?;
    let added_secs = started.elapsed().as_secs_f64();
    eprintln!("  {accounts} accounts added in {added_secs:.1} s");
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = sample_connections(pg.to_string(), sampling.clone());
    let rss_before = rss_kib();
    let launched = Instant::now();
    let mut replicas = Vec::new();
    for r in 0..REPLICAS {
        replicas.push(world.replica(r).await?);
    }
    for r in &replicas {
        r.wait_started().await?;
    }
    let started_secs = launched.elapsed().as_secs_f64();
    eprintln!("  both replicas started every account in {started_secs:.1} s");
    let first = Instant::now();
    world.post_one_call_each(&replicas, accounts).await?;
    let handled = super::wait_handled(pg, accounts, accounts).await?;
    if handled < accounts {
        return Err(anyhow::anyhow!(
            "only {handled} of {accounts} accounts' calls were handled in 10 minutes"
        ));
    }
    let served_secs = first.elapsed().as_secs_f64();
    let rss_kib_per_account = rss_kib().saturating_sub(rss_before) / accounts.max(1) as u64;
    let add_to_first_call = world.late(&replicas, accounts, late).await?;
    sampling.store(false, Ordering::SeqCst);
    let most_connections = sampler
        .join()
        .map_err(|_| anyhow::anyhow!("the sampler panicked"))??;
    for r in replicas {
        r.stop().await;
    }
    world.stop().await;
    Ok(Scale {
        accounts,
        mocks: accounts.clamp(1, MOCKS),
        added_secs,
        started_secs,
        served_secs,
        most_connections,
        rss_kib_per_account,
        add_to_first_call,
    })
}

impl World {
    async fn start(pg: &str, mocks: usize) -> anyhow::Result<World> {
        let dir = std::env::temp_dir().join(format!(
            "sipamo-bench-scale-{}-{}",
            std::process::id(),
            chrono::Utc::now().timestamp_micros()
        ));
        std::fs::create_dir_all(&dir)?;
        let (first, mut cfg) = super::ingest_setup(&dir).await?;
        let mut all = vec![first];
        for _ in 1..mocks {
            all.push(super::ingest_setup(&dir).await?.0);
        }
        for (m, mock) in all.iter().enumerate() {
            write(&dir.join(format!("token{m}")), mock.token())?;
        }
        cfg.db = pg.parse()?;
        let vault = Vault::from_hex(KEY)?;
        Ok(World {
            dir,
            mocks: all,
            cfg,
            vault: Arc::new(vault),
        })
    }

    /// Adds accounts `range`, eight at a time, as `sipamo accounts add` does (the settings
    /// checked against the account's amoCRM, its tables made, its token sealed).
    async fn add_all(&self, range: std::ops::Range<usize>) -> anyhow::Result<()> {
        let mut adding = tokio::task::JoinSet::new();
        for i in range {
            if adding.len() >= 8
                && let Some(done) = adding.join_next().await
            {
                done??;
            }
            let (db, vault, files) = (self.cfg.db.clone(), self.vault.clone(), self.files(i)?);
            adding.spawn(async move { add(&db, &vault, i, &files).await });
        }
        while let Some(done) = adding.join_next().await {
            done??;
        }
        Ok(())
    }

    /// Account `i`'s amoCRM, token file, secret file and settings file.
    fn files(&self, i: usize) -> anyhow::Result<[String; 4]> {
        let m = i % self.mocks.len();
        let secret = self.dir.join(format!("secret{i}"));
        write(&secret, &secret_of(i))?;
        let path = |p: &Path| p.to_string_lossy().into_owned();
        Ok([
            self.mocks[m].uri(),
            path(&self.dir.join(format!("token{m}"))),
            path(&secret),
            path(&self.dir.join("settings.yaml")),
        ])
    }

    async fn replica(&self, r: usize) -> anyhow::Result<Replica> {
        let mut cfg = self.cfg.clone();
        cfg.replica_id = format!("bench-scale-r{r}");
        // Each replica its own pool of connections, as separate processes would have.
        cfg.db = match &self.cfg.db {
            DbUrl::Postgres(url) => {
                DbUrl::Postgres(crate::server::store::postgres::PgUrl::new(url.url.clone()))
            }
            other => other.clone(),
        };
        if let DbUrl::Postgres(url) = &cfg.db {
            url.configure_pool(POOL, &format!("sipamo {}", cfg.replica_id));
        }
        let vault = Vault::from_hex(KEY)?;
        let app = crate::server::fleet::FleetApp::build(&cfg, vault).await?;
        let addr = app.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until_stopped(async move {
            let _ = stopped.await;
        }));
        Ok(Replica {
            url: format!("http://{addr}"),
            stop,
            task,
        })
    }

    /// One whole call posted to each of accounts `0..n`, spread over the replicas.
    async fn post_one_call_each(&self, replicas: &[Replica], n: usize) -> anyhow::Result<()> {
        let mut chunks: Vec<Vec<(String, String)>> = vec![Vec::new(); 16];
        for i in 0..n {
            let url = format!(
                "{}/sipuni/events/{}",
                replicas[i % replicas.len()].url,
                secret_of(i)
            );
            let k = i % chunks.len();
            chunks[k].extend(call_of(i).into_iter().map(|line| (url.clone(), line)));
        }
        let http = crate::http::client_builder().build()?;
        super::post_all(&http, chunks, 200).await.map(|_| ())
    }

    /// Adds `late` accounts one by one while the replicas serve; for each, the time from its
    /// adding to its first call handled (its events sent again while it starts, as Sipuni
    /// does). Sorted.
    async fn late(
        &self,
        replicas: &[Replica],
        from: usize,
        late: usize,
    ) -> anyhow::Result<Vec<Duration>> {
        let http = crate::http::client_builder().build()?;
        let mut took = Vec::with_capacity(late);
        for i in from..from + late {
            let added = Instant::now();
            self.add_all(i..i + 1).await?;
            let url = format!(
                "{}/sipuni/events/{}",
                replicas[i % replicas.len()].url,
                secret_of(i)
            );
            for line in call_of(i) {
                post_until_acknowledged(&http, &url, line, added).await?;
            }
            wait_one_handled(self.cfg.db.clone(), i, added).await?;
            took.push(added.elapsed());
        }
        took.sort();
        Ok(took)
    }

    async fn stop(self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        // wiremock's drop waits on its own tasks: off the runtime's threads.
        let mocks = self.mocks;
        let _ = tokio::task::spawn_blocking(move || drop(mocks)).await;
    }
}

/// A replica running in this process.
struct Replica {
    url: String,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), crate::server::ServeError>>,
}

impl Replica {
    /// Waits until `/health` no longer says `starting` (every account started), at most an hour.
    async fn wait_started(&self) -> anyhow::Result<()> {
        let http = crate::http::client_builder().build()?;
        let deadline = Instant::now() + Duration::from_secs(3600);
        while Instant::now() < deadline {
            if let Ok(r) = http.get(format!("{}/health", self.url)).send().await
                && let Ok(body) = r.json::<serde_json::Value>().await
                && body["status"] != "starting"
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(anyhow::anyhow!(
            "{} never finished starting its accounts",
            self.url
        ))
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Adds bench account `i` with `files` (amoCRM, token, secret, settings).
async fn add(db: &DbUrl, vault: &Vault, i: usize, files: &[String; 4]) -> anyhow::Result<()> {
    let name = super::bench_account(i);
    let a = crate::server::fleet::accounts::NewAccount {
        name: &name,
        amocrm: &files[0],
        token_file: Path::new(&files[1]),
        secret_file: Path::new(&files[2]),
        settings_file: Path::new(&files[3]),
    };
    crate::server::fleet::accounts::add(db, vault, a)
        .await
        .with_context(|| format!("adding {name}"))
}

fn secret_of(i: usize) -> String {
    format!("bench-scale-secret-{i:05}")
}

/// The events of account `i`'s one call.
fn call_of(i: usize) -> Vec<String> {
    crate::sim::synth::random_calls(i as u64 + 1, 1, 8, 4, 1_772_434_800)
        .into_iter()
        .flat_map(|(t, c)| c.events(t))
        .map(|e| e.line)
        .collect()
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Posts `line` until it is acknowledged (503 while the account starts), at most 2 minutes
/// after `since`.
async fn post_until_acknowledged(
    http: &reqwest::Client,
    url: &str,
    line: String,
    since: Instant,
) -> anyhow::Result<()> {
    loop {
        let r = http
            .post(url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(line.clone())
            .send()
            .await;
        match r {
            Ok(r) if r.status() == 200 => return Ok(()),
            Ok(r) if r.status() == 503 => {}
            Ok(r) => {
                return Err(anyhow::anyhow!(
                    "an event of a new account was answered {}",
                    r.status()
                ));
            }
            Err(e) => return Err(anyhow::anyhow!("posting an event: {e}")),
        }
        if since.elapsed() > Duration::from_secs(120) {
            return Err(anyhow::anyhow!(
                "a new account's event was not acknowledged within 2 minutes"
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until account `i` has a handled call, at most 2 minutes after `since`.
async fn wait_one_handled(db: DbUrl, i: usize, since: Instant) -> anyhow::Result<()> {
    let account = super::bench_account(i);
    let DbUrl::Postgres(url) = db else {
        return Err(anyhow::anyhow!("the scale figure needs PostgreSQL"));
    };
    tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(&url.url, postgres::NoTls)
            .map_err(|e| anyhow::anyhow!(crate::server::store::postgres::explain(&e)))?;
        while since.elapsed() < Duration::from_secs(120) {
            let n: i64 = c
                .query_one(
                    "SELECT COUNT(*) FROM calls_done WHERE account = $1",
                    &[&account],
                )
                .map_err(|e| anyhow::anyhow!(crate::server::store::postgres::explain(&e)))?
                .get(0);
            if n >= 1 {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(anyhow::anyhow!(
            "account {account}: no call handled within 2 minutes"
        ))
    })
    .await?
}

/// The most connections each replica (by its `application_name`) holds at any sampling, every
/// 100 ms until `sampling` turns false.
fn sample_connections(
    url: String,
    sampling: Arc<AtomicBool>,
) -> std::thread::JoinHandle<anyhow::Result<BTreeMap<String, i64>>> {
    std::thread::spawn(move || {
        let mut most = BTreeMap::new();
        let mut c = postgres::Client::connect(&url, postgres::NoTls)
            .map_err(|e| anyhow::anyhow!(crate::server::store::postgres::explain(&e)))?;
        while sampling.load(Ordering::SeqCst) {
            let rows = c
                .query(
                    "SELECT application_name, COUNT(*) FROM pg_stat_activity
                      WHERE application_name LIKE 'sipamo %' GROUP BY 1",
                    &[],
                )
                .map_err(|e| anyhow::anyhow!(crate::server::store::postgres::explain(&e)))?;
            for r in rows {
                let e = most.entry(r.get(0)).or_insert(0);
                *e = (*e).max(r.get(1));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(most)
    })
}

/// This process's resident memory (KiB).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}
