//! R-CFG-1, R-CFG-2, R-INT, and bad input.

use sipamo::sipuni::event::CallEvent;

use crate::engine::app::*;

#[tokio::test]
async fn r_cfg_1_a_deal_without_a_contact_is_refused_before_anything_runs() {
    let e = try_spawn(
        "incoming: { unknown: { create_contact: false, create_lead: true } }",
        "",
    )
    .await
    .err()
    .expect("refused");
    assert!(
        e.to_string().contains("incoming.unknown.create_lead"),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("Создавать сделку без контакта нельзя"),
        "{e}"
    );
}

#[tokio::test]
async fn r_cfg_2_missing_users_pipelines_and_statuses_are_named() {
    let e = try_spawn("pipeline: { id: 3001, status: 77 }\nschemes: { \"7\": { pipeline: 9999, missed_responsible: 4242 } }", "").await.err().expect("refused");
    let text = e.to_string();
    for needle in [
        "status 77 is not in pipeline 3001",
        "pipeline 9999 does not exist",
        "user 4242 does not exist",
    ] {
        assert!(text.contains(needle), "{needle:?} not in {text}");
    }
}

#[tokio::test]
async fn r_cfg_2_is_checked_over_http_and_nothing_else_is_sent() {
    let app = spawn_app("", "").await;
    let paths: Vec<String> = app
        .mock
        .journal()
        .iter()
        .map(|e| e.request_line())
        .collect();
    assert_eq!(
        paths,
        vec![
            "GET /api/v4/users?page=1&limit=250",
            "GET /api/v4/leads/pipelines"
        ]
    );
}

#[tokio::test]
async fn r_int_a_call_between_employees_sends_no_request() {
    let mut app = spawn_app("", "").await;
    let before = app.mock.journal_len();
    for raw in [
        "event=1&call_id=int1&src_num=015856201&src_type=2&short_src_num=201&dst_num=015856202&dst_type=2&short_dst_num=202&timestamp=1772434800&is_inner_call=1",
        "event=2&call_id=int1&src_num=015856201&src_type=2&short_src_num=201&dst_num=015856202&dst_type=2&short_dst_num=202&timestamp=1772434830&status=ANSWER&call_start_timestamp=1772434800&call_answer_timestamp=1772434805",
    ] {
        app.engine
            .ingest(CallEvent::parse(raw).unwrap())
            .await
            .unwrap();
    }
    let handled = app.engine.settle(true).await.unwrap();
    assert!(matches!(
        handled.as_slice(),
        [sipamo::engine::Handled::Internal { .. }]
    ));
    assert_eq!(app.mock.journal_len(), before);
}

#[tokio::test]
async fn r_fail_a_malformed_event_is_refused_clearly_and_changes_nothing() {
    let app = spawn_app("", "").await;
    let before = app.state();
    let e = CallEvent::parse("event=2&call_id=x&src_num=79161234567&src_type=9&dst_num=015856201&dst_type=2&timestamp=1772434800&status=ANSWER").unwrap_err();
    assert_eq!(e.field(), Some("src_type"));
    assert!(
        e.to_string()
            .contains("expected 1 (external) or 2 (internal)")
    );
    assert_eq!(app.state().contacts.len(), before.contacts.len());
    assert_eq!(app.mock.journal_len(), 2, "only the start-up check");
}
