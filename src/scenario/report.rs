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
pub(crate) fn junit(outcomes: &[Outcome], load_errors: &[LoadError]) -> Result<String, String> {
    let mut report = Report::new("sipamo");
    let mut suite = TestSuite::new("scenarios");
    for o in outcomes {
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
    report.to_string().map_err(|e| e.to_string())
}
