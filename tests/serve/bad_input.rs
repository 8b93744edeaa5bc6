use crate::app::*;

const GOOD: &str = "event=1&call_id=bad.1&src_num=79161234567&src_type=1&dst_num=015856201&dst_type=2&short_dst_num=201&timestamp=1772434800";

#[tokio::test]
async fn bad_requests_are_answered_correctly_and_store_nothing() {
    let dir = tempdir();
    let mock = spawn_mock(dir.path()).await;
    write_config(dir.path(), SETTINGS);
    let serve = spawn_serve(dir.path(), &mock.url).await;
    let http = http();
    let url = |secret: &str| format!("{}/sipuni/events/{secret}", serve.url);

    // Wrong secret: 404, nothing stored.
    let r = http
        .post(url("wrong-secret-0123456789"))
        .body(GOOD)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // Malformed field: 400 naming it.
    let r = http
        .post(url(SECRET))
        .body(GOOD.replace("src_type=1", "src_type=7"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["field"], "src_type");
    assert_eq!(body["success"], false);
    // Not UTF-8.
    let r = http
        .post(url(SECRET))
        .body(b"event=1&call_id=\xff\xfe".to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    // Oversized body.
    let big = format!("{GOOD}&junk={}", "x".repeat(70 * 1024));
    let r = http.post(url(SECRET)).body(big).send().await.unwrap();
    assert_eq!(r.status(), 413);
    // GET with the query string works too; a flood of duplicates is acknowledged and stored once.
    for _ in 0..50 {
        let r = http
            .get(format!("{}?{GOOD}", url(SECRET)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), r#"{"success":true}"#);
    }
    let m = metrics(&http, &serve.url).await;
    assert!(
        m.contains("sipamo_events_received_total{result=\"stored\"} 1\n"),
        "{m}"
    );
    assert!(
        m.contains("sipamo_events_received_total{result=\"duplicate\"} 49\n"),
        "{m}"
    );
    let conn = rusqlite::Connection::open(db(dir.path())).unwrap();
    let stored: i64 = conn
        .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, 1, "only the good event is stored");
}

#[tokio::test]
async fn a_bad_settings_file_stops_start_up_with_the_reason() {
    let dir = tempdir();
    let mock = spawn_mock(dir.path()).await;
    write_config(dir.path(), "default_responsible: 4242\n");
    let p = |f: &str| dir.path().join(f).to_str().unwrap().to_string();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_sipamo"))
        .args([
            "serve",
            "--settings",
            &p("settings.yaml"),
            "--amocrm",
            &mock.url,
            "--token-file",
            &p("token"),
            "--secret-file",
            &p("secret"),
            "--listen",
            "127.0.0.1:0",
            "--db",
            &p("x.db"),
        ])
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("default_responsible: user 4242 does not exist"),
        "{err}"
    );
    assert!(!err.contains(TOKEN), "the token never shows");
}

#[tokio::test]
async fn an_expired_oauth_token_is_refreshed_and_written_back() {
    let dir = tempdir();
    let mock = spawn_mock(dir.path()).await;
    write_config(dir.path(), SETTINGS);
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, r#"{"access_token":"expired","refresh_token":"mock-refresh","client_id":"id","client_secret":"shh","redirect_uri":"https://example.com/"}"#).unwrap();
    let serve = spawn_serve(dir.path(), &mock.url).await;
    let http = http();
    post_event(&http, &serve.url, "event=2&call_id=oauth.1&src_num=79161234567&src_type=1&dst_num=015856201&dst_type=2&short_dst_num=201&timestamp=1772434800&status=NOANSWER").await;
    wait_idle(&http, &serve.url).await;
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&token_file).unwrap()).unwrap();
    // amoCRM rotates the refresh token on every refresh; losing the new one locks the
    // integration out, so it must be on disk.
    assert_eq!(
        saved["access_token"], "mock-access-1",
        "the refreshed token is saved"
    );
    assert_eq!(
        saved["refresh_token"], "mock-refresh-1",
        "the rotated refresh token is saved"
    );
    assert_eq!(saved["client_secret"], "shh");
    // Secrets and client data are readable by the owner only.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&token_file), 0o600, "the token file after the refresh");
    for f in ["sipamo.db", "sipamo.db-wal", "sipamo.db-shm"] {
        assert_eq!(mode(&dir.path().join(f)), 0o600, "{f}");
    }
    let m = metrics(&http, &serve.url).await;
    assert!(
        m.contains("sipamo_amocrm_requests_total{status=\"401\"} 1\n"),
        "one 401, then the refresh: {m}"
    );
    assert!(m.contains("sipamo_calls_handled_total 1\n"), "{m}");
}

/// Hostile and sloppy requests, each answered with the right status and a reason, and none
/// stored; the good event sent last is the only one in the inbox.
#[tokio::test]
#[expect(clippy::too_many_lines, reason = "a table: one row per bad request")]
async fn a_table_of_bad_requests_each_refused_with_its_reason_and_nothing_stored() {
    let dir = tempdir();
    let mock = spawn_mock(dir.path()).await;
    write_config(dir.path(), SETTINGS);
    let serve = spawn_serve(dir.path(), &mock.url).await;
    let http = http();
    let url = format!("{}/sipuni/events/{SECRET}", serve.url);
    let form = "application/x-www-form-urlencoded";
    let ts = |v: &str| GOOD.replace("timestamp=1772434800", &format!("timestamp={v}"));
    let many: String = (0..10_000).map(|i| format!("&{i}")).collect();
    let long_id = GOOD.replace("call_id=bad.1", &format!("call_id={}", "x".repeat(200)));
    // (what, method, content type, body, status, text the error must contain)
    type Row<'a> = (&'a str, &'a str, Option<&'a str>, String, u16, &'a str);
    let rows: Vec<Row> = vec![
        (
            "i64::MAX timestamp",
            "POST",
            Some(form),
            ts("9223372036854775807"),
            400,
            "timestamp",
        ),
        (
            "i64::MIN timestamp",
            "POST",
            Some(form),
            ts("-9223372036854775808"),
            400,
            "timestamp",
        ),
        (
            "negative timestamp",
            "POST",
            Some(form),
            ts("-1"),
            400,
            "timestamp",
        ),
        (
            "zero timestamp",
            "POST",
            Some(form),
            ts("0"),
            400,
            "timestamp",
        ),
        (
            "%FF%FE in a name",
            "POST",
            Some(form),
            format!("{GOOD}&%FF%FE=1"),
            400,
            "UTF-8",
        ),
        (
            "%FF beside a literal U+FFFD",
            "POST",
            Some(form),
            format!("{GOOD}&a=%FF&b=\u{FFFD}"),
            400,
            "UTF-8",
        ),
        (
            "lone %",
            "POST",
            Some(form),
            format!("{GOOD}&a=%"),
            400,
            "percent-encoding",
        ),
        (
            "%G1",
            "POST",
            Some(form),
            format!("{GOOD}&a=%G1"),
            400,
            "percent-encoding",
        ),
        (
            "%%% as a name",
            "POST",
            Some(form),
            format!("{GOOD}&%%%=1"),
            400,
            "percent-encoding",
        ),
        (
            "JSON content type",
            "POST",
            Some("application/json"),
            GOOD.into(),
            415,
            "x-www-form-urlencoded",
        ),
        (
            "text/plain",
            "POST",
            Some("text/plain"),
            GOOD.into(),
            415,
            "x-www-form-urlencoded",
        ),
        (
            "a key repeated with another value",
            "POST",
            Some(form),
            format!("{GOOD}&event=2"),
            400,
            "event",
        ),
        (
            "NUL in call_id",
            "POST",
            Some(form),
            GOOD.replace("call_id=bad.1", "call_id=a%00b"),
            400,
            "call_id",
        ),
        (
            "a 200-character call_id",
            "POST",
            Some(form),
            long_id,
            400,
            "call_id",
        ),
        (
            "10,000 parameters and no event",
            "POST",
            Some(form),
            many[1..].to_string(),
            400,
            "event",
        ),
        ("HEAD", "HEAD", None, String::new(), 405, ""),
        ("PUT", "PUT", Some(form), GOOD.into(), 405, ""),
        ("DELETE", "DELETE", None, String::new(), 405, ""),
    ];
    for (what, method, ctype, body, status, reason) in &rows {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let target = if *method == "HEAD" {
            format!("{url}?{GOOD}")
        } else {
            url.clone()
        };
        let mut req = http.request(m, target).body(body.clone());
        if let Some(c) = ctype {
            req = req.header("content-type", *c);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status().as_u16(), *status, "{what}");
        let text = r.text().await.unwrap();
        assert!(text.contains(reason), "{what}: {text}");
        if *status == 400 {
            assert!(text.contains(r#""success":false"#), "{what}: {text}");
        }
    }
    // HTTP/1.0 works, and the good event is the only one stored.
    let r = sipamo::http::client_builder()
        .http1_only()
        .build()
        .unwrap()
        .post(&url)
        .version(reqwest::Version::HTTP_10)
        .header("content-type", form)
        .body(GOOD)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let conn = rusqlite::Connection::open(db(dir.path())).unwrap();
    let stored: i64 = conn
        .query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(stored, 1, "only the good event is stored");
}
