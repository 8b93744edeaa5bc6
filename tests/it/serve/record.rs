//! `sipamo record`: calls handled by the service become a scenario that replays them. The
//! account holds a client the engine must find (a contact with a deal) so the rebuilt `crm:`
//! block matters; the replay must pass and make the very requests the service made, body
//! for body.

use std::path::Path;

use serde_json::Value;

use crate::serve::app::*;

/// An account where one caller is already a client with an active deal.
const KNOWN: &str = r#"
contacts:  [{ id: 5001, name: Иван, phone: "8 (916) 555-00-11", responsible: 1002 }]
leads:     [{ id: 7001, contact: 5001, pipeline: 3001, status: 41, responsible: 1002 }]
"#;

/// What the service sent for its calls: request lines (query decoded) and bodies, in order.
fn service_requests(db: &Path) -> Vec<(String, Option<Value>)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut st = conn
        .prepare("SELECT exchange FROM exchanges WHERE call_id IS NOT NULL ORDER BY id")
        .unwrap();
    let rows: Vec<String> = st
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    rows.iter()
        .map(|text| {
            let x: Value = serde_json::from_str(text).unwrap();
            let query: Vec<String> =
                form_urlencoded::parse(x["query"].as_str().unwrap().as_bytes())
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
            let mut line = format!(
                "{} {}",
                x["method"].as_str().unwrap(),
                x["path"].as_str().unwrap()
            );
            if !query.is_empty() {
                line = format!("{line}?{}", query.join("&"));
            }
            (line, Some(x["request"].clone()).filter(|b| !b.is_null()))
        })
        .collect()
}

/// A missed call from the known client.
fn known_call(call_id: &str, at: i64) -> Vec<String> {
    use sipamo::sim::synth::{CallSpec, SynthDirection};
    use sipamo::sipuni::event::{HangupStatus, ShortNumber};
    let call = CallSpec {
        call_id: call_id.into(),
        client: sipamo::phone::Phone::parse("+79165550011").unwrap(),
        direction: SynthDirection::Incoming,
        scheme: None,
        ring: vec![ShortNumber::parse("201").unwrap()],
        answer: None,
        employee: None,
        answered: false,
        ring_time: 10,
        talk: 0,
        status: HangupStatus::NoAnswer,
        record: false,
        transfer: None,
        mobile: None,
        no_hangup: false,
    };
    call.events(at).into_iter().map(|e| e.line).collect()
}

#[tokio::test]
async fn recorded_calls_replay_as_a_passing_scenario_with_the_same_requests() {
    let dir = tempdir();
    let mock = spawn_mock_with(dir.path(), &format!("{ACCOUNT}{KNOWN}")).await;
    write_config(dir.path(), SETTINGS);
    let serve = spawn_serve_with(dir.path(), &mock.url, &["--retention-s", CENTURY_S]).await;
    let http = http();
    // Stamped as Sipuni stamps them: when they happen.
    let now = chrono::Utc::now().timestamp() - 3600;
    let mut events: Vec<String> = sipamo::sim::synth::random_calls(21, 5, 6, 4, now)
        .into_iter()
        .flat_map(|(t, c)| c.events(t))
        .map(|e| e.line)
        .collect();
    events.extend(known_call("known-1", now + 1800));
    for line in &events {
        post_event(&http, &serve.url, line).await;
    }
    wait_idle(&http, &serve.url).await;

    let out = dir.path().join("recorded.yaml");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_sipamo"))
        .args(["record", "--since", "0", "--db"])
        .arg(db(dir.path()))
        .arg("-o")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let text = std::fs::read_to_string(&out).unwrap();
    if std::env::var_os("SIPAMO_SHOW_RECORDED").is_some() {
        println!("{text}");
    }
    assert!(
        text.contains("id: 5001") && text.contains("id: 7001"),
        "the client and deal are seeded:\n{text}"
    );
    let mode = std::fs::metadata(&out).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );

    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let schema = sipamo::sim::scenario::schema::scenario_schema();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let json = serde_json::to_value(doc).unwrap();
    let wrong: Vec<String> = validator
        .iter_errors(&json)
        .map(|e| e.to_string())
        .collect();
    assert!(
        wrong.is_empty(),
        "the recorded file fits the schema: {wrong:#?}"
    );
    let loaded =
        sipamo::sim::scenario::load::load_file(&out).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let outcome = sipamo::sim::scenario::run::run(&loaded, Default::default()).await;
    assert!(
        outcome.passed(),
        "{}\n{text}",
        sipamo::sim::scenario::report::line(&outcome)
    );
    // The replay's own start-up check (users, pipelines) is not a call's request.
    let replayed: Vec<(String, Option<Value>)> = outcome.journal[2..]
        .iter()
        .map(|e| (e.request_line(), e.body().cloned()))
        .collect();
    let service = service_requests(&db(dir.path()));
    assert!(service.len() > 10, "{service:#?}");
    assert_eq!(replayed, service);
    // QA opens the recorded calls as any scenario: the report shows their requests.
    let (passed, html) = crate::runner::html_report_of(&out);
    assert!(passed, "the recorded file passes under `sipamo run`");
    let shown = html.matches("class=\"moment kind-request").count();
    // The replay's start-up check (users, pipelines) is shown too.
    assert_eq!(
        shown,
        outcome.journal.len(),
        "each request of the replay is on the timeline"
    );
}

#[tokio::test]
async fn record_says_what_is_missing_and_writes_nothing() {
    let dir = tempdir();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_sipamo"))
            .arg("record")
            .args(args)
            .output()
            .unwrap()
    };
    let db = db(dir.path());
    let db = db.to_str().unwrap();
    let out = run(&["--db", db]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--call ID, --phone PHONE or --since"));
    let out = run(&["--db", db, "--since", "0"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such database"));
    let out = run(&["--db", db, "--phone", "call me"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("--phone"));
    assert!(!dir.path().join("sipamo.db").exists(), "nothing created");
}
