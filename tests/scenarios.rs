//! One test per scenario under `scenarios/`, named by its path (`missed/seed`): it must pass
//! and its amoCRM request journal must equal the approved snapshot under `snapshots/` (insta;
//! with CI=true a changed or missing snapshot fails); and it must pass with the same journal
//! when the mock's search is lenient (amoCRM does not document whether its `query` finds other
//! notations of a phone: the engine must not depend on it). `cargo test --test scenarios missed/`
//! runs some, `-- --list` lists them, nextest's `--partition` shards them. With
//! `SIPAMO_REPORT=FILE.html`, the run also writes the HTML report of `sipamo run --report`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use libtest_mimic::{Arguments, Failed, Trial};
use sipamo::sim::mock::state::SearchMode;
use sipamo::sim::scenario::run::{Outcome, RunOptions};
use sipamo::sim::scenario::{load, run, suite};

fn main() {
    let args = Arguments::from_args();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let files = suite::discover(&[root.join("scenarios")]).expect("scenarios/ is readable");
    let mut trials: Vec<Trial> = files
        .into_iter()
        .map(|file| {
            let rel = file
                .strip_prefix(root.join("scenarios"))
                .expect("under scenarios/")
                .to_path_buf();
            let name = rel.with_extension("").to_string_lossy().replace('\\', "/");
            Trial::test(name, move || scenario_matches_its_snapshot(&file, &rel))
        })
        .collect();
    trials.push(Trial::test(
        "whole suite, amoCRM still listing processed Unsorted items",
        every_scenario_passes_when_amocrm_still_lists_processed_unsorted_items,
    ));
    let started = std::time::Instant::now();
    let conclusion = libtest_mimic::run(&args, trials);
    if let Some(path) = std::env::var_os("SIPAMO_REPORT") {
        let mut outcomes = OUTCOMES.lock().unwrap_or_else(|e| e.into_inner()).clone();
        outcomes.sort_by(|a, b| a.name.cmp(&b.name));
        let path = PathBuf::from(path);
        match sipamo::sim::scenario::html::write(&path, &outcomes, &[], started.elapsed()) {
            Ok(()) => eprintln!("wrote {}", path.display()),
            Err(e) => panic!("SIPAMO_REPORT: {e}"),
        }
    }
    conclusion.exit();
}

/// Every scenario's outcome, for the HTML report.
static OUTCOMES: Mutex<Vec<Outcome>> = Mutex::new(Vec::new());

fn run_one(file: &Path, opts: RunOptions) -> Result<Outcome, Failed> {
    let loaded = load::load_file(file).map_err(|e| e.to_string())?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    Ok(rt.block_on(run::run(&loaded, opts)))
}

fn scenario_matches_its_snapshot(file: &Path, rel: &Path) -> Result<(), Failed> {
    let o = run_one(file, RunOptions::default())?;
    if std::env::var_os("SIPAMO_REPORT").is_some() {
        OUTCOMES
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(o.clone());
    }
    if !o.passed() {
        return Err(sipamo::sim::scenario::report::line(&o).into());
    }
    let lenient = run_one(
        file,
        RunOptions {
            search: SearchMode::Lenient,
            ..RunOptions::default()
        },
    )?;
    if !lenient.passed() {
        return Err(format!(
            "search lenient: {}",
            sipamo::sim::scenario::report::line(&lenient)
        )
        .into());
    }
    if lenient.snapshot() != o.snapshot() {
        return Err(format!(
            "search lenient made other requests than strict:\n{}\n--- strict:\n{}",
            lenient.snapshot(),
            o.snapshot()
        )
        .into());
    }
    // The names the snapshots were approved under: `scenario@<dir>__<file>.yaml.snap`.
    let suffix = sipamo::sim::scenario::outcome::snapshot_suffix(rel);
    let input = Path::new("scenarios").join(rel);
    insta::with_settings!({
        snapshot_path => Path::new(env!("CARGO_MANIFEST_DIR")).join("snapshots"),
        prepend_module_to_snapshot => false,
        omit_expression => true,
        snapshot_suffix => suffix,
        input_file => input,
        description => o.name.clone(),
    }, {
        insta::assert_snapshot!("scenario", o.snapshot());
    });
    Ok(())
}

/// Whether amoCRM still answers `GET /leads/unsorted/{uid}` for an accepted or declined item is
/// not documented: the engine reads the item's state from its lead, so every scenario's
/// expectations hold either way (the requests differ, so snapshots are not compared).
fn every_scenario_passes_when_amocrm_still_lists_processed_unsorted_items() -> Result<(), Failed> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let files = suite::discover(&[root]).map_err(|e| e.to_string())?;
    let (loaded, errors) = suite::load_all(&files);
    if let Some(e) = errors.first() {
        return Err(e.to_string().into());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let opts = RunOptions {
        list_processed_unsorted: true,
        ..RunOptions::default()
    };
    let outcomes = rt.block_on(suite::run_all(loaded, opts, 16));
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.passed())
        .map(sipamo::sim::scenario::report::line)
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("\n").into())
    }
}
