//! Every scenario under `scenarios/` runs (in parallel) and must pass; its amoCRM request
//! journal must equal the approved snapshot under `snapshots/` (insta; with CI=true a changed
//! or missing snapshot fails).

use std::collections::HashMap;
use std::path::PathBuf;

use sipamo::scenario::run::{Outcome, RunOptions};
use sipamo::scenario::suite;

fn run_suite() -> HashMap<PathBuf, Outcome> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let files = suite::discover(&[root]).expect("scenarios/ is readable");
    let (loaded, errors) = suite::load_all(&files);
    assert!(
        errors.is_empty(),
        "scenario files that do not load:\n{}",
        errors
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let outcomes = rt.block_on(suite::run_all(loaded, RunOptions::default(), 16));
    files.into_iter().zip(outcomes).collect()
}

#[test]
fn every_scenario_passes_and_matches_its_snapshot() {
    let outcomes = run_suite();
    insta::glob!("../scenarios", "**/*.yaml", |path| {
        let o = outcomes
            .get(path)
            .unwrap_or_else(|| panic!("{} was not run", path.display()));
        assert!(o.passed(), "{}", sipamo::scenario::report::line(o));
        insta::with_settings!({
            snapshot_path => "../snapshots",
            prepend_module_to_snapshot => false,
            omit_expression => true,
            description => o.name.clone(),
        }, {
            insta::assert_snapshot!("scenario", o.snapshot());
        });
    });
}
