//! `CrmState`: the mock account's entities, their visibility and the Unsorted lifecycle.
//!
//! Pure data and operations, no HTTP: the handlers validate a request completely, then call
//! these operations, so a rejected request never changes anything.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use super::events::EventLog;
use super::fields::{FieldValues, Fields};
use super::filters::Facts;
use crate::phone::digits_key;

/// Status ids present in every pipeline: won and lost.
pub(crate) use crate::amocrm::model::{LOST, WON};

/// Where generated ids start, per entity kind, so that ids tell what they are in a journal.
/// The first id of contacts the mock creates (seeded ones are below).
pub(crate) const CONTACT_BASE: u64 = 20_000_001;
const LEAD_BASE: u64 = 30_000_001;
const TASK_BASE: u64 = 40_000_001;
const NOTE_BASE: u64 = 50_000_001;
const COMPANY_BASE: u64 = 60_000_001;

/// A task type: 1 «Связаться» and 2 «Встреча» in every account, more seedable.
#[derive(Clone, Debug)]
pub(crate) struct TaskType {
    pub(crate) id: u64,
    pub(crate) name: String,
    /// `FOLLOW_UP` and `MEETING` for the two system types.
    pub(crate) code: Option<&'static str>,
}

#[derive(Clone, Debug)]
pub(crate) struct User {
    pub(crate) id: u64,
    pub(crate) name: String,
}

/// A pipeline stage. `unsorted` marks the system stage «Неразобранное» (API `type: 1`).
#[derive(Clone, Debug)]
pub(crate) struct Status {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) sort: u64,
    pub(crate) unsorted: bool,
}

impl Status {
    pub(crate) fn is_closed(&self) -> bool {
        self.id == WON || self.id == LOST
    }
    /// A stage a lead can be created in or accepted into.
    pub(crate) fn is_normal(&self) -> bool {
        !self.unsorted && !self.is_closed()
    }
}

/// A pipeline («воронка»); `statuses` are kept in `sort` order and always end with 142, 143.
#[derive(Clone, Debug)]
pub(crate) struct Pipeline {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) sort: u64,
    pub(crate) is_main: bool,
    pub(crate) statuses: Vec<Status>,
}

impl Pipeline {
    pub(crate) fn status(&self, id: u64) -> Option<&Status> {
        self.statuses.iter().find(|s| s.id == id)
    }
    pub(crate) fn first_normal(&self) -> Option<u64> {
        self.statuses.iter().find(|s| s.is_normal()).map(|s| s.id)
    }
    pub(crate) fn unsorted_status(&self) -> Option<u64> {
        self.statuses.iter().find(|s| s.unsorted).map(|s| s.id)
    }
}

#[derive(Clone, Debug)]
pub struct Contact {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) first_name: String,
    pub(crate) last_name: String,
    pub responsible_user_id: u64,
    /// Phones as written (`+79161234567`): the PHONE values of `fields`, kept in step.
    pub phones: Vec<String>,
    /// Custom field values as written; a PHONE entry is derived from `phones` on insert when
    /// only `phones` was given.
    pub(crate) fields: Vec<FieldValues>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
    /// False while the contact sits inside a pending Unsorted item.
    pub visible: bool,
}

#[derive(Clone, Debug)]
pub struct Lead {
    pub id: u64,
    pub name: String,
    pub(crate) price: u64,
    pub pipeline_id: u64,
    pub status_id: u64,
    pub responsible_user_id: u64,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
    pub(crate) closed_at: Option<i64>,
    /// False while the lead sits inside a pending Unsorted item.
    pub visible: bool,
    pub(crate) fields: Vec<FieldValues>,
    /// Who created it (0: the API integration).
    pub(crate) created_by: u64,
}

/// A company («компания»).
#[derive(Clone, Debug)]
pub struct Company {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) responsible_user_id: u64,
    pub(crate) phones: Vec<String>,
    pub(crate) fields: Vec<FieldValues>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
    /// False while the company sits inside a pending Unsorted item.
    pub(crate) visible: bool,
}

impl Lead {
    pub(crate) fn is_active(&self) -> bool {
        self.status_id != WON && self.status_id != LOST
    }
}

/// The life of an Unsorted item («Неразобранное»).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnsortedState {
    Pending,
    Accepted,
    Declined,
}

#[derive(Clone, Debug)]
pub struct Unsorted {
    pub(crate) uid: String,
    /// `sip` or `forms`.
    pub(crate) category: &'static str,
    pub source_uid: String,
    pub(crate) source_name: String,
    pub(crate) pipeline_id: u64,
    pub(crate) created_at: i64,
    pub metadata: Value,
    pub(crate) contact_ids: Vec<u64>,
    pub lead_ids: Vec<u64>,
    pub(crate) company_ids: Vec<u64>,
    pub state: UnsortedState,
    /// When it was accepted or declined (Unix seconds).
    pub(crate) processed_at: Option<i64>,
    /// The phone key of the item's contact, for expectations that name a client.
    pub(crate) phone_key: Option<String>,
}

/// How the mock's `query` reads a phone number. Whether amoCRM's full-text search finds
/// `+79265550102` from `89265550102` is not settled by any public source (UNCONFIRMED), so
/// clients are tried both ways.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[cfg_attr(feature = "sim", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// Full text: the digits must appear as typed (`8…` does not find `+7…`).
    #[default]
    Strict,
    /// A phone query also finds other notations of the same number (last 10 digits).
    Lenient,
}

/// Which kind of entity a task or note is attached to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EntityKind {
    Leads,
    Contacts,
    Companies,
}

impl EntityKind {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "leads" => Some(EntityKind::Leads),
            "contacts" => Some(EntityKind::Contacts),
            "companies" => Some(EntityKind::Companies),
            _ => None,
        }
    }
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            EntityKind::Leads => "leads",
            EntityKind::Contacts => "contacts",
            EntityKind::Companies => "companies",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Task {
    pub(crate) id: u64,
    /// Seconds the task takes (a meeting's length).
    pub(crate) duration: u64,
    pub task_type_id: u64,
    pub text: String,
    pub complete_till: i64,
    pub entity_type: EntityKind,
    pub entity_id: u64,
    pub responsible_user_id: u64,
    pub is_completed: bool,
    pub(crate) result_text: Option<String>,
    pub(crate) created_at: i64,
    pub(crate) updated_at: i64,
}

#[derive(Clone, Debug)]
pub struct Note {
    pub(crate) id: u64,
    pub entity_type: EntityKind,
    pub entity_id: u64,
    pub note_type: String,
    pub params: Value,
    pub(crate) responsible_user_id: u64,
    pub(crate) created_at: i64,
}

/// Everything the mock account holds.
#[derive(Clone, Debug)]
pub struct CrmState {
    pub(crate) account_id: u64,
    pub(crate) account_name: String,
    pub(crate) subdomain: String,
    pub(crate) users: BTreeMap<u64, User>,
    pub(crate) pipelines: Vec<Pipeline>,
    pub contacts: BTreeMap<u64, Contact>,
    pub leads: BTreeMap<u64, Lead>,
    /// Lead id → linked contact ids, in link order; the reverse index is `contact_leads`.
    pub(crate) lead_contacts: BTreeMap<u64, Vec<u64>>,
    pub(crate) contact_leads: BTreeMap<u64, Vec<u64>>,
    pub unsorted: BTreeMap<String, Unsorted>,
    /// `GET /leads/unsorted/{uid}` still answers accepted and declined items (amoCRM does not
    /// document which way it goes; clients must cope with both).
    pub(crate) list_processed_unsorted: bool,
    /// How `query` reads a phone (`sipamo mock --search`).
    pub(crate) search: SearchMode,
    /// `PATCH` with `responsible_user_id: 0` is refused (else it leaves the responsible as it
    /// is): amoCRM documents neither (UNCONFIRMED).
    pub(crate) refuse_zero_responsible: bool,
    /// A `source_uid` may not repeat across Unsorted categories (else a forms item may reuse a
    /// sip item's, as the PHP library's example does): UNCONFIRMED.
    pub(crate) source_uid_across_categories: bool,
    /// Every kind's tag list and each entity's tags.
    pub(crate) tags: super::tags::Tags,
    /// Sip items with `is_call_event_needed` put their call on their lead as a note.
    pub(crate) unsorted_call_events: bool,
    /// Creation order of Unsorted uids.
    pub(crate) unsorted_order: Vec<String>,
    pub tasks: BTreeMap<u64, Task>,
    pub notes: BTreeMap<u64, Note>,
    pub(crate) companies: BTreeMap<u64, Company>,
    /// Contact or lead → its company (amoCRM links each to at most one company).
    pub(crate) company_of: BTreeMap<(EntityKind, u64), u64>,
    /// The account's custom field definitions.
    pub(crate) fields: Fields,
    pub(crate) task_types: Vec<TaskType>,
    /// What `GET /api/v4/events` lists.
    pub(crate) events: EventLog,
    phone_index: HashMap<String, Vec<u64>>,
    /// 10-digit runs of each contact's phone digits and of the digit runs in its name, so that
    /// a `query` of 10 or more digits finds its contacts without a scan.
    gram_index: HashMap<String, Vec<u64>>,
    contact_grams: HashMap<u64, Vec<String>>,
    next_contact: u64,
    next_lead: u64,
    next_task: u64,
    next_note: u64,
    next_company: u64,
    next_unsorted: u64,
}

impl Default for CrmState {
    fn default() -> Self {
        CrmState {
            account_id: 31_000_001,
            account_name: "sipamo mock account".into(),
            subdomain: "mock".into(),
            users: BTreeMap::new(),
            pipelines: Vec::new(),
            contacts: BTreeMap::new(),
            leads: BTreeMap::new(),
            lead_contacts: BTreeMap::new(),
            contact_leads: BTreeMap::new(),
            unsorted: BTreeMap::new(),
            list_processed_unsorted: false,
            search: SearchMode::Strict,
            refuse_zero_responsible: false,
            source_uid_across_categories: false,
            tags: super::tags::Tags::default(),
            unsorted_call_events: false,
            unsorted_order: Vec::new(),
            tasks: BTreeMap::new(),
            notes: BTreeMap::new(),
            companies: BTreeMap::new(),
            company_of: BTreeMap::new(),
            fields: Fields::default(),
            events: EventLog::default(),
            task_types: vec![
                TaskType {
                    id: 1,
                    name: "Связаться".into(),
                    code: Some("FOLLOW_UP"),
                },
                TaskType {
                    id: 2,
                    name: "Встреча".into(),
                    code: Some("MEETING"),
                },
            ],
            phone_index: HashMap::new(),
            gram_index: HashMap::new(),
            contact_grams: HashMap::new(),
            next_contact: CONTACT_BASE,
            next_lead: LEAD_BASE,
            next_task: TASK_BASE,
            next_note: NOTE_BASE,
            next_company: COMPANY_BASE,
            next_unsorted: 1,
        }
    }
}

fn bump(next: &mut u64, id: u64) {
    if id >= *next {
        *next = id + 1;
    }
}

impl CrmState {
    // ---- account -------------------------------------------------------------------------

    pub(crate) fn pipeline(&self, id: u64) -> Option<&Pipeline> {
        self.pipelines.iter().find(|p| p.id == id)
    }

    pub(crate) fn main_pipeline(&self) -> Option<&Pipeline> {
        self.pipelines
            .iter()
            .find(|p| p.is_main)
            .or(self.pipelines.first())
    }

    /// Adds a pipeline, appending the closed stages 142/143 when they are missing.
    pub(crate) fn add_pipeline(&mut self, mut p: Pipeline) {
        for (id, name) in [
            (WON, "Успешно реализовано"),
            (LOST, "Закрыто и не реализовано"),
        ] {
            if p.status(id).is_none() {
                p.statuses.push(Status {
                    id,
                    name: name.into(),
                    sort: 10_000 + id,
                    unsorted: false,
                });
            }
        }
        p.statuses.sort_by_key(|s| (s.sort, s.id));
        self.pipelines.push(p);
    }

    // ---- contacts ------------------------------------------------------------------------

    /// Inserts a contact; `id` None takes the next id.
    pub(crate) fn insert_contact(&mut self, id: Option<u64>, mut c: Contact) -> u64 {
        let id = id.unwrap_or(self.next_contact);
        bump(&mut self.next_contact, id);
        c.id = id;
        let phone_field = self.fields.phone_id(EntityKind::Contacts);
        if c.fields.iter().any(|f| Some(f.field_id) == phone_field) {
            c.phones = self.fields.phones_in(EntityKind::Contacts, &c.fields);
        } else {
            let derived = self.fields.phone_values(EntityKind::Contacts, &c.phones);
            c.fields.extend(derived);
        }
        for phone in &c.phones {
            if let Some(key) = digits_key(phone) {
                self.phone_index.entry(key).or_default().push(id);
            }
        }
        if c.visible {
            self.events.push(
                "contact_added",
                EntityKind::Contacts,
                id,
                c.created_at,
                Value::Array(vec![]),
                Value::Array(vec![]),
            );
        }
        self.contacts.insert(id, c);
        self.index_grams(id);
        id
    }

    /// Every 10-digit window of `digits`.
    fn windows(digits: &str, out: &mut Vec<String>) {
        if digits.len() >= 10 {
            for i in 0..=digits.len() - 10 {
                out.push(digits[i..i + 10].to_string());
            }
        }
    }

    fn index_grams(&mut self, id: u64) {
        let Some(c) = self.contacts.get(&id) else {
            return;
        };
        let mut grams = Vec::new();
        for p in &c.phones {
            let digits: String = p.chars().filter(char::is_ascii_digit).collect();
            Self::windows(&digits, &mut grams);
        }
        let texts = c
            .fields
            .iter()
            .flat_map(|f| f.values.iter())
            .filter_map(|v| v.value.as_str())
            .chain([c.name.as_str(), c.first_name.as_str(), c.last_name.as_str()]);
        for text in texts {
            for run in text.split(|ch: char| !ch.is_ascii_digit()) {
                Self::windows(run, &mut grams);
            }
        }
        grams.sort_unstable();
        grams.dedup();
        for g in &grams {
            self.gram_index.entry(g.clone()).or_default().push(id);
        }
        self.contact_grams.insert(id, grams);
    }

    fn unindex_grams(&mut self, id: u64) {
        for g in self.contact_grams.remove(&id).unwrap_or_default() {
            if let Some(ids) = self.gram_index.get_mut(&g) {
                ids.retain(|c| *c != id);
            }
        }
    }

    /// Contacts with a phone or a name holding these 10 digits, lowest id first.
    pub(crate) fn contacts_by_gram(&self, gram: &str) -> Vec<&Contact> {
        let mut ids: Vec<u64> = self.gram_index.get(gram).cloned().unwrap_or_default();
        ids.sort_unstable();
        ids.dedup();
        ids.iter().filter_map(|id| self.contacts.get(id)).collect()
    }

    /// Re-indexes a contact's text after its first or last name changed.
    pub(crate) fn reindex_contact(&mut self, id: u64) {
        self.unindex_grams(id);
        self.index_grams(id);
    }

    pub(crate) fn set_contact_name(&mut self, id: u64, name: String) {
        self.unindex_grams(id);
        if let Some(c) = self.contacts.get_mut(&id) {
            c.name = name;
        }
        self.index_grams(id);
    }

    /// Applies a `custom_fields_values` update to a contact (named fields replaced, emptied
    /// ones removed) and keeps its phones and the phone indices in step.
    pub(crate) fn set_contact_fields(&mut self, id: u64, update: Vec<FieldValues>) {
        let Some(c) = self.contacts.get_mut(&id) else {
            return;
        };
        super::fields::merge(&mut c.fields, update);
        let phones = self.fields.phones_in(EntityKind::Contacts, &c.fields);
        self.reindex_phones(id, phones);
    }

    fn reindex_phones(&mut self, id: u64, phones: Vec<String>) {
        for list in self.phone_index.values_mut() {
            list.retain(|c| *c != id);
        }
        for phone in &phones {
            if let Some(key) = digits_key(phone) {
                self.phone_index.entry(key).or_default().push(id);
            }
        }
        self.unindex_grams(id);
        if let Some(c) = self.contacts.get_mut(&id) {
            c.phones = phones;
        }
        self.index_grams(id);
    }

    /// Visible contacts having a phone with this last-10-digit key, lowest id first.
    pub fn contacts_by_phone_key(&self, key: &str) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .phone_index
            .get(key)
            .map(|ids| {
                ids.iter()
                    .copied()
                    .filter(|id| self.contacts.get(id).is_some_and(|c| c.visible))
                    .collect()
            })
            .unwrap_or_default();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    pub(crate) fn visible_contact(&self, id: u64) -> Option<&Contact> {
        self.contacts.get(&id).filter(|c| c.visible)
    }

    pub(crate) fn delete_contact(&mut self, id: u64) {
        self.reindex_phones(id, Vec::new());
        self.unindex_grams(id);
        self.contacts.remove(&id);
        self.company_of.remove(&(EntityKind::Contacts, id));
        if let Some(leads) = self.contact_leads.remove(&id) {
            for l in leads {
                if let Some(cs) = self.lead_contacts.get_mut(&l) {
                    cs.retain(|c| *c != id);
                }
            }
        }
    }

    // ---- leads ---------------------------------------------------------------------------

    pub(crate) fn insert_lead(&mut self, id: Option<u64>, mut l: Lead) -> u64 {
        let id = id.unwrap_or(self.next_lead);
        bump(&mut self.next_lead, id);
        l.id = id;
        if l.visible {
            self.events.push(
                "lead_added",
                EntityKind::Leads,
                id,
                l.created_at,
                Value::Array(vec![]),
                Value::Array(vec![]),
            );
        }
        self.leads.insert(id, l);
        self.lead_contacts.entry(id).or_default();
        id
    }

    pub(crate) fn visible_lead(&self, id: u64) -> Option<&Lead> {
        self.leads.get(&id).filter(|l| l.visible)
    }

    /// A lead as the leads API shows it: accepted ones and those of pending Unsorted items, in
    /// the Unsorted stage (amoCRM lists them there; their contacts stay hidden until accepted).
    /// A declined item's lead is gone.
    pub(crate) fn api_lead(&self, id: u64) -> Option<&Lead> {
        self.leads.get(&id)
    }

    /// Links a lead and a contact (idempotent).
    pub(crate) fn link(&mut self, lead: u64, contact: u64) {
        let cs = self.lead_contacts.entry(lead).or_default();
        if !cs.contains(&contact) {
            cs.push(contact);
        }
        let ls = self.contact_leads.entry(contact).or_default();
        if !ls.contains(&lead) {
            ls.push(lead);
        }
    }

    /// Unlinks a lead and a contact.
    pub(crate) fn unlink(&mut self, lead: u64, contact: u64) {
        if let Some(cs) = self.lead_contacts.get_mut(&lead) {
            cs.retain(|c| *c != contact);
        }
        if let Some(ls) = self.contact_leads.get_mut(&contact) {
            ls.retain(|l| *l != lead);
        }
    }

    pub fn contacts_of_lead(&self, lead: u64) -> &[u64] {
        self.lead_contacts.get(&lead).map_or(&[], Vec::as_slice)
    }

    pub fn leads_of_contact(&self, contact: u64) -> &[u64] {
        self.contact_leads.get(&contact).map_or(&[], Vec::as_slice)
    }

    /// Moves a lead to a status, keeping `closed_at` in step.
    pub(crate) fn set_lead_status(&mut self, id: u64, pipeline_id: u64, status_id: u64, now: i64) {
        if let Some(l) = self.leads.get_mut(&id) {
            let status =
                |p: u64, st: u64| json!([{ "lead_status": { "id": st, "pipeline_id": p } }]);
            if l.visible && (l.pipeline_id, l.status_id) != (pipeline_id, status_id) {
                self.events.push(
                    "lead_status_changed",
                    EntityKind::Leads,
                    id,
                    now,
                    status(pipeline_id, status_id),
                    status(l.pipeline_id, l.status_id),
                );
            }
            l.pipeline_id = pipeline_id;
            l.status_id = status_id;
            l.updated_at = now;
            l.closed_at = if l.is_active() { None } else { Some(now) };
        }
    }

    pub(crate) fn delete_lead(&mut self, id: u64) {
        self.leads.remove(&id);
        self.company_of.remove(&(EntityKind::Leads, id));
        if let Some(cs) = self.lead_contacts.remove(&id) {
            for c in cs {
                if let Some(ls) = self.contact_leads.get_mut(&c) {
                    ls.retain(|l| *l != id);
                }
            }
        }
    }

    // ---- companies -----------------------------------------------------------------------

    pub(crate) fn insert_company(&mut self, mut c: Company) -> u64 {
        let id = self.next_company;
        self.next_company += 1;
        c.id = id;
        if c.fields.is_empty() {
            c.fields = self.fields.phone_values(EntityKind::Companies, &c.phones);
        } else {
            c.phones = self.fields.phones_in(EntityKind::Companies, &c.fields);
        }
        self.companies.insert(id, c);
        id
    }

    pub(crate) fn visible_company(&self, id: u64) -> Option<&Company> {
        self.companies.get(&id).filter(|c| c.visible)
    }

    pub(crate) fn set_company_fields(&mut self, id: u64, update: Vec<FieldValues>) {
        let phones_of = |s: &Self, f: &[FieldValues]| s.fields.phones_in(EntityKind::Companies, f);
        let Some(mut c) = self.companies.remove(&id) else {
            return;
        };
        super::fields::merge(&mut c.fields, update);
        c.phones = phones_of(self, &c.fields);
        self.companies.insert(id, c);
    }

    /// Links a contact or a lead to a company, replacing its previous company.
    pub(crate) fn set_company(&mut self, kind: EntityKind, id: u64, company: u64) {
        self.company_of.insert((kind, id), company);
    }

    pub(crate) fn unset_company(&mut self, kind: EntityKind, id: u64, company: u64) {
        if self.company_of.get(&(kind, id)) == Some(&company) {
            self.company_of.remove(&(kind, id));
        }
    }

    pub(crate) fn company_of(&self, kind: EntityKind, id: u64) -> Option<u64> {
        self.company_of.get(&(kind, id)).copied()
    }

    /// The contacts or leads linked to a company, lowest id first.
    pub(crate) fn company_members(&self, company: u64, kind: EntityKind) -> Vec<u64> {
        self.company_of
            .iter()
            .filter(|((k, _), c)| *k == kind && **c == company)
            .map(|((_, id), _)| *id)
            .collect()
    }

    /// Is an entity visible through the API?
    pub(crate) fn visible(&self, kind: EntityKind, id: u64) -> bool {
        match kind {
            EntityKind::Leads => self.visible_lead(id).is_some(),
            EntityKind::Contacts => self.visible_contact(id).is_some(),
            EntityKind::Companies => self.visible_company(id).is_some(),
        }
    }

    // ---- Unsorted ------------------------------------------------------------------------

    /// A fresh, deterministic uid.
    pub(crate) fn next_unsorted_uid(&mut self) -> String {
        let n = self.next_unsorted;
        self.next_unsorted += 1;
        format!("{:040x}", 0x5a17_u64 * 1_000_000 + n)
    }

    pub(crate) fn insert_unsorted(&mut self, item: Unsorted) {
        self.unsorted_order.push(item.uid.clone());
        self.unsorted.insert(item.uid.clone(), item);
    }

    pub(crate) fn pending_unsorted(&self, uid: &str) -> Option<&Unsorted> {
        self.unsorted
            .get(uid)
            .filter(|u| u.state == UnsortedState::Pending)
    }

    /// Accepts a pending item: its contacts and leads become visible, the leads move to
    /// `status_id` (or the first normal stage) and, with `user_id`, change responsible.
    pub(crate) fn accept_unsorted(
        &mut self,
        uid: &str,
        user_id: Option<u64>,
        status_id: Option<u64>,
        now: i64,
    ) {
        let Some(item) = self.unsorted.get_mut(uid) else {
            return;
        };
        item.state = UnsortedState::Accepted;
        item.processed_at = Some(now);
        let (pipeline_id, contacts, leads) = (
            item.pipeline_id,
            item.contact_ids.clone(),
            item.lead_ids.clone(),
        );
        let target =
            status_id.or_else(|| self.pipeline(pipeline_id).and_then(Pipeline::first_normal));
        for id in self.unsorted[uid].company_ids.clone() {
            if let Some(c) = self.companies.get_mut(&id) {
                c.visible = true;
                c.updated_at = now;
            }
        }
        for id in &contacts {
            self.events.push(
                "contact_added",
                EntityKind::Contacts,
                *id,
                now,
                json!([]),
                json!([]),
            );
        }
        for id in &leads {
            self.events.push(
                "lead_added",
                EntityKind::Leads,
                *id,
                now,
                json!([]),
                json!([]),
            );
        }
        for id in contacts {
            if let Some(c) = self.contacts.get_mut(&id) {
                c.visible = true;
                c.updated_at = now;
                if let Some(u) = user_id {
                    c.responsible_user_id = u;
                }
            }
        }
        for id in leads {
            if let Some(status) = target {
                self.set_lead_status(id, pipeline_id, status, now);
            }
            if let Some(l) = self.leads.get_mut(&id) {
                l.visible = true;
                l.updated_at = now;
                if let Some(u) = user_id {
                    l.responsible_user_id = u;
                }
            }
        }
    }

    /// Declines a pending item: its contacts and leads (and their tasks and notes) are
    /// deleted for good.
    pub(crate) fn decline_unsorted(&mut self, uid: &str, now: i64) {
        let Some(item) = self.unsorted.get_mut(uid) else {
            return;
        };
        item.state = UnsortedState::Declined;
        item.processed_at = Some(now);
        let (contacts, leads) = (item.contact_ids.clone(), item.lead_ids.clone());
        for id in item.company_ids.clone() {
            self.companies.remove(&id);
            self.company_of.retain(|_, c| *c != id);
            self.drop_attached(EntityKind::Companies, id);
        }
        for id in leads {
            self.delete_lead(id);
            self.drop_attached(EntityKind::Leads, id);
        }
        for id in contacts {
            self.delete_contact(id);
            self.drop_attached(EntityKind::Contacts, id);
        }
    }

    fn drop_attached(&mut self, kind: EntityKind, id: u64) {
        self.tasks
            .retain(|_, t| !(t.entity_type == kind && t.entity_id == id));
        self.notes
            .retain(|_, n| !(n.entity_type == kind && n.entity_id == id));
    }

    // ---- tasks and notes -----------------------------------------------------------------

    pub(crate) fn insert_task(&mut self, id: Option<u64>, mut t: Task) -> u64 {
        let id = id.unwrap_or(self.next_task);
        bump(&mut self.next_task, id);
        t.id = id;
        self.tasks.insert(id, t);
        id
    }

    pub(crate) fn insert_note(&mut self, mut n: Note) -> u64 {
        let id = self.next_note;
        self.next_note += 1;
        n.id = id;
        let call = match n.note_type.as_str() {
            "call_in" => Some("incoming_call"),
            "call_out" => Some("outgoing_call"),
            _ => None,
        };
        if let Some(kind) = call {
            self.events.push(
                kind,
                n.entity_type,
                n.entity_id,
                n.created_at,
                json!([{ "note": { "id": id } }]),
                Value::Array(vec![]),
            );
        }
        self.notes.insert(id, n);
        id
    }

    /// What list filters and orders read of a lead.
    pub(crate) fn lead_facts<'a>(&self, l: &'a Lead) -> Facts<'a> {
        Facts {
            id: l.id,
            name: &l.name,
            price: l.price,
            created_by: l.created_by,
            updated_by: 0,
            responsible: l.responsible_user_id,
            created_at: l.created_at,
            updated_at: l.updated_at,
            closed_at: l.closed_at,
            closest_task_at: self.closest_task_at(EntityKind::Leads, l.id),
        }
    }

    pub(crate) fn contact_facts<'a>(&self, c: &'a Contact) -> Facts<'a> {
        Facts {
            id: c.id,
            name: &c.name,
            responsible: c.responsible_user_id,
            created_at: c.created_at,
            updated_at: c.updated_at,
            closest_task_at: self.closest_task_at(EntityKind::Contacts, c.id),
            ..Facts::default()
        }
    }

    pub(crate) fn company_facts<'a>(&self, c: &'a Company) -> Facts<'a> {
        Facts {
            id: c.id,
            name: &c.name,
            responsible: c.responsible_user_id,
            created_at: c.created_at,
            updated_at: c.updated_at,
            closest_task_at: self.closest_task_at(EntityKind::Companies, c.id),
            ..Facts::default()
        }
    }

    /// The nearest deadline of the entity's open tasks (amoCRM's `closest_task_at`).
    pub(crate) fn closest_task_at(&self, kind: EntityKind, id: u64) -> Option<i64> {
        self.tasks
            .values()
            .filter(|t| !t.is_completed && t.entity_type == kind && t.entity_id == id)
            .map(|t| t.complete_till)
            .min()
    }

    /// Does an entity exist (visible or inside a pending Unsorted item)?
    pub(crate) fn entity_exists(&self, kind: EntityKind, id: u64) -> bool {
        match kind {
            EntityKind::Leads => self.leads.contains_key(&id),
            EntityKind::Contacts => self.contacts.contains_key(&id),
            EntityKind::Companies => self.companies.contains_key(&id),
        }
    }

    /// The phone keys of an entity: a contact's own, or those of a lead's contacts.
    pub(crate) fn phone_keys_of(&self, kind: EntityKind, id: u64) -> Vec<String> {
        let contacts: Vec<u64> = match kind {
            EntityKind::Contacts => vec![id],
            EntityKind::Leads => self.contacts_of_lead(id).to_vec(),
            EntityKind::Companies => {
                return self
                    .companies
                    .get(&id)
                    .map(|c| c.phones.iter().filter_map(|p| digits_key(p)).collect())
                    .unwrap_or_default();
            }
        };
        contacts
            .iter()
            .filter_map(|c| self.contacts.get(c))
            .flat_map(|c| c.phones.iter().filter_map(|p| digits_key(p)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(phone: &str, visible: bool) -> Contact {
        Contact {
            id: 0,
            name: "x".into(),
            first_name: String::new(),
            last_name: String::new(),
            responsible_user_id: 1,
            phones: vec![phone.into()],
            fields: Vec::new(),
            created_at: 0,
            updated_at: 0,
            visible,
        }
    }

    #[test]
    fn phone_lookup_skips_hidden_contacts_and_orders_by_id() {
        let mut s = CrmState::default();
        let hidden = s.insert_contact(None, contact("+79161234567", false));
        let b = s.insert_contact(Some(9), contact("8 916 123 45 67", true));
        let a = s.insert_contact(Some(5), contact("9161234567", true));
        assert!(hidden > b);
        assert_eq!(s.contacts_by_phone_key("9161234567"), vec![a, b]);
    }

    #[test]
    fn generated_ids_never_collide_with_seeded_ones() {
        let mut s = CrmState::default();
        s.insert_contact(Some(CONTACT_BASE + 5), contact("+79990000000", true));
        let next = s.insert_contact(None, contact("+79990000001", true));
        assert_eq!(next, CONTACT_BASE + 6);
    }
}
