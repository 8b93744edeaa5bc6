//! `sipamo run --watch` as a real process over a real folder: after the first run it re-runs
//! exactly the file that was saved, reports a broken save with its location, and takes a file
//! added later. Waits are bounded (60 s each) so a silent watcher fails instead of hanging.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::Duration;

struct Watcher {
    child: Child,
    lines: Receiver<String>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Watcher {
    fn start(dir: &Path) -> Watcher {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sipamo"))
            .args(["run", "--watch"])
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("sipamo starts");
        let out = child.stdout.take().expect("stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Watcher { child, lines }
    }

    /// Lines up to and including the next summary line.
    fn until_summary(&self) -> Vec<String> {
        let mut got = Vec::new();
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("no summary within 60 s; so far: {got:#?}"));
            let done = line.contains(" passed, ");
            got.push(line);
            if done {
                return got;
            }
        }
    }

    /// Runs (summaries) up to the first that ran `file`: an editor's save may come as more
    /// than one burst of events, so the same file may run more than once.
    fn until_run_of(&self, file: &str) -> Vec<String> {
        let mut got = Vec::new();
        loop {
            let batch = self.until_summary();
            let hit = batch.iter().any(|l| is_run(l) && l.contains(file));
            got.extend(batch);
            if hit {
                return got;
            }
        }
    }
}

fn is_run(line: &str) -> bool {
    line.starts_with("PASS") || line.starts_with("FAIL")
}

fn copy_scenario(from: &str, to: &Path) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(from);
    std::fs::copy(src, to).expect("copy");
}

#[test]
fn a_saved_scenario_is_run_again_and_only_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let a = dir.path().join("a.yaml");
    let b = dir.path().join("b.yaml");
    copy_scenario("missed/create-task-off.yaml", &a);
    copy_scenario("incoming-unknown/answered-immediate.yaml", &b);
    let w = Watcher::start(dir.path());
    let first = w.until_summary();
    assert!(
        first.last().unwrap().starts_with("2 passed, 0 failed"),
        "{first:#?}"
    );
    let ready = w
        .lines
        .recv_timeout(Duration::from_secs(60))
        .expect("the watcher says it is watching");
    assert!(ready.starts_with("watching "), "{ready}");

    let text = std::fs::read_to_string(&a).unwrap();
    let renamed = text.replacen("name: \"", "name: \"Edited: ", 1);
    std::fs::write(&a, &renamed).unwrap();
    let second = w.until_run_of("a.yaml");
    let runs: Vec<&String> = second.iter().filter(|l| is_run(l)).collect();
    assert!(
        runs.iter()
            .all(|l| l.contains("a.yaml") && l.contains("Edited: ") && l.starts_with("PASS")),
        "only the saved file runs, with its new content: {second:#?}"
    );
    assert!(
        second
            .iter()
            .any(|l| l.starts_with("changed: ") && l.ends_with("a.yaml"))
    );

    std::fs::write(&b, text.replace("settings:", "settings:\n  colour: red")).unwrap();
    let third = w.until_run_of("b.yaml");
    assert!(
        third
            .iter()
            .any(|l| l.starts_with("FAIL") && l.contains("b.yaml:") && l.contains("colour")),
        "a broken save is reported with its place: {third:#?}"
    );

    let c = dir.path().join("c.yaml");
    copy_scenario("outgoing/unknown-answered.yaml", &c);
    let fourth = w.until_run_of("c.yaml");
    assert!(
        fourth
            .iter()
            .any(|l| l.starts_with("PASS") && l.contains("c.yaml")),
        "{fourth:#?}"
    );
}
