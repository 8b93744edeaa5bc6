//! amoCRM down for a while: `serve` keeps the events, keeps retrying, and when amoCRM is back
//! every call goes through once, in order.

use std::time::Duration;

use sipamo::amocrm::client::RetryPolicy;
use sipamo::server::{Application, ServeConfig};
use sipamo::sim::mock::{CrmSeed, MockCrm, MockOptions, any, fail};
use sipamo::sim::synth::random_calls;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_wait_out_an_amocrm_outage_and_go_through_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let state = CrmSeed::from_yaml("users: [{ id: 1001, name: Анна }]")
        .unwrap()
        .build(0)
        .unwrap();
    let mock = MockCrm::start(MockOptions {
        state,
        ..MockOptions::default()
    })
    .await;
    // amoCRM answers 503 to the next 12 searches, deal creations and tasks.
    for path in ["/api/v4/contacts", "/api/v4/leads/complex", "/api/v4/tasks"] {
        mock.arm(&fail(any(path)).status(503).times(12)).unwrap();
    }
    let cfg = config(dir.path(), &mock);
    let app = Application::build(&cfg).await.unwrap();
    let url = format!("http://{}", app.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    let http = sipamo::http::client();
    let calls = random_calls(3, 4, 4, 3, 1_772_434_800);
    for (t, c) in &calls {
        for e in c.events(*t) {
            let r = http
                .post(format!("{url}/sipuni/events/outage-secret-0123456789"))
                .body(e.line)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "acknowledged although amoCRM is down");
        }
    }
    let (handled, stuck_seen) = wait_handled(&http, &url, 4.0).await;
    // While calls waited on the outage /health said so, with amoCRM's answer as the reason.
    let stuck = stuck_seen.expect("/health answered 503 while the oldest ready call waited");
    assert!(stuck.contains("waited") && stuck.contains("503"), "{stuck}");
    let health = http.get(format!("{url}/health")).send().await.unwrap();
    assert_eq!(
        health.status(),
        200,
        "healthy again once the calls went through"
    );
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    assert_eq!(handled, 4.0, "every call went through after the outage");
    let journal = mock.journal();
    assert!(
        journal
            .iter()
            .filter(|e| e.status == 503 && e.path == "/api/v4/contacts")
            .count()
            == 12,
        "the outage was real: every search failed 12 times in a row"
    );
    // Each call searched its phone once successfully and never wrote twice.
    let s = mock.snapshot();
    let notes_per_call = s
        .notes
        .values()
        .fold(std::collections::HashMap::new(), |mut m, n| {
            *m.entry(n.params["uniq"].as_str().unwrap_or("").to_string())
                .or_insert(0) += 1;
            m
        });
    assert!(
        notes_per_call.values().all(|n| *n == 1),
        "one note per call: {notes_per_call:?}"
    );
    assert_searched_in_order(&journal, &calls);
}

/// The service's configuration: short pauses so that the outage passes in seconds.
fn config(dir: &std::path::Path, mock: &MockCrm) -> ServeConfig {
    std::fs::write(
        dir.join("settings.yaml"),
        "default_responsible: 1001\nusers: { \"201\": 1001, \"202\": 1001, \"203\": 1001 }\n",
    )
    .unwrap();
    std::fs::write(dir.join("token"), mock.token()).unwrap();
    std::fs::write(dir.join("secret"), "outage-secret-0123456789").unwrap();
    ServeConfig {
        settings: dir.join("settings.yaml"),
        amocrm: mock.uri(),
        token_file: dir.join("token"),
        secret_file: dir.join("secret"),
        listen: "127.0.0.1:0".parse().unwrap(),
        db: sipamo::server::store::DbUrl::Sqlite(dir.join("o.db")),
        settle: Duration::from_millis(50),
        rate_per_second: 100,
        retry: RetryPolicy {
            max_times: 2,
            min_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(40),
            jitter_seed: Some(1),
        },
        tick: Duration::from_millis(20),
        park_after: 60,
        stuck_after: Duration::from_millis(200),
        max_call: Duration::from_secs(4 * 3600),
        shutdown_grace: Duration::from_secs(10),
        limits: Default::default(),
        // The synthetic traffic is dated March 2026: a century's retention keeps it fresh.
        retention: Duration::from_secs(100 * 365 * 86_400),
        amocrm_timeout: Duration::from_secs(20),
        lease: Duration::from_secs(60),
        replica_id: "test".into(),
    }
}

/// Polls `/metrics` until `want` calls are handled (at most 60 s: a call's outage on a task
/// costs its look-ups too, each after a growing pause); answers the calls handled
/// and the first 503 `/health` gave meanwhile.
async fn wait_handled(http: &reqwest::Client, url: &str, want: f64) -> (f64, Option<String>) {
    let mut handled = 0.0;
    let mut stuck_seen = None;
    for _ in 0..1200 {
        let health = http.get(format!("{url}/health")).send().await.unwrap();
        if health.status() == 503 && stuck_seen.is_none() {
            stuck_seen = Some(health.text().await.unwrap());
        }
        let m = http
            .get(format!("{url}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        handled = m
            .lines()
            .find(|l| l.starts_with("sipamo_calls_handled_total"))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0.0);
        if handled >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (handled, stuck_seen)
}

/// The calls' first successful searches follow the calls' order.
fn assert_searched_in_order(
    journal: &[sipamo::sim::mock::journal::JournalEntry],
    calls: &[(i64, sipamo::sim::synth::CallSpec)],
) {
    let order: Vec<String> = journal
        .iter()
        .filter(|e| e.status != 503 && e.path == "/api/v4/contacts" && e.method == "GET")
        .map(|e| {
            e.query
                .iter()
                .find(|(k, _)| k == "query")
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        })
        .collect();
    // Two calls in a row from one client search the same phone: one run of that query.
    let mut expected: Vec<String> = calls
        .iter()
        .map(|(_, c)| c.client.key().to_string())
        .collect();
    expected.dedup();
    let mut firsts: Vec<String> = Vec::new();
    for q in order {
        if firsts.last() != Some(&q) {
            firsts.push(q);
        }
    }
    assert_eq!(
        &firsts[..expected.len().min(firsts.len())],
        &expected[..],
        "calls handled in arrival order"
    );
}
