//! The scenario runner is the production path: a scenario longer than an access token's life
//! refreshes it as `serve` does, and whatever amoCRM does (an outage that never ends, a write
//! refused for good) the run ends with the scenario's verdict, never with an error.

use std::path::PathBuf;

use sipamo::sim::scenario::load::load_file;
use sipamo::sim::scenario::run::{Outcome, RunOptions, run};

async fn run_text(name: &str, yaml: &str) -> Outcome {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join(name);
    std::fs::write(&path, yaml).unwrap();
    let loaded = load_file(&path).unwrap();
    run(&loaded, RunOptions::default()).await
}

/// `sipamo run --report` on one scenario file, as QA runs a storm's reproducer or a `record`
/// file: whether it passed, and the HTML report it wrote beside the file.
pub(crate) fn html_report_of(file: &std::path::Path) -> (bool, String) {
    let report = file.with_extension("html");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_sipamo"))
        .arg("run")
        .arg(file)
        .arg("--report")
        .arg(&report)
        .stdout(std::process::Stdio::null())
        .status()
        .expect("sipamo runs");
    let html = std::fs::read_to_string(&report).expect("the report is written");
    (status.success(), html)
}

const HEAD: &str = r#"
settings: { default_responsible: 1001, users: { "201": 1001 } }
crm: { users: [{ id: 1001, name: Анна }], token_lifetime: 2h }
"#;

/// Each expiry costs one 401 and one refresh, on the first request after it, and the request
/// then goes through with the new token: over 7 hours with 2-hour tokens, three refreshes.
#[tokio::test]
async fn an_expired_token_is_refreshed_on_the_virtual_clock_as_serve_does() {
    let yaml = format!(
        "name: refresh\n{HEAD}steps:\n{}",
        (0..8)
            .map(|h| format!(
                "  - {{ at: {h}h, call: {{ client: \"+7903111223{h}\", answer: \"201\" }} }}\n"
            ))
            .collect::<String>()
    );
    let o = run_text("refresh.yaml", &yaml).await;
    assert!(
        o.passed() && o.error.is_none(),
        "{:?} {:?}",
        o.failures,
        o.error
    );
    let refreshes: Vec<_> = o
        .journal
        .iter()
        .filter(|e| e.path == "/oauth2/access_token")
        .collect();
    assert_eq!(refreshes.len(), 3, "one refresh per expiry (2h, 4h, 6h)");
    assert!(refreshes.iter().all(|e| e.status == 200));
    let refused = o.journal.iter().filter(|e| e.status == 401).count();
    assert_eq!(refused, 3, "each expiry is noticed once, on a 401");
}

/// amoCRM down and never back: the calls stay queued, as `serve` would keep them; the
/// scenario fails saying so, and the run reports no error.
#[tokio::test]
async fn an_outage_that_never_ends_gives_a_verdict_not_an_error() {
    let yaml = format!(
        "name: down for good\n{HEAD}steps:\n  - {{ at: 0s, fault: {{ path: \"/*\", status: 503, for: 1000h }} }}\n  - {{ at: 1m, call: {{ client: \"+79031112233\" }} }}\n  - {{ at: 2m, call: {{ client: \"+79164445566\", answer: \"201\" }} }}\n"
    );
    let o = run_text("down.yaml", &yaml).await;
    assert_eq!(o.error, None, "no error, a verdict");
    assert!(!o.passed());
    assert!(
        o.failures
            .iter()
            .any(|f| f.contains("2 call(s) still queued")),
        "{:#?}",
        o.failures
    );
}

/// A refusal that never ends parks the call at once (a 4xx no retry fixes); the call behind it
/// is handled, and with `expect.parked` the scenario passes.
#[tokio::test]
async fn a_refusal_that_never_ends_parks_the_call_and_the_others_go_on() {
    let yaml = format!(
        "name: refused for good\n{HEAD}steps:\n  - {{ at: 0s, fault: {{ path: /api/v4/tasks, method: POST, status: 400, for: 1000h }} }}\n  - {{ at: 1m, call: {{ client: \"+79031112233\" }} }}\n  - {{ at: 2m, call: {{ client: \"+79164445566\", answer: \"201\" }} }}\nexpect: {{ parked: 1, tasks: 0, notes: [{{ client: \"+79164445566\", call_status: 4 }}] }}\n"
    );
    let o = run_text("refused.yaml", &yaml).await;
    assert!(o.passed(), "{:#?} {:?}", o.failures, o.error);
}

/// Whatever the mock is armed with, for good and on every path (every error status amoCRM
/// answers, and lost answers), the run ends with a verdict: never with an error.
#[tokio::test]
async fn no_amocrm_behaviour_ends_the_run_with_an_error() {
    let faults = [400, 401, 402, 403, 404, 429, 500, 502, 503, 504]
        .map(|s| format!("status: {s}"))
        .into_iter()
        .chain(["hang: true".to_string()]);
    for fault in faults {
        let yaml = format!(
            "name: armed\n{HEAD}steps:\n  - {{ at: 0s, fault: {{ path: \"/*\", {fault}, for: 1000h }} }}\n  - {{ at: 1m, call: {{ client: \"+79031112233\" }} }}\n  - {{ at: 3h, call: {{ client: \"+79164445566\", answer: \"201\" }} }}\n"
        );
        let o = run_text("armed.yaml", &yaml).await;
        assert_eq!(o.error, None, "{fault}: {:#?}", o.failures);
    }
}
