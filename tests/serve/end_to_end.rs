use crate::app::*;

#[tokio::test]
async fn events_posted_over_http_end_up_in_the_account() {
    let dir = tempdir();
    let mock = spawn_mock(dir.path()).await;
    write_config(dir.path(), SETTINGS);
    let serve = spawn_serve(dir.path(), &mock.url).await;
    let http = http();
    let events = traffic(11, 12);
    for line in &events {
        post_event(&http, &serve.url, line).await;
    }
    wait_idle(&http, &serve.url).await;
    let pic = picture(&http, &mock.url).await;
    assert!(pic.iter().any(|l| l.starts_with("contact ")), "{pic:#?}");
    assert!(pic.iter().any(|l| l.starts_with("note ")), "{pic:#?}");
    let m = metrics(&http, &serve.url).await;
    assert!(
        m.contains(&format!(
            "sipamo_events_received_total{{result=\"stored\"}} {}",
            events.len()
        )),
        "{m}"
    );
    assert!(m.contains("sipamo_calls_handled_total 12"), "{m}");
    assert!(
        m.contains("sipamo_amocrm_requests_total{status=\"200\"}"),
        "{m}"
    );
    let health = http
        .get(format!("{}/health", serve.url))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}
