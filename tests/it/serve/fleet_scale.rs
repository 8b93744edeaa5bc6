//! Many accounts on PostgreSQL's default connection limit (100): two replicas each keep to
//! their pool (`--db-pool`, 16 by default) whatever the number of accounts, and every account
//! is served — each of its events acknowledged at the first try, its call handled. The old
//! design (a connection per account) refused the 57th account here. `SIPAMO_SCALE_ACCOUNTS`
//! sets the number of accounts (150 by default).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sipamo::sim::testkit::pg_cluster::Cluster;

use crate::serve::app::*;
use crate::serve::fleet::{KEY, accounts_cli, replica_args};

/// Mock amoCRM processes the accounts share.
const MOCKS: usize = 12;

/// PostgreSQL's default `max_connections`.
const PG_DEFAULT_MAX_CONNECTIONS: u32 = 100;

struct Scale {
    _cluster: Cluster,
    url: String,
    dir: tempfile::TempDir,
    mocks: Vec<Proc>,
    names: Vec<String>,
    secrets: Vec<String>,
}

/// A cluster on PostgreSQL's default connection limit, or `None` (said loudly) without
/// PostgreSQL.
fn cluster() -> Option<Cluster> {
    crate::serve::postgres::cluster(PG_DEFAULT_MAX_CONNECTIONS, "fleet_scale")
}

impl Scale {
    async fn start(n: usize) -> Option<Scale> {
        let cluster = cluster()?;
        let url = cluster.database("fleet_scale").expect("a database");
        Some(Self::on(cluster, url, n).await)
    }

    /// `n` accounts in the database of `url`.
    async fn on(cluster: Cluster, url: String, n: usize) -> Scale {
        let dir = tempdir();
        let key = dir.path().join("key");
        std::fs::write(&key, KEY).unwrap();
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        write_config(dir.path(), SETTINGS);
        std::fs::write(dir.path().join("token"), TOKEN).unwrap();
        let mut mocks = Vec::new();
        for m in 0..MOCKS {
            let home = dir.path().join(format!("mock{m}"));
            std::fs::create_dir_all(&home).unwrap();
            mocks.push(spawn_mock(&home).await);
        }
        let mut s = Scale {
            _cluster: cluster,
            url,
            dir,
            mocks,
            names: Vec::new(),
            secrets: Vec::new(),
        };
        s.add_all(n).await;
        s
    }

    /// Adds accounts 0..n with `sipamo accounts add`, four at a time.
    async fn add_all(&mut self, n: usize) {
        let started = Instant::now();
        let mut pending = tokio::task::JoinSet::new();
        for i in 0..n {
            let (name, secret) = (format!("acct{i:05}"), format!("{SECRET}-account-{i:05}"));
            let secret_file = self.dir.path().join(format!("secret{i}"));
            std::fs::write(&secret_file, &secret).unwrap();
            let args = self.add_args(&name, &self.mocks[i % MOCKS].url, &secret_file);
            if pending.len() >= 4 {
                pending.join_next().await.unwrap().unwrap();
            }
            pending.spawn_blocking(move || {
                let refs: Vec<&str> = args.iter().map(String::as_str).collect();
                accounts_cli(&refs).unwrap();
            });
            self.names.push(name);
            self.secrets.push(secret);
        }
        while let Some(r) = pending.join_next().await {
            r.unwrap();
        }
        eprintln!("{n} accounts added in {:?}", started.elapsed());
    }

    fn add_args(&self, name: &str, mock: &str, secret: &std::path::Path) -> Vec<String> {
        let p = |f: &str| self.dir.path().join(f).to_str().unwrap().to_string();
        [
            "add",
            name,
            "--db",
            &self.url,
            "--amocrm",
            mock,
            "--token-file",
            &p("token"),
            "--secret-file",
            secret.to_str().unwrap(),
            "--settings",
            &p("settings.yaml"),
        ]
        .map(String::from)
        .to_vec()
    }

    async fn replica(&self, id: &str) -> Proc {
        // No failover here: a lease of 30 s (renewed every 10 s) keeps thousands of accounts'
        // renewals light.
        let args = replica_args(&self.url, &self.dir.path().join("key"), id, "30", "2");
        spawn(&args.iter().map(String::as_str).collect::<Vec<_>>()).await
    }
}

/// The most connections each replica (by its `application_name`) held at any sampling, until
/// `stop`.
fn sample_connections(
    url: String,
    stop: Arc<Mutex<bool>>,
) -> std::thread::JoinHandle<HashMap<String, i64>> {
    std::thread::spawn(move || {
        let mut most: HashMap<String, i64> = HashMap::new();
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        while !*stop.lock().unwrap() {
            let rows = c
                .query(
                    "SELECT application_name, COUNT(*) FROM pg_stat_activity
                      WHERE application_name LIKE 'sipamo %' GROUP BY 1",
                    &[],
                )
                .unwrap();
            for r in rows {
                let e = most.entry(r.get(0)).or_insert(0);
                *e = (*e).max(r.get(1));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        most
    })
}

/// Accounts whose one call is not yet handled (no `calls_done` row, or an event untaken).
fn unserved(url: &str, names: &[String]) -> Vec<String> {
    let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
    names
        .iter()
        .filter(|n| {
            let r = c
                .query_one(
                    "SELECT (SELECT COUNT(*) FROM calls_done WHERE account = $1),
                            (SELECT COUNT(*) FROM events WHERE account = $1 AND NOT taken)",
                    &[n],
                )
                .unwrap();
            !(r.get::<_, i64>(0) >= 1 && r.get::<_, i64>(1) == 0)
        })
        .cloned()
        .collect()
}

/// Posts each event once; answers the statuses that were not 200 (then sent again until 200,
/// as Sipuni would).
async fn post_strict(
    http: &reqwest::Client,
    serve: &str,
    secret: &str,
    events: &[String],
) -> Vec<u16> {
    let mut refused = Vec::new();
    for line in events {
        let r = http
            .post(format!("{serve}/sipuni/events/{secret}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(line.clone())
            .send()
            .await;
        match r {
            Ok(r) if r.status() == 200 => continue,
            Ok(r) => refused.push(r.status().as_u16()),
            Err(_) => refused.push(0),
        }
        post_event_to(http, serve, secret, line).await;
    }
    refused
}

fn rss_kib(p: &Proc) -> u64 {
    let pid = p.child.id().expect("running");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn many_accounts_on_default_max_connections_are_all_served_within_the_pool() {
    let n: usize = std::env::var("SIPAMO_SCALE_ACCOUNTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150);
    let Some(mut s) = Scale::start(n).await else {
        return;
    };
    let stop = Arc::new(Mutex::new(false));
    let sampler = sample_connections(s.url.clone(), stop.clone());
    let launched = Instant::now();
    let first = s.replica("r1").await;
    starting_answers_503(&first, &s).await;
    let replicas = [first, s.replica("r2").await];
    for r in &replicas {
        wait_started(r).await;
    }
    eprintln!(
        "both replicas started their {n} accounts in {:?}",
        launched.elapsed()
    );
    let (http, started) = (http(), Instant::now());
    let mut refused = Vec::new();
    for (i, secret) in s.secrets.iter().enumerate() {
        let events = &traffic_by_call(7000 + i as u64, 1)[0];
        refused.extend(post_strict(&http, &replicas[i % 2].url, secret, events).await);
    }
    let left = wait_served(&s.url, s.names.clone(), 300).await;
    let served_in = started.elapsed();
    let (median, p99) = added_to_handled(&mut s, &replicas, 10).await;
    eprintln!("from `accounts add` to its first call handled: median {median:?}, p99 {p99:?}");
    *stop.lock().unwrap() = true;
    let most = sampler.join().unwrap();
    let rss: Vec<u64> = replicas.iter().map(rss_kib).collect();
    eprintln!(
        "{n} accounts, 2 replicas: every call handled {served_in:?} after the first event; most connections per replica {most:?}; RSS {rss:?} KiB ({} KiB per account)",
        rss.iter().sum::<u64>() / n as u64
    );
    assert!(
        left.is_empty(),
        "accounts never served: {left:?}; {}",
        why_unserved(&s.url, &left)
    );
    assert!(refused.is_empty(), "valid events refused: {refused:?}");
    assert_eq!(most.len(), 2, "both replicas connected: {most:?}");
    for (replica, count) in &most {
        assert!(
            *count <= 16,
            "{replica} held {count} connections, above --db-pool 16"
        );
    }
}

/// A replica that has bound its port but not started its accounts (150 take seconds): `/health`
/// says `starting` (503), and the last account's event (the last to start) is 503 or, if it
/// started already, 200 — never 404.
async fn starting_answers_503(replica: &Proc, s: &Scale) {
    let http = http();
    let (code, body) = health(&http, replica).await;
    assert_eq!(
        (code, body["status"].as_str()),
        (503, Some("starting")),
        "{body}"
    );
    let last = s.secrets.last().expect("accounts");
    let line = &traffic_by_call(6999, 1)[0][0];
    let answer = post_once(&http, replica, last, line).await;
    assert!(
        answer == 503 || answer == 200,
        "a starting account's event: {answer}"
    );
}

/// Adds `k` accounts one by one to the running replicas; for each, the time from its
/// `accounts add` to its first call handled (its events re-sent until acknowledged, as Sipuni
/// does while the account starts). Answers the median and the p99.
async fn added_to_handled(s: &mut Scale, replicas: &[Proc], k: usize) -> (Duration, Duration) {
    let http = http();
    let mut took = Vec::new();
    for j in 0..k {
        let i = s.names.len();
        let (name, secret) = (
            format!("late{j:03}"),
            format!("{SECRET}-late-account-{j:03}"),
        );
        let secret_file = s.dir.path().join(format!("late-secret{j}"));
        std::fs::write(&secret_file, &secret).unwrap();
        let args = s.add_args(&name, &s.mocks[i % MOCKS].url, &secret_file);
        let added = Instant::now();
        tokio::task::spawn_blocking(move || {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            accounts_cli(&refs).unwrap();
        })
        .await
        .unwrap();
        for line in &traffic_by_call(9000 + j as u64, 1)[0] {
            post_event_to(&http, &replicas[j % 2].url, &secret, line).await;
        }
        let names = vec![name.clone()];
        loop {
            let (url, n) = (s.url.clone(), names.clone());
            let left = tokio::task::spawn_blocking(move || unserved(&url, &n))
                .await
                .unwrap();
            if left.is_empty() {
                break;
            }
            assert!(
                added.elapsed() < Duration::from_secs(120),
                "{name} never served"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        took.push(added.elapsed());
        s.names.push(name);
        s.secrets.push(secret);
    }
    took.sort();
    (
        took[took.len() / 2],
        took[(took.len() * 99 / 100).min(took.len() - 1)],
    )
}

/// Runs `sql` as the cluster's superuser on database `db`.
fn admin(cluster: &Cluster, db: &str, sql: &str) {
    let (url, sql) = (cluster.url(db), sql.to_string());
    std::thread::spawn(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.batch_execute(&sql).unwrap();
    })
    .join()
    .unwrap();
}

/// `/health`'s status and body.
async fn health(http: &reqwest::Client, p: &Proc) -> (u16, serde_json::Value) {
    let r = http.get(format!("{}/health", p.url)).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or_default())
}

/// The status of one POST of `line` to `secret`.
async fn post_once(http: &reqwest::Client, p: &Proc, secret: &str, line: &str) -> u16 {
    http.post(format!("{}/sipuni/events/{secret}", p.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(line.to_string())
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

/// The connection limit reached, as it happened with a connection per account: the replicas'
/// role may hold 20 connections, two replicas would take 16 each, and 30 accounts are served
/// through whatever they get — no valid event 404, every call handled. Then no connection at
/// all (the limit at 0, the replicas' connections ended): `/health` is 503 with PostgreSQL's
/// reason, a valid account's events 503 (never 404); with the limit back, everything sent
/// again is handled.
#[tokio::test(flavor = "multi_thread")]
async fn the_connection_limit_reached_answers_503_with_the_reason_and_never_404() {
    let Some(cluster) = cluster() else {
        return;
    };
    admin(
        &cluster,
        "postgres",
        "CREATE ROLE app LOGIN CONNECTION LIMIT 20",
    );
    admin(&cluster, "postgres", "CREATE DATABASE limited OWNER app");
    let superuser = cluster.url("limited");
    let url = superuser.replacen("://sipamo@", "://app@", 1);
    assert!(url.contains("app@"), "{url}");
    let s = Scale::on(cluster, url, 30).await;
    let replicas = [s.replica("r1").await, s.replica("r2").await];
    for r in &replicas {
        wait_started(r).await;
    }
    let http = http();
    let calls: Vec<Vec<String>> = (0..30)
        .map(|i| traffic_by_call(8000 + i, 1).remove(0))
        .collect();
    let mut refused = Vec::new();
    for (i, events) in calls.iter().enumerate().take(15) {
        refused.extend(post_strict(&http, &replicas[i % 2].url, &s.secrets[i], events).await);
    }
    assert!(
        !refused.contains(&404),
        "no valid event is 404: {refused:?}"
    );
    admin(
        &s._cluster,
        "postgres",
        &format!("ALTER ROLE app CONNECTION LIMIT 0; {END_APP_CONNECTIONS}"),
    );
    cut_off_answers_503(&http, &s, &replicas, &calls).await;
    admin(
        &s._cluster,
        "postgres",
        "ALTER ROLE app CONNECTION LIMIT 20",
    );
    for (i, events) in calls.iter().enumerate().skip(15) {
        for line in events {
            post_event_to(&http, &replicas[i % 2].url, &s.secrets[i], line).await;
        }
    }
    let left = wait_served(&superuser, s.names.clone(), 120).await;
    assert!(
        left.is_empty(),
        "accounts never served: {left:?}; {}",
        why_unserved(&superuser, &left)
    );
    for r in &replicas {
        assert_eq!(health(&http, r).await.0, 200);
    }
    let unknown = post_once(&http, &replicas[0], UNKNOWN, &calls[0][0]).await;
    assert_eq!(
        unknown, 404,
        "once the accounts are read, an unknown path is refused"
    );
}

/// Ends every connection of the replicas' role.
const END_APP_CONNECTIONS: &str =
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'app'";

/// A secret path of no account.
const UNKNOWN: &str = "no-such-account-secret-path";

/// With no connection to be had: `/health` 503 with PostgreSQL's refusal, the second half of
/// the accounts' events 503, and an unknown path 503 too (it cannot be ruled out).
async fn cut_off_answers_503(
    http: &reqwest::Client,
    s: &Scale,
    replicas: &[Proc],
    calls: &[Vec<String>],
) {
    for r in replicas {
        // The first check may meet a connection just ended; the next ones PostgreSQL's refusal.
        // A connection still authenticating when the others were ended (its user not yet in
        // pg_stat_activity) can outlive them: it is ended again at each look.
        let mut seen = health(http, r).await;
        for _ in 0..50 {
            if seen.1.to_string().contains("too many connections") {
                break;
            }
            admin(&s._cluster, "postgres", END_APP_CONNECTIONS);
            tokio::time::sleep(Duration::from_millis(200)).await;
            seen = health(http, r).await;
        }
        assert_eq!(seen.0, 503, "{}", seen.1);
        let reason = seen.1.to_string();
        assert!(
            reason.contains("too many connections"),
            "PostgreSQL's reason: {reason}"
        );
    }
    for (i, events) in calls.iter().enumerate().skip(15) {
        let code = post_once(http, &replicas[i % 2], &s.secrets[i], &events[0]).await;
        assert_eq!(
            code, 503,
            "a valid account's event while no connection can be made"
        );
    }
    let mut unknown = 0;
    for _ in 0..50 {
        unknown = post_once(http, &replicas[0], UNKNOWN, &calls[0][0]).await;
        if unknown == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        unknown, 503,
        "an unknown path while the accounts cannot be read"
    );
}

/// Waits (at most `secs`) until every account of `names` has its call handled; answers those
/// that never had.
/// What the database says of the first unserved accounts: the lease's holder and how long it
/// has left, the events not yet taken, the calls handled.
fn why_unserved(url: &str, names: &[String]) -> String {
    // On a thread of its own: the blocking client cannot run on the test's runtime.
    let (url, names) = (url.to_string(), names.to_vec());
    std::thread::spawn(move || lease_and_inbox(&url, &names))
        .join()
        .unwrap_or_else(|_| "the diagnosis panicked".into())
}

fn lease_and_inbox(url: &str, names: &[String]) -> String {
    let Ok(mut c) = postgres::Client::connect(url, postgres::NoTls) else {
        return "the database is gone".into();
    };
    let rows = c
        .query(
            "SELECT a.name, l.holder,
                    l.expires_ms - (extract(epoch from clock_timestamp()) * 1000)::bigint,
                    (SELECT COUNT(*) FROM events e WHERE e.account = a.name AND NOT e.taken),
                    (SELECT COUNT(*) FROM calls_done d WHERE d.account = a.name)
               FROM accounts a LEFT JOIN leases l ON l.account = a.name
              WHERE a.name = ANY($1) ORDER BY a.name LIMIT 10",
            &[&names],
        )
        .unwrap_or_default();
    rows.iter()
        .map(|r| {
            format!(
                "{}: lease {:?} ({:?} ms left), {} untaken, {} handled",
                r.get::<_, String>(0),
                r.get::<_, Option<String>>(1),
                r.get::<_, Option<i64>>(2),
                r.get::<_, i64>(3),
                r.get::<_, i64>(4)
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

async fn wait_served(url: &str, mut left: Vec<String>, secs: u64) -> Vec<String> {
    for _ in 0..secs * 2 {
        let (url, names) = (url.to_string(), left.clone());
        left = tokio::task::spawn_blocking(move || unserved(&url, &names))
            .await
            .unwrap();
        if left.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    left
}
