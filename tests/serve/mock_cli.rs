//! The standalone mock's command line: faults armed at start answer as armed, out of process
//! (a 402 "payment required" and a 504 are what an integration meets when the account is
//! unpaid or amoCRM is slow).

use crate::app::*;

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
