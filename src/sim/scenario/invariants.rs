//! Rules that must hold after every call, whatever the traffic: checked by storms and by
//! scenarios with `expect: { invariants: true }`.

use std::collections::{HashMap, VecDeque};

use crate::amocrm::requests::TASK_TEXT;
use crate::phone::digits_key;
use crate::sim::mock::journal::JournalEntry;
use crate::sim::mock::state::{CONTACT_BASE, CrmState, UnsortedState};

/// A broken invariant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// A short stable name, e.g. `overlapping-callback-tasks`.
    pub invariant: &'static str,
    pub(crate) detail: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invariant `{}` broken: {}", self.invariant, self.detail)
    }
}

/// What is known about the call a step just handled.
#[derive(Debug, Clone)]
pub(crate) struct CallFacts {
    pub(crate) call_id: String,
    pub(crate) phone_key: String,
    pub(crate) answered: bool,
}

/// Incremental checker: journal entries and notes are read once each.
#[derive(Debug, Default)]
pub(crate) struct Checker {
    /// The task deadline (seconds) of the settings, to find each task's call time.
    pub(crate) task_deadline: i64,
    /// Requests per second the account allows, when rate limiting is checked.
    pub(crate) rate_limit: Option<usize>,
    journal_seen: usize,
    window: VecDeque<i64>,
    notes_seen: u64,
    notes_per_call: HashMap<String, u32>,
    leads_seen: u64,
    tasks_seen: u64,
    /// Engine-made task ids by phone key, as first seen.
    tasks_by_phone: HashMap<String, Vec<u64>>,
}

impl Checker {
    pub(crate) fn new(task_deadline: i64, rate_limit: Option<usize>) -> Self {
        Checker {
            task_deadline,
            rate_limit,
            ..Checker::default()
        }
    }

    /// Checks everything over the whole account.
    pub(crate) fn check(
        &mut self,
        s: &CrmState,
        journal: &[JournalEntry],
        call: Option<&CallFacts>,
    ) -> Result<(), Violation> {
        self.requests(journal)?;
        deals_have_contacts(s)?;
        one_pending_unsorted(s)?;
        no_duplicate_contacts(s)?;
        self.callback_tasks(s)?;
        self.notes(s, call)
    }

    /// Checks after a step that touched one phone (`scope`): what the step can have broken,
    /// in time proportional to that phone's entities. New leads, notes and requests are always
    /// checked.
    pub(crate) fn check_step(
        &mut self,
        s: &CrmState,
        journal: &[JournalEntry],
        call: Option<&CallFacts>,
        scope: Option<&str>,
    ) -> Result<(), Violation> {
        self.requests(journal)?;
        let new_leads: Vec<u64> = s
            .leads
            .range(self.leads_seen + 1..)
            .map(|(id, _)| *id)
            .collect();
        if let Some(last) = new_leads.last() {
            self.leads_seen = *last;
        }
        let mut leads = new_leads;
        if let Some(key) = scope {
            let contacts = s.contacts_by_phone_key(key);
            let engine_made = contacts.iter().any(|c| *c >= CONTACT_BASE);
            if contacts.len() > 1 && engine_made {
                return Err(Violation {
                    invariant: "duplicate-contact",
                    detail: format!("contacts {:?} share …{key}", contacts),
                });
            }
            for c in &contacts {
                leads.extend_from_slice(s.leads_of_contact(*c));
            }
            let pending: Vec<&str> = s
                .unsorted
                .values()
                .filter(|u| {
                    u.state == UnsortedState::Pending && u.phone_key.as_deref() == Some(key)
                })
                .map(|u| u.uid.as_str())
                .collect();
            if pending.len() > 1 {
                return Err(Violation {
                    invariant: "one-pending-unsorted-per-phone",
                    detail: format!("items {pending:?} are all pending for …{key}"),
                });
            }
        }
        for id in leads {
            if s.visible_lead(id).is_some() {
                lead_has_contact(s, id)?;
            }
        }
        for t in s.tasks.range(self.tasks_seen + 1..).map(|(_, t)| t) {
            if t.text.starts_with(TASK_TEXT) {
                for key in s.phone_keys_of(t.entity_type, t.entity_id) {
                    self.tasks_by_phone.entry(key).or_default().push(t.id);
                }
            }
            self.tasks_seen = t.id;
        }
        if let Some(key) = scope
            && let Some(ids) = self.tasks_by_phone.get(key)
        {
            let mut open: Vec<(i64, i64, u64)> = ids
                .iter()
                .filter_map(|id| s.tasks.get(id))
                .filter(|t| !t.is_completed)
                .map(|t| (t.complete_till - self.task_deadline, t.complete_till, t.id))
                .collect();
            open.sort_unstable();
            overlapping(key, &open)?;
        }
        self.notes(s, call)
    }

    fn requests(&mut self, journal: &[JournalEntry]) -> Result<(), Violation> {
        for e in journal.iter().skip(self.journal_seen) {
            // Every 400 counts, repeats included: after a lost answer a correct engine finds
            // what it wrote instead of writing it again (amoCRM's code for a repeat is unknown).
            if e.status == 400 {
                return Err(Violation {
                    invariant: "invalid-request",
                    detail: format!(
                        "the mock refused {} with 400 {:?}",
                        e.request_line(),
                        e.codes
                    ),
                });
            }
            if let Some(limit) = self.rate_limit {
                while self.window.front().is_some_and(|t| *t <= e.at_ms - 1000) {
                    self.window.pop_front();
                }
                self.window.push_back(e.at_ms);
                if self.window.len() > limit {
                    return Err(Violation {
                        invariant: "rate-limit",
                        detail: format!(
                            "{} requests within one second of virtual time, ending with {}",
                            self.window.len(),
                            e.request_line()
                        ),
                    });
                }
            }
        }
        self.journal_seen = journal.len();
        Ok(())
    }

    fn callback_tasks(&self, s: &CrmState) -> Result<(), Violation> {
        let mut by_phone: HashMap<String, Vec<(i64, i64, u64)>> = HashMap::new();
        for t in s
            .tasks
            .values()
            .filter(|t| !t.is_completed && t.text.starts_with(TASK_TEXT))
        {
            for key in s.phone_keys_of(t.entity_type, t.entity_id) {
                by_phone.entry(key).or_default().push((
                    t.complete_till - self.task_deadline,
                    t.complete_till,
                    t.id,
                ));
            }
        }
        for (phone, mut tasks) in by_phone {
            tasks.sort_unstable();
            tasks.dedup();
            overlapping(&phone, &tasks)?;
        }
        Ok(())
    }

    fn notes(&mut self, s: &CrmState, call: Option<&CallFacts>) -> Result<(), Violation> {
        for n in s.notes.range(self.notes_seen + 1..).map(|(_, n)| n) {
            if let Some(uniq) = n.params.get("uniq").and_then(serde_json::Value::as_str) {
                let count = self.notes_per_call.entry(uniq.to_string()).or_default();
                *count += 1;
                if *count > 1 {
                    return Err(Violation {
                        invariant: "one-note-per-call",
                        detail: format!("call {uniq} has {count} call notes"),
                    });
                }
            }
            self.notes_seen = n.id;
        }
        if let Some(c) = call
            && c.answered
            && !s.contacts_by_phone_key(&c.phone_key).is_empty()
            && self.notes_per_call.get(&c.call_id).copied().unwrap_or(0) != 1
        {
            return Err(Violation {
                invariant: "one-note-per-call",
                detail: format!(
                    "answered call {} to a known client left no call note",
                    c.call_id
                ),
            });
        }
        Ok(())
    }
}

/// Open tasks `(call time, due, id)` sorted: a task made for a call before the previous was due.
fn overlapping(phone: &str, tasks: &[(i64, i64, u64)]) -> Result<(), Violation> {
    for pair in tasks.windows(2) {
        let ((_, due1, id1), (start2, _, id2)) = (pair[0], pair[1]);
        if start2 < due1 {
            return Err(Violation {
                invariant: "overlapping-callback-tasks",
                detail: format!(
                    "open tasks {id1} and {id2} for …{phone}: the second was made for a call before the first was due"
                ),
            });
        }
    }
    Ok(())
}

fn deals_have_contacts(s: &CrmState) -> Result<(), Violation> {
    s.leads
        .values()
        .filter(|l| l.visible)
        .try_for_each(|l| lead_has_contact(s, l.id))
}

/// A visible deal needs a visible contact (the phone is on the contact).
fn lead_has_contact(s: &CrmState, lead: u64) -> Result<(), Violation> {
    if s.contacts_of_lead(lead)
        .iter()
        .any(|c| s.visible_contact(*c).is_some())
    {
        return Ok(());
    }
    Err(Violation {
        invariant: "deal-without-contact",
        detail: format!("lead {lead} has no visible contact"),
    })
}

fn one_pending_unsorted(s: &CrmState) -> Result<(), Violation> {
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for u in s
        .unsorted
        .values()
        .filter(|u| u.state == UnsortedState::Pending)
    {
        if let Some(key) = u.phone_key.as_deref()
            && let Some(other) = seen.insert(key, &u.uid)
        {
            return Err(Violation {
                invariant: "one-pending-unsorted-per-phone",
                detail: format!("items {other} and {} are both pending for …{key}", u.uid),
            });
        }
    }
    Ok(())
}

fn no_duplicate_contacts(s: &CrmState) -> Result<(), Violation> {
    let mut seen: HashMap<String, u64> = HashMap::new();
    for c in s.contacts.values().filter(|c| c.visible) {
        for key in c.phones.iter().filter_map(|p| digits_key(p)) {
            // Seeded accounts may hold duplicates; the engine must never make one.
            if let Some(other) = seen.insert(key.clone(), c.id)
                && other != c.id
                && (c.id >= CONTACT_BASE || other >= CONTACT_BASE)
            {
                return Err(Violation {
                    invariant: "duplicate-contact",
                    detail: format!("contacts {other} and {} share …{key}", c.id),
                });
            }
        }
    }
    Ok(())
}
