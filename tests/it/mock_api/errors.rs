use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use sipamo::sim::mock::{any, fail, post};

use crate::mock_api::helpers::*;

#[tokio::test]
async fn a_missing_or_wrong_token_gets_401_problem_json() {
    let t = spawn_mock().await;
    for token in [None, Some("wrong")] {
        let a = t.send_as(Method::GET, "/api/v4/account", None, token).await;
        assert_eq!(a.status, 401);
        assert_eq!(a.content_type, "application/problem+json");
        assert_eq!(a.json()["status"], 401);
    }
}

#[tokio::test]
async fn an_unknown_route_gets_404_problem_json() {
    let t = spawn_mock().await;
    let a = t.get("/api/v4/widgets").await;
    assert_eq!(a.status, 404);
    assert_eq!(a.json()["title"], "Not Found");
}

/// Source: amoCRM API v4 «Коды ошибок» (errors): a known path asked with another method
/// answers 405, e.g. decline sent as POST (it is DELETE in «Неразобранное»).
#[tokio::test]
async fn a_known_path_with_the_wrong_method_gets_405() {
    let t = spawn_mock().await;
    let (uid, _, _) = t.create_unsorted("+79035559999", "call-405", 1001).await;
    for (method, path) in [
        (
            Method::POST,
            format!("/api/v4/leads/unsorted/{uid}/decline"),
        ),
        (Method::DELETE, "/api/v4/account".to_string()),
        (Method::GET, "/api/v4/leads/complex".to_string()),
        (Method::PUT, "/api/v4/leads/7001".to_string()),
        (Method::GET, "/api/v4/calls".to_string()),
        (Method::GET, "/api/v4/contacts/5001/link".to_string()),
    ] {
        let a = t.send(method.clone(), &path, Some(json!([{}]))).await;
        assert_eq!(a.status, 405, "{method} {path}: {}", a.text);
    }
    let st = t.get("/api/v4/leads/pipelines/3001/statuses/41").await;
    assert_eq!(st.json()["name"], "Первичный контакт");
}

#[tokio::test]
async fn a_rejected_batch_names_every_bad_path_and_changes_nothing() {
    let t = spawn_mock().await;
    let before = t.mock.snapshot();
    let a = t
        .post("/api/v4/leads", json!([
            { "name": "ok", "pipeline_id": 3001 },
            { "name": "bad", "pipeline_id": 9999, "responsible_user_id": 77, "_embedded": { "contacts": [{ "id": 123 }] } }
        ]))
        .await;
    assert_eq!(a.status, 400);
    let body = a.json();
    assert_eq!(body["detail"], "Request validation failed");
    let group = &body["validation-errors"][0];
    assert_eq!(group["request_id"], "1");
    let paths: Vec<&str> = group["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        vec![
            "_embedded.contacts.0.id",
            "responsible_user_id",
            "pipeline_id"
        ]
    );
    let after = t.mock.snapshot();
    assert_eq!(
        before.leads.len(),
        after.leads.len(),
        "the valid item was not created either"
    );
}

#[tokio::test]
async fn bodies_of_the_wrong_shape_are_refused() {
    let t = spawn_mock().await;
    let not_array = t.post("/api/v4/contacts", json!({ "name": "x" })).await;
    assert_eq!(not_array.status, 400);
    let wrong_type = t
        .post(
            "/api/v4/contacts",
            json!([{ "name": 5, "responsible_user_id": "1001" }]),
        )
        .await;
    let paths: Vec<String> = wrong_type.json()["validation-errors"][0]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(paths, vec!["name", "responsible_user_id"]);
    let bad_status = t
        .post(
            "/api/v4/leads",
            json!([{ "pipeline_id": 3001, "status_id": 50 }]),
        )
        .await;
    assert_eq!(
        bad_status.json()["validation-errors"][0]["errors"][0]["path"],
        "status_id"
    );
    let raw = t
        .http
        .post(format!("{}/api/v4/tasks", t.mock.uri()))
        .bearer_auth(t.mock.token())
        .header("content-type", "application/json")
        .body("[{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
}

#[tokio::test]
async fn limits_over_250_are_refused() {
    let t = spawn_mock().await;
    assert_eq!(t.get("/api/v4/leads?limit=251").await.status, 400);
    let many: Vec<_> = (0..251)
        .map(|i| json!({ "name": format!("L{i}") }))
        .collect();
    let a = t
        .post("/api/v4/leads", serde_json::Value::Array(many))
        .await;
    // Kommo developer docs, "HTTP codes": more than 250 in one request → 422 "Limit 250 per page".
    assert_eq!(a.status, 422);
    assert_eq!(a.json()["detail"], "Limit 250 per page");
    assert_eq!(t.mock.with_state(|s| s.leads.len()), 1);
}

/// Kommo developer docs, "HTTP codes": a write without data is 400 "Request data can not be
/// empty", with no `validation-errors` (the official PHP library, `Client/AmoCRMApiRequest.php`,
/// then raises AmoCRMApiException, not ErrorResponseException).
#[tokio::test]
async fn a_write_without_data_is_refused_as_amocrm_refuses_it() {
    let t = spawn_mock().await;
    for body in [None, Some(json!([]))] {
        let a = t
            .send(reqwest::Method::POST, "/api/v4/contacts", body)
            .await;
        assert_eq!(a.status, 400);
        let b = a.json();
        assert_eq!(b["detail"], "Request data can not be empty");
        assert!(b.get("validation-errors").is_none(), "{b}");
    }
}

#[tokio::test]
async fn the_rate_limit_answers_429_past_n_requests_in_a_second() {
    let t = spawn_mock_with(|o| sipamo::sim::mock::MockOptions {
        rate_limit: Some(7),
        ..o
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..9 {
        statuses.push(t.get("/api/v4/account").await.status.as_u16());
    }
    assert_eq!(statuses, vec![200, 200, 200, 200, 200, 200, 200, 429, 429]);
    // amoCRM's 429 carries a problem body with `retry_after` (Kommo developer docs, "HTTP
    // codes": `{"title":"Too Many Requests",…,"retry_after":…}`).
    let refused = t.get("/api/v4/account").await;
    assert_eq!(refused.status, 429);
    let body = refused.json();
    assert_eq!(body["status"], 429);
    assert_eq!(body["title"], "Too Many Requests");
    assert!(body["retry_after"].is_u64(), "{body}");
    t.clock.advance_to((START + 1) * 1000);
    assert_eq!(
        t.get("/api/v4/account").await.status,
        200,
        "a new second, a new window"
    );
}

/// amoCRM blocks a client that keeps exceeding the limit: every request then gets 403 (Kommo
/// developer docs, "Limitations": repeated violations → 403 on any request). The numbers are
/// the mock's: amoCRM publishes none.
#[tokio::test]
async fn repeated_violations_lock_the_client_out_with_403_for_a_while() {
    let t = spawn_mock_with(|o| sipamo::sim::mock::MockOptions {
        rate_limit: Some(7),
        lockout: Some(sipamo::sim::mock::Lockout {
            after: 3,
            for_ms: 60_000,
        }),
        ..o
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..11 {
        statuses.push(t.get("/api/v4/account").await.status.as_u16());
    }
    assert_eq!(statuses[7..], [429, 429, 429, 403]);
    t.clock.advance_to((START + 30) * 1000);
    assert_eq!(t.get("/api/v4/users").await.status, 403, "still locked out");
    t.clock.advance_to((START + 61) * 1000);
    assert_eq!(
        t.get("/api/v4/users").await.status,
        200,
        "the lock-out ends"
    );
}

#[tokio::test]
async fn a_status_fault_fails_the_next_matching_requests_without_touching_state() {
    let t = spawn_mock().await;
    t.mock
        .arm(&fail(post("/api/v4/contacts")).status(503).times(2))
        .unwrap();
    assert_eq!(
        t.get("/api/v4/contacts?query=79161234567").await.status,
        200,
        "GET does not match"
    );
    let body = json!([{ "name": "x", "custom_fields_values": [phone_field("+79030000001")] }]);
    assert_eq!(t.post("/api/v4/contacts", body.clone()).await.status, 503);
    assert_eq!(t.post("/api/v4/contacts", body.clone()).await.status, 503);
    assert_eq!(
        t.get("/api/v4/contacts?query=79030000001").await.status,
        204
    );
    assert_eq!(t.post("/api/v4/contacts", body).await.status, 200);
}

/// The standalone mock (on the system clock) really holds the answer back.
#[tokio::test]
async fn a_hang_fault_applies_the_write_but_the_answer_never_arrives() {
    let t = spawn_mock_with(|o| sipamo::sim::mock::MockOptions {
        hang_for: Duration::from_secs(5),
        clock: sipamo::clock::Clock::System,
        ..o
    })
    .await;
    t.mock.arm(&fail(any("/api/v4/contacts")).hang()).unwrap();
    let result = t
        .http
        .post(format!("{}/api/v4/contacts", t.mock.uri()))
        .bearer_auth(t.mock.token())
        .timeout(Duration::from_millis(200))
        .json(&json!([{ "name": "x", "custom_fields_values": [phone_field("+79030000002")] }]))
        .send()
        .await;
    assert!(result.is_err_and(|e| e.is_timeout()));
    assert_eq!(
        t.get("/api/v4/contacts?query=79030000002").await.status,
        200,
        "the write was applied"
    );
    assert!(t.mock.journal().iter().any(|e| e.hung));
}

/// On a virtual clock nothing waits in real time: the write is applied and the answer comes at
/// once, marked lost, for a client on the same clock to take as its timeout.
#[tokio::test]
async fn on_a_virtual_clock_a_hang_marks_the_answer_lost_instead_of_waiting() {
    let t = spawn_mock_with(|o| sipamo::sim::mock::MockOptions {
        hang_for: Duration::from_secs(3600),
        ..o
    })
    .await;
    t.mock.arm(&fail(any("/api/v4/contacts")).hang()).unwrap();
    let answer = t
        .http
        .post(format!("{}/api/v4/contacts", t.mock.uri()))
        .bearer_auth(t.mock.token())
        .timeout(Duration::from_secs(10))
        .json(&json!([{ "name": "x", "custom_fields_values": [phone_field("+79030000005")] }]))
        .send()
        .await
        .expect("answered at once, not after an hour");
    assert_eq!(answer.headers()["x-sipamo-answer-lost"], "1");
    assert_eq!(
        t.get("/api/v4/contacts?query=79030000005").await.status,
        200,
        "the write was applied"
    );
    assert!(t.mock.journal().iter().any(|e| e.hung));
}

#[tokio::test]
async fn the_journal_is_identical_for_identical_requests() {
    async fn one_run() -> String {
        let t = spawn_mock().await;
        t.create_contact("+79030000003", 1001).await;
        t.clock.advance_to((START + 61) * 1000);
        t.get("/api/v4/contacts?query=79030000003&with=leads").await;
        t.create_unsorted("+79030000004", "c9", 1002).await;
        sipamo::sim::mock::journal::to_yaml(&t.mock.journal(), START * 1000)
    }
    let (a, b) = (one_run().await, one_run().await);
    assert_eq!(a, b);
    assert!(a.contains("t: +01:01.000"), "{a}");
}
