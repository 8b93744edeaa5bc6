//! The example of `spec/scenario-format.md`, copied verbatim into `fixtures/`, loads and runs
//! unchanged: every key is understood and every step is applied. (Its expectations illustrate
//! the keys and contradict each other, so they are not required to hold.)

use std::path::Path;

use sipamo::sim::scenario::{load, run};

#[tokio::test]
async fn the_format_pages_example_runs_unchanged() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/format-example.yaml");
    let loaded = load::load_file(&path).unwrap_or_else(|e| panic!("{e}"));
    let sc = &loaded.scenario;
    assert_eq!(sc.steps.len(), 8);
    assert_eq!(sc.start.0, 1_772_434_800);
    let outcome = run::run(&loaded, run::RunOptions::default()).await;
    assert_eq!(outcome.error, None, "the engine raised an error");
    let paths: Vec<String> = outcome.journal.iter().map(|e| e.request_line()).collect();
    assert!(
        paths
            .iter()
            .any(|p| p == "GET /api/v4/contacts?query=9161234567&with=leads"),
        "the call steps ran: {paths:?}"
    );
    assert!(
        paths
            .iter()
            .any(|p| p == "GET /api/v4/contacts?query=9160000000&with=leads"),
        "the raw event ran: {paths:?}"
    );
}
