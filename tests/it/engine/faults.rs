//! R-FAIL: 503, 429 bursts and a hang after the write all end in the fault-free state.

use crate::engine::app::*;

async fn scenario(app: &mut App) {
    app.call(0, incoming("+79031112233").answer("202")).await;
    app.call(60, incoming("+79035550000")).await;
    app.call(120, outgoing("+79035550011", "201", true)).await;
}

async fn reference() -> String {
    let mut app = spawn_app("", "").await;
    scenario(&mut app).await;
    app.picture()
}

#[tokio::test]
async fn r_fail_a_503_on_a_create_is_retried_without_duplicates() {
    let mut app = spawn_app("", "").await;
    app.arm(fail(any("/api/v4/leads/complex")).status(503));
    app.arm(fail(any("/api/v4/tasks")).status(502).times(2));
    scenario(&mut app).await;
    assert_eq!(app.picture(), reference().await);
    assert!(app.mock.journal().iter().any(|e| e.status == 503));
}

#[tokio::test]
async fn r_fail_a_burst_of_429_is_waited_out() {
    let mut app = spawn_app("", "").await;
    app.arm(fail(get("/api/v4/contacts")).status(429).times(3));
    app.arm(fail(any("/api/v4/leads/complex")).status(429).times(2));
    scenario(&mut app).await;
    assert_eq!(app.picture(), reference().await);
    assert_eq!(
        app.mock
            .journal()
            .iter()
            .filter(|e| e.status == 429)
            .count(),
        5
    );
}

#[tokio::test]
async fn r_fail_a_hang_after_the_write_is_looked_up_not_repeated() {
    let mut app = spawn_app("", "").await;
    app.arm(fail(any("/api/v4/leads/complex")).hang());
    app.arm(fail(any("/api/v4/tasks")).hang());
    scenario(&mut app).await;
    assert_eq!(app.picture(), reference().await);
    assert_eq!(app.mock.journal().iter().filter(|e| e.hung).count(), 2);
    assert_eq!(app.contacts_of("+79031112233").len(), 1);
}

#[tokio::test]
async fn r_fail_requests_stay_under_seven_per_second() {
    let mut app = spawn_app("", "").await;
    scenario(&mut app).await;
    let times: Vec<i64> = app.mock.journal().iter().map(|e| e.at_ms).collect();
    for (i, t) in times.iter().enumerate() {
        let in_window = times[i..].iter().take_while(|u| **u < t + 1000).count();
        assert!(
            in_window <= 7,
            "{in_window} requests within a second from {t}"
        );
    }
}

/// A 500 on the Unsorted item created at the first ring (R-IN-U3, accept on answer) is looked
/// up and retried like any other create, not taken for the call's failure.
#[tokio::test]
async fn r_fail_a_500_on_the_ring_time_item_is_retried() {
    let settings = "incoming: { unknown: { mode: unsorted_accept_on_answer } }";
    let mut want = spawn_app(settings, "").await;
    want.call(0, incoming("+79031112233").answer("202")).await;
    let mut app = spawn_app(settings, "").await;
    app.arm(fail(any("/api/v4/leads/unsorted/sip")).status(500));
    app.call(0, incoming("+79031112233").answer("202")).await;
    assert_eq!(app.picture(), want.picture());
    assert!(app.mock.journal().iter().any(|e| e.status == 500));
}
