//! The HTML report as QA sees it, in a real browser: `sipamo run --report` (the real binary)
//! writes the page for a passing and a failing scenario, headless Chromium opens it from the
//! file (offline, as a double-click would), and the test reads what a person sees — the
//! timeline's events in order, the rule ID beside the call's action, the failing expectation
//! highlighted — and that the page raised no error. Chromium and its WebDriver come from the
//! OS packages (`chromium`, `chromium-driver`; `.ci/run` installs them); without them the test
//! says loudly that it did not run, and fails under CI=true.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};

const PASSING: &str = r#"
name: A missed call from a new number
rules: [R-IN-U1, R-MISS-TASK]
settings: { default_responsible: 1001, users: { "201": 1001 } }
crm: { users: [{ id: 1001, name: Анна }] }
steps:
  - { at: 0s, call: { client: "+79031112233", ring: ["201"] } }
expect: { contacts: 1, tasks: 1 }
"#;

const FAILING: &str = r#"
name: A task expected at the wrong time
rules: [R-MISS-TASK]
settings: { default_responsible: 1001, users: { "201": 1001 } }
crm: { users: [{ id: 1001, name: Анна }] }
steps:
  - { at: 0s, call: { client: "+79164445566", ring: ["201"] } }
expect:
  tasks: [{ client: "+79164445566", due: 2h }]
"#;

/// chromedriver on a free loopback port, stopped on drop.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chromium() -> Option<(PathBuf, PathBuf)> {
    let browser = ["/usr/lib/chromium/chromium", "/usr/bin/chromium"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())?;
    let driver = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())?;
    Some((browser, driver))
}

fn start_driver(driver: &Path) -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    Driver { child, port }
}

async fn browser(browser: &Path, driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": browser,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1600"],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a browser session")
}

/// The report of the two scenarios, written by the real binary.
fn write_report(dir: &Path) -> PathBuf {
    std::fs::write(dir.join("a-passing.yaml"), PASSING).unwrap();
    std::fs::write(dir.join("b-failing.yaml"), FAILING).unwrap();
    let report = dir.join("report.html");
    let status = Command::new(env!("CARGO_BIN_EXE_sipamo"))
        .arg("run")
        .arg(dir.join("a-passing.yaml"))
        .arg(dir.join("b-failing.yaml"))
        .arg("--report")
        .arg(&report)
        .stdout(Stdio::null())
        .status()
        .expect("sipamo runs");
    assert_eq!(status.code(), Some(1), "one scenario fails");
    report
}

async fn texts(c: &Client, css: &str) -> Vec<String> {
    let mut out = Vec::new();
    for e in c.find_all(Locator::Css(css)).await.unwrap() {
        out.push(e.text().await.unwrap());
    }
    out
}

#[tokio::test]
async fn qa_sees_the_timeline_the_rules_and_the_failure_in_a_browser() {
    let Some((chromium_bin, driver_bin)) = chromium() else {
        eprintln!(
            "\n*** NOT RUN: report_browser needs chromium and chromium-driver (apt-get install chromium chromium-driver) ***\n"
        );
        assert!(std::env::var("CI").is_err(), "CI must run the browser test");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let report = write_report(dir.path());
    let driver = start_driver(&driver_bin);
    let c = browser(&chromium_bin, &driver).await;
    c.goto(&format!("file://{}", report.display()))
        .await
        .unwrap();
    see_the_summary(&c).await;
    see_the_passing_timeline(&c).await;
    see_the_failure(&c).await;
    let errors = c
        .execute("return window.reportErrors;", vec![])
        .await
        .unwrap();
    assert_eq!(errors, serde_json::json!([]), "the page raised no error");
    // What the README shows: the failing scenario, its expectation beside the account.
    c.execute(
        "document.getElementById('scenario-2').scrollIntoView();",
        vec![],
    )
    .await
    .unwrap();
    let png = c.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a screenshot");
    if std::env::var_os("SIPAMO_REPORT_SCREENSHOT").is_some() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/report.png");
        std::fs::write(&path, &png).unwrap();
        eprintln!("wrote {}", path.display());
    }
    c.close().await.unwrap();
}

async fn see_the_summary(c: &Client) {
    let summary = c
        .find(Locator::Css("#summary"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        summary.contains("1 passed") && summary.contains("1 failed"),
        "{summary}"
    );
    assert!(summary.contains("rules cited: 2 of"), "{summary}");
}

/// The passing scenario's Sipuni events come in order (ring, then hangup), the settled call
/// follows them with its rule IDs beside it, and its requests after it.
async fn see_the_passing_timeline(c: &Client) {
    let s = "#scenario-1 ol.timeline li";
    let kinds: Vec<String> = texts(c, &format!("{s} .kind")).await;
    let titles: Vec<String> = texts(c, &format!("{s} .title")).await;
    let ring = titles
        .iter()
        .position(|t| t.starts_with("Sipuni ring"))
        .expect("a ring");
    let hangup = titles
        .iter()
        .position(|t| t.starts_with("Sipuni hangup"))
        .expect("a hangup");
    let call = kinds
        .iter()
        .position(|k| k == "CALL")
        .expect("a settled call");
    let request = call
        + kinds[call..]
            .iter()
            .position(|k| k == "REQUEST")
            .expect("its requests");
    assert!(ring < hangup && hangup < call, "{kinds:?}\n{titles:?}");
    assert!(
        titles[request].starts_with("GET /api/v4/contacts"),
        "{titles:?}"
    );
    assert!(
        titles[0].contains("start-up"),
        "the settings check is labelled: {titles:?}"
    );
    let at: Vec<String> = texts(c, &format!("{s} .at")).await;
    let mut sorted = at.clone();
    sorted.sort();
    assert_eq!(at, sorted, "moments in virtual-time order");
    let rules = texts(c, "#scenario-1 li.kind-call .rule").await;
    assert!(rules.iter().any(|r| r == "R-IN-U1"), "{rules:?}");
    assert!(rules.iter().any(|r| r == "R-MISS-TASK"), "{rules:?}");
}

/// The failing scenario says FAIL, and its expectation is highlighted beside what the account
/// holds: the due time it expected and the one the task has are both marked.
async fn see_the_failure(c: &Client) {
    let section = c.find(Locator::Css("#scenario-2")).await.unwrap();
    assert_eq!(
        section.attr("class").await.unwrap().as_deref(),
        Some("scenario failed")
    );
    let marks = texts(c, "#scenario-2 table.mismatch mark").await;
    assert!(marks.iter().any(|m| m.starts_with("due: 2h")), "{marks:?}");
    assert!(marks.iter().any(|m| m.starts_with("due 1h")), "{marks:?}");
    let mark = c
        .find(Locator::Css("#scenario-2 table.mismatch mark"))
        .await
        .unwrap();
    assert!(mark.is_displayed().await.unwrap());
    let bg = mark.css_value("background-color").await.unwrap();
    assert_ne!(bg, "rgba(0, 0, 0, 0)", "the difference is highlighted");
}
