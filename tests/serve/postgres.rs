//! `serve --db postgres://…` on a throw-away cluster started from the OS packages: the same
//! account as an uninterrupted SQLite run, and `kill -9` right after each amoCRM write loses
//! and doubles nothing. Without PostgreSQL they return at once (`cargo test --test store` says
//! loudly that the PostgreSQL tests did not run); under `CI=true` they fail instead.

use sipamo::server::pg_cluster::Cluster;

use crate::app::*;
use crate::crash::kill_at_every_write;

/// A cluster of the test's own (stopped when the test drops it) with a database `name`, or
/// `None` when PostgreSQL is not installed.
fn database(name: &str) -> Option<(Cluster, String)> {
    match Cluster::start() {
        Ok(c) => {
            let url = c.database(name).expect("a database of the test cluster");
            Some((c, url))
        }
        Err(why) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true: PostgreSQL is required: {why}"
            );
            eprintln!("*** the PostgreSQL serve test {name} did NOT run: {why}");
            None
        }
    }
}

#[tokio::test]
async fn postgres_serve_builds_the_same_account_as_sqlite() {
    let Some((_cluster, url)) = database("same_account") else {
        return;
    };
    let events = traffic(23, 20);
    let want = uninterrupted(SETTINGS, &events).await;
    let dir = tempdir();
    let mock = spawn_mock(dir.path()).await;
    write_config(dir.path(), SETTINGS);
    let serve = spawn_serve_with(dir.path(), &mock.url, &["--db", &url]).await;
    let http = http();
    for line in &events {
        post_event(&http, &serve.url, line).await;
    }
    wait_idle(&http, &serve.url).await;
    assert_eq!(picture(&http, &mock.url).await, want);
    // The operator's commands and `record` read the same database.
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_sipamo"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let listed = run(&["calls", "list", "--db", &url]);
    assert!(listed.contains("0 parked call(s)"), "{listed}");
    let scenario = run(&["record", "--db", &url, "--since", "0"]);
    assert!(
        scenario.contains("steps:") && scenario.contains("expect:"),
        "{scenario}"
    );
}

#[tokio::test]
async fn postgres_kill_9_right_after_each_amocrm_write_loses_nothing_and_doubles_nothing() {
    for (mode, seed) in [("immediate", 41), ("unsorted_accept_on_answer", 43)] {
        let Some((_cluster, url)) = database(&format!("kill_{mode}")) else {
            return;
        };
        let run = kill_at_every_write(mode, seed, 8, 40, Some(&url)).await;
        eprintln!(
            "postgres, {mode}: {} kills right after a write, {} lost, {} duplicated",
            run.kills,
            run.lost.len(),
            run.duplicated.len()
        );
        assert!(run.kills >= 10, "{mode}: only {} kill points", run.kills);
        assert!(
            run.lost.is_empty() && run.duplicated.is_empty(),
            "{mode}: lost {:#?}, duplicated {:#?}",
            run.lost,
            run.duplicated
        );
    }
}
