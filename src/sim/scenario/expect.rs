//! Checking `expect:` on the mock's final state. A list matches the entities one to one:
//! same count, and each expected item matches a different entity on every field it names.

use std::fmt::Write as _;

use super::model::*;
use crate::phone::digits_key;
use crate::sim::mock::state::{CrmState, EntityKind};

/// An expectation that did not hold, for the report's side-by-side view: what was expected,
/// what the account holds, and for each expected item no entity matched, the closest entity
/// and the fields in which they differ.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Mismatch {
    /// `contacts`, `leads`, `unsorted`, `tasks`, `notes` or `requests`.
    pub what: String,
    pub expected: Vec<String>,
    pub actual: Vec<String>,
    pub unmatched: Vec<Unmatched>,
}

/// An expected item no entity matched.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Unmatched {
    pub expected: String,
    /// The entity meeting most of its fields.
    pub closest: Option<String>,
    /// The fields the closest entity does not meet.
    pub differs: Vec<String>,
}

/// What `expect:` found: the failures as text, the same as data for the report, and the
/// account it was checked against (each visible entity as one line, by kind; contacts and
/// leads inside pending Unsorted items are not visible, the items are listed with their state).
#[derive(Clone, Debug, Default)]
pub(crate) struct Checked {
    pub(crate) failures: Vec<String>,
    pub(crate) mismatches: Vec<Mismatch>,
    pub(crate) account: Vec<(&'static str, Vec<String>)>,
}

/// One entity as expectations see it.
#[derive(Debug, Default, Clone)]
struct View {
    describe: String,
    phones: Vec<String>,
    responsible: Option<u64>,
    pipeline: Option<u64>,
    status: Option<u64>,
    state: Option<crate::sim::mock::UnsortedState>,
    on: Option<On>,
    due: Option<i64>,
    completed: Option<bool>,
    note_type: Option<String>,
    call_status: Option<u64>,
    result: Option<String>,
    name: Option<String>,
    link: Option<String>,
    duration: Option<u64>,
}

fn keys_of(s: &CrmState, kind: EntityKind, id: u64) -> Vec<String> {
    s.phone_keys_of(kind, id)
}

fn phones_text(p: &[String]) -> String {
    if p.is_empty() {
        "no phone".into()
    } else {
        p.iter()
            .map(|k| format!("…{k}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn contacts(s: &CrmState) -> Vec<View> {
    s.contacts
        .values()
        .filter(|c| c.visible)
        .map(|c| {
            let phones: Vec<String> = c.phones.iter().filter_map(|p| digits_key(p)).collect();
            View {
                describe: format!(
                    "contact {} {:?} ({}) responsible {}",
                    c.id,
                    c.name,
                    c.phones.join(", "),
                    c.responsible_user_id
                ),
                phones,
                responsible: Some(c.responsible_user_id),
                name: Some(c.name.clone()),
                ..View::default()
            }
        })
        .collect()
}

fn leads(s: &CrmState) -> Vec<View> {
    s.leads
        .values()
        .filter(|l| l.visible)
        .map(|l| {
            let phones = keys_of(s, EntityKind::Leads, l.id);
            View {
                describe: format!(
                    "lead {} ({}) pipeline {} status {} responsible {}",
                    l.id,
                    phones_text(&phones),
                    l.pipeline_id,
                    l.status_id,
                    l.responsible_user_id
                ),
                phones,
                responsible: Some(l.responsible_user_id),
                pipeline: Some(l.pipeline_id),
                status: Some(l.status_id),
                ..View::default()
            }
        })
        .collect()
}

fn unsorted(s: &CrmState) -> Vec<View> {
    s.unsorted_order
        .iter()
        .filter_map(|uid| s.unsorted.get(uid))
        .map(|u| {
            let phones: Vec<String> = u.phone_key.iter().cloned().collect();
            let resp = u
                .metadata
                .get("call_responsible")
                .and_then(serde_json::Value::as_u64);
            View {
                describe: format!(
                    "unsorted {} ({}) {:?} call_responsible {}",
                    u.source_uid,
                    phones_text(&phones),
                    u.state,
                    resp.map_or("-".into(), |r| r.to_string())
                ),
                phones,
                state: Some(u.state),
                responsible: resp,
                ..View::default()
            }
        })
        .collect()
}

fn on_of(kind: EntityKind) -> On {
    match kind {
        EntityKind::Leads => On::Lead,
        EntityKind::Contacts => On::Contact,
        EntityKind::Companies => On::Company,
    }
}

fn tasks(s: &CrmState, start: i64) -> Vec<View> {
    s.tasks
        .values()
        .map(|t| {
            let phones = keys_of(s, t.entity_type, t.entity_id);
            let due = t.complete_till - start;
            View {
                describe: format!(
                    "task {} on {} {} ({}) responsible {} due {} completed {}",
                    t.id,
                    t.entity_type.as_str(),
                    t.entity_id,
                    phones_text(&phones),
                    t.responsible_user_id,
                    crate::duration::Span(due.max(0) as u64),
                    t.is_completed
                ),
                phones,
                on: Some(on_of(t.entity_type)),
                responsible: Some(t.responsible_user_id),
                due: Some(due),
                completed: Some(t.is_completed),
                ..View::default()
            }
        })
        .collect()
}

fn notes(s: &CrmState) -> Vec<View> {
    s.notes
        .values()
        .map(|n| {
            let phones = keys_of(s, n.entity_type, n.entity_id);
            let status = n
                .params
                .get("call_status")
                .and_then(serde_json::Value::as_u64);
            let text = |key: &str| {
                n.params
                    .get(key)
                    .and_then(serde_json::Value::as_str)
                    .map(str::to_string)
            };
            let (result, link) = (text("call_result"), text("link"));
            let duration = n.params.get("duration").and_then(serde_json::Value::as_u64);
            View {
                describe: format!(
                    "note {} {} on {} {} ({}) call_status {} responsible {}{} duration {} link {}",
                    n.id,
                    n.note_type,
                    n.entity_type.as_str(),
                    n.entity_id,
                    phones_text(&phones),
                    status.map_or("-".into(), |s| s.to_string()),
                    n.responsible_user_id,
                    result
                        .as_ref()
                        .map_or(String::new(), |r| format!(" result {r:?}")),
                    duration.map_or("-".into(), |d| d.to_string()),
                    link.as_deref().unwrap_or("-"),
                ),
                phones,
                on: Some(on_of(n.entity_type)),
                responsible: Some(n.responsible_user_id),
                note_type: Some(n.note_type.clone()),
                call_status: status,
                result,
                link,
                duration,
                ..View::default()
            }
        })
        .collect()
}

/// A field an expected item names, as a predicate on a view and as text.
type Check = (String, Box<dyn Fn(&View) -> bool>);

fn client(c: &Option<PhoneField>) -> Option<Check> {
    c.as_ref().map(|p| {
        let key = p.0.last10().to_string();
        (
            format!("client: {}", p.0.e164()),
            Box::new(move |v: &View| v.phones.contains(&key)) as Box<dyn Fn(&View) -> bool>,
        )
    })
}

fn eq<T: PartialEq + Copy + std::fmt::Debug + 'static>(
    name: &str,
    want: Option<T>,
    get: fn(&View) -> Option<T>,
) -> Option<Check> {
    want.map(|w| {
        (
            format!("{name}: {w:?}"),
            Box::new(move |v: &View| get(v) == Some(w)) as Box<dyn Fn(&View) -> bool>,
        )
    })
}

/// [`eq`] for a text field.
fn eq_text(name: &str, want: &Option<String>, get: fn(&View) -> Option<&str>) -> Option<Check> {
    want.clone().map(|w| {
        (
            format!("{name}: {w:?}"),
            Box::new(move |v: &View| get(v) == Some(w.as_str())) as Box<dyn Fn(&View) -> bool>,
        )
    })
}

fn checks_contact(e: &ContactExpect) -> Vec<Check> {
    [
        client(&e.client),
        eq("responsible", e.responsible, |v| v.responsible),
        eq_text("name", &e.name, |v| v.name.as_deref()),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn checks_lead(e: &LeadExpect) -> Vec<Check> {
    [
        client(&e.client),
        eq("responsible", e.responsible, |v| v.responsible),
        eq("pipeline", e.pipeline, |v| v.pipeline),
        eq("status", e.status, |v| v.status),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn checks_unsorted(e: &UnsortedExpect) -> Vec<Check> {
    [
        client(&e.client),
        eq("state", e.state, |v| v.state),
        eq("responsible", e.responsible, |v| v.responsible),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn checks_task(e: &TaskExpect) -> Vec<Check> {
    let due = e.due.map(|d| {
        let secs = d.secs() as i64;
        (
            format!("due: {d}"),
            Box::new(move |v: &View| v.due == Some(secs)) as Box<dyn Fn(&View) -> bool>,
        )
    });
    [
        client(&e.client),
        eq("on", e.on, |v| v.on),
        eq("responsible", e.responsible, |v| v.responsible),
        due,
        eq("completed", e.completed, |v| v.completed),
    ]
    .into_iter()
    .flatten()
    .collect()
}

fn checks_note(e: &NoteExpect) -> Vec<Check> {
    let ty = e.note_type.map(|t| {
        let s = match t {
            NoteType::CallIn => "call_in",
            NoteType::CallOut => "call_out",
            NoteType::Common => "common",
        };
        (
            format!("type: {s}"),
            Box::new(move |v: &View| v.note_type.as_deref() == Some(s))
                as Box<dyn Fn(&View) -> bool>,
        )
    });
    let status = e.call_status.map(u64::from);
    [
        client(&e.client),
        ty,
        eq("call_status", status, |v| v.call_status),
        eq("on", e.on, |v| v.on),
        eq("responsible", e.responsible, |v| v.responsible),
        eq_text("result", &e.result, |v| v.result.as_deref()),
        eq_text("link", &e.link, |v| v.link.as_deref()),
        eq("duration", e.duration, |v| v.duration),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The entity that meets most of an expected item's fields, and the fields it does not
/// (as wiremock shows the closest request when none matched).
fn closest<'v>(checks: &[Check], views: &'v [View]) -> Option<(&'v View, Vec<String>)> {
    views
        .iter()
        .map(|v| {
            let failed: Vec<String> = checks
                .iter()
                .filter(|(_, f)| !f(v))
                .map(|(name, _)| name.clone())
                .collect();
            (v, failed)
        })
        .min_by_key(|(_, failed)| failed.len())
}

/// Finds a one-to-one assignment of expected items to entities (small sizes: backtracking).
fn assign(fits: &[Vec<bool>], i: usize, used: &mut Vec<bool>) -> bool {
    if i == fits.len() {
        return true;
    }
    for j in 0..used.len() {
        if fits[i][j] && !used[j] {
            used[j] = true;
            if assign(fits, i + 1, used) {
                return true;
            }
            used[j] = false;
        }
    }
    false
}

/// What the account holds of a kind, a line each.
fn holds(views: &[View]) -> String {
    let mut s = String::new();
    if views.is_empty() {
        s.push_str("    (none)\n");
    }
    for v in views {
        let _ = writeln!(s, "    - {}", v.describe);
    }
    s
}

/// An expected item as the fields it names: `{ client: +7…, due: 5m }`.
fn item_text(c: &[Check]) -> String {
    format!(
        "{{ {} }}",
        c.iter().map(|x| x.0.clone()).collect::<Vec<_>>().join(", ")
    )
}

/// An expected item no entity matched, with the entity closest to it.
fn unmatched_item(checks: &[Check], views: &[View]) -> Unmatched {
    let near = closest(checks, views);
    Unmatched {
        expected: item_text(checks),
        closest: near.as_ref().map(|(v, _)| v.describe.clone()),
        differs: near.map(|(_, d)| d).unwrap_or_default(),
    }
}

fn check_kind<T>(
    what: &str,
    want: &Option<CountOr<T>>,
    views: &[View],
    to_checks: fn(&T) -> Vec<Check>,
    out: &mut Checked,
) {
    let Some(want) = want else { return };
    let mut mismatch = Mismatch {
        what: what.to_string(),
        actual: views.iter().map(|v| v.describe.clone()).collect(),
        ..Mismatch::default()
    };
    let failures = &mut out.failures;
    match want {
        CountOr::Count(n) => {
            if *n != views.len() {
                mismatch.expected = vec![format!("{n} {what}")];
                out.mismatches.push(mismatch);
                failures.push(format!(
                    "expect.{what}: expected {n}, the account holds {}:\n{}",
                    views.len(),
                    holds(views)
                ));
            }
        }
        CountOr::List(items) => {
            let checks: Vec<Vec<Check>> = items.iter().map(to_checks).collect();
            mismatch.expected = checks.iter().map(|c| item_text(c)).collect();
            if items.len() != views.len() {
                let listed: Vec<String> = checks
                    .iter()
                    .map(|c| format!("    - {}", item_text(c)))
                    .collect();
                out.mismatches.push(mismatch);
                failures.push(format!(
                    "expect.{what}: expected {} item(s):\n{}\n  the account holds {}:\n{}",
                    items.len(),
                    listed.join("\n"),
                    views.len(),
                    holds(views)
                ));
                return;
            }
            let fits: Vec<Vec<bool>> = checks
                .iter()
                .map(|c| views.iter().map(|v| c.iter().all(|(_, f)| f(v))).collect())
                .collect();
            if !assign(&fits, 0, &mut vec![false; views.len()]) {
                mismatch.unmatched = checks
                    .iter()
                    .zip(&fits)
                    .filter(|(_, f)| !f.iter().any(|b| *b))
                    .map(|(c, _)| unmatched_item(c, views))
                    .collect();
                let unmatched: Vec<String> =
                    mismatch.unmatched.iter().map(unmatched_line).collect();
                out.mismatches.push(mismatch);
                let detail = if unmatched.is_empty() {
                    "    (each item fits some entity, but not all at once)".to_string()
                } else {
                    unmatched.join("\n")
                };
                failures.push(format!("expect.{what}: no one-to-one match; not matched:\n{detail}\n  the account holds:\n{}", holds(views)));
            }
        }
    }
}

/// An unmatched item as a failure lists it, with the entity closest to it.
fn unmatched_line(u: &Unmatched) -> String {
    match &u.closest {
        Some(near) => format!(
            "    - {}\n      closest: {near}\n      differs in: {}",
            u.expected,
            u.differs.join(", ")
        ),
        None => format!("    - {}", u.expected),
    }
}

/// Checks every expectation; answers the failures (empty when all hold).
pub(crate) fn check(expect: &Expect, s: &CrmState, start: i64, requests: usize) -> Checked {
    let mut out = Checked::default();
    let kinds: [(&'static str, Vec<View>); 5] = [
        ("contacts", contacts(s)),
        ("leads", leads(s)),
        ("unsorted", unsorted(s)),
        ("tasks", tasks(s, start)),
        ("notes", notes(s)),
    ];
    let [contacts, leads, unsorted, tasks, notes] = kinds.each_ref().map(|(_, v)| v.as_slice());
    let found = &mut out;
    check_kind(
        "contacts",
        &expect.contacts,
        contacts,
        checks_contact,
        found,
    );
    check_kind("leads", &expect.leads, leads, checks_lead, found);
    check_kind(
        "unsorted",
        &expect.unsorted,
        unsorted,
        checks_unsorted,
        found,
    );
    check_kind("tasks", &expect.tasks, tasks, checks_task, found);
    check_kind("notes", &expect.notes, notes, checks_note, found);
    if let Some(r) = &expect.requests {
        if let Some(max) = r.max
            && requests > max
        {
            found.failures.push(format!("expect.requests.max: at most {max} amoCRM requests expected, the steps made {requests}"));
        }
        if let Some(min) = r.min
            && requests < min
        {
            found.failures.push(format!("expect.requests.min: at least {min} amoCRM requests expected, the steps made {requests}"));
        }
    }
    out.account = kinds
        .into_iter()
        .map(|(kind, views)| (kind, views.into_iter().map(|v| v.describe).collect()))
        .collect();
    out
}

#[cfg(test)]
mod tests {
    /// An expected item no entity matches is reported with the entity closest to it and the
    /// fields in which they differ.
    #[tokio::test]
    async fn an_unmatched_item_names_the_closest_entity_and_the_fields_that_differ() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("scenarios/missed/seed-example-300s.yaml");
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("due: 11m", "due: 12m");
        let scenario = crate::sim::scenario::load::parse(&text, "wrong-due.yaml").unwrap();
        let loaded = crate::sim::scenario::load::Loaded {
            path: "wrong-due.yaml".into(),
            scenario,
        };
        let o = crate::sim::scenario::run::run(&loaded, Default::default()).await;
        let report = o.failures.join("\n");
        assert!(report.contains("not matched:"), "{report}");
        assert!(report.contains("closest: "), "{report}");
        assert!(report.contains("differs in: due: "), "{report}");
        assert!(!report.contains("differs in: client"), "{report}");
    }
}
