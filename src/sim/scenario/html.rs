//! `sipamo run --report FILE.html`: one self-contained page (no network, no external asset)
//! showing what happened in each scenario — a timeline on the virtual clock, the account at the
//! end, and for a failure the expected beside the actual with the differences marked, and the
//! snapshot diff when the journal changed. Rendered by minijinja from `report.html`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::expect::Mismatch;
use super::load::LoadError;
use super::run::Outcome;
use super::timeline::{Moment, MomentKind};

const TEMPLATE: &str = include_str!("report.html");

/// Why the report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("the report template: {0}")]
    Template(#[from] minijinja::Error),
    #[error("cannot write the report {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Serialize)]
struct Page {
    passed: usize,
    failed: usize,
    seconds: String,
    rules_cited: Vec<String>,
    rules_uncited: Vec<String>,
    rules_total: usize,
    load_errors: Vec<String>,
    scenarios: Vec<ScenarioView>,
}

#[derive(Serialize)]
struct ScenarioView {
    anchor: String,
    name: String,
    file: String,
    passed: bool,
    error: Option<String>,
    failures: Vec<String>,
    mismatches: Vec<MismatchView>,
    requests: usize,
    elapsed_ms: u128,
    rules: Vec<String>,
    timeline: Vec<MomentView>,
    dots: Vec<Dot>,
    span: String,
    account: Vec<Section>,
    diff: Option<Vec<DiffLine>>,
}

#[derive(Serialize)]
struct MomentView {
    at: String,
    kind: MomentKind,
    title: String,
    detail: Option<String>,
    rules: Vec<String>,
    status: Option<u16>,
    bad: bool,
}

/// A moment on the timeline strip: its place (0–1000) and kind.
#[derive(Serialize)]
struct Dot {
    x: i64,
    kind: MomentKind,
    title: String,
}

#[derive(Serialize)]
struct Section {
    kind: &'static str,
    lines: Vec<String>,
}

#[derive(Serialize)]
struct MismatchView {
    what: String,
    expected: Vec<String>,
    actual: Vec<String>,
    unmatched: Vec<UnmatchedView>,
}

#[derive(Serialize)]
struct UnmatchedView {
    expected: Vec<Piece>,
    closest: Vec<Piece>,
    differs: Vec<String>,
}

/// A run of text, marked when it is a difference.
#[derive(Serialize)]
struct Piece {
    text: String,
    marked: bool,
}

#[derive(Serialize)]
struct DiffLine {
    tag: char,
    text: String,
}

/// The page for these outcomes.
pub fn render(
    outcomes: &[Outcome],
    load_errors: &[LoadError],
    elapsed: Duration,
) -> Result<String, ReportError> {
    let mut env = minijinja::Environment::new();
    env.add_template("report.html", TEMPLATE)?;
    let page = page(outcomes, load_errors, elapsed);
    let ctx = minijinja::value::Value::from(minijinja::value::Serde(&page));
    Ok(env.get_template("report.html")?.render(ctx)?)
}

/// Renders and writes the page (0600, atomically).
pub fn write(
    path: &Path,
    outcomes: &[Outcome],
    load_errors: &[LoadError],
    elapsed: Duration,
) -> Result<(), ReportError> {
    let html = render(outcomes, load_errors, elapsed)?;
    crate::private_file::write_atomic(path, html.as_bytes()).map_err(|source| ReportError::Write {
        path: path.to_path_buf(),
        source,
    })
}

fn page(outcomes: &[Outcome], load_errors: &[LoadError], elapsed: Duration) -> Page {
    let passed = outcomes.iter().filter(|o| o.passed()).count();
    let mut cited: Vec<String> = outcomes.iter().flat_map(|o| o.rules.clone()).collect();
    cited.sort();
    cited.dedup();
    let uncited = super::rules::all_ids()
        .filter(|id| !cited.iter().any(|c| c == id))
        .map(str::to_string)
        .collect();
    Page {
        passed,
        failed: outcomes.len() - passed + load_errors.len(),
        seconds: format!("{:.2}", elapsed.as_secs_f64()),
        rules_total: super::rules::all_ids().count(),
        rules_cited: cited,
        rules_uncited: uncited,
        load_errors: load_errors.iter().map(ToString::to_string).collect(),
        scenarios: outcomes.iter().enumerate().map(scenario).collect(),
    }
}

fn scenario((i, o): (usize, &Outcome)) -> ScenarioView {
    let last = o.timeline.iter().map(|m| m.at_ms).max().unwrap_or(0).max(1);
    let first = o
        .timeline
        .iter()
        .map(|m| m.at_ms)
        .min()
        .unwrap_or(0)
        .min(last);
    let place = |at: i64| (at - first).saturating_mul(1000) / (last - first).max(1);
    ScenarioView {
        anchor: format!("scenario-{}", i + 1),
        name: o.name.clone(),
        file: o.file.clone(),
        passed: o.passed(),
        error: o.error.clone(),
        failures: o.failures.clone(),
        mismatches: o.mismatches.iter().map(mismatch).collect(),
        requests: o.requests,
        elapsed_ms: o.elapsed.as_millis(),
        rules: o.rules.clone(),
        timeline: o.timeline.iter().map(moment).collect(),
        dots: o
            .timeline
            .iter()
            .filter(|m| m.kind != MomentKind::Request || m.status.is_some_and(|s| s >= 400))
            .map(|m| Dot {
                x: place(m.at_ms),
                kind: m.kind,
                title: format!("{} {}", offset(m.at_ms), m.title),
            })
            .collect(),
        span: format!("{} – {}", offset(first), offset(last)),
        account: o
            .account
            .iter()
            .map(|(kind, lines)| Section {
                kind,
                lines: lines.clone(),
            })
            .collect(),
        diff: snapshot_diff(o),
    }
}

fn offset(ms: i64) -> String {
    crate::sim::mock::journal::offset(ms)
}

fn moment(m: &Moment) -> MomentView {
    MomentView {
        at: offset(m.at_ms),
        kind: m.kind,
        title: m.title.clone(),
        detail: m.detail.clone(),
        rules: m.rules.clone(),
        status: m.status,
        bad: m.kind == MomentKind::Failed || m.status.is_some_and(|s| s >= 400),
    }
}

fn mismatch(m: &Mismatch) -> MismatchView {
    MismatchView {
        what: m.what.clone(),
        expected: m.expected.clone(),
        actual: m.actual.clone(),
        unmatched: m
            .unmatched
            .iter()
            .map(|u| UnmatchedView {
                expected: mark(&u.expected, &u.differs, Side::Expected),
                closest: mark(
                    u.closest.as_deref().unwrap_or("(nothing)"),
                    &u.differs,
                    Side::Actual,
                ),
                differs: u.differs.clone(),
            })
            .collect(),
    }
}

/// Which column a text is in: an expected item names `field: value`; an entity's description
/// names `field value`.
#[derive(Clone, Copy)]
enum Side {
    Expected,
    Actual,
}

/// `text` cut into pieces, each difference marked: in an expected item the `field: value`
/// it names; in the closest entity the field's word and the value after it.
fn mark(text: &str, differs: &[String], side: Side) -> Vec<Piece> {
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for d in differs {
        let field = d.split(':').next().unwrap_or(d).trim();
        let found = match side {
            Side::Expected => text.find(d.as_str()).map(|at| (at, at + d.len())),
            Side::Actual => text.find(&format!("{field} ")).map(|at| {
                let value_start = at + field.len() + 1;
                let end = text[value_start..]
                    .find(' ')
                    .map_or(text.len(), |e| value_start + e);
                (at, end)
            }),
        };
        spans.extend(found);
    }
    spans.sort_unstable();
    let mut pieces = Vec::new();
    let mut at = 0;
    for (start, end) in spans {
        if start < at {
            continue;
        }
        pieces.push(Piece {
            text: text[at..start].to_string(),
            marked: false,
        });
        pieces.push(Piece {
            text: text[start..end].to_string(),
            marked: true,
        });
        at = end;
    }
    pieces.push(Piece {
        text: text[at..].to_string(),
        marked: false,
    });
    pieces.retain(|p| !p.text.is_empty());
    pieces
}

/// The approved snapshot of a scenario under `scenarios/` (`snapshots/scenario@<path>.snap`
/// beside that folder), when there is one.
fn approved(file: &str) -> Option<String> {
    let path = Path::new(file);
    let parts: Vec<&str> = path.iter().filter_map(|p| p.to_str()).collect();
    let at = parts.iter().rposition(|p| *p == "scenarios")?;
    let root: PathBuf = parts[..at].iter().collect();
    let rel: PathBuf = parts[at + 1..].iter().collect();
    let name = format!("scenario@{}.snap", super::outcome::snapshot_suffix(&rel));
    let text = std::fs::read_to_string(root.join("snapshots").join(name)).ok()?;
    // insta's header: `---`, its fields, `---`.
    let body = text.splitn(3, "---\n").nth(2)?;
    Some(body.to_string())
}

/// The lines of the approved snapshot and of this run's, when they differ.
fn snapshot_diff(o: &Outcome) -> Option<Vec<DiffLine>> {
    let old = approved(&o.file)?;
    let new = o.snapshot();
    if old.trim_end() == new.trim_end() {
        return None;
    }
    let diff = similar::TextDiff::from_lines(old.as_str(), new.as_str());
    Some(
        diff.iter_all_changes()
            .map(|c| DiffLine {
                tag: match c.tag() {
                    similar::ChangeTag::Delete => '-',
                    similar::ChangeTag::Insert => '+',
                    similar::ChangeTag::Equal => ' ',
                },
                text: c.value().trim_end_matches('\n').to_string(),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The marked pieces of `text`.
    fn marked(text: &str, differs: &[String], side: Side) -> Vec<String> {
        mark(text, differs, side)
            .into_iter()
            .filter(|p| p.marked)
            .map(|p| p.text)
            .collect()
    }

    #[test]
    fn differences_are_marked_in_both_columns() {
        let differs = vec!["due: 49h10s".to_string()];
        let want = "{ client: +7903, on: Lead, due: 49h10s }";
        assert_eq!(marked(want, &differs, Side::Expected), ["due: 49h10s"]);
        let got = "task 1 on leads 2 responsible 1001 due 24h10s completed false";
        assert_eq!(marked(got, &differs, Side::Actual), ["due 24h10s"]);
    }

    #[test]
    fn the_approved_snapshot_is_found_beside_the_scenarios_folder() {
        let root = env!("CARGO_MANIFEST_DIR");
        let file = format!("{root}/scenarios/missed/seed-example-300s.yaml");
        let body = approved(&file).expect("the suite's snapshot");
        assert!(body.starts_with("# "), "{body}");
    }
}
