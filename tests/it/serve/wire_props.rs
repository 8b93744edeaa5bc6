//! R-WIRE as a property of the running receiver (proptest, 3,000 cases over raw HTTP on
//! loopback): arbitrary bytes in the query, the body, names, values and the content type on
//! the secret path are answered 200 `{"success":true}` unless over the size limits; every
//! acknowledged request is an event in the inbox or a request kept aside with its reason; none
//! is lost; the service never stops answering.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::serve::app::*;

const GOOD: &str = "event=1&call_id=p.1&src_num=79161234567&src_type=1&short_src_num=79161234567&dst_num=015856201&dst_type=2&short_dst_num=201&timestamp=1772434800";
/// Larger than the receiver takes (64 KiB).
const OVER: usize = 65 * 1024;

#[derive(Debug, Clone)]
struct Request {
    post: bool,
    query: Vec<u8>,
    body: Vec<u8>,
    content_type: Option<Vec<u8>>,
}

/// Bytes a request target may carry as they are; every other byte is sent `%XX` (a raw `%` is
/// kept, so broken percent-encoding reaches the parser).
fn target_safe(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(b) {
            out.push(*b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
    out
}

/// A form of arbitrary names and values, some of them the fields of a real event.
fn pairs() -> impl Strategy<Value = Vec<u8>> {
    let name = prop_oneof![
        Just(b"event".to_vec()),
        Just(b"call_id".to_vec()),
        Just(b"src_num".to_vec()),
        Just(b"short_src_num".to_vec()),
        Just(b"status".to_vec()),
        Just(b"timestamp".to_vec()),
        Just(b"call_record_link".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..12),
    ];
    let value = proptest::collection::vec(any::<u8>(), 0..24);
    proptest::collection::vec((name, value), 0..12).prop_map(|pairs| {
        let mut out = Vec::new();
        for (i, (k, v)) in pairs.into_iter().enumerate() {
            if i > 0 {
                out.push(b'&');
            }
            out.extend(k);
            out.push(b'=');
            out.extend(v);
        }
        out
    })
}

/// A real event with a piece cut out and arbitrary bytes put in.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (
        0..GOOD.len(),
        0..30usize,
        proptest::collection::vec(any::<u8>(), 0..10),
    )
        .prop_map(|(at, cut, insert)| {
            let end = (at + cut).min(GOOD.len());
            let mut out = GOOD.as_bytes()[..at].to_vec();
            out.extend(insert);
            out.extend_from_slice(&GOOD.as_bytes()[end..]);
            out
        })
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => proptest::collection::vec(any::<u8>(), 0..300),
        3 => pairs(),
        3 => mutated(),
        1 => Just(Vec::new()),
        1 => Just(GOOD.as_bytes().to_vec()),
        1 => (0..3usize).prop_map(|n| [GOOD.as_bytes(), &vec![b'x'; OVER + n]].concat()),
    ]
}

fn content_type() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        Just(None),
        Just(Some(b"application/x-www-form-urlencoded".to_vec())),
        Just(Some(
            b"application/x-www-form-urlencoded; charset=windows-1251".to_vec()
        )),
        Just(Some(b"application/json".to_vec())),
        // A header value: visible bytes, spaces, and bytes past ASCII (obs-text).
        proptest::collection::vec(prop_oneof![0x20u8..0x7f, 0x80u8..=0xff], 1..40)
            .prop_map(|v| Some(v.trim_ascii().to_vec()))
            .prop_filter("a header value is not empty", |v| {
                v.as_ref().is_some_and(|v| !v.is_empty())
            }),
    ]
}

fn request() -> impl Strategy<Value = Request> {
    (any::<bool>(), payload(), payload(), content_type()).prop_map(
        |(post, query, body, content_type)| Request {
            post,
            query: target_safe(&query),
            body: if post { body } else { Vec::new() },
            content_type: if post { content_type } else { None },
        },
    )
}

/// Sends the request as raw bytes; the status and body of the answer.
async fn send(addr: &str, r: &Request) -> std::io::Result<(u16, String)> {
    let mut head = Vec::new();
    head.extend_from_slice(if r.post { b"POST " } else { b"GET " });
    head.extend_from_slice(format!("/sipuni/events/{SECRET}").as_bytes());
    if !r.query.is_empty() {
        head.push(b'?');
        head.extend_from_slice(&r.query);
    }
    head.extend_from_slice(b" HTTP/1.1\r\nHost: sipuni\r\nConnection: close\r\n");
    if let Some(t) = &r.content_type {
        head.extend_from_slice(b"Content-Type: ");
        head.extend_from_slice(t);
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(format!("Content-Length: {}\r\n\r\n", r.body.len()).as_bytes());
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(&head).await?;
    // A refused request may be answered before its body is read; then the rest is not sent.
    let _ = s.write_all(&r.body).await;
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).await?;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    Ok((status, body))
}

fn over_limits(r: &Request) -> bool {
    r.query.len() > 64 * 1024 || r.body.len() > 64 * 1024
}

#[test]
fn any_request_on_the_secret_path_is_acknowledged_and_nothing_is_lost() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempdir();
    let (mock, serve) = rt.block_on(async {
        let mock = spawn_mock(dir.path()).await;
        write_config(dir.path(), SETTINGS);
        let serve = spawn_serve(dir.path(), &mock.url).await;
        (mock, serve)
    });
    let addr = serve.url.trim_start_matches("http://").to_string();
    let mut runner = TestRunner::new(Config {
        cases: 3_000,
        failure_persistence: None,
        ..Config::default()
    });
    let acknowledged = std::cell::Cell::new(0u64);
    runner
        .run(&request(), |r| {
            let (status, body) = rt
                .block_on(send(&addr, &r))
                .map_err(|e| TestCaseError::fail(format!("no answer: {e}")))?;
            if over_limits(&r) {
                prop_assert!(matches!(status, 413 | 414 | 431), "{status} {body}");
            } else {
                prop_assert_eq!(status, 200, "{}", body);
                prop_assert_eq!(body.as_str(), r#"{"success":true}"#);
                acknowledged.set(acknowledged.get() + 1);
            }
            Ok(())
        })
        .unwrap();
    let http = http();
    let m = rt.block_on(metrics(&http, &serve.url));
    let result = |r: &str| {
        metric(
            &m,
            &format!("sipamo_events_received_total{{result=\"{r}\"}}"),
        )
    };
    let (stored, duplicate, kept, stale) = (
        result("stored"),
        result("duplicate"),
        result("kept"),
        result("stale"),
    );
    assert_eq!(
        stored + duplicate + kept + stale,
        acknowledged.get() as f64,
        "every acknowledged request is counted once:\n{m}"
    );
    assert_eq!(
        metric(&m, "sipamo_requests_kept_total"),
        kept,
        "every kept request has a reason"
    );
    let conn = rusqlite::Connection::open(db(dir.path())).unwrap();
    let count = |table: &str| -> f64 {
        conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap() as f64
    };
    assert_eq!(count("events"), stored, "each stored event is in the inbox");
    assert_eq!(count("kept"), kept, "each kept request is in the database");
    assert!(
        kept > 100.0 && stored > 10.0,
        "both kinds were reached: {m}"
    );
    eprintln!(
        "{} acknowledged: {stored} stored, {duplicate} duplicates, {kept} kept aside, {stale} stale",
        acknowledged.get()
    );
    drop(mock);
}
