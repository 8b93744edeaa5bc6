//! SIGTERM stops the service within a bound whatever it is doing: a backlog of calls, amoCRM
//! down, a client that never finishes its request. The work in hand is left safely (its intents
//! are saved) and goes through after the next start.

use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::serve::app::*;

#[tokio::test]
async fn sigterm_with_a_backlog_finishes_the_request_in_hand_then_exits() {
    let dir = tempdir();
    let mock = spawn_mock(dir.path()).await;
    write_config(dir.path(), SETTINGS);
    let events = traffic(61, 60);
    let http = http();
    // Two amoCRM requests a second: 60 calls are minutes of work.
    let mut serve = spawn_serve_with(dir.path(), &mock.url, &["--rate-per-second", "2"]).await;
    for line in &events {
        post_event(&http, &serve.url, line).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = metric(
        &metrics(&http, &serve.url).await,
        "sipamo_calls_handled_total",
    );
    let took = serve.sigterm().await;
    assert!(took < Duration::from_secs(3), "exited after {took:?}");
    // What the first process finished, read from its database once it is gone: at most the
    // call in hand at the signal, and one that ended between reading `before` and the signal.
    let done_at_exit: f64 = rusqlite::Connection::open(db(dir.path()))
        .unwrap()
        .query_row("SELECT COUNT(*) FROM calls_done", [], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap() as f64;
    assert!(
        before < 10.0,
        "a backlog was left at the signal: {before} handled"
    );
    assert!(
        done_at_exit <= before + 2.0,
        "no further call was started after the signal: {before} handled before it, {done_at_exit} at exit"
    );
    // The rest waits for the next start, and is handled there once.
    let serve = spawn_serve(dir.path(), &mock.url).await;
    wait_idle(&http, &serve.url).await;
    let after = metric(
        &metrics(&http, &serve.url).await,
        "sipamo_calls_handled_total",
    );
    assert_eq!(after, 60.0 - done_at_exit, "the rest after the restart");
    let got = picture(&http, &mock.url).await;
    assert_eq!(
        got,
        uninterrupted(SETTINGS, &events).await,
        "every call once"
    );
}

#[tokio::test]
async fn sigterm_with_amocrm_down_exits_within_the_grace() {
    let dir = tempdir();
    let mock = spawn_mock(dir.path()).await;
    write_config(dir.path(), SETTINGS);
    let http = http();
    let mut serve = spawn_serve_with(dir.path(), &mock.url, &["--shutdown-grace-s", "3"]).await;
    fault(
        &http,
        &mock.url,
        serde_json::json!({ "path": "/api/v4/*", "status": 503, "times": 1_000_000 }),
    )
    .await;
    let events = traffic(62, 5);
    for line in &events {
        post_event(&http, &serve.url, line).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let took = serve.sigterm().await;
    assert!(
        took < Duration::from_secs(6),
        "exited after {took:?} (grace 3 s)"
    );
    // amoCRM is back: the calls go through after the next start.
    disarm(&http, &mock.url).await;
    let serve = spawn_serve(dir.path(), &mock.url).await;
    wait_idle(&http, &serve.url).await;
    let m = metrics(&http, &serve.url).await;
    assert_eq!(metric(&m, "sipamo_calls_handled_total"), 5.0);
}

#[tokio::test]
async fn sigterm_while_a_client_holds_an_unfinished_request_exits_within_the_grace() {
    let dir = tempdir();
    let mock = spawn_mock(dir.path()).await;
    write_config(dir.path(), SETTINGS);
    let mut serve = spawn_serve_with(dir.path(), &mock.url, &["--shutdown-grace-s", "2"]).await;
    let addr = serve.url.trim_start_matches("http://").to_string();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(
        format!(
            "POST /sipuni/events/{SECRET} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nevent=1"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let took = serve.sigterm().await;
    assert!(
        took < Duration::from_secs(5),
        "exited after {took:?} (grace 2 s)"
    );
    drop(slow);
}
