use crate::serve::app::*;

const GOOD: &str = "event=1&call_id=bad.1&src_num=79161234567&src_type=1&dst_num=015856201&dst_type=2&short_dst_num=201&timestamp=1772434800";

/// R-WIRE: on the secret path everything within the limits is stored and acknowledged (an event,
/// or a request kept aside with its reason); only a wrong secret, a wrong method and an
/// oversized request get anything else, and those store nothing.
#[tokio::test]
async fn bad_requests_are_acknowledged_and_kept_and_only_wrong_ones_refused() {
    let dir = tempdir();
    let mock = spawn_mock(dir.path()).await;
    write_config(dir.path(), SETTINGS);
    let serve = spawn_serve(dir.path(), &mock.url).await;
    let http = http();
    let url = |secret: &str| format!("{}/sipuni/events/{secret}", serve.url);
    let ok = r#"{"success":true}"#;

    // Wrong secret: 404, nothing stored.
    let r = http
        .post(url("wrong-secret-0123456789"))
        .body(GOOD)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    // A wrong method: 405.
    let r = http.put(url(SECRET)).body(GOOD).send().await.unwrap();
    assert_eq!(r.status(), 405);
    // A malformed field, non-UTF-8, broken percent-encoding, a JSON body, an unknown kind:
    // each acknowledged and kept aside with its reason.
    let kept: [(Vec<u8>, Option<&str>, &str); 5] = [
        (
            GOOD.replace("src_type=1", "src_type=7").into_bytes(),
            None,
            "invalid_field",
        ),
        (b"event=1&call_id=\xff\xfe".to_vec(), None, "not_utf8"),
        (b"event=1&call_id=%zz".to_vec(), None, "bad_encoding"),
        (
            br#"{"event":"1"}"#.to_vec(),
            Some("application/json"),
            "content_type",
        ),
        (
            GOOD.replace("event=1", "event=7").into_bytes(),
            None,
            "unknown_event",
        ),
    ];
    for (body, content_type, _) in &kept {
        let mut req = http.post(url(SECRET)).body(body.clone());
        if let Some(t) = content_type {
            req = req.header("content-type", *t);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 200, "{}", String::from_utf8_lossy(body));
        assert_eq!(r.text().await.unwrap(), ok);
    }
    // Oversized body: 413 in JSON, nothing stored.
    let big = format!("{GOOD}&junk={}", "x".repeat(70 * 1024));
    let r = http.post(url(SECRET)).body(big).send().await.unwrap();
    assert_eq!(r.status(), 413);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["success"], false);
    // GET with the query string works too; a flood of duplicates is acknowledged and stored once.
    for _ in 0..50 {
        let r = http
            .get(format!("{}?{GOOD}", url(SECRET)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.text().await.unwrap(), ok);
    }
    let m = metrics(&http, &serve.url).await;
    counted(&m, &kept.map(|k| k.2));
    let conn = rusqlite::Connection::open(db(dir.path())).unwrap();
    let count = |table: &str| -> i64 {
        conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(count("events"), 1, "only the good event is an event");
    assert_eq!(count("kept"), 5, "every other acknowledged request is kept");
    let raw: Vec<u8> = conn
        .query_row("SELECT raw FROM kept WHERE reason = 'not_utf8'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(
        raw, b"event=1&call_id=\xff\xfe",
        "kept as received, byte for byte"
    );

    operator_sees_what_was_kept(&db(dir.path()));
}

/// One stored event, 49 duplicates and each kept request counted by its reason.
fn counted(m: &str, reasons: &[&str]) {
    for line in [
        "sipamo_events_received_total{result=\"stored\"} 1\n",
        "sipamo_events_received_total{result=\"duplicate\"} 49\n",
        "sipamo_events_received_total{result=\"kept\"} 5\n",
    ] {
        assert!(m.contains(line), "{line} in {m}");
    }
    for reason in reasons {
        let line = format!("sipamo_requests_kept_total{{reason=\"{reason}\"}} 1\n");
        assert!(m.contains(&line), "{line} in {m}");
    }
}

/// `sipamo calls kept` lists the kept requests, and shows one in full.
fn operator_sees_what_was_kept(p: &std::path::Path) {
    // The operator sees them: the list, and one in full.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sipamo"))
        .args(["calls", "--db", p.to_str().unwrap(), "kept"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("5 request(s) kept aside"), "{text}");
    assert!(text.contains("unknown_event"), "{text}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sipamo"))
        .args(["calls", "--db", p.to_str().unwrap(), "kept", "2"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("reason: not_utf8"), "{text}");
    assert!(text.contains("event=1&call_id=\\xff\\xfe"), "{text}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sipamo"))
        .args(["calls", "--db", p.to_str().unwrap(), "kept", "99"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("no kept request #99"),
        "{err}"
    );
}

#[tokio::test]
async fn a_bad_settings_file_stops_start_up_with_the_reason() {
    let dir = tempdir();
    let mock = spawn_mock(dir.path()).await;
    write_config(dir.path(), "default_responsible: 4242\n");
    let db = dir.path().join("x.db");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_sipamo"))
        .args(serve_args(dir.path(), &mock.url, db.to_str().unwrap()))
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

/// SQLite has no work lease: a second `serve` on the same database file would work the same
/// calls beside the first. It refuses to start, naming the database; once the first is
/// `kill -9`ed, a new one starts on it.
#[tokio::test]
async fn a_second_serve_on_one_sqlite_database_refuses_to_start() {
    let dir = tempdir();
    let mock = spawn_mock(dir.path()).await;
    write_config(dir.path(), SETTINGS);
    let mut first = spawn_serve(dir.path(), &mock.url).await;
    let db = dir.path().join("sipamo.db");
    let second = tokio::process::Command::new(env!("CARGO_BIN_EXE_sipamo"))
        .args(serve_args(dir.path(), &mock.url, db.to_str().unwrap()))
        .output()
        .await
        .unwrap();
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.contains("another sipamo serve is using") && err.contains("sipamo.db"),
        "{err}"
    );
    assert!(health_ok(&http(), &first.url).await, "the first goes on");
    first.kill9().await;
    let again = spawn_serve(dir.path(), &mock.url).await;
    assert!(health_ok(&http(), &again.url).await);
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

/// Hostile and sloppy requests on the secret path: each acknowledged and kept aside with its
/// reason (R-WIRE), or refused for its method; none is an event, and the good event sent last
/// is the only one in the inbox.
#[tokio::test]
#[expect(clippy::too_many_lines, reason = "a table: one row per bad request")]
async fn a_table_of_bad_requests_each_kept_with_its_reason_and_none_an_event() {
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
    // (what, method, content type, body, status, text the kept reason must contain)
    type Row<'a> = (&'a str, &'a str, Option<&'a str>, String, u16, &'a str);
    let rows: Vec<Row> = vec![
        (
            "i64::MAX timestamp",
            "POST",
            Some(form),
            ts("9223372036854775807"),
            200,
            "timestamp",
        ),
        (
            "i64::MIN timestamp",
            "POST",
            Some(form),
            ts("-9223372036854775808"),
            200,
            "timestamp",
        ),
        (
            "negative timestamp",
            "POST",
            Some(form),
            ts("-1"),
            200,
            "timestamp",
        ),
        (
            "zero timestamp",
            "POST",
            Some(form),
            ts("0"),
            200,
            "missing_field: field `timestamp`",
        ),
        (
            "%FF%FE in a name",
            "POST",
            Some(form),
            format!("{GOOD}&%FF%FE=1"),
            200,
            "UTF-8",
        ),
        (
            "%FF beside a literal U+FFFD",
            "POST",
            Some(form),
            format!("{GOOD}&a=%FF&b=\u{FFFD}"),
            200,
            "UTF-8",
        ),
        (
            "lone %",
            "POST",
            Some(form),
            format!("{GOOD}&a=%"),
            200,
            "percent-encoding",
        ),
        (
            "%G1",
            "POST",
            Some(form),
            format!("{GOOD}&a=%G1"),
            200,
            "percent-encoding",
        ),
        (
            "%%% as a name",
            "POST",
            Some(form),
            format!("{GOOD}&%%%=1"),
            200,
            "percent-encoding",
        ),
        (
            "JSON content type",
            "POST",
            Some("application/json"),
            GOOD.into(),
            200,
            "content_type",
        ),
        (
            "text/plain",
            "POST",
            Some("text/plain"),
            GOOD.into(),
            200,
            "content_type",
        ),
        (
            "a key repeated with another value",
            "POST",
            Some(form),
            format!("{GOOD}&event=2"),
            200,
            "event",
        ),
        (
            "NUL in call_id",
            "POST",
            Some(form),
            GOOD.replace("call_id=bad.1", "call_id=a%00b"),
            200,
            "call_id",
        ),
        (
            "a 200-character call_id",
            "POST",
            Some(form),
            long_id,
            200,
            "call_id",
        ),
        (
            "10,000 parameters and no event",
            "POST",
            Some(form),
            many[1..].to_string(),
            200,
            "event",
        ),
        ("HEAD", "HEAD", None, String::new(), 405, ""),
        ("PUT", "PUT", Some(form), GOOD.into(), 405, ""),
        ("DELETE", "DELETE", None, String::new(), 405, ""),
    ];
    for (what, method, ctype, body, status, _) in &rows {
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
        if *status == 200 {
            assert_eq!(text, r#"{"success":true}"#, "{what}");
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
    let kept: Vec<String> = conn
        .prepare("SELECT reason || ': ' || detail FROM kept ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let acknowledged: Vec<_> = rows.iter().filter(|r| r.4 == 200).collect();
    assert_eq!(kept.len(), acknowledged.len(), "{kept:#?}");
    for ((what, .., reason), got) in acknowledged.iter().zip(&kept) {
        assert!(
            got.contains(reason),
            "{what}: kept as {got:?}, want {reason:?}"
        );
    }
}
