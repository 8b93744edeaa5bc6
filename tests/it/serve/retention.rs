//! Retention through the running service: with a 2 s retention, rounds of calls leave nothing
//! behind once they are older than it, the database file stops growing, and an event older
//! than the retention is acknowledged but never stored or handled.

use std::path::Path;
use std::time::Duration;

use crate::serve::app::*;

const ROUNDS: u64 = 4;
const CALLS: usize = 30;

fn rows(db: &Path, table: &str) -> i64 {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

fn file_bytes(db: &Path) -> u64 {
    ["", "-wal"]
        .iter()
        .map(|side| {
            let mut p = db.as_os_str().to_owned();
            p.push(side);
            std::fs::metadata(&p).map_or(0, |m| m.len())
        })
        .sum()
}

/// Waits (at most 15 s) until retention has removed every event and finished call.
async fn pruned(db: &Path) -> bool {
    for _ in 0..150 {
        if rows(db, "events") == 0 && rows(db, "calls_done") == 0 && rows(db, "memory") == 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Calls dated now, in the wire form.
fn fresh_traffic(seed: u64) -> Vec<String> {
    let now = chrono::Utc::now().timestamp();
    sipamo::sim::synth::random_calls(seed, CALLS, 6, 4, now)
        .into_iter()
        .flat_map(|(t, c)| c.events(t))
        .map(|e| e.line)
        .collect()
}

#[tokio::test]
async fn old_calls_are_removed_and_the_database_stays_the_same_size() {
    let dir = tempdir();
    let mock = spawn_mock(dir.path()).await;
    write_config(dir.path(), SETTINGS);
    let serve = spawn_serve_with(
        dir.path(),
        &mock.url,
        &["--retention-s", "2", "--max-call-s", "1"],
    )
    .await;
    let http = http();
    let db = db(dir.path());
    let mut sizes = Vec::new();
    let mut events_seen = 0;
    for round in 0..ROUNDS {
        let events = fresh_traffic(100 + round);
        events_seen += events.len();
        for line in &events {
            post_event(&http, &serve.url, line).await;
        }
        wait_idle(&http, &serve.url).await;
        assert!(rows(&db, "events") > 0, "the round was stored");
        assert!(pruned(&db).await, "round {round}: old rows left behind");
        sizes.push(file_bytes(&db));
    }
    println!("database + WAL bytes after each round: {sizes:?}");
    let m = metrics(&http, &serve.url).await;
    assert_eq!(
        metric(&m, "sipamo_pruned_rows_total{what=\"events\"}"),
        events_seen as f64,
        "{m}"
    );
    assert_eq!(
        metric(&m, "sipamo_calls_handled_total"),
        (ROUNDS as usize * CALLS) as f64
    );
    // Freed pages are reused: after the first round the file does not grow with the rounds.
    let (second, last) = (sizes[1], sizes[sizes.len() - 1]);
    assert!(
        last <= second + second / 4,
        "the database grew from {second} to {last} bytes: {sizes:?}"
    );

    // An event older than the retention: acknowledged, never stored.
    let old = traffic(5, 1).remove(0);
    post_event(&http, &serve.url, &old).await;
    let m = metrics(&http, &serve.url).await;
    assert_eq!(
        metric(&m, "sipamo_events_received_total{result=\"stale\"}"),
        1.0,
        "{m}"
    );
    assert_eq!(rows(&db, "events"), 0);
}
