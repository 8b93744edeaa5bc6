//! `serve --accounts`: many accounts in one deployment on PostgreSQL, each with its own amoCRM
//! (a mock process of its own), added with `sipamo accounts` and served by one or two replicas.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sipamo::sim::testkit::pg_cluster::Cluster;

use crate::serve::app::*;
use crate::serve::postgres::database;

pub(crate) const KEY: &str = "8f3c2a1b4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8";

/// A deployment: the database, the key, and per account a mock amoCRM and a secret path.
pub(crate) struct Deployment {
    _cluster: Cluster,
    pub(crate) url: String,
    dir: tempfile::TempDir,
    pub(crate) mocks: Vec<Mock>,
    pub(crate) names: Vec<String>,
    pub(crate) secrets: Vec<String>,
}

/// An account's mock amoCRM: its base URL, and the process serving it (alone, or with other
/// accounts' mocks: `sipamo mock --accounts N`).
pub(crate) struct Mock {
    pub(crate) url: String,
    _process: std::sync::Arc<Proc>,
}

impl From<Proc> for Mock {
    fn from(p: Proc) -> Self {
        Mock {
            url: p.url.clone(),
            _process: std::sync::Arc::new(p),
        }
    }
}

/// The `sipamo accounts` command, its output when it fails.
pub(crate) fn accounts_cli(args: &[&str]) -> Result<String, String> {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sipamo"))
        .arg("accounts")
        .args(args)
        .env("SIPAMO_KEY", KEY)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

impl Deployment {
    /// `n` accounts, each added (and so checked against its mock) with `sipamo accounts add`.
    pub(crate) async fn start(name: &str, n: usize) -> Option<Deployment> {
        Self::start_sharing(name, n, 1).await
    }

    /// [`Deployment::start`], the accounts' mocks served `per_process` to a mock process (each
    /// account still its own mock amoCRM, with state, journal and faults of its own).
    pub(crate) async fn start_sharing(
        name: &str,
        n: usize,
        per_process: u16,
    ) -> Option<Deployment> {
        let (cluster, url) = database(name)?;
        let dir = tempdir();
        let key = dir.path().join("key");
        std::fs::write(&key, KEY).unwrap();
        // The key opens every account's token: sipamo refuses a key file others can read.
        std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let mut d = Deployment {
            _cluster: cluster,
            url,
            dir,
            mocks: Vec::new(),
            names: Vec::new(),
            secrets: Vec::new(),
        };
        if per_process <= 1 {
            for i in 0..n {
                d.add(i).await;
            }
            return Some(d);
        }
        let mut i = 0;
        while i < n {
            let home = d.path(&format!("mocks{i}"));
            std::fs::create_dir_all(&home).unwrap();
            let k = per_process.min(u16::try_from(n - i).unwrap_or(u16::MAX));
            let (process, urls) = spawn_mocks(&home, k).await;
            let process = std::sync::Arc::new(process);
            for url in urls {
                let mock = Mock {
                    url,
                    _process: process.clone(),
                };
                d.add_on(i, mock, TOKEN);
                i += 1;
            }
        }
        Some(d)
    }

    fn path(&self, f: &str) -> PathBuf {
        self.dir.path().join(f)
    }

    async fn add(&mut self, i: usize) {
        let home = self.path(&format!("a{i}"));
        std::fs::create_dir_all(&home).unwrap();
        let mock = spawn_mock(&home).await;
        self.add_with(i, mock, TOKEN);
    }

    /// Adds account `i` whose amoCRM is `mock`, with the token file's text `token`.
    pub(crate) fn add_with(&mut self, i: usize, mock: Proc, token: &str) {
        self.add_on(i, Mock::from(mock), token);
    }

    /// [`Deployment::add_with`] on a mock that may share its process.
    fn add_on(&mut self, i: usize, mock: Mock, token: &str) {
        let home = self.path(&format!("a{i}"));
        std::fs::create_dir_all(&home).unwrap();
        write_config(&home, SETTINGS);
        std::fs::write(home.join("token"), token).unwrap();
        let secret = format!("{SECRET}-account-{i:03}");
        std::fs::write(home.join("secret"), &secret).unwrap();
        let name = format!("acct{i:03}");
        let p = |f: &str| home.join(f).to_str().unwrap().to_string();
        accounts_cli(&[
            "add",
            &name,
            "--db",
            &self.url,
            "--amocrm",
            &mock.url,
            "--token-file",
            &p("token"),
            "--secret-file",
            &p("secret"),
            "--settings",
            &p("settings.yaml"),
        ])
        .unwrap();
        self.mocks.push(mock);
        self.names.push(name);
        self.secrets.push(secret);
    }

    /// A replica serving every enabled account, with a short lease so that takeovers are quick.
    pub(crate) async fn replica(&self, id: &str, extra: &[&str]) -> Proc {
        let mut args = replica_args(&self.url, &self.path("key"), id, "4", "1");
        args.extend(extra.iter().map(|a| a.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let replica = spawn(&args).await;
        wait_started(&replica).await;
        replica
    }

    /// Every call of account `i` handled, per its rows in the database.
    pub(crate) async fn idle(&self, i: usize) -> bool {
        pg_idle_in(&self.url, Some(&self.names[i])).await
    }

    /// Waits (at most `secs`) until every account is idle: the accounts not yet seen idle
    /// are looked at again until none is left, then every account once more.
    pub(crate) async fn wait_all_idle(&self, secs: u64) {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        let mut left: Vec<usize> = (0..self.names.len()).collect();
        while std::time::Instant::now() < deadline {
            let mut busy = Vec::new();
            for i in left {
                if !self.idle(i).await {
                    busy.push(i);
                }
            }
            left = busy;
            if left.is_empty() {
                let mut all = true;
                for i in 0..self.names.len() {
                    all &= self.idle(i).await;
                }
                if all {
                    return;
                }
                left = (0..self.names.len()).collect();
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the accounts' calls were never all handled");
    }

    /// The replica holding account `i`'s work lease.
    pub(crate) async fn holder(&self, i: usize) -> Option<String> {
        let (url, names) = (self.url.clone(), vec![self.names[i].clone()]);
        tokio::task::spawn_blocking(move || {
            let mut c = postgres::Client::connect(&url, postgres::NoTls).ok()?;
            c.query_opt(HOLDERS_SQL, &[&names])
                .ok()
                .flatten()
                .map(|r| r.get(0))
        })
        .await
        .ok()
        .flatten()
    }

    pub(crate) fn home(&self, i: usize) -> PathBuf {
        self.path(&format!("a{i}"))
    }
}

/// `serve --accounts` as a replica of a fleet: on `url`, loopback, settle 500 ms, rows kept for
/// good; with its lease and its amoCRM timeout, in seconds.
pub(crate) fn replica_args(
    url: &str,
    key: &Path,
    id: &str,
    lease_s: &str,
    amocrm_timeout_s: &str,
) -> Vec<String> {
    let key = key.to_str().expect("a UTF-8 temporary path");
    [
        "serve",
        "--accounts",
        "--db",
        url,
        "--key-file",
        key,
        "--listen",
        "127.0.0.1:0",
        "--replica-id",
        id,
        "--lease-s",
        lease_s,
        "--amocrm-timeout-s",
        amocrm_timeout_s,
        "--settle-ms",
        "500",
        "--retention-s",
        CENTURY_S,
    ]
    .map(str::to_string)
    .to_vec()
}

/// The most amoCRM requests any one second of the mock's journal holds.
pub(crate) fn busiest_second(journal: &[serde_json::Value]) -> usize {
    let times: Vec<i64> = journal.iter().filter_map(|j| j["at_ms"].as_i64()).collect();
    (0..times.len())
        .map(|i| {
            times[i..]
                .iter()
                .take_while(|u| **u < times[i] + 1000)
                .count()
        })
        .max()
        .unwrap_or(0)
}

/// Three accounts on one replica: each account's events go to its own amoCRM, an unknown
/// secret path is refused, metrics carry the account, and `accounts` changes (disable, enable,
/// new settings) take effect without a restart.
#[tokio::test]
async fn accounts_are_served_apart_and_changes_need_no_restart() {
    let Some(d) = Deployment::start("fleet_basic", 3).await else {
        return;
    };
    let mut serve = d.replica("r1", &[]).await;
    let http = http();
    let calls: Vec<Vec<String>> = (0..3).map(|i| traffic(60 + i as u64, 3)).collect();
    for (i, events) in calls.iter().enumerate() {
        for line in events {
            post_event_to(&http, &serve.url, &d.secrets[i], line).await;
        }
    }
    d.wait_all_idle(60).await;
    for (i, events) in calls.iter().enumerate() {
        let want = uninterrupted(SETTINGS, events).await;
        assert_eq!(picture(&http, &d.mocks[i].url).await, want, "account {i}");
    }
    let unknown = http
        .post(format!(
            "{}/sipuni/events/{SECRET}-nobody-at-all",
            serve.url
        ))
        .body(calls[0][0].clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let text = metrics(&http, &serve.url).await;
    for n in &d.names {
        assert!(
            text.contains(&format!("sipamo_calls_handled_total{{account=\"{n}\"}} 3")),
            "{text}"
        );
    }
    operators_name_the_account(&d);
    disable_refuses_and_enable_serves(&d, &serve, &http, &calls[0][0]).await;
    let took = serve.sigterm().await;
    assert!(
        took < Duration::from_secs(12),
        "SIGTERM within the grace: {took:?}"
    );
}

/// `sipamo calls` and `sipamo record` read one account's schema with `--account`; an unknown
/// name is refused (and creates nothing).
fn operators_name_the_account(d: &Deployment) {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_sipamo"))
            .args(args)
            .output()
            .unwrap()
    };
    let listed = run(&["calls", "list", "--db", &d.url, "--account", &d.names[1]]);
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(
        listed.status.success() && text.contains("0 parked call(s)"),
        "{text}"
    );
    let recorded = run(&[
        "record",
        "--db",
        &d.url,
        "--account",
        &d.names[2],
        "--since",
        "0",
    ]);
    let scenario = String::from_utf8_lossy(&recorded.stdout);
    assert!(scenario.contains("steps:"), "{scenario}");
    // Without --account on a many-account database: refused, naming the accounts (its
    // default schema holds no calls, and "0 parked calls" would be a lie).
    let guessed = run(&["calls", "list", "--db", &d.url]);
    let why = String::from_utf8_lossy(&guessed.stderr);
    assert!(
        !guessed.status.success()
            && why.contains("give --account NAME")
            && why.contains(&d.names[0]),
        "{why}"
    );
    let unknown = run(&["calls", "list", "--db", &d.url, "--account", "nobody"]);
    assert!(
        !unknown.status.success()
            && String::from_utf8_lossy(&unknown.stderr).contains("no account \"nobody\""),
        "{}",
        String::from_utf8_lossy(&unknown.stderr)
    );
}

/// A disabled account's events are refused within seconds; enabled again, they are taken.
async fn disable_refuses_and_enable_serves(
    d: &Deployment,
    serve: &Proc,
    http: &reqwest::Client,
    line: &str,
) {
    accounts_cli(&["disable", &d.names[1], "--db", &d.url]).unwrap();
    let status = |secret: String| {
        let (http, url, line) = (http.clone(), serve.url.clone(), line.to_string());
        async move {
            http.post(format!("{url}/sipuni/events/{secret}"))
                .body(line)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    // Within 10 s: the replica reads the table every 2 s.
    let within_10_s = |secret: String, code: u16| {
        let status = &status;
        async move {
            for _ in 0..100 {
                if status(secret.clone()).await == code {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            false
        }
    };
    assert!(
        within_10_s(d.secrets[1].clone(), 404).await,
        "a disabled account's events are refused"
    );
    assert_eq!(
        status(d.secrets[0].clone()).await,
        200,
        "the others are not"
    );
    accounts_cli(&["enable", &d.names[1], "--db", &d.url]).unwrap();
    assert!(
        within_10_s(d.secrets[1].clone(), 200).await,
        "enabled again, its events are taken"
    );
}

/// Settings changed with `set-settings` are used for the next calls without a restart.
#[tokio::test]
async fn new_settings_apply_without_a_restart() {
    let Some(d) = Deployment::start("fleet_settings", 1).await else {
        return;
    };
    let serve = d.replica("r1", &[]).await;
    let http = http();
    // Before: calls go to the users of SETTINGS; after: every call to user 1003.
    let changed = d.home(0).join("changed.yaml");
    std::fs::write(
        &changed,
        "default_responsible: 1003\nusers: { \"201\": 1003, \"202\": 1003, \"203\": 1003, \"204\": 1003 }\nincoming: { missed: { task_deadline: 600 } }\n",
    )
    .unwrap();
    set_settings(&d, &changed);
    wait_settings_taken(&d).await;
    for line in traffic(71, 4) {
        post_event_to(&http, &serve.url, &d.secrets[0], &line).await;
    }
    d.wait_all_idle(60).await;
    let got = picture(&http, &d.mocks[0].url).await;
    assert!(
        got.iter()
            .filter(|l| l.contains("resp "))
            .all(|l| l.contains("resp 1003")),
        "every call under the new settings: {got:#?}"
    );
    assert!(!got.is_empty());
}

fn set_settings(d: &Deployment, file: &Path) {
    accounts_cli(&[
        "set-settings",
        &d.names[0],
        "--db",
        &d.url,
        "--settings",
        file.to_str().unwrap(),
    ])
    .unwrap();
}

/// Waits until the account's rows hold the changed settings (the replica served it anew).
async fn wait_settings_taken(d: &Deployment) {
    let (url, name) = (d.url.clone(), d.names[0].clone());
    for _ in 0..100 {
        let (u, n) = (url.clone(), name.clone());
        let yaml = tokio::task::spawn_blocking(move || {
            let mut c = postgres::Client::connect(&u, postgres::NoTls).ok()?;
            c.query_opt(
                "SELECT yaml FROM service_settings WHERE account = $1",
                &[&n],
            )
            .ok()
            .flatten()
            .map(|r| r.get::<_, String>(0))
        })
        .await
        .unwrap();
        if yaml.is_some_and(|y| y.contains("default_responsible: 1003")) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the new settings were never taken");
}

/// One account's amoCRM answers 503 to everything for a minute while calls keep coming for
/// four accounts: the other three are handled round after round as if nothing were wrong, the
/// troubled one waits, and once its amoCRM is back every account ends exact (nothing lost,
/// nothing parked by an outage).
#[tokio::test]
async fn one_accounts_amocrm_down_for_a_minute_slows_no_other() {
    const ROUNDS: usize = 6;
    let Some(d) = Deployment::start("fleet_isolation", 4).await else {
        return;
    };
    let calls: Vec<Vec<Vec<String>>> = (0..4).map(|i| traffic_by_call(90 + i as u64, 12)).collect();
    let serve = d.replica("r1", &[]).await;
    let http = http();
    let down = serde_json::json!({ "path": "/api/v4/*", "status": 503, "times": 1_000_000 });
    fault(&http, &d.mocks[0].url, down).await;
    let outage = std::time::Instant::now();
    let mut slowest = Duration::ZERO;
    for round in 0..ROUNDS {
        // Whole calls: a call is handled once its hangup has come.
        for (i, account) in calls.iter().enumerate() {
            let per = account.len().div_ceil(ROUNDS);
            for line in account.iter().skip(round * per).take(per).flatten() {
                post_event_to(&http, &serve.url, &d.secrets[i], line).await;
            }
        }
        let posted = std::time::Instant::now();
        'wait: loop {
            for i in 1..4 {
                if !d.idle(i).await {
                    assert!(
                        posted.elapsed() < Duration::from_secs(15),
                        "round {round}: account {i} still waits {:?} after its events",
                        posted.elapsed()
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue 'wait;
                }
            }
            break;
        }
        slowest = slowest.max(posted.elapsed());
        assert!(
            !d.idle(0).await,
            "round {round}: the account whose amoCRM is down waits"
        );
        let left = Duration::from_secs(10 * (round as u64 + 1)).saturating_sub(outage.elapsed());
        tokio::time::sleep(left).await;
    }
    eprintln!("isolation: the healthy accounts' slowest round took {slowest:?}");
    disarm(&http, &d.mocks[0].url).await;
    d.wait_all_idle(180).await;
    for (i, account) in calls.iter().enumerate() {
        let want = uninterrupted(SETTINGS, &account.concat()).await;
        assert_eq!(picture(&http, &d.mocks[i].url).await, want, "account {i}");
    }
}

/// The sealed token of account `name` as stored.
async fn stored_token(url: &str, name: &str) -> Vec<u8> {
    let (url, name) = (url.to_string(), name.to_string());
    tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.query_one("SELECT token FROM accounts WHERE name = $1", &[&name])
            .unwrap()
            .get(0)
    })
    .await
    .unwrap()
}

/// An OAuth account whose access token lives 3 s: the replica refreshes it (amoCRM's refresh
/// tokens are single-use; the mock rotates them) and must seal the new pair into the table
/// before using it. The replica is then killed and a new one started: it can work only with
/// the pair from the table (the first refresh token is spent).
#[tokio::test]
async fn a_refreshed_token_is_sealed_back_and_survives_a_restart() {
    let Some(mut d) = Deployment::start("fleet_refresh", 0).await else {
        return;
    };
    let home = d.home(0);
    std::fs::create_dir_all(&home).unwrap();
    let mock = spawn_mock_args(&home, ACCOUNT, &["--token-ttl-s", "3"]).await;
    let oauth = serde_json::json!({
        "access_token": TOKEN, "refresh_token": "mock-refresh", "client_id": "sipamo",
        "client_secret": "client-secret-0123", "redirect_uri": "https://example.org/oauth"
    });
    d.add_with(0, mock, &oauth.to_string());
    let before = stored_token(&d.url, &d.names[0]).await;
    let http = http();
    let calls = traffic_by_call(95, 4);
    let mut serve = d.replica("r1", &[]).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    for line in calls[..2].concat() {
        post_event_to(&http, &serve.url, &d.secrets[0], &line).await;
    }
    d.wait_all_idle(60).await;
    let after = stored_token(&d.url, &d.names[0]).await;
    assert_ne!(before, after, "the refreshed pair is in the table");
    for clear in [TOKEN, "mock-refresh", "client-secret-0123"] {
        assert!(
            !after.windows(clear.len()).any(|w| w == clear.as_bytes()),
            "sealed"
        );
    }
    serve.kill9().await;
    let serve = d.replica("r2", &[]).await;
    for line in calls[2..].concat() {
        post_event_to(&http, &serve.url, &d.secrets[0], &line).await;
    }
    // Handled, not parked: the new replica's amoCRM requests were accepted (the mock's own
    // API now wants the refreshed token, so the account is judged by the service's database).
    d.wait_all_idle(60).await;
    let (url, name) = (d.url.clone(), d.names[0].clone());
    let (done, parked): (i64, i64) = tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let r = c
            .query_one(
                "SELECT (SELECT COUNT(*) FROM calls_done WHERE account = $1),
                        (SELECT COUNT(*) FROM parked WHERE account = $1)",
                &[&name],
            )
            .unwrap();
        (r.get(0), r.get(1))
    })
    .await
    .unwrap();
    assert_eq!((done, parked), (4, 0), "every call handled, none parked");
}

/// An account whose stored token does not open with the replica's key (sealed under another
/// key, or altered) cannot be worked: the replica names it in `/health` with the reason, and
/// still stores and acknowledges its events (never a 404 for an account the table has), while
/// the other account is served as usual.
#[tokio::test]
async fn an_account_the_key_does_not_open_is_named_in_trouble_and_its_events_kept() {
    let Some(d) = Deployment::start("fleet_wrong_key", 2).await else {
        return;
    };
    let url = d.url.clone();
    let spoiled = d.names[1].clone();
    tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.execute(
            "UPDATE accounts SET token = '\\x00112233445566778899'::bytea WHERE name = $1",
            &[&spoiled],
        )
        .unwrap();
    })
    .await
    .unwrap();
    let serve = d.replica("r1", &[]).await;
    let http = http();
    let events = traffic(71, 2);
    for (i, secret) in d.secrets.iter().enumerate() {
        for line in &events {
            let r = http
                .post(format!("{}/sipuni/events/{secret}", serve.url))
                .body(line.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "account {i}: acknowledged");
        }
    }
    let health: serde_json::Value = http
        .get(format!("{}/health", serve.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        health["accounts_in_trouble"],
        serde_json::json!([d.names[1]]),
        "{health}"
    );
    let reason = health["accounts"][&d.names[1]]["reason"]
        .as_str()
        .unwrap_or("");
    assert!(reason.contains("does not open"), "{health}");
    // The good account is worked; the spoiled one's events wait in its inbox.
    for _ in 0..300 {
        if d.idle(0).await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let want = uninterrupted(SETTINGS, &events).await;
    assert_eq!(picture(&http, &d.mocks[0].url).await, want);
    assert!(
        picture(&http, &d.mocks[1].url).await.is_empty(),
        "nothing done for it"
    );
}

/// Live replicas split the accounts: one replica alone holds all six leases; a second one
/// started beside it gets its half within a few lease lengths (the first lets one go at each
/// reading of the accounts table), and calls posted afterwards are worked exactly.
#[tokio::test]
async fn live_replicas_split_the_accounts_leases() {
    let Some(d) = Deployment::start("fleet_share", 6).await else {
        return;
    };
    let r1 = d.replica("r1", &[]).await;
    let mut alone = std::collections::HashMap::new();
    for _ in 0..100 {
        alone = leases_held_by(&d).await;
        if alone.get("r1") == Some(&6) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        alone.get("r1"),
        Some(&6),
        "alone, r1 holds every lease: {alone:?}"
    );
    let r2 = d.replica("r2", &[]).await;
    let mut split = std::collections::HashMap::new();
    for _ in 0..300 {
        split = leases_held_by(&d).await;
        if split.get("r1") == Some(&3) && split.get("r2") == Some(&3) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        (split.get("r1"), split.get("r2")),
        (Some(&3), Some(&3)),
        "three each: {split:?}"
    );
    let http = http();
    let calls: Vec<Vec<String>> = (0..6).map(|i| traffic(90 + i as u64, 2)).collect();
    for (i, events) in calls.iter().enumerate() {
        let via = if i % 2 == 0 { &r1.url } else { &r2.url };
        for line in events {
            post_event_to(&http, via, &d.secrets[i], line).await;
        }
    }
    d.wait_all_idle(90).await;
    for (i, events) in calls.iter().enumerate() {
        let want = uninterrupted(SETTINGS, events).await;
        assert_eq!(picture(&http, &d.mocks[i].url).await, want, "account {i}");
    }
}

/// The holders of the unexpired leases of the accounts `$1`, in SQL.
const HOLDERS_SQL: &str = "SELECT holder FROM leases WHERE account = ANY($1)
      AND expires_ms > (extract(epoch from clock_timestamp()) * 1000)::bigint";

/// How many account leases each replica holds now (one query).
pub(crate) async fn leases_held_by(d: &Deployment) -> std::collections::HashMap<String, usize> {
    let (url, names) = (d.url.clone(), d.names.clone());
    tokio::task::spawn_blocking(move || {
        let mut out = std::collections::HashMap::new();
        let Ok(mut c) = postgres::Client::connect(&url, postgres::NoTls) else {
            return out;
        };
        for row in c.query(HOLDERS_SQL, &[&names]).unwrap_or_default() {
            *out.entry(row.get::<_, String>(0)).or_default() += 1;
        }
        out
    })
    .await
    .unwrap_or_default()
}

/// A replica renews its accounts' leases together, in one statement: one account's lease row
/// locked for longer than the lease (a transaction of that account stalled at its fence check)
/// must cost no other account its lease. The keepers tick on one grid, so the four renewals
/// share a statement; were the locked row waited for, the statement would fail at PostgreSQL's
/// lock timeout and the three others would be taken afresh, with new tokens.
#[tokio::test]
async fn one_accounts_locked_lease_row_costs_no_other_its_lease() {
    let Some(d) = Deployment::start("fleet_renew", 4).await else {
        return;
    };
    let _r1 = d.replica("r1", &[]).await;
    for _ in 0..100 {
        if leases_held_by(&d).await.get("r1") == Some(&4) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let before = lease_tokens(&d).await;
    let (url, name) = (d.url.clone(), d.names[0].clone());
    tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let mut t = c.transaction().unwrap();
        t.query(
            "SELECT 1 FROM leases WHERE account = $1 FOR SHARE",
            &[&name],
        )
        .unwrap();
        // Two and a half leases, past PostgreSQL's 5 s lock timeout of sipamo's sessions.
        std::thread::sleep(Duration::from_secs(10));
        t.commit().unwrap();
    })
    .await
    .unwrap();
    let after = lease_tokens(&d).await;
    assert_eq!(
        after[1..],
        before[1..],
        "the other accounts kept their leases (same tokens): before {before:?}, after {after:?}"
    );
    let held = leases_held_by(&d).await;
    assert!(
        held.get("r1").is_some_and(|n| *n >= 3),
        "r1 still holds the others: {held:?}"
    );
}

/// Each account's lease token, in account order.
async fn lease_tokens(d: &Deployment) -> Vec<i64> {
    let (url, names) = (d.url.clone(), d.names.clone());
    tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        names
            .iter()
            .map(|n| {
                c.query_one("SELECT token FROM leases WHERE account = $1", &[n])
                    .unwrap()
                    .get(0)
            })
            .collect()
    })
    .await
    .unwrap()
}

/// An account added while the replica serves is answered 503 (Sipuni sends again), never 404,
/// for events arriving before the replica's next reading of the accounts table (every 2 s):
/// the replica looks an unknown path up and reads the table at once. The event is posted the
/// moment `accounts add` returns, inside the 2 s between readings (a reading that happened to
/// fall in between answers 200, also right).
#[tokio::test]
async fn an_account_just_added_is_answered_503_never_404() {
    let Some(mut d) = Deployment::start("fleet_just_added", 1).await else {
        return;
    };
    let r1 = d.replica("r1", &[]).await;
    let http = http();
    let events = traffic(77, 1);
    let url = |d: &Deployment| format!("{}/sipuni/events/{}", r1.url, d.secrets[1]);
    let home = d.home(1);
    std::fs::create_dir_all(&home).unwrap();
    let mock = spawn_mock(&home).await;
    d.add_with(1, mock, TOKEN);
    let r = http
        .post(url(&d))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(events[0].clone())
        .send()
        .await
        .unwrap();
    let (code, body) = (r.status().as_u16(), r.text().await.unwrap());
    eprintln!("the first event of the account just added: {code} {body}");
    assert!(code == 503 || code == 200, "{code} {body}");
    for line in &events {
        post_event_to(&http, &r1.url, &d.secrets[1], line).await;
    }
    d.wait_all_idle(60).await;
    let unknown = http
        .post(format!(
            "{}/sipuni/events/no-such-account-secret-0000",
            r1.url
        ))
        .body(events[0].clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404, "a path the table does not have");
}
