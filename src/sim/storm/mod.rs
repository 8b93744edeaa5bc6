//! Call storms: a seeded day of random traffic run through the engine and the mock with the
//! invariants checked after every call, and shrinking to a minimal YAML reproducer.

pub mod generate;
pub mod shrink;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::sim::scenario::load::Loaded;
use crate::sim::scenario::model::Scenario;
use crate::sim::scenario::run::{self, Outcome, RunOptions};

/// How storms run: invariants after every step, manager actions that find nothing skipped,
/// the mock limiting to 7 requests per second and putting Unsorted calls on their leads.
pub fn storm_options(
    sabotage_task_dedup: bool,
    progress: Option<indicatif::ProgressBar>,
) -> RunOptions {
    RunOptions {
        invariants: true,
        lenient_crm: true,
        sabotage_task_dedup,
        rate_limit: Some(7),
        progress,
        // A lost answer costs no real time (the mock marks it lost on the virtual clock); this
        // timeout only bounds an answer that is merely slow (taken for lost, it adds a
        // look-up, never a second entity).
        client_timeout: STORM_CLIENT_TIMEOUT,
        list_processed_unsorted: false,
        // The harder world: an Unsorted item's call is on its lead already, and the engine
        // must not write it a second time (the one-note-per-call invariant checks).
        unsorted_call_events: true,
        search: crate::sim::mock::state::SearchMode::Strict,
    }
}

/// The engine's client timeout in storms.
pub(crate) const STORM_CLIENT_TIMEOUT: Duration = Duration::from_millis(150);

/// Runs a storm scenario; answers the outcome and the wall time.
pub async fn run_storm(
    scenario: &Scenario,
    sabotage_task_dedup: bool,
    progress: Option<indicatif::ProgressBar>,
) -> (Outcome, Duration) {
    let loaded = Loaded {
        path: PathBuf::from("storm"),
        scenario: scenario.clone(),
    };
    let started = Instant::now();
    let outcome = run::run(&loaded, storm_options(sabotage_task_dedup, progress)).await;
    (outcome, started.elapsed())
}

/// Runs a storm on a thread of its own with its own single-threaded runtime, pinned to one
/// core together with the mock's server thread (which inherits the pinning). A storm is a
/// chain of request round trips between those two threads; on one core each hand-off is a
/// cheap switch instead of a wake-up across cores (about 1.5× more calls per second here).
/// Blocking: call it from `spawn_blocking` or a plain thread.
pub(crate) fn run_storm_pinned(
    scenario: &Scenario,
    sabotage_task_dedup: bool,
    progress: Option<indicatif::ProgressBar>,
) -> std::io::Result<(Outcome, Duration)> {
    if let Some(core) = core_affinity::get_core_ids().and_then(|ids| ids.last().copied()) {
        core_affinity::set_for_current(core);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(rt.block_on(run_storm(scenario, sabotage_task_dedup, progress)))
}

/// The summary printed after a storm.
pub(crate) fn summary(o: &Outcome, elapsed: Duration) -> String {
    let calls: usize = o.paths.values().map(|p| p.calls).sum();
    let mut s = String::new();
    let _ = writeln!(s, "calls handled: {calls}");
    let _ = writeln!(
        s,
        "amoCRM requests: {} ({:.2} per call)",
        o.requests,
        o.requests as f64 / calls.max(1) as f64
    );
    let _ = writeln!(s, "requests per call by path:");
    for (path, p) in &o.paths {
        let _ = writeln!(
            s,
            "  {path:<32} {:>6} calls  {:>5.2} requests/call",
            p.calls,
            p.requests as f64 / p.calls.max(1) as f64
        );
    }
    let lost = o.journal.iter().filter(|e| e.hung).count();
    let _ = writeln!(
        s,
        "lost answers simulated: {lost} (each taken as a {} ms client timeout, in virtual time)",
        STORM_CLIENT_TIMEOUT.as_millis()
    );
    let checked = if o.violation.is_some() {
        o.steps_run.saturating_sub(1)
    } else {
        o.steps_run
    };
    let _ = writeln!(
        s,
        "invariant checks passed: {checked} (7 invariants after each of {} steps)",
        o.steps_run
    );
    if let Some(e) = &o.error {
        let _ = writeln!(s, "error: {e}");
    }
    let _ = writeln!(
        s,
        "wall time: {:.2} s = {:.0} calls/s",
        elapsed.as_secs_f64(),
        calls as f64 / elapsed.as_secs_f64().max(1e-9)
    );
    s
}
