use std::time::Duration;

use fake::Fake;
use fake::rand::SeedableRng;
use fake::rand::rngs::StdRng;

use crate::serve::app::*;

#[tokio::test]
async fn kill_9_at_random_points_loses_nothing_and_doubles_nothing() {
    let events = traffic(23, 20);
    let want = uninterrupted(SETTINGS, &events).await;
    assert!(
        want.iter().filter(|l| l.starts_with("note ")).count() >= 10,
        "a reference worth comparing: {want:#?}"
    );

    let dir = tempdir();
    let mock = spawn_mock(dir.path()).await;
    write_config(dir.path(), SETTINGS);
    let http = http();
    let mut rng = StdRng::seed_from_u64(5);
    let mut serve = spawn_serve(dir.path(), &mock.url).await;
    let mut kills = 0;
    for (i, line) in events.iter().enumerate() {
        post_event(&http, &serve.url, line).await;
        // About one event in four: let the worker run for a random moment, then kill -9.
        if (0..4u32).fake_with_rng::<u32, _>(&mut rng) == 0 || i + 1 == events.len() {
            let pause: u64 = (0..120u64).fake_with_rng(&mut rng);
            tokio::time::sleep(Duration::from_millis(pause)).await;
            serve.kill9().await;
            kills += 1;
            serve = spawn_serve(dir.path(), &mock.url).await;
        }
    }
    wait_idle(&http, &serve.url).await;
    let got = picture(&http, &mock.url).await;
    assert!(kills >= 10, "only {kills} kill points");
    eprintln!("kill -9 points tried: {kills}");
    assert_eq!(got, want);
}

/// Settings of the three Unsorted modes, as the service reads them.
fn settings_for(mode: &str) -> String {
    format!("{SETTINGS}  unknown: {{ mode: {mode} }}\n").replace(
        "incoming: { missed: { task_deadline: 600 } }\n  unknown",
        "incoming:\n  missed: { task_deadline: 600 }\n  unknown",
    )
}

/// Lines of `a` missing from `b`, counting repeats.
fn missing(a: &[String], b: &[String]) -> Vec<String> {
    let mut rest = b.to_vec();
    a.iter()
        .filter(|l| match rest.iter().position(|r| r == *l) {
            Some(i) => {
                rest.remove(i);
                false
            }
            None => true,
        })
        .cloned()
        .collect()
}

/// The service is idle: by its gauges with SQLite, by the database with PostgreSQL.
async fn idle(http: &reqwest::Client, serve: &str, db: Option<&str>) -> bool {
    match db {
        Some(url) => health_ok(http, serve).await && pg_idle(url).await,
        None => is_idle(http, serve).await,
    }
}

/// Posts the events, pausing past the settle window after each hangup, so that every call is
/// due before the next event arrives. Which of two overlapping calls of one phone the service
/// works on first depends on when their events arrive; spacing them makes the order, and so the
/// uninterrupted run's account, the same on a loaded machine as on an idle one.
async fn post_spaced(http: &reqwest::Client, serve: &str, events: &[String]) {
    for line in events {
        post_event(http, serve, line).await;
        if line.starts_with("event=2&") {
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }
}

/// What one kill loop saw.
pub(crate) struct KillRun {
    pub(crate) kills: usize,
    /// Lines of the uninterrupted run's account missing after the kills.
    pub(crate) lost: Vec<String>,
    /// Lines present after the kills that the uninterrupted run does not have.
    pub(crate) duplicated: Vec<String>,
}

impl KillRun {
    /// Says what the run saw, and checks it reached `min_kills` kill points with nothing lost
    /// and nothing duplicated.
    pub(crate) fn assert_exact(&self, label: &str, min_kills: usize) {
        eprintln!(
            "{label}: {} kills right after a write, {} lost, {} duplicated",
            self.kills,
            self.lost.len(),
            self.duplicated.len()
        );
        assert!(
            self.kills >= min_kills,
            "{label}: only {} kill points",
            self.kills
        );
        assert!(
            self.lost.is_empty() && self.duplicated.is_empty(),
            "{label}: lost {:#?}, duplicated {:#?}",
            self.lost,
            self.duplicated
        );
    }
}

/// Posts a day of calls, then kills the service with `kill -9` right after each amoCRM write
/// is applied and before its answer reaches the service (the mock holds the answer of the next
/// POST and reports it), restarting it each time, until the calls are worked off or
/// `max_kills` is reached; then compares the account with an uninterrupted run's.
pub(crate) async fn kill_at_every_write(
    mode: &str,
    seed: u64,
    calls: usize,
    max_kills: usize,
    db: Option<&str>,
) -> KillRun {
    let extra: Vec<&str> = db.map(|u| vec!["--db", u]).unwrap_or_default();
    let settings = settings_for(mode);
    let events = traffic(seed, calls);
    let want = {
        let dir = tempdir();
        let mock = spawn_mock(dir.path()).await;
        write_config(dir.path(), &settings);
        let serve = spawn_serve(dir.path(), &mock.url).await;
        let http = http();
        post_spaced(&http, &serve.url, &events).await;
        wait_idle(&http, &serve.url).await;
        picture(&http, &mock.url).await
    };
    let dir = tempdir();
    let mock = spawn_mock(dir.path()).await;
    write_config(dir.path(), &settings);
    let http = http();
    // While the day is posted, amoCRM refuses every write (503: nothing applied), so that the
    // whole day is left for the kills however long the posting takes.
    let mut serve = spawn_serve_with(dir.path(), &mock.url, &extra).await;
    fault(
        &http,
        &mock.url,
        serde_json::json!({ "path": "/api/v4/*", "method": "POST", "status": 503, "times": 1_000_000 }),
    )
    .await;
    post_spaced(&http, &serve.url, &events).await;
    serve.kill9().await;
    disarm(&http, &mock.url).await;
    let mut seen = hung(&http, &mock.url).await;
    arm_next_write(&http, &mock.url).await;
    serve = spawn_serve_with(dir.path(), &mock.url, &extra).await;
    let mut kills = 0;
    while kills < max_kills {
        // Wait for the armed write to be applied (its answer held back), then kill there.
        let mut applied = false;
        for i in 0..3000 {
            let now = hung(&http, &mock.url).await;
            if now > seen {
                seen = now;
                applied = true;
                break;
            }
            // Nothing left to write: the service is up, with nothing queued or open.
            if i % 20 == 19 && idle(&http, &serve.url, db).await {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if !applied {
            break; // nothing left to write
        }
        serve.kill9().await;
        kills += 1;
        // Every kill lands after a write amoCRM applied; far more kills than writes means the
        // same write is being sent again and again.
        assert!(
            kills <= 10 * calls + 50,
            "{mode}: {kills} kills for {calls} calls; the last requests: {:#?}",
            summary(&http, &mock.url).await["last"]
        );
        arm_next_write(&http, &mock.url).await;
        serve = spawn_serve_with(dir.path(), &mock.url, &extra).await;
    }
    disarm(&http, &mock.url).await;
    match db {
        Some(url) => wait_pg_idle(url).await,
        None => wait_idle(&http, &serve.url).await,
    }
    let got = picture(&http, &mock.url).await;
    if std::env::var("SIPAMO_KILL_DEBUG").is_ok() {
        println!("want:\n{}\ngot:\n{}", want.join("\n"), got.join("\n"));
    }
    KillRun {
        kills,
        lost: missing(&want, &got),
        duplicated: missing(&got, &want),
    }
}

#[tokio::test]
async fn kill_9_right_after_each_amocrm_write_loses_nothing_and_doubles_nothing() {
    for (mode, seed) in [
        ("immediate", 31),
        ("unsorted", 32),
        ("unsorted_accept_on_answer", 33),
    ] {
        kill_at_every_write(mode, seed, 8, 40, None)
            .await
            .assert_exact(mode, 10);
    }
}

/// The full loop behind the crash figures of docs/operations.md (about 1,000 kill points):
/// `SIPAMO_KILL_CALLS=120 cargo test --release --test it -- --ignored --nocapture kill_loop`.
#[tokio::test]
#[ignore = "minutes long; run by hand for the figures of docs/operations.md"]
async fn kill_loop() {
    let calls: usize = std::env::var("SIPAMO_KILL_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(120);
    let (mut kills, mut lost, mut duplicated) = (0, 0, 0);
    let only = std::env::var("SIPAMO_KILL_MODE").ok();
    for (mode, seed) in [
        ("immediate", 41),
        ("unsorted", 42),
        ("unsorted_accept_on_answer", 43),
    ] {
        if only.as_deref().is_some_and(|m| m != mode) {
            continue;
        }
        let started = std::time::Instant::now();
        let run = kill_at_every_write(mode, seed, calls, 10_000, None).await;
        println!(
            "{mode}: {calls} calls, {} kills right after a write, {} lost, {} duplicated ({:.0} s)",
            run.kills,
            run.lost.len(),
            run.duplicated.len(),
            started.elapsed().as_secs_f64()
        );
        if !run.lost.is_empty() || !run.duplicated.is_empty() {
            println!("  lost {:#?}\n  duplicated {:#?}", run.lost, run.duplicated);
        }
        kills += run.kills;
        lost += run.lost.len();
        duplicated += run.duplicated.len();
    }
    println!("total: {kills} kill points, {lost} lost, {duplicated} duplicated");
    assert_eq!((lost, duplicated), (0, 0));
}
