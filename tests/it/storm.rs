//! Storms: clean with the default settings and each Unsorted mode; the same seed draws the same
//! storm; a planted bug (callback-task dedup off) is caught, shrunk to a few steps, and the
//! written scenario fails under the buggy engine and passes under the correct one.

use sipamo::sim::scenario::load::{self, Loaded};
use sipamo::sim::scenario::run::{self, RunOptions};
use sipamo::sim::storm::{generate, run_storm, shrink};

fn config(seed: u64, calls: usize, mode: Option<&str>) -> generate::StormConfig {
    let settings_yaml = mode.map(|m| {
        format!(
            "{}incoming: {{ unknown: {{ mode: {m} }} }}\n",
            generate::default_settings(4)
        )
    });
    generate::StormConfig {
        seed,
        calls,
        clients: 40,
        employees: 4,
        settings_yaml,
    }
}

#[tokio::test]
async fn storms_run_clean_with_the_default_settings_and_each_unsorted_mode() {
    for mode in [None, Some("unsorted"), Some("unsorted_accept_on_answer")] {
        let (sc, _) = generate::generate(&config(3, 400, mode)).unwrap();
        let (o, _) = run_storm(&sc, false, None).await;
        assert_eq!(o.violation, None, "mode {mode:?}");
        assert_eq!(o.error, None, "mode {mode:?}");
        let calls: usize = o.paths.values().map(|p| p.calls).sum();
        // A storm loses about 1 % of hangups, as real cabinets do: those calls stay unhandled.
        let lost = generate::calls_without_hangup(&sc);
        assert!(lost > 0, "the storm loses some hangups");
        assert_eq!(
            calls,
            400 - lost,
            "every call with a hangup handled (mode {mode:?})"
        );
    }
}

#[test]
fn the_same_seed_draws_the_same_storm_byte_for_byte() {
    let text = |seed| {
        let (sc, settings) = generate::generate(&config(seed, 300, None)).unwrap();
        shrink::scenario_yaml(
            &sc.name,
            seed,
            &settings,
            &generate::crm_yaml(4),
            &sc.steps,
            "",
        )
    };
    assert_eq!(text(9), text(9));
    assert_ne!(text(9), text(10));
}

#[tokio::test]
async fn a_planted_bug_is_caught_shrunk_and_written_as_a_failing_scenario() {
    let (sc, settings) = generate::generate(&config(1, 400, None)).unwrap();
    let (o, _) = run_storm(&sc, true, None).await;
    let v = o.violation.expect("the planted bug breaks an invariant");
    assert_eq!(v.invariant, "overlapping-callback-tasks");
    let last = o.violation_step.unwrap();
    let opts = sipamo::sim::storm::storm_options(true, None);
    let small = shrink::shrink(&sc, sc.steps[..=last].to_vec(), v.invariant, &opts).await;
    assert!(small.len() <= 4, "shrunk to {} steps", small.len());

    let yaml = shrink::scenario_yaml(
        "planted bug",
        1,
        &settings,
        &generate::crm_yaml(4),
        &small,
        "test",
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reproducer.yaml");
    std::fs::write(&path, &yaml).unwrap();
    let loaded: Loaded = load::load_file(&path).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
    let buggy = run::run(
        &loaded,
        RunOptions {
            sabotage_task_dedup: true,
            ..RunOptions::default()
        },
    )
    .await;
    assert!(
        !buggy.passed(),
        "the reproducer fails under the buggy engine"
    );
    assert!(
        buggy
            .failures
            .iter()
            .any(|f| f.contains("overlapping-callback-tasks")),
        "{:?}",
        buggy.failures
    );
    let fixed = run::run(&loaded, RunOptions::default()).await;
    assert!(
        fixed.passed(),
        "and passes under the correct one: {:?}",
        fixed.failures
    );
    // QA opens it as any scenario: the report shows its steps on the timeline.
    let (passed, html) = crate::runner::html_report_of(&path);
    assert!(passed, "the reproducer passes under `sipamo run`");
    assert!(html.contains("planted bug"), "the report names it");
    let delivered = fixed
        .timeline
        .iter()
        .filter(|m| m.kind == sipamo::sim::scenario::timeline::MomentKind::Event)
        .count();
    let shown = html.matches("class=\"moment kind-event").count();
    assert!(
        delivered >= 2 * small.len(),
        "{delivered} events for {} calls",
        small.len()
    );
    assert_eq!(
        shown, delivered,
        "every delivered event is on the report's timeline"
    );
}
