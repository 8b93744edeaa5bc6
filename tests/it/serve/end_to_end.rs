use crate::serve::app::*;

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
    let took = serve.sigterm().await;
    assert!(
        took < std::time::Duration::from_secs(20),
        "stopped in time: {took:?}"
    );
    let serve = spawn_serve(dir.path(), &mock.url).await;
    wait_idle(&http, &serve.url).await;
    let got = picture(&http, &mock.url).await;

    // The same events without the stop.
    assert_eq!(
        got,
        uninterrupted(SETTINGS, &events).await,
        "every call handled once, before or after the stop"
    );
}

/// R-HIDDEN: a hidden caller is acknowledged `{"success":true}` (Sipuni may stop sending to a
/// receiver that answers errors), counted as skipped and leaves nothing in amoCRM; a short
/// service number is an ordinary client phone.
#[tokio::test]
async fn hidden_callers_are_acknowledged_and_skipped_short_numbers_are_clients() {
    let dir = tempdir();
    let mock = spawn_mock(dir.path()).await;
    write_config(dir.path(), SETTINGS);
    let serve = spawn_serve(dir.path(), &mock.url).await;
    let http = http();
    let call = |id: &str, src: &str| {
        let c = format!(
            "call_id={id}&src_num={src}&src_type=1&dst_num=015856201&dst_type=2&short_dst_num=201"
        );
        [
            format!("event=1&{c}&timestamp=1772434800"),
            format!("event=2&{c}&timestamp=1772434830&status=NOANSWER"),
        ]
    };
    for (id, src) in [("h.1", "anonymous"), ("h.2", ""), ("h.3", "Unknown")] {
        for line in call(id, src) {
            let r = http
                .post(format!("{}/sipuni/events/{SECRET}", serve.url))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(line)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            assert_eq!(r.text().await.unwrap(), r#"{"success":true}"#);
        }
    }
    wait_idle(&http, &serve.url).await;
    assert_eq!(picture(&http, &mock.url).await, Vec::<String>::new());
    let m = metrics(&http, &serve.url).await;
    assert!(
        m.contains("sipamo_calls_skipped_total{reason=\"hidden_number\"} 3\n"),
        "{m}"
    );
    for line in call("s.1", "900") {
        post_event(&http, &serve.url, &line).await;
    }
    wait_idle(&http, &serve.url).await;
    let pic = picture(&http, &mock.url).await;
    assert!(
        pic.iter().any(|l| l.starts_with("contact 900 ")),
        "{pic:#?}"
    );
}
