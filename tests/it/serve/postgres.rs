//! `serve --db postgres://…` on a throw-away cluster started from the OS packages: the same
//! account as an uninterrupted SQLite run, and `kill -9` right after each amoCRM write loses
//! and doubles nothing. Without PostgreSQL they return at once (`cargo test --test store` says
//! loudly that the PostgreSQL tests did not run); under `CI=true` they fail instead.

use std::time::Duration;

use sipamo::sim::testkit::pg_cluster::Cluster;

use crate::serve::app::*;
use crate::serve::crash::kill_at_every_write;

/// A cluster of the test's own (stopped when the test drops it) with a database `name`, or
/// `None` when PostgreSQL is not installed.
pub(crate) fn database(name: &str) -> Option<(Cluster, String)> {
    let c = cluster(600, name)?;
    let url = c.database(name).expect("a database of the test cluster");
    Some((c, url))
}

/// A cluster of the test's own taking `max_connections`, or `None` (said loudly, for test
/// `name`) when PostgreSQL is not installed; under `CI=true` that fails instead.
pub(crate) fn cluster(max_connections: u32, name: &str) -> Option<Cluster> {
    match Cluster::start_with(max_connections) {
        Ok(c) => Some(c),
        Err(why) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true: PostgreSQL is required: {why}"
            );
            eprintln!("*** the PostgreSQL serve test {name} did NOT run: {why}");
            None
        }
    }
}

/// One service on a throw-away PostgreSQL database, with a day of traffic to send it and the
/// account an uninterrupted run of that traffic builds.
struct PgRun {
    _cluster: Cluster,
    url: String,
    events: Vec<String>,
    want: Vec<String>,
    _dir: tempfile::TempDir,
    mock: Proc,
    serve: Proc,
}

impl PgRun {
    async fn start(name: &str, seed: u64, calls: usize) -> Option<PgRun> {
        let (cluster, url) = database(name)?;
        let events = traffic(seed, calls);
        let want = uninterrupted(SETTINGS, &events).await;
        let dir = tempdir();
        let mock = spawn_mock(dir.path()).await;
        write_config(dir.path(), SETTINGS);
        let serve = spawn_serve_with(dir.path(), &mock.url, &["--db", &url]).await;
        Some(PgRun {
            _cluster: cluster,
            url,
            events,
            want,
            _dir: dir,
            mock,
            serve,
        })
    }
}

#[tokio::test]
async fn postgres_serve_builds_the_same_account_as_sqlite() {
    let Some(PgRun {
        url,
        events,
        want,
        mock,
        serve,
        _cluster,
        _dir,
    }) = PgRun::start("same_account", 23, 20).await
    else {
        return;
    };
    let http = http();
    for line in &events {
        post_event(&http, &serve.url, line).await;
    }
    wait_pg_idle(&url).await;
    assert_eq!(picture(&http, &mock.url).await, want);
    // The operator's commands and `record` read the same database.
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_sipamo"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let listed = run(&["calls", "list", "--db", &url]);
    assert!(listed.contains("0 parked call(s)"), "{listed}");
    let scenario = run(&["record", "--db", &url, "--since", "0"]);
    assert!(
        scenario.contains("steps:") && scenario.contains("expect:"),
        "{scenario}"
    );
}

#[tokio::test]
async fn postgres_kill_9_right_after_each_amocrm_write_loses_nothing_and_doubles_nothing() {
    for (mode, seed) in [("immediate", 41), ("unsorted_accept_on_answer", 43)] {
        let Some((_cluster, url)) = database(&format!("kill_{mode}")) else {
            return;
        };
        kill_at_every_write(mode, seed, 8, 40, Some(&url))
            .await
            .assert_exact(&format!("postgres, {mode}"), 10);
    }
}

/// The replica holding the work lease, read from the database.
async fn holder(url: &str) -> Option<String> {
    let url = url.to_string();
    tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).ok()?;
        c.query_opt("SELECT holder FROM leases", &[])
            .ok()
            .flatten()
            .map(|r| r.get(0))
    })
    .await
    .ok()
    .flatten()
}

/// Two replicas on one database, events posted to both; the lease holder is `kill -9`ed right
/// after amoCRM applied one of its writes (the mock holds the answer back), again and again:
/// the other replica takes over within the lease and resumes from the intents. The account
/// ends as an uninterrupted run's, and no second of amoCRM traffic exceeds 7 requests.
#[tokio::test]
async fn postgres_two_replicas_take_over_from_a_killed_holder_exactly() {
    let Some((_cluster, url)) = database("failover") else {
        return;
    };
    let events = traffic(51, 10);
    let want = uninterrupted(SETTINGS, &events).await;
    let dir = tempdir();
    let mock = spawn_mock(dir.path()).await;
    write_config(dir.path(), SETTINGS);
    let http = http();
    let replica = |id: String| {
        let (dir, mock, url) = (dir.path().to_path_buf(), mock.url.clone(), url.clone());
        async move {
            let args = [
                "--db",
                &url,
                "--replica-id",
                &id,
                "--lease-s",
                "4",
                "--amocrm-timeout-s",
                "1",
                "--rate-per-second",
                "7",
            ];
            spawn_serve_with(&dir, &mock, &args).await
        }
    };
    let mut serves = [replica("r1".into()).await, replica("r2".into()).await];
    let mut ids = ["r1".to_string(), "r2".to_string()];
    for (i, line) in events.iter().enumerate() {
        post_event(&http, &serves[i % 2].url, line).await;
    }
    let mut seen = hung(&http, &mock.url).await;
    let (mut kills, mut generation) = (0, 2);
    while kills < 6 {
        arm_next_write(&http, &mock.url).await;
        if !write_applied(&http, &mock.url, &mut seen, 15).await {
            break;
        }
        let Some(h) = holder(&url).await else { break };
        let Some(k) = ids.iter().position(|i| *i == h) else {
            break;
        };
        serves[k].kill9().await;
        kills += 1;
        generation += 1;
        ids[k] = format!("r{generation}");
        serves[k] = replica(ids[k].clone()).await;
    }
    disarm(&http, &mock.url).await;
    // A standby replica is idle by its own gauges: wait until the database says every call is
    // handled (the last takeover may still be waiting out a lease).
    wait_pg_idle(&url).await;
    // The service's requests only (the picture below reads the account through the API too).
    let journal = mock_journal(&http, &mock.url).await;
    let got = picture(&http, &mock.url).await;
    eprintln!("postgres, two replicas: {kills} holders killed right after a write");
    assert!(kills >= 4, "only {kills} kill points");
    let mut holders = 0.0;
    for s in &serves {
        holders += metric(&metrics(&http, &s.url).await, "sipamo_lease_held");
    }
    assert_eq!(holders, 1.0, "exactly one replica says it holds the lease");
    assert_eq!(got, want);
    let times: Vec<i64> = journal.iter().filter_map(|j| j["at_ms"].as_i64()).collect();
    for (i, t) in times.iter().enumerate() {
        let in_second = times[i..].iter().take_while(|u| **u < t + 1000).count();
        assert!(
            in_second <= 7,
            "{in_second} amoCRM requests within a second: {:#?}",
            &journal[i..i + in_second]
        );
    }
}

/// Waits (at most `secs`) until the mock has applied the armed write and held its answer
/// back; false when nothing was written in that time.
async fn write_applied(http: &reqwest::Client, mock: &str, seen: &mut u64, secs: u64) -> bool {
    for _ in 0..secs * 100 {
        let now = hung(http, mock).await;
        if now > *seen {
            *seen = now;
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// Sends a signal to a process.
fn signal(p: &Proc, sig: &str) {
    let pid = p.child.id().expect("running").to_string();
    let sent = std::process::Command::new("kill")
        .args([sig, &pid])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// The holder is paused (`SIGSTOP`) right after amoCRM applied one of its writes, past its
/// lease; the other replica takes over; then the paused one is woken (`SIGCONT`) with its call
/// half done. Its lease is gone: it must not write to amoCRM nor to the database (its next
/// writes would double what the new holder did). The account ends exact.
#[tokio::test]
async fn postgres_a_replica_paused_past_its_lease_writes_nothing_when_it_wakes() {
    let Some((_cluster, url)) = database("paused") else {
        return;
    };
    let events = traffic(53, 40);
    let want = uninterrupted(SETTINGS, &events).await;
    let dir = tempdir();
    let mock = spawn_mock(dir.path()).await;
    write_config(dir.path(), SETTINGS);
    let http = http();
    let mut serves = Vec::new();
    for id in ["p1", "p2"] {
        let args = [
            "--db",
            &url,
            "--replica-id",
            id,
            "--lease-s",
            "4",
            "--amocrm-timeout-s",
            "1",
            // amoCRM's own rate: the work outlasts three pauses (at the tests' usual 200/s the
            // replica that takes over could finish it all within one).
            "--rate-per-second",
            "7",
        ];
        serves.push(spawn_serve_with(dir.path(), &mock.url, &args).await);
    }
    for (i, line) in events.iter().enumerate() {
        post_event(&http, &serves[i % 2].url, line).await;
    }
    let mut seen = hung(&http, &mock.url).await;
    let mut pauses = 0;
    while pauses < 3 {
        arm_next_write(&http, &mock.url).await;
        if !write_applied(&http, &mock.url, &mut seen, 30).await {
            break;
        }
        let Some(h) = holder(&url).await else { break };
        let k = if h == "p1" { 0 } else { 1 };
        signal(&serves[k], "-STOP");
        // Past the lease: the other replica takes over (it may find more writes held).
        tokio::time::sleep(Duration::from_secs(5)).await;
        signal(&serves[k], "-CONT");
        pauses += 1;
    }
    disarm(&http, &mock.url).await;
    wait_pg_idle(&url).await;
    // Time for a woken replica to try whatever it still had in hand.
    tokio::time::sleep(Duration::from_secs(2)).await;
    wait_pg_idle(&url).await;
    let got = picture(&http, &mock.url).await;
    eprintln!("postgres, paused holders woken after a takeover: {pauses}");
    assert!(
        pauses >= 2,
        "only {pauses} pauses; the last requests: {:#?}",
        summary(&http, &mock.url).await["last"]
    );
    assert_eq!(got, want);
}

/// PostgreSQL stopped under a running service and started again: while it is down no event is
/// acknowledged (Sipuni keeps them and resends), the service reconnects by itself, and the
/// account ends as an uninterrupted run's.
#[tokio::test]
async fn postgres_down_for_a_while_loses_and_doubles_nothing() {
    let Some((cluster, url)) = database("restart") else {
        return;
    };
    let events = traffic(57, 12);
    let want = uninterrupted(SETTINGS, &events).await;
    let dir = tempdir();
    let mock = spawn_mock(dir.path()).await;
    write_config(dir.path(), SETTINGS);
    let args = ["--db", &url, "--lease-s", "4", "--amocrm-timeout-s", "1"];
    let serve = spawn_serve_with(dir.path(), &mock.url, &args).await;
    let http = http();
    let half = events.len() / 2;
    for line in &events[..half] {
        post_event(&http, &serve.url, line).await;
    }
    let cluster = std::sync::Arc::new(cluster);
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.stop())
        .await
        .unwrap()
        .expect("stops");
    let refused = http
        .post(format!("{}/sipuni/events/{SECRET}", serve.url))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(events[half].clone())
        .send()
        .await
        .unwrap();
    assert!(
        !refused.status().is_success(),
        "acknowledged without a database: {}",
        refused.status()
    );
    let c = cluster.clone();
    tokio::task::spawn_blocking(move || c.restart())
        .await
        .unwrap()
        .expect("starts again");
    for line in &events[half..] {
        post_event(&http, &serve.url, line).await;
    }
    wait_pg_idle(&url).await;
    assert_eq!(picture(&http, &mock.url).await, want);
}

/// A database that cannot be reached stops start-up with where it was (never the password).
#[test]
fn an_unreachable_postgres_is_named_without_its_password() {
    let dir = tempdir();
    write_config(dir.path(), SETTINGS);
    let p = |f: &str| dir.path().join(f).to_str().unwrap().to_string();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sipamo"))
        .args([
            "serve",
            "--settings",
            &p("settings.yaml"),
            "--amocrm",
            "http://127.0.0.1:9",
        ])
        .args(["--token-file", &p("token"), "--secret-file", &p("secret")])
        .args(["--db", "postgres://sipamo:hunter2@127.0.0.1:1/calls"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("127.0.0.1:1/calls"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

/// PostgreSQL's own reason reaches the operator (not a bare "db error"): here, a database that
/// does not exist, named by the server's message and code, without the password.
#[test]
fn a_postgres_refusal_says_postgres_own_reason() {
    let Some((_cluster, url)) = database("reasons") else {
        return;
    };
    let missing = url.replace("/reasons", "/no_such_db");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sipamo"))
        .args(["accounts", "list", "--db", &missing])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("\"no_such_db\" does not exist") && err.contains("3D000"),
        "{err}"
    );
}

/// R-WIRE on PostgreSQL: requests that are no event, some with raw NUL bytes (which PostgreSQL
/// text refuses), sent at the same time as real traffic so that they share its group commits:
/// every request is acknowledged on its first try, the events build the same account as an
/// uninterrupted run, and what is no event is kept aside, byte for byte, for the operator.
#[tokio::test]
async fn postgres_keeps_what_is_no_event_and_a_raw_nul_poisons_no_group_commit() {
    let Some(PgRun {
        url,
        events,
        want,
        mock,
        serve,
        _cluster,
        _dir,
    }) = PgRun::start("kept", 31, 12).await
    else {
        return;
    };
    let http = http();
    let target = format!("{}/sipuni/events/{SECRET}", serve.url);
    let odd: Vec<Vec<u8>> = vec![
        b"event=2&call_id=n.1&x=\0\0&src_num=anonymous&src_type=1&status=NOANSWER&timestamp=1772434800".to_vec(),
        b"event=7&call_id=n.2\0".to_vec(),
        b"\0\xff\0".to_vec(),
        Vec::new(),
    ];
    // The real events go in their order (calls are handled in the order their hangups
    // arrive); each goes at the same moment as an odd request, so that they share commits.
    let mut kept = 0;
    let post = |body: Vec<u8>| {
        let (http, target) = (http.clone(), target.clone());
        async move {
            let r = http
                .post(&target)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.clone())
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), body)
        }
    };
    for (i, line) in events.iter().enumerate() {
        kept += usize::from((1..odd.len()).contains(&(i % 6)));
        let odd_one = odd.get(i % 6).cloned();
        let (real, other) = tokio::join!(post(line.clone().into_bytes()), async {
            match odd_one {
                Some(body) => Some(post(body).await),
                None => None,
            }
        });
        for (status, body) in std::iter::once(real).chain(other) {
            assert_eq!(status, 200, "{:?}", String::from_utf8_lossy(&body));
        }
    }
    wait_pg_idle(&url).await;
    assert_eq!(picture(&http, &mock.url).await, want);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sipamo"))
        .args(["calls", "--db", &url, "kept"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    // An event with a NUL in a field the engine does not read is an event; the others are kept.
    assert!(
        text.contains(&format!("{kept} request(s) kept aside")),
        "{text}"
    );
    assert!(text.contains("\\x00\\xff\\x00"), "{text}");
    shows_one_kept_by_number(&url, &text);
}

/// `sipamo calls kept ID` on PostgreSQL: the last listed request in full (so not simply the first
/// row), and an absent number named.
fn shows_one_kept_by_number(url: &str, list: &str) {
    let last = list
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .next_back()
        .unwrap();
    let id = last.split('\t').next().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sipamo"))
        .args(["calls", "--db", url, "kept", id])
        .output()
        .unwrap();
    let one = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{one}");
    let listed = last.rsplit('\t').next().unwrap();
    assert!(
        one.contains(&format!("request #{id} ")) && one.contains(listed),
        "#{id} shows its own request\n{one}"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sipamo"))
        .args(["calls", "--db", url, "kept", "999999"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("no kept request #999999"),
        "{err}"
    );
}

/// A TCP proxy to PostgreSQL that can stop forwarding (a frozen connection: nothing refused,
/// nothing answered), as a stalled network or a hung server looks to a client.
struct FreezingProxy {
    addr: std::net::SocketAddr,
    frozen: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl FreezingProxy {
    async fn start(to: std::net::SocketAddr) -> Self {
        use std::sync::atomic::Ordering;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let frozen = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = frozen.clone();
        tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let Ok(outbound) = tokio::net::TcpStream::connect(to).await else {
                    continue;
                };
                let (ri, wi) = inbound.into_split();
                let (ro, wo) = outbound.into_split();
                for (mut r, mut w) in [(ri, wo), (ro, wi)].map(|(r, w)| {
                    (
                        Box::new(r) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
                        Box::new(w) as Box<dyn tokio::io::AsyncWrite + Unpin + Send>,
                    )
                }) {
                    let flag = flag.clone();
                    tokio::spawn(async move {
                        use tokio::io::{AsyncReadExt, AsyncWriteExt};
                        let mut buf = vec![0u8; 16 * 1024];
                        while let Ok(n) = r.read(&mut buf).await {
                            if n == 0 {
                                break;
                            }
                            while flag.load(Ordering::SeqCst) {
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                            if w.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    });
                }
            }
        });
        FreezingProxy { addr, frozen }
    }
}

/// The database connection frozen (a proxy stops forwarding): `/health` answers 503 within its
/// deadline, saying the database does not answer, and 200 again once it does.
#[tokio::test]
async fn postgres_a_frozen_database_connection_turns_health_503_with_the_reason() {
    let Some((_cluster, url)) = database("frozen") else {
        return;
    };
    let port: u16 = url
        .rsplit(':')
        .next()
        .and_then(|p| p.split('/').next()?.parse().ok())
        .unwrap();
    let proxy = FreezingProxy::start(([127, 0, 0, 1], port).into()).await;
    let proxied = url.replace(&format!(":{port}/"), &format!(":{}/", proxy.addr.port()));
    let dir = tempdir();
    let mock = spawn_mock(dir.path()).await;
    write_config(dir.path(), SETTINGS);
    let serve = spawn_serve_with(dir.path(), &mock.url, &["--db", &proxied]).await;
    let http = http();
    assert!(health_ok(&http, &serve.url).await);
    proxy
        .frozen
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let mut said = None;
    for _ in 0..40 {
        let r = http
            .get(format!("{}/health", serve.url))
            .send()
            .await
            .unwrap();
        if r.status() == 503 {
            said = Some(r.text().await.unwrap());
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let said = said.expect("/health turned 503 while the database was frozen");
    assert!(said.contains("did not answer"), "{said}");
    assert!(
        !said.contains("sipamo@"),
        "no credentials in the reason: {said}"
    );
    proxy
        .frozen
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let mut back = false;
    for _ in 0..80 {
        if health_ok(&http, &serve.url).await {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(back, "healthy again once the database answers");
}

/// Two processes with one replica id (the default id is the host name, so two on one host
/// collide) would both hold the lease with one token. The second refuses to start, naming the
/// id; the first goes on; once it is `kill -9`ed, a new process with that id starts at once.
#[tokio::test]
async fn postgres_a_second_process_with_the_same_replica_id_refuses_to_start() {
    let Some((_cluster, url)) = database("same_id") else {
        return;
    };
    let dir = tempdir();
    let mock = spawn_mock(dir.path()).await;
    write_config(dir.path(), SETTINGS);
    let args = [
        "--db",
        &url,
        "--replica-id",
        "twin",
        "--lease-s",
        "4",
        "--amocrm-timeout-s",
        "1",
    ];
    let mut first = spawn_serve_with(dir.path(), &mock.url, &args).await;
    // The same command line: serve_args gives --db, then the rest of `args`.
    let mut second_args = serve_args(dir.path(), &mock.url, &url);
    second_args.extend(args[2..].iter().map(|a| a.to_string()));
    let second = tokio::process::Command::new(env!("CARGO_BIN_EXE_sipamo"))
        .args(&second_args)
        .output()
        .await
        .unwrap();
    assert!(
        !second.status.success(),
        "the second process must not start"
    );
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.contains("another process is running as replica \"twin\""),
        "{err}"
    );
    assert!(health_ok(&http(), &first.url).await, "the first goes on");
    first.kill9().await;
    let again = spawn_serve_with(dir.path(), &mock.url, &args).await;
    assert!(
        health_ok(&http(), &again.url).await,
        "the id of a crashed process is free"
    );
}
