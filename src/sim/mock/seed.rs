//! Building a mock account from the `crm:` block of a scenario (or a standalone YAML file).

use serde::Deserialize;

use super::fields::SeedField;
use super::state::{Contact, CrmState, EntityKind, LOST, Lead, Pipeline, Status, Task, WON};
use crate::duration::Span;
use crate::phone::Phone;

/// The initial state of the mock account; every part is optional.
#[derive(Clone, Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CrmSeed {
    /// The account's users; every user the settings name must be here (R-CFG-2).
    #[serde(default)]
    pub(crate) users: Vec<SeedUser>,
    /// Absent: the default account with one main pipeline «Воронка».
    #[serde(default)]
    pub(crate) pipelines: Option<Vec<SeedPipeline>>,
    /// Existing contacts.
    #[serde(default)]
    pub(crate) contacts: Vec<SeedContact>,
    /// Existing deals.
    #[serde(default)]
    pub(crate) leads: Vec<SeedLead>,
    /// Existing tasks.
    #[serde(default)]
    pub(crate) tasks: Vec<SeedTask>,
    /// Custom fields beside the system ones (PHONE, EMAIL, POSITION on contacts; PHONE,
    /// EMAIL, WEB, ADDRESS on companies), e.g.
    /// `{ entity: leads, name: Источник, type: select, enums: [Сайт, Звонок] }`.
    #[serde(default)]
    pub(crate) custom_fields: Vec<SeedField>,
    /// Task types beside 1 «Связаться» and 2 «Встреча», e.g. `{ id: 3, name: Перезвонить }`.
    #[serde(default)]
    pub(crate) task_types: Vec<SeedUser>,
    /// How the account's `query` reads a phone: `strict` (as typed, the default) or `lenient`
    /// (any notation of the same number; amoCRM does not document which it does). Absent:
    /// the runner's `--search`.
    #[serde(default)]
    pub(crate) search: Option<super::state::SearchMode>,
    /// amoCRM puts the call of a sip item with `is_call_event_needed: true` on the item's lead
    /// as a `call_in` note (documented as "a call event is added", not whether the API lists it
    /// as a note; off: it does not). A client must not write that call a second time.
    #[serde(default)]
    pub(crate) unsorted_call_events: bool,
    /// How long the account's OAuth access tokens live (amoCRM's: 24h), the first one
    /// included: once it expires, amoCRM answers 401 and the engine refreshes with its refresh
    /// token, as `serve` does.
    #[serde(default)]
    pub(crate) token_lifetime: Option<crate::duration::Span>,
}

#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SeedUser {
    pub(crate) id: u64,
    pub(crate) name: String,
}

#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SeedPipeline {
    pub(crate) id: u64,
    pub(crate) name: String,
    /// The account's main pipeline.
    #[serde(default)]
    pub(crate) main: bool,
    #[serde(default)]
    pub(crate) statuses: Vec<SeedStatus>,
}

#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SeedStatus {
    pub(crate) id: u64,
    pub(crate) name: String,
    /// The system stage «Неразобранное».
    #[serde(default)]
    pub(crate) unsorted: bool,
}

#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SeedContact {
    pub(crate) id: u64,
    #[serde(default)]
    pub(crate) name: Option<String>,
    /// One PHONE value, stored as typed.
    #[serde(default)]
    pub(crate) phone: Option<String>,
    /// Several PHONE values, each stored as typed (e.g. `8 (916) 555-00-11`).
    #[serde(default)]
    pub(crate) phones: Vec<String>,
    #[serde(default)]
    pub(crate) responsible: Option<u64>,
}

#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SeedLead {
    pub(crate) id: u64,
    #[serde(default)]
    pub(crate) name: Option<String>,
    /// The deal's contact id.
    #[serde(default)]
    pub(crate) contact: Option<u64>,
    /// Absent: the main pipeline.
    #[serde(default)]
    pub(crate) pipeline: Option<u64>,
    #[serde(default)]
    pub(crate) status: Option<u64>,
    #[serde(default)]
    pub(crate) responsible: Option<u64>,
}

#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SeedTask {
    pub(crate) id: u64,
    #[serde(default)]
    pub(crate) contact: Option<u64>,
    #[serde(default)]
    pub(crate) lead: Option<u64>,
    /// Due time as an offset from the scenario start.
    pub(crate) complete_till: Span,
    #[serde(default)]
    pub(crate) completed: bool,
    #[serde(default)]
    pub(crate) responsible: Option<u64>,
    #[serde(default)]
    pub(crate) text: Option<String>,
}

/// A `crm:` block that cannot be built, with the path of the offending entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("crm.{path}: {message}")]
pub struct SeedError {
    pub(crate) path: String,
    pub(crate) message: String,
}

fn err(path: impl Into<String>, message: impl Into<String>) -> SeedError {
    SeedError {
        path: path.into(),
        message: message.into(),
    }
}

/// The pipeline every account gets when `crm.pipelines` is left out.
pub(crate) fn default_pipeline() -> Pipeline {
    let st = |id, name: &str, sort, unsorted| Status {
        id,
        name: name.into(),
        sort,
        unsorted,
    };
    Pipeline {
        id: 100,
        name: "Воронка".into(),
        sort: 1,
        is_main: true,
        statuses: vec![
            st(1001, "Неразобранное", 10, true),
            st(1002, "Первичный контакт", 20, false),
            st(1003, "Переговоры", 30, false),
            st(1004, "Принимают решение", 40, false),
        ],
    }
}

impl CrmSeed {
    /// Reads a seed from YAML text (the keys of a `crm:` block at the top level).
    pub fn from_yaml(text: &str) -> Result<Self, serde_yaml::Error> {
        serde_yaml::from_str(text)
    }

    /// Builds the account; `start` (Unix seconds) is time zero for task deadlines and the
    /// creation time of everything seeded.
    pub fn build(&self, start: i64) -> Result<CrmState, SeedError> {
        let mut s = CrmState::default();
        s.unsorted_call_events = self.unsorted_call_events;
        if let Some(mode) = self.search {
            s.search = mode;
        }
        self.seed_users(&mut s)?;
        for (i, t) in self.task_types.iter().enumerate() {
            if s.task_types.iter().any(|k| k.id == t.id) {
                return Err(err(
                    format!("task_types[{i}].id"),
                    format!("task type {} is taken", t.id),
                ));
            }
            s.task_types.push(super::state::TaskType {
                id: t.id,
                name: t.name.clone(),
                code: None,
            });
        }
        for (i, f) in self.custom_fields.iter().enumerate() {
            s.fields
                .add_seeded(f)
                .map_err(|e| err(format!("custom_fields[{i}]"), e.to_string()))?;
        }
        self.seed_pipelines(&mut s)?;
        self.seed_contacts(&mut s, start)?;
        self.seed_leads(&mut s, start)?;
        self.seed_tasks(&mut s, start)?;
        Ok(s)
    }

    fn seed_users(&self, s: &mut CrmState) -> Result<(), SeedError> {
        for (i, u) in self.users.iter().enumerate() {
            if s.users
                .insert(
                    u.id,
                    super::state::User {
                        id: u.id,
                        name: u.name.clone(),
                    },
                )
                .is_some()
            {
                return Err(err(
                    format!("users[{i}].id"),
                    format!("user id {} is listed twice", u.id),
                ));
            }
        }
        Ok(())
    }

    fn seed_pipelines(&self, s: &mut CrmState) -> Result<(), SeedError> {
        match &self.pipelines {
            None => s.add_pipeline(default_pipeline()),
            Some(list) => {
                if list.is_empty() {
                    return Err(err(
                        "pipelines",
                        "an account needs at least one pipeline; leave the key out for the default one",
                    ));
                }
                let mains = list.iter().filter(|p| p.main).count();
                if mains > 1 {
                    return Err(err("pipelines", "only one pipeline can be `main: true`"));
                }
                for (i, p) in list.iter().enumerate() {
                    if s.pipeline(p.id).is_some() {
                        return Err(err(
                            format!("pipelines[{i}].id"),
                            format!("pipeline id {} is listed twice", p.id),
                        ));
                    }
                    let statuses = p
                        .statuses
                        .iter()
                        .enumerate()
                        .map(|(j, st)| Status {
                            id: st.id,
                            name: st.name.clone(),
                            sort: (j as u64 + 1) * 10,
                            unsorted: st.unsorted,
                        })
                        .collect::<Vec<_>>();
                    if statuses.iter().filter(|st| st.unsorted).count() > 1 {
                        return Err(err(
                            format!("pipelines[{i}].statuses"),
                            "a pipeline has at most one Unsorted stage",
                        ));
                    }
                    s.add_pipeline(Pipeline {
                        id: p.id,
                        name: p.name.clone(),
                        sort: i as u64 + 1,
                        is_main: p.main || (mains == 0 && i == 0),
                        statuses,
                    });
                    if s.pipeline(p.id).and_then(Pipeline::first_normal).is_none() {
                        return Err(err(
                            format!("pipelines[{i}].statuses"),
                            "a pipeline needs at least one normal stage besides 142/143",
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn seed_contacts(&self, s: &mut CrmState, start: i64) -> Result<(), SeedError> {
        for (i, c) in self.contacts.iter().enumerate() {
            if s.contacts.contains_key(&c.id) {
                return Err(err(
                    format!("contacts[{i}].id"),
                    format!("contact id {} is listed twice", c.id),
                ));
            }
            let mut phones = Vec::new();
            // Kept as the manager typed it (`8 (916) 555-00-11`): amoCRM stores text.
            for raw in c.phone.iter().chain(&c.phones) {
                Phone::parse(raw)
                    .map_err(|e| err(format!("contacts[{i}].phone"), e.to_string()))?;
                phones.push(raw.trim().to_string());
            }
            let responsible = responsible(format!("contacts[{i}].responsible"), c.responsible, s)?;
            let name = c.name.clone().unwrap_or_else(|| {
                phones
                    .first()
                    .cloned()
                    .unwrap_or_else(|| format!("Контакт {}", c.id))
            });
            s.insert_contact(
                Some(c.id),
                Contact {
                    id: c.id,
                    name,
                    first_name: String::new(),
                    last_name: String::new(),
                    responsible_user_id: responsible,
                    phones,
                    fields: Vec::new(),
                    created_at: start,
                    updated_at: start,
                    visible: true,
                },
            );
        }
        Ok(())
    }

    fn seed_leads(&self, s: &mut CrmState, start: i64) -> Result<(), SeedError> {
        for (i, l) in self.leads.iter().enumerate() {
            if s.leads.contains_key(&l.id) {
                return Err(err(
                    format!("leads[{i}].id"),
                    format!("lead id {} is listed twice", l.id),
                ));
            }
            let pipeline = lead_pipeline(s, l, i)?;
            let status = match l.status {
                Some(st) if pipeline.status(st).is_some() => st,
                Some(st) => {
                    return Err(err(
                        format!("leads[{i}].status"),
                        format!("status {st} is not in pipeline {}", pipeline.id),
                    ));
                }
                None => pipeline.first_normal().unwrap_or(WON),
            };
            let pipeline_id = pipeline.id;
            let contact_responsible = l
                .contact
                .and_then(|c| s.contacts.get(&c))
                .map(|c| c.responsible_user_id);
            let responsible = responsible(
                format!("leads[{i}].responsible"),
                l.responsible.or(contact_responsible),
                s,
            )?;
            s.insert_lead(
                Some(l.id),
                Lead {
                    id: l.id,
                    name: l
                        .name
                        .clone()
                        .unwrap_or_else(|| format!("Сделка #{}", l.id)),
                    price: 0,
                    pipeline_id,
                    status_id: status,
                    responsible_user_id: responsible,
                    created_at: start,
                    updated_at: start,
                    closed_at: None,
                    visible: true,
                    fields: Vec::new(),
                    created_by: 0,
                },
            );
            s.set_lead_status(l.id, pipeline_id, status, start);
            if let Some(c) = l.contact {
                if !s.contacts.contains_key(&c) {
                    return Err(err(
                        format!("leads[{i}].contact"),
                        format!("contact {c} is not listed under crm.contacts"),
                    ));
                }
                s.link(l.id, c);
            }
        }
        Ok(())
    }

    fn seed_tasks(&self, s: &mut CrmState, start: i64) -> Result<(), SeedError> {
        for (i, t) in self.tasks.iter().enumerate() {
            if s.tasks.contains_key(&t.id) {
                return Err(err(
                    format!("tasks[{i}].id"),
                    format!("task id {} is listed twice", t.id),
                ));
            }
            let (kind, entity) = match (t.lead, t.contact) {
                (Some(l), None) if s.leads.contains_key(&l) => (EntityKind::Leads, l),
                (None, Some(c)) if s.contacts.contains_key(&c) => (EntityKind::Contacts, c),
                (Some(_), Some(_)) => {
                    return Err(err(
                        format!("tasks[{i}]"),
                        "give either `lead` or `contact`, not both",
                    ));
                }
                (None, None) => {
                    return Err(err(
                        format!("tasks[{i}]"),
                        "give the `lead` or `contact` the task is on",
                    ));
                }
                (Some(l), None) => {
                    return Err(err(
                        format!("tasks[{i}].lead"),
                        format!("lead {l} is not listed under crm.leads"),
                    ));
                }
                (None, Some(c)) => {
                    return Err(err(
                        format!("tasks[{i}].contact"),
                        format!("contact {c} is not listed under crm.contacts"),
                    ));
                }
            };
            let owner = match kind {
                EntityKind::Leads => s.leads.get(&entity).map(|l| l.responsible_user_id),
                EntityKind::Contacts => s.contacts.get(&entity).map(|c| c.responsible_user_id),
                EntityKind::Companies => s.companies.get(&entity).map(|c| c.responsible_user_id),
            };
            let responsible = responsible(
                format!("tasks[{i}].responsible"),
                t.responsible.or(owner),
                s,
            )?;
            let till = start + i64::try_from(t.complete_till.secs()).unwrap_or(i64::MAX / 2);
            s.insert_task(
                Some(t.id),
                Task {
                    id: t.id,
                    duration: 0,
                    task_type_id: 1,
                    text: t
                        .text
                        .clone()
                        .unwrap_or_else(|| "Перезвонить клиенту".into()),
                    complete_till: till,
                    entity_type: kind,
                    entity_id: entity,
                    responsible_user_id: responsible,
                    is_completed: t.completed,
                    result_text: None,
                    created_at: start,
                    updated_at: start,
                },
            );
        }
        Ok(())
    }
}

/// The pipeline a seeded lead goes in: the one named, else the one holding its status, else
/// the main one.
fn lead_pipeline<'s>(s: &'s CrmState, l: &SeedLead, i: usize) -> Result<&'s Pipeline, SeedError> {
    match l.pipeline {
        Some(p) => s.pipeline(p).ok_or_else(|| {
            err(
                format!("leads[{i}].pipeline"),
                format!("pipeline {p} is not in the account"),
            )
        }),
        None => match l.status.filter(|st| *st != WON && *st != LOST) {
            Some(st) => s
                .pipelines
                .iter()
                .find(|p| p.status(st).is_some())
                .ok_or_else(|| {
                    err(
                        format!("leads[{i}].status"),
                        format!("status {st} is in no pipeline"),
                    )
                }),
            None => s
                .main_pipeline()
                .ok_or_else(|| err(format!("leads[{i}]"), "the account has no pipeline")),
        },
    }
}

/// The responsible at `path`: a listed user, else the first user of the account.
fn responsible(path: String, id: Option<u64>, s: &CrmState) -> Result<u64, SeedError> {
    match id {
        Some(u) if s.users.contains_key(&u) => Ok(u),
        Some(u) => Err(err(path, format!("user {u} is not listed under crm.users"))),
        None => s
            .users
            .keys()
            .next()
            .copied()
            .ok_or_else(|| err(path, "no responsible given and crm.users is empty")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = r#"
users:     [{ id: 1001, name: Анна }, { id: 1002, name: Борис }]
pipelines: [{ id: 3001, name: Продажи, main: true,
              statuses: [{ id: 40, name: Неразобранное, unsorted: true },
                         { id: 41, name: Первичный контакт }] }]
contacts:  [{ id: 5001, name: Иван, phone: "+79161234567", responsible: 1002 }]
leads:     [{ id: 7001, contact: 5001, status: 142, responsible: 1002 }]
tasks:     [{ id: 9001, contact: 5001, complete_till: 10m, completed: false }]
"#;

    #[test]
    fn the_documented_crm_block_builds() {
        let s = CrmSeed::from_yaml(SEED).unwrap().build(1_000).unwrap();
        let p = s.pipeline(3001).unwrap();
        assert!(p.status(142).is_some() && p.status(143).is_some());
        assert_eq!(p.first_normal(), Some(41));
        assert_eq!(s.leads[&7001].closed_at, Some(1_000));
        assert_eq!(s.tasks[&9001].complete_till, 1_600);
        assert_eq!(s.tasks[&9001].responsible_user_id, 1002);
        assert_eq!(s.contacts_by_phone_key("9161234567"), vec![5001]);
    }

    #[test]
    fn users_are_never_invented() {
        let seed = CrmSeed::from_yaml(
            "users: [{id: 1, name: A}]\ncontacts: [{id: 5, phone: '+79161234567', responsible: 2}]",
        )
        .unwrap();
        let e = seed.build(0).unwrap_err();
        assert_eq!(e.path, "contacts[0].responsible");
        assert!(e.to_string().contains("user 2 is not listed"));
    }

    #[test]
    fn seeded_custom_fields_are_checked() {
        let ok = "custom_fields: [{ entity: leads, name: Бюджет, type: numeric }]";
        let s = CrmSeed::from_yaml(ok).unwrap().build(0).unwrap();
        assert_eq!(s.fields.of(EntityKind::Leads).count(), 1);
        let bad = "custom_fields: [{ entity: leads, name: Источник, type: select }]";
        let e = CrmSeed::from_yaml(bad).unwrap().build(0).unwrap_err();
        assert_eq!(e.path, "custom_fields[0]");
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(CrmSeed::from_yaml("users: []\nleeds: []").is_err());
    }
}
