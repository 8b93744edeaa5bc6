//! R-ISOLATE: one call amoCRM refuses for good is parked with its reason and the calls behind
//! it go through; an operator sees it (`sipamo calls list`, `/metrics`) and, once the cause is
//! gone, puts it back (`sipamo calls retry`) and it goes through.

use std::time::Duration;

use sipamo::phone::Phone;
use sipamo::sim::synth::{CallSpec, SynthDirection};
use sipamo::sipuni::event::{HangupStatus, ShortNumber};

use crate::serve::app::*;

/// Twelve answered calls from new numbers, a minute apart, in the wire form.
fn twelve_calls() -> Vec<String> {
    (0..12)
        .flat_map(|i| {
            let spec = CallSpec {
                call_id: format!("1772434800.{}", i + 1),
                client: Phone::parse(&format!("+7903111{:04}", i)).unwrap(),
                direction: SynthDirection::Incoming,
                scheme: None,
                ring: vec![ShortNumber::parse("201").unwrap()],
                answer: ShortNumber::parse("201"),
                employee: None,
                answered: true,
                ring_time: 5,
                talk: 30,
                status: HangupStatus::NoAnswer,
                record: false,
                transfer: None,
                mobile: None,
                no_hangup: false,
            };
            spec.events(1_772_434_800 + 60 * i as i64)
        })
        .map(|e| e.line)
        .collect()
}

fn calls_cmd(dir: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sipamo"))
        .arg("calls")
        .args(args)
        .arg("--db")
        .arg(db(dir))
        .output()
        .expect("sipamo calls runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn a_call_amocrm_refuses_is_parked_the_others_go_through_and_retry_brings_it_back() {
    let dir = tempdir();
    let mock = spawn_mock(dir.path()).await;
    write_config(dir.path(), SETTINGS);
    let http = http();
    // The first call's lead is the account's first (id 30000001): its note is refused for good.
    fault(
        &http,
        &mock.url,
        serde_json::json!({ "path": "/api/v4/leads/30000001/notes", "status": 400, "times": 1000 }),
    )
    .await;
    let serve = spawn_serve(dir.path(), &mock.url).await;
    for line in twelve_calls() {
        post_event(&http, &serve.url, &line).await;
    }
    wait_idle(&http, &serve.url).await;
    let pic = picture(&http, &mock.url).await;
    let notes = pic.iter().filter(|l| l.starts_with("note ")).count();
    assert_eq!(
        notes, 11,
        "the eleven calls behind the refused one all reached amoCRM: {pic:#?}"
    );
    let m = metrics(&http, &serve.url).await;
    assert!(m.contains("sipamo_calls_parked 1\n"), "{m}");

    let (ok, listed) = calls_cmd(dir.path(), &["list"]);
    assert!(ok, "{listed}");
    assert!(listed.contains("1772434800.1\t"), "{listed}");
    assert!(
        listed.contains("400"),
        "the reason names amoCRM's answer: {listed}"
    );
    let (ok, shown) = calls_cmd(dir.path(), &["show", "1772434800.1"]);
    assert!(
        ok && shown.contains("parked after 1 attempt(s)") && shown.contains("event=2"),
        "{shown}"
    );

    // The cause is gone: the operator puts the call back and it goes through.
    disarm(&http, &mock.url).await;
    let (ok, out) = calls_cmd(dir.path(), &["retry", "1772434800.1"]);
    assert!(ok, "{out}");
    let (ok, out) = calls_cmd(dir.path(), &["retry", "1772434800.1"]);
    assert!(
        !ok && out.contains("not parked"),
        "a second retry is refused: {out}"
    );
    for _ in 0..100 {
        let m = metrics(&http, &serve.url).await;
        if m.contains("sipamo_calls_parked 0\n") && m.contains("sipamo_calls_handled_total 12\n") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pic = picture(&http, &mock.url).await;
    let notes = pic.iter().filter(|l| l.starts_with("note ")).count();
    assert_eq!(notes, 12, "the retried call went through: {pic:#?}");
    let (_, listed) = calls_cmd(dir.path(), &["list"]);
    assert!(listed.contains("0 parked call(s)"), "{listed}");
}
