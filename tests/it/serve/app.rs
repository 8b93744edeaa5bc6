//! Processes under test: the mock amoCRM and the service, each started from the built binary.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const TOKEN: &str = "serve-test-token";
pub const SECRET: &str = "s3cret-path-0123456789";

pub const ACCOUNT: &str = r#"
users:     [{ id: 1001, name: Анна }, { id: 1002, name: Борис }, { id: 1003, name: Вера }]
pipelines: [{ id: 3001, name: Продажи, main: true,
              statuses: [{ id: 40, name: Неразобранное, unsorted: true }, { id: 41, name: Первичный контакт }] }]
"#;

pub const SETTINGS: &str = "default_responsible: 1001\nusers: { \"201\": 1001, \"202\": 1002, \"203\": 1003, \"204\": 1001 }\nincoming: { missed: { task_deadline: 600 } }\n";

/// A retention long enough for the fixed dates of the synthetic traffic.
pub const CENTURY_S: &str = "3153600000";

pub struct Proc {
    pub child: Child,
    pub url: String,
}

impl Proc {
    /// Sends SIGTERM, waits for the exit (at most 30 s), checks it was clean; answers how long
    /// the service took to stop.
    pub async fn sigterm(&mut self) -> Duration {
        let pid = self.child.id().expect("running").to_string();
        let started = std::time::Instant::now();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the service exits")
            .unwrap();
        assert!(status.success(), "a clean exit: {status}");
        started.elapsed()
    }

    pub async fn kill9(&mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

pub async fn spawn(args: &[&str]) -> Proc {
    spawn_limited(args, None).await
}

/// The binary, with its open-file limit lowered to `nofile` when given (through the shell's
/// `ulimit`, as an operator's unit file would).
async fn spawn_limited(args: &[&str], nofile: Option<u32>) -> Proc {
    spawn_lines(args, nofile, 1).await.0
}

/// The binary, and the first `n` lines it printed (addresses).
async fn spawn_lines(args: &[&str], nofile: Option<u32>, n: usize) -> (Proc, Vec<String>) {
    let mut command = match nofile {
        None => Command::new(env!("CARGO_BIN_EXE_sipamo")),
        Some(n) => {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                .arg(env!("CARGO_BIN_EXE_sipamo"));
            c
        }
    };
    let mut child = command
        .args(args)
        .env(
            "RUST_LOG",
            std::env::var("SIPAMO_TEST_LOG").unwrap_or_else(|_| "error".into()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut printed = Vec::with_capacity(n);
    for _ in 0..n {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the process printed its address in time")
            .expect("stdout readable")
            .expect("a line");
        printed.push(line.trim().trim_start_matches("listening on ").to_string());
    }
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let url = printed[0].clone();
    (Proc { child, url }, printed)
}

/// One mock process serving `n` accounts (`sipamo mock --accounts N`), with their base URLs.
pub async fn spawn_mocks(dir: &Path, n: u16) -> (Proc, Vec<String>) {
    let accounts = n.to_string();
    let args = mock_args(dir, ACCOUNT, &["--accounts", &accounts]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    spawn_lines(&args, None, usize::from(n)).await
}

pub async fn spawn_mock(dir: &Path) -> Proc {
    spawn_mock_with(dir, ACCOUNT).await
}

/// The mock serving `account` (the keys of a scenario's `crm:` block).
pub async fn spawn_mock_with(dir: &Path, account_yaml: &str) -> Proc {
    spawn_mock_args(dir, account_yaml, &[]).await
}

/// [`spawn_mock_with`] with options of the test's own.
pub async fn spawn_mock_args(dir: &Path, account_yaml: &str, extra: &[&str]) -> Proc {
    let args = mock_args(dir, account_yaml, extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    spawn(&args).await
}

/// The mock's command line serving `account_yaml` (written into `dir`), with `extra`.
fn mock_args(dir: &Path, account_yaml: &str, extra: &[&str]) -> Vec<String> {
    let account = dir.join("account.yaml");
    std::fs::write(&account, account_yaml).unwrap();
    let mut args = vec![
        "mock",
        "--listen",
        "127.0.0.1:0",
        "--token",
        TOKEN,
        "--account",
        account.to_str().unwrap(),
        // The tests run the service at 200 requests/s to stay quick; amoCRM's 7/s limit is
        // the mock's default and is tested on its own.
        "--rate-limit",
        "off",
    ];
    args.extend_from_slice(extra);
    args.into_iter().map(String::from).collect()
}

pub fn write_config(dir: &Path, settings: &str) {
    std::fs::write(dir.join("settings.yaml"), settings).unwrap();
    std::fs::write(dir.join("token"), TOKEN).unwrap();
    std::fs::write(dir.join("secret"), SECRET).unwrap();
}

/// `sipamo serve` with the files `write_config` wrote in `dir`, on a random port: the command
/// line of a process a test runs to its end (one that must refuse to start).
pub fn serve_args(dir: &Path, mock: &str, db: &str) -> Vec<String> {
    let p = |f: &str| dir.join(f).to_str().unwrap().to_string();
    [
        "serve",
        "--settings",
        &p("settings.yaml"),
        "--amocrm",
        mock,
        "--token-file",
        &p("token"),
        "--secret-file",
        &p("secret"),
        "--listen",
        "127.0.0.1:0",
        "--db",
        db,
    ]
    .iter()
    .map(|a| a.to_string())
    .collect()
}

pub async fn spawn_serve(dir: &Path, mock: &str) -> Proc {
    spawn_serve_with(dir, mock, &[]).await
}

/// The service with options of the test's own besides the usual ones (its own rate replaces
/// the usual one).
pub async fn spawn_serve_with(dir: &Path, mock: &str, extra: &[&str]) -> Proc {
    spawn_serve_limited(dir, mock, extra, None).await
}

/// [`spawn_serve_with`], the process allowed at most `nofile` open files.
pub async fn spawn_serve_limited(
    dir: &Path,
    mock: &str,
    extra: &[&str],
    nofile: Option<u32>,
) -> Proc {
    let p = |f: &str| dir.join(f).to_str().unwrap().to_string();
    let (settings, token, secret, db) =
        (p("settings.yaml"), p("token"), p("secret"), p("sipamo.db"));
    let mut args = vec![
        "serve",
        "--settings",
        &settings,
        "--amocrm",
        mock,
        "--token-file",
        &token,
        "--secret-file",
        &secret,
        "--listen",
        "127.0.0.1:0",
        "--settle-ms",
        "100",
    ];
    // A test's own `--db` (PostgreSQL) replaces the SQLite file in its directory.
    if !extra.contains(&"--db") {
        args.extend_from_slice(&["--db", &db]);
    }
    if !extra.contains(&"--rate-per-second") {
        args.extend_from_slice(&["--rate-per-second", "200"]);
    }
    // The synthetic traffic is dated March 2026: a retention of a century keeps it fresh.
    if !extra.contains(&"--retention-s") {
        args.extend_from_slice(&["--retention-s", CENTURY_S]);
    }
    args.extend_from_slice(extra);
    spawn_limited(&args, nofile).await
}

pub fn http() -> reqwest::Client {
    sipamo::http::client_builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Posts one event as a form body, as Sipuni does; retries until it is acknowledged
/// (Sipuni resends what was not answered).
pub async fn post_event(http: &reqwest::Client, serve: &str, line: &str) {
    post_event_to(http, serve, SECRET, line).await;
}

/// Posts an event to the secret path `secret` until it is acknowledged.
pub async fn post_event_to(http: &reqwest::Client, serve: &str, secret: &str, line: &str) {
    for _ in 0..100 {
        let r = http
            .post(format!("{serve}/sipuni/events/{secret}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(line.to_string())
            .send()
            .await;
        if let Ok(r) = r
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("event never acknowledged: {line}");
}

/// Waits (at most ten minutes: thousands of accounts) until a many-account replica has started
/// the accounts it read at its start (`/health` no longer says "starting"); events sent before
/// are answered 503.
pub async fn wait_started(serve: &Proc) {
    let http = http();
    for _ in 0..6000 {
        if let Ok(r) = http.get(format!("{}/health", serve.url)).send().await
            && let Ok(body) = r.json::<serde_json::Value>().await
            && body["status"] != "starting"
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{} never finished starting its accounts", serve.url);
}

/// The service's `/metrics` as text.
pub async fn metrics(http: &reqwest::Client, serve: &str) -> String {
    http.get(format!("{serve}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The sum of the metric lines starting with `name` (a name with or without its labels).
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Waits until the service has no queued events and no open calls.
pub async fn wait_idle(http: &reqwest::Client, serve: &str) {
    for _ in 0..600 {
        if is_idle(http, serve).await {
            tokio::time::sleep(Duration::from_millis(300)).await;
            if is_idle(http, serve).await {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the service never became idle:\n{}",
        metrics(http, serve).await
    );
}

/// The worker is up (it has restored the open calls) with nothing queued or open.
pub async fn is_idle(http: &reqwest::Client, serve: &str) -> bool {
    if !health_ok(http, serve).await {
        return false;
    }
    let m = metrics(http, serve).await;
    let stored = metric(&m, "sipamo_events_received_total{result=\"stored\"}");
    metric(&m, "sipamo_events_taken_total") == stored
        && metric(&m, "sipamo_queue_depth") == 0.0
        && metric(&m, "sipamo_open_calls") == 0.0
        && m.contains("sipamo_open_calls")
}

async fn get(http: &reqwest::Client, mock: &str, path: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for page in 1..100 {
        let sep = if path.contains('?') { '&' } else { '?' };
        let r = http
            .get(format!("{mock}{path}{sep}limit=250&page={page}"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        if r.status() == 204 {
            break;
        }
        let body: Value = r.json().await.unwrap();
        let key = body["_embedded"]
            .as_object()
            .and_then(|o| o.keys().next().cloned())
            .unwrap_or_default();
        out.extend(
            body["_embedded"][&key]
                .as_array()
                .cloned()
                .unwrap_or_default(),
        );
        if body["_links"].get("next").is_none() {
            break;
        }
    }
    out
}

/// The account as the amoCRM API shows it, without ids and times: comparable across runs.
pub async fn picture(http: &reqwest::Client, mock: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let contacts = get(http, mock, "/api/v4/contacts?with=leads").await;
    let mut phone_of = std::collections::HashMap::new();
    for c in &contacts {
        let phone = c["custom_fields_values"][0]["values"][0]["value"]
            .as_str()
            .unwrap_or("")
            .to_string();
        phone_of.insert(c["id"].as_u64().unwrap_or(0), phone.clone());
        let leads = c["_embedded"]["leads"].as_array().map_or(0, Vec::len);
        lines.push(format!(
            "contact {phone} resp {} leads {leads}",
            c["responsible_user_id"]
        ));
    }
    for l in get(http, mock, "/api/v4/leads?with=contacts").await {
        let phone = l["_embedded"]["contacts"][0]["id"]
            .as_u64()
            .and_then(|c| phone_of.get(&c).cloned())
            .unwrap_or_default();
        lines.push(format!(
            "lead {phone} status {} resp {}",
            l["status_id"], l["responsible_user_id"]
        ));
    }
    for t in get(http, mock, "/api/v4/tasks").await {
        lines.push(format!(
            "task {} {} resp {} done {}",
            t["text"], t["complete_till"], t["responsible_user_id"], t["is_completed"]
        ));
    }
    for kind in ["leads", "contacts"] {
        for n in get(http, mock, &format!("/api/v4/{kind}/notes")).await {
            lines.push(format!(
                "note {kind} {} {} {}",
                n["note_type"], n["params"]["uniq"], n["params"]["call_status"]
            ));
        }
    }
    for u in get(http, mock, "/api/v4/leads/unsorted").await {
        lines.push(format!("unsorted {}", u["source_uid"]));
    }
    lines.sort();
    lines
}

/// A day of synthetic traffic in the wire form, in sending order.
pub fn traffic(seed: u64, calls: usize) -> Vec<String> {
    sipamo::sim::synth::random_calls(seed, calls, 6, 4, 1_772_434_800)
        .into_iter()
        .flat_map(|(t, c)| c.events(t))
        .map(|e| e.line)
        .collect()
}

/// [`traffic`] call by call: each call's events in order, the calls in their starting order.
pub fn traffic_by_call(seed: u64, calls: usize) -> Vec<Vec<String>> {
    sipamo::sim::synth::random_calls(seed, calls, 6, 4, 1_772_434_800)
        .into_iter()
        .map(|(t, c)| c.events(t).into_iter().map(|e| e.line).collect())
        .collect()
}

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temp dir")
}

pub fn db(dir: &Path) -> PathBuf {
    dir.join("sipamo.db")
}

/// Arms the mock to apply the next write (any POST under /api/v4/) and hold its answer back.
pub async fn arm_next_write(http: &reqwest::Client, mock: &str) {
    let r = http
        .post(format!("{mock}/__sipamo/faults"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({ "path": "/api/v4/*", "method": "POST", "hang": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
}

/// Arms a fault on the mock (the JSON of a scenario's `fault:`).
pub async fn fault(http: &reqwest::Client, mock: &str, spec: serde_json::Value) {
    let r = http
        .post(format!("{mock}/__sipamo/faults"))
        .bearer_auth(TOKEN)
        .json(&spec)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
}

/// Removes every armed fault.
pub async fn disarm(http: &reqwest::Client, mock: &str) {
    let r = http
        .delete(format!("{mock}/__sipamo/faults"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// How many requests the mock applied and held the answer of.
pub async fn hung(http: &reqwest::Client, mock: &str) -> u64 {
    summary(http, mock).await["hung"].as_u64().unwrap_or(0)
}

/// The mock's `/__sipamo/summary`.
pub async fn summary(http: &reqwest::Client, mock: &str) -> Value {
    http.get(format!("{mock}/__sipamo/summary"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// `/health` answers 200.
pub async fn health_ok(http: &reqwest::Client, serve: &str) -> bool {
    http.get(format!("{serve}/health"))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
}

/// The account after the same events went through a service that was never stopped.
pub async fn uninterrupted(settings: &str, events: &[String]) -> Vec<String> {
    let dir = tempdir();
    let mock = spawn_mock(dir.path()).await;
    write_config(dir.path(), settings);
    let serve = spawn_serve(dir.path(), &mock.url).await;
    let http = http();
    for line in events {
        post_event(&http, &serve.url, line).await;
    }
    wait_idle(&http, &serve.url).await;
    picture(&http, &mock.url).await
}

/// The requests the mock served (time, method, path, status), in order.
pub async fn mock_journal(http: &reqwest::Client, mock: &str) -> Vec<Value> {
    let journal: Value = http
        .get(format!("{mock}/__sipamo/journal"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    journal.as_array().cloned().unwrap_or_default()
}

/// With PostgreSQL (where a replica's gauges say nothing of the others): every stored event
/// taken and every call with events handled, per the database.
pub async fn pg_idle(url: &str) -> bool {
    pg_idle_in(url, None).await
}

/// [`pg_idle`] of the rows of `account` (`None`: the deployment's own, a single-account
/// service).
pub async fn pg_idle_in(url: &str, account: Option<&str>) -> bool {
    let url = url.to_string();
    let account = account.unwrap_or_default().to_string();
    tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).ok()?;
        c.query_one(
            "SELECT (SELECT COUNT(*) FROM events WHERE account = $1 AND NOT taken)
                  + (SELECT COUNT(DISTINCT call_id) FROM events
                      WHERE account = $1 AND call_id NOT IN
                        (SELECT call_id FROM calls_done WHERE account = $1))",
            &[&account],
        )
        .ok()
        .map(|r| r.get::<_, i64>(0) == 0)
    })
    .await
    .ok()
    .flatten()
    .unwrap_or(false)
}

/// Waits until [`pg_idle`] (at most a minute).
pub async fn wait_pg_idle(url: &str) {
    for _ in 0..600 {
        if pg_idle(url).await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the calls in {url} were never all handled");
}
