//! What happened when a scenario ran: its verdict, failures, journal, timeline, the account at
//! the end, and the snapshot the suite approves.

use std::fmt::Write as _;
use std::time::Duration;

use super::expect;
use super::timeline::Moment;
use crate::sim::mock::journal::{self, JournalEntry};

/// Calls and requests of one path through the rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PathStats {
    pub calls: usize,
    pub(crate) requests: usize,
}

/// The suffix a scenario's approved snapshot is named by: its path under `scenarios/` with
/// `__` for each `/` (`snapshots/scenario@<suffix>.snap`).
pub fn snapshot_suffix(rel: &std::path::Path) -> String {
    rel.to_string_lossy().replace(['/', '\\'], "__")
}

/// The seed used when a scenario gives none.
pub(crate) const DEFAULT_SEED: u64 = 20_260_302;

/// What happened when a scenario ran.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub name: String,
    pub(crate) file: String,
    pub tags: Vec<String>,
    pub(crate) seed: u64,
    pub failures: Vec<String>,
    /// The error the engine raised or the settings check refused with, if any.
    pub error: Option<String>,
    pub journal: Vec<JournalEntry>,
    /// Virtual time zero (`start`), Unix ms.
    pub(crate) origin_ms: i64,
    /// Requests the steps caused (the start-up settings check is not counted).
    pub(crate) requests: usize,
    pub(crate) elapsed: Duration,
    /// The first broken invariant, when invariants were checked.
    pub violation: Option<crate::sim::scenario::invariants::Violation>,
    /// Index of the step after which it broke.
    pub violation_step: Option<usize>,
    /// Calls handled and requests made, by path (`incoming known answered`, ...).
    pub paths: std::collections::BTreeMap<String, PathStats>,
    /// Steps applied.
    pub(crate) steps_run: usize,
    /// Per handled call, the rule IDs and reasons behind what it did (`sipamo run --explain`).
    pub explanation: Vec<String>,
    /// Raw events kept aside as unusable (R-WIRE), with their reasons.
    pub kept: Vec<String>,
    /// Everything that happened, in virtual-time order (the HTML report's timeline).
    pub timeline: Vec<Moment>,
    /// The expectations that did not hold, as data (the report's side-by-side view).
    pub mismatches: Vec<expect::Mismatch>,
    /// The account at the end: each visible entity as one line, by kind.
    pub account: Vec<(&'static str, Vec<String>)>,
    /// The rule IDs the scenario cites.
    pub rules: Vec<String>,
}

impl Outcome {
    /// The outcome of a scenario before it runs: nothing happened yet.
    pub(crate) fn empty(
        name: &str,
        file: String,
        tags: Vec<String>,
        seed: u64,
        origin_ms: i64,
    ) -> Self {
        Outcome {
            name: name.to_string(),
            file,
            tags,
            seed,
            failures: Vec::new(),
            error: None,
            kept: Vec::new(),
            journal: Vec::new(),
            origin_ms,
            requests: 0,
            elapsed: Duration::ZERO,
            violation: None,
            violation_step: None,
            paths: Default::default(),
            steps_run: 0,
            explanation: Vec::new(),
            timeline: Vec::new(),
            mismatches: Vec::new(),
            account: Vec::new(),
            rules: Vec::new(),
        }
    }

    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// The journal in its compact YAML form, time from `start`.
    pub(crate) fn journal_yaml(&self) -> String {
        journal::to_yaml(&self.journal, self.origin_ms)
    }

    /// What a snapshot records: the outcome's error (if any), the events kept aside, the
    /// journal, and each handled call's rule trail.
    pub fn snapshot(&self) -> String {
        let mut s = format!("# {}\n", self.name);
        if let Some(e) = &self.error {
            let _ = writeln!(s, "# error: {}", e.replace('\n', " "));
        }
        for k in &self.kept {
            let _ = writeln!(s, "# kept: {}", k.replace('\n', " "));
        }
        s.push_str(&self.journal_yaml());
        // Why each call did what it did (`--explain`): reviewed with the requests, so a change
        // in the reasons shows up in review even when the requests stay the same.
        if !self.explanation.is_empty() {
            s.push_str("# why:\n");
            for line in self.explanation.iter().flat_map(|e| e.lines()) {
                let _ = writeln!(s, "# {line}");
            }
        }
        s
    }
}
