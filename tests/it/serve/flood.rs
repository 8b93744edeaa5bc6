//! Slow clients and connection floods: a service allowed 256 open files faces 600 idle
//! connections, 100 clients trickling their headers, 50 trickling their bodies and 50 idle
//! keep-alive connections, all at once; Sipuni's events must still be acknowledged and
//! handled, and every hostile connection closed by the service within its timeouts.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::serve::app::*;

const IDLE: usize = 600;
const SLOW_HEADERS: usize = 100;
const SLOW_BODIES: usize = 50;
const KEPT_ALIVE: usize = 50;
/// Far beyond the 1 s header and 2 s request timeouts, and the few seconds the flood needs
/// to pass through the 192 connections the service allows itself.
const BOUND: Duration = Duration::from_secs(20);

/// Waits until the service closes `s` (a read sees the end or an error); answers what it
/// read before.
async fn closed_by_service(mut s: TcpStream) -> Result<Vec<u8>, &'static str> {
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    tokio::time::timeout(BOUND, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .map_err(|_| "still open")?;
    Ok(got)
}

/// Sends `head` then trickles `byte` every 100 ms until the service closes the connection.
async fn trickle(addr: String, head: String) -> Result<Vec<u8>, &'static str> {
    let s = TcpStream::connect(&addr)
        .await
        .map_err(|_| "no connection")?;
    let (mut r, mut w) = s.into_split();
    let writer = tokio::spawn(async move {
        if w.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        while w.write_all(b"a").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    let closed = tokio::time::timeout(BOUND, async {
        loop {
            match r.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    writer.abort();
    closed.map_err(|_| "still open")?;
    Ok(got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_slow_and_idle_connections_is_shed_and_events_still_get_through() {
    let dir = tempdir();
    let mock = spawn_mock(dir.path()).await;
    write_config(dir.path(), SETTINGS);
    let serve = spawn_serve_limited(
        dir.path(),
        &mock.url,
        &["--header-timeout-s", "1", "--request-timeout-s", "2"],
        Some(256),
    )
    .await;
    let addr = serve.url.trim_start_matches("http://").to_string();
    let http = http();

    let (idle, slow, kept) = start_flood(&addr).await;

    // Sipuni's events while the flood is on: each acknowledged (post_event retries as Sipuni
    // does, within its 10 s client timeout).
    let flood_started = Instant::now();
    let events = traffic(21, 6);
    for line in &events {
        post_event(&http, &serve.url, line).await;
    }
    let events_done = flood_started.elapsed();

    let mut still_open = 0;
    for s in idle {
        if closed_by_service(s).await.is_err() {
            still_open += 1;
        }
    }
    let mut timed_out_bodies = 0;
    for (i, t) in slow.into_iter().enumerate() {
        match t.await.unwrap() {
            Err(_) => still_open += 1,
            Ok(answer) if i >= SLOW_HEADERS => {
                let text = String::from_utf8_lossy(&answer);
                if text.starts_with("HTTP/1.1 408") {
                    timed_out_bodies += 1;
                }
            }
            Ok(_) => {}
        }
    }
    for t in kept {
        match t.await.unwrap() {
            Err(_) => still_open += 1,
            Ok(answer) => assert!(
                String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 200"),
                "the kept-alive connection got its answer before it was closed"
            ),
        }
    }
    let all_closed = flood_started.elapsed();
    println!(
        "flood: {} connections; {} events acknowledged after {:.1} s; every flood connection closed after {:.1} s",
        IDLE + SLOW_HEADERS + SLOW_BODIES + KEPT_ALIVE,
        events.len(),
        events_done.as_secs_f64(),
        all_closed.as_secs_f64()
    );
    assert_eq!(still_open, 0, "connections the service never closed");
    assert_eq!(
        timed_out_bodies, SLOW_BODIES,
        "each trickled body answered 408 at the request timeout"
    );

    wait_idle(&http, &serve.url).await;
    let m = metrics(&http, &serve.url).await;
    assert_eq!(
        metric(&m, "sipamo_events_received_total{result=\"stored\"}"),
        events.len() as f64,
        "{m}"
    );
    assert_eq!(metric(&m, "sipamo_calls_handled_total"), 6.0, "{m}");
}

type Closing = tokio::task::JoinHandle<Result<Vec<u8>, &'static str>>;

/// Opens the flood: idle connections, trickled headers and bodies, idle kept-alive ones.
async fn start_flood(addr: &str) -> (Vec<TcpStream>, Vec<Closing>, Vec<Closing>) {
    let addr = addr.to_string();
    let mut idle = Vec::new();
    for _ in 0..IDLE {
        idle.push(
            TcpStream::connect(&addr)
                .await
                .expect("the kernel queues it"),
        );
    }
    let mut slow = Vec::new();
    for i in 0..SLOW_HEADERS {
        let head = format!("POST /sipuni/events/{SECRET} HTTP/1.1\r\nHost: x\r\nX-Slow-{i}: ");
        slow.push(tokio::spawn(trickle(addr.clone(), head)));
    }
    for _ in 0..SLOW_BODIES {
        let head = format!(
            "POST /sipuni/events/{SECRET} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\n"
        );
        slow.push(tokio::spawn(trickle(addr.clone(), head)));
    }
    let mut kept = Vec::new();
    for _ in 0..KEPT_ALIVE {
        kept.push(tokio::spawn({
            let addr = addr.clone();
            async move {
                let mut s = TcpStream::connect(&addr)
                    .await
                    .map_err(|_| "no connection")?;
                s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                    .await
                    .map_err(|_| "not sent")?;
                closed_by_service(s).await
            }
        }));
    }

    (idle, slow, kept)
}
