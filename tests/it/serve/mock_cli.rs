//! The standalone mock's command line: faults armed at start answer as armed, out of process
//! (a 402 "payment required" and a 504 are what an integration meets when the account is
//! unpaid or amoCRM is slow).

use crate::serve::app::*;

#[tokio::test]
async fn faults_armed_on_the_command_line_answer_as_armed() {
    let mock = spawn(&[
        "mock",
        "--listen",
        "127.0.0.1:0",
        "--token",
        TOKEN,
        "--fault",
        r#"{"path": "/api/v4/tasks", "status": 402, "times": 2}"#,
        "--fault",
        r#"{"path": "/api/v4/users", "method": "GET", "status": 504}"#,
    ])
    .await;
    let http = http();
    let get = |path: &str| {
        http.get(format!("{}{path}", mock.url))
            .bearer_auth(TOKEN)
            .send()
    };
    let mut got = Vec::new();
    for path in [
        "/api/v4/tasks",
        "/api/v4/tasks",
        "/api/v4/tasks",
        "/api/v4/users",
        "/api/v4/users",
    ] {
        got.push(get(path).await.unwrap().status().as_u16());
    }
    assert_eq!(
        got,
        vec![402, 402, 204, 504, 200],
        "the fault is used up; the default account has its owner"
    );
}

/// `--accounts N`: N accounts in one process, each on a port of its own and each its own: a
/// contact created in one is in no other.
#[tokio::test]
async fn many_accounts_in_one_process_are_each_their_own() {
    let dir = tempdir();
    let (_mock, urls) = spawn_mocks(dir.path(), 3).await;
    assert_eq!(urls.len(), 3, "{urls:?}");
    let distinct: std::collections::HashSet<&String> = urls.iter().collect();
    assert_eq!(distinct.len(), 3, "a port each: {urls:?}");
    let http = http();
    let created = http
        .post(format!("{}/api/v4/contacts", urls[1]))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!([{ "name": "Только во втором" }]))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 200);
    let mut counts = Vec::new();
    for url in &urls {
        let r = http
            .get(format!("{url}/api/v4/contacts"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        let body: serde_json::Value = if r.status() == 204 {
            serde_json::Value::Null
        } else {
            r.json().await.unwrap()
        };
        counts.push(body["_embedded"]["contacts"].as_array().map_or(0, |c| {
            c.iter().filter(|c| c["name"] == "Только во втором").count()
        }));
    }
    assert_eq!(
        counts,
        [0, 1, 0],
        "the contact is in the second account alone"
    );
}
