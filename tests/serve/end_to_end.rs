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

#[tokio::test]
async fn sigterm_stops_the_service_cleanly_and_work_continues_after_a_restart() {
    let dir = tempdir();
    let mock = spawn_mock(dir.path()).await;
    write_config(dir.path(), SETTINGS);
    let mut serve = spawn_serve(dir.path(), &mock.url).await;
    let http = http();
    let events = traffic(5, 4);
    for line in &events {
        post_event(&http, &serve.url, line).await;
    }
    let pid = serve.child.id().expect("running").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(std::time::Duration::from_secs(20), serve.child.wait())
        .await
        .expect("stopped in time")
        .unwrap();
    assert!(status.success(), "a clean exit: {status}");
    let serve = spawn_serve(dir.path(), &mock.url).await;
    wait_idle(&http, &serve.url).await;
    let got = picture(&http, &mock.url).await;

    // The same events without the stop.
    let ref_dir = tempdir();
    let ref_mock = spawn_mock(ref_dir.path()).await;
    write_config(ref_dir.path(), SETTINGS);
    let ref_serve = spawn_serve(ref_dir.path(), &ref_mock.url).await;
    for line in &events {
        post_event(&http, &ref_serve.url, line).await;
    }
    wait_idle(&http, &ref_serve.url).await;
    assert_eq!(
        got,
        picture(&http, &ref_mock.url).await,
        "every call handled once, before or after the stop"
    );
}
