//! The accounts' work cannot starve acknowledgements: every connection of the work lane held
//! by workers stuck on the database, and every account's events are still acknowledged at the
//! first try, on the ingest lane, and then handled exactly; and work is found for every account
//! in one statement, not by each idle account polling.

use std::time::{Duration, Instant};

use crate::serve::app::*;
use crate::serve::fleet::{Deployment, leases_held_by};

/// Accounts: twice the work lane's connections, so that workers also queue for them.
const ACCOUNTS: usize = 6;
/// How long the operator's transaction holds the locks (past sipamo's 5 s lock timeout, so
/// that stuck workers time out, are restarted and get stuck again meanwhile).
const LOCKED: Duration = Duration::from_secs(14);

/// `--db-pool 5`: 3 work connections, 1 ingest, 1 listener. An operator's transaction locks
/// every account's `requeued` table (as a long maintenance statement would), and an event to
/// each account wakes its worker, which blocks on the lock holding a work connection: the work
/// lane is exhausted. Events posted then to every account must each be answered 200 at once
/// (with one pool, they waited for a connection and were answered 503).
#[tokio::test]
async fn workers_stuck_on_the_database_do_not_hold_up_acknowledgements() {
    let Some(d) = Deployment::start("fleet_lanes", ACCOUNTS).await else {
        return;
    };
    let r1 = d.replica("r1", &["--db-pool", "5"]).await;
    for _ in 0..100 {
        if leases_held_by(&d).await.get("r1") == Some(&ACCOUNTS) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let calls: Vec<Vec<String>> = (0..ACCOUNTS).map(|i| traffic(500 + i as u64, 2)).collect();
    let locker = lock_every_requeued(&d).await;
    let http = http();
    for (i, events) in calls.iter().enumerate() {
        assert_eq!(
            post_once(&http, &r1.url, &d.secrets[i], &events[0]).await.0,
            200
        );
    }
    // The woken workers take every work connection and block on the lock.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stuck = waiting_on_a_lock(&d.url).await;
    assert!(
        stuck >= 3,
        "the work lane's 3 connections wait on the lock: {stuck}"
    );
    let mut answers = Vec::new();
    for (i, events) in calls.iter().enumerate() {
        for line in &events[1..events.len().min(4)] {
            answers.push(post_once(&http, &r1.url, &d.secrets[i], line).await);
        }
    }
    let refused: Vec<_> = answers.iter().filter(|(code, _)| *code != 200).collect();
    let slowest = answers
        .iter()
        .map(|(_, took)| *took)
        .max()
        .unwrap_or_default();
    eprintln!(
        "with the work lane exhausted: {} answers, slowest {slowest:?}",
        answers.len()
    );
    assert!(refused.is_empty(), "acknowledgements refused: {refused:?}");
    locker.await.unwrap();
    for (i, events) in calls.iter().enumerate() {
        for line in &events[1..] {
            post_event_to(&http, &r1.url, &d.secrets[i], line).await;
        }
    }
    d.wait_all_idle(120).await;
    for (i, events) in calls.iter().enumerate() {
        let want = uninterrupted(SETTINGS, events).await;
        assert_eq!(picture(&http, &d.mocks[i].url).await, want, "account {i}");
    }
}

/// Locks the `requeued` table (every account's rows) for [`LOCKED`]; returns once the lock is
/// held.
async fn lock_every_requeued(d: &Deployment) -> tokio::task::JoinHandle<()> {
    let url = d.url.clone();
    let (held, holding) = tokio::sync::oneshot::channel();
    let locker = tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let mut t = c.transaction().unwrap();
        t.batch_execute("LOCK TABLE requeued IN ACCESS EXCLUSIVE MODE")
            .unwrap();
        let _ = held.send(());
        std::thread::sleep(LOCKED);
        t.commit().unwrap();
    });
    holding.await.unwrap();
    locker
}

/// The replica's connections waiting on a lock now.
async fn waiting_on_a_lock(url: &str) -> i64 {
    let url = url.to_string();
    tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.query_one(
            "SELECT COUNT(*) FROM pg_stat_activity
              WHERE application_name = 'sipamo r1' AND wait_event_type = 'Lock'",
            &[],
        )
        .unwrap()
        .get(0)
    })
    .await
    .unwrap()
}

/// Posts `line` once: the status and how long the answer took.
async fn post_once(
    http: &reqwest::Client,
    serve: &str,
    secret: &str,
    line: &str,
) -> (u16, Duration) {
    let started = Instant::now();
    let code = http
        .post(format!("{serve}/sipuni/events/{secret}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(line.to_string())
        .send()
        .await
        .map_or(0, |r| r.status().as_u16());
    (code, started.elapsed())
}

/// An event stored without its notification (the listening connection down at that moment)
/// is still worked within seconds: the replica looks for the accounts with untaken events
/// every second, in one statement, rather than each idle account polling its own inbox (which
/// it does only every five minutes, as the last safety net). The call's events are written
/// straight into the inbox with no `NOTIFY`, after the replica has settled into idling.
#[tokio::test]
async fn events_stored_without_a_notification_are_found_within_seconds() {
    let Some(d) = Deployment::start("fleet_find", 2).await else {
        return;
    };
    let _r1 = d.replica("r1", &[]).await;
    for _ in 0..100 {
        if leases_held_by(&d).await.get("r1") == Some(&2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let events = traffic(11, 1);
    let (url, name, lines) = (d.url.clone(), d.names[1].clone(), events.clone());
    tokio::task::spawn_blocking(move || store_quietly(&url, &name, &lines))
        .await
        .unwrap();
    let since = Instant::now();
    while !d.idle(1).await {
        assert!(
            since.elapsed() < Duration::from_secs(30),
            "the quietly stored call was not handled within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("quietly stored call handled after {:?}", since.elapsed());
    let want = uninterrupted(SETTINGS, &events).await;
    assert_eq!(picture(&http(), &d.mocks[1].url).await, want);
}

/// Writes `lines` into account `name`'s inbox as the receiver would, but without the
/// notification that wakes the worker.
fn store_quietly(url: &str, name: &str, lines: &[String]) {
    let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
    for (i, line) in lines.iter().enumerate() {
        let call_id = line
            .split('&')
            .find_map(|kv| kv.strip_prefix("call_id="))
            .unwrap();
        c.execute(
            "INSERT INTO events (account, call_id, fingerprint, raw, received_ms)
             VALUES ($1, $2, $3, $4, (extract(epoch from clock_timestamp()) * 1000)::bigint)",
            &[&name, &call_id, &format!("quiet-{i}"), line],
        )
        .unwrap();
    }
}
