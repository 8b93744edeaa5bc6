//! Reports: a line per scenario with the failure text, a summary, and JUnit XML.

use std::fmt::Write as _;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use super::load::LoadError;
use super::run::Outcome;

/// The line (and failure detail) of one scenario.
pub fn line(o: &Outcome) -> String {
    let mut s = format!(
        "{} {}  {}  ({} requests, {} ms)",
        if o.passed() { "PASS" } else { "FAIL" },
        o.file,
        o.name,
        o.requests,
        o.elapsed.as_millis()
    );
    for f in &o.failures {
        let _ = write!(s, "\n  {}", f.replace('\n', "\n  "));
    }
    s
}

/// `N passed, N failed` — and load errors, which count as failures.
pub(crate) fn summary(outcomes: &[Outcome], load_errors: &[LoadError]) -> String {
    let passed = outcomes.iter().filter(|o| o.passed()).count();
    let failed = outcomes.len() - passed + load_errors.len();
    format!("{passed} passed, {failed} failed")
}

/// JUnit XML: one testcase per scenario (and per file that did not load).
/// With `html`, each testcase's `system-out` starts with where the HTML report shows it.
pub(crate) fn junit(
    outcomes: &[Outcome],
    load_errors: &[LoadError],
    html: Option<&std::path::Path>,
) -> Result<String, quick_junit::SerializeError> {
    let mut report = Report::new("sipamo");
    let mut suite = TestSuite::new("scenarios");
    for (i, o) in outcomes.iter().enumerate() {
        let status = if o.passed() {
            TestCaseStatus::success()
        } else {
            let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
            s.set_message(
                o.failures
                    .first()
                    .map(|f| f.lines().next().unwrap_or("").to_string())
                    .unwrap_or_default(),
            );
            s.set_description(o.failures.join("\n\n"));
            s
        };
        let mut case = TestCase::new(o.name.clone(), status);
        case.set_classname(o.file.clone());
        let mut out: Vec<String> = html
            .map(|p| format!("report: {}#scenario-{}", p.display(), i + 1))
            .into_iter()
            .collect();
        out.extend(o.explanation.iter().cloned());
        if !out.is_empty() {
            case.set_system_out(out.join("\n"));
        }
        case.set_time(o.elapsed);
        suite.add_test_case(case);
    }
    for e in load_errors {
        let mut s = TestCaseStatus::non_success(NonSuccessKind::Error);
        s.set_message(e.message.clone());
        s.set_description(e.to_string());
        let mut case = TestCase::new(e.file.clone(), s);
        case.set_classname(e.file.clone());
        suite.add_test_case(case);
    }
    report.add_test_suite(suite);
    report.to_string()
}

/// One handled call: what it did and the rules and reasons behind it.
pub(crate) fn explain(h: &crate::engine::Handled) -> String {
    use crate::engine::Handled;
    match h {
        Handled::Internal { call_id } => format!("call {call_id}: R-INT: internal, nothing done"),
        Handled::Hidden { call_id, number } => {
            format!("call {call_id}: R-HIDDEN: the number is hidden ({number}), nothing done")
        }
        Handled::Parked { call_id, reason } => {
            format!("call {call_id}: R-ISOLATE: parked: {reason}")
        }
        Handled::Done { call_id, plan } => {
            let mut s = format!("call {call_id}:");
            for b in &plan.because {
                let _ = write!(s, "\n  because {b}");
            }
            for action in plan.actions() {
                let _ = write!(s, "\n  does {action}");
            }
            s
        }
    }
}

#[cfg(test)]
mod explain_tests {
    use super::*;

    /// `--explain` and JUnit's system-out give, per call, the rules behind each action.
    #[tokio::test]
    async fn every_handled_call_is_explained_with_its_rules() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios/missed/seed-example-300s.yaml");
        let loaded = crate::sim::scenario::load::load_file(&path).unwrap();
        let o = crate::sim::scenario::run::run(&loaded, Default::default()).await;
        assert!(o.passed(), "{}", line(&o));
        assert_eq!(o.explanation.len(), 4, "one per call: {:#?}", o.explanation);
        assert!(
            o.explanation[0].contains("because R-IN-U1"),
            "{}",
            o.explanation[0]
        );
        assert!(
            o.explanation[1].contains("because R-MISS-DEDUP"),
            "{}",
            o.explanation[1]
        );
        assert!(o.explanation[3].contains("does R-MISS-TASK: creates a callback task"));
        let xml = junit(std::slice::from_ref(&o), &[], None).unwrap();
        assert!(
            xml.contains("<system-out>") && xml.contains("R-MISS-DEDUP"),
            "{xml}"
        );
    }
}
