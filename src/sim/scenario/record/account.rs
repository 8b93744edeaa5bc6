//! The `crm:` account of a recorded scenario, rebuilt from amoCRM's answers: the users and
//! pipelines of the start-up check, and each contact, deal and task as first seen during the
//! calls — leaving out what the calls themselves created.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;
use serde_yaml::{Mapping, Value};

use crate::amocrm::exchange::Exchange;

/// What the account held before the recorded calls, as far as amoCRM showed it.
#[derive(Debug, Default)]
pub(super) struct Account {
    users: Vec<(u64, String)>,
    pipelines: Vec<Json>,
    contacts: BTreeMap<u64, Json>,
    leads: BTreeMap<u64, Json>,
    tasks: BTreeMap<u64, Json>,
    /// Deal → contact, from contact searches `with=leads`.
    links: BTreeMap<u64, u64>,
    start_s: i64,
}

fn arr<'a>(v: &'a Json, key: &str) -> impl Iterator<Item = &'a Json> {
    v.pointer(&format!("/_embedded/{key}"))
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
}

fn id(v: &Json) -> Option<u64> {
    v.get("id").and_then(Json::as_u64)
}

/// Ids of contacts, deals and tasks that the recorded calls' own writes created.
fn created(kept: &[Exchange]) -> BTreeSet<(&'static str, u64)> {
    let mut out = BTreeSet::new();
    for x in kept
        .iter()
        .filter(|x| x.method == "POST" && super::succeeded(x))
    {
        if x.path.ends_with("/accept") {
            continue;
        }
        let Some(r) = &x.response else { continue };
        walk(r, &mut out);
        // leads/complex answers [{id, contact_id}].
        for item in r.as_array().into_iter().flatten() {
            out.extend(id(item).map(|i| ("leads", i)));
            out.extend(
                item.get("contact_id")
                    .and_then(Json::as_u64)
                    .map(|c| ("contacts", c)),
            );
        }
    }
    out
}

fn walk(v: &Json, out: &mut BTreeSet<(&'static str, u64)>) {
    let Some(map) = v.as_object() else { return };
    for (k, child) in map {
        let kind = match k.as_str() {
            "contacts" => Some("contacts"),
            "leads" => Some("leads"),
            "tasks" => Some("tasks"),
            _ => None,
        };
        for item in child.as_array().into_iter().flatten() {
            if let (Some(kind), Some(i)) = (kind, id(item)) {
                out.insert((kind, i));
            }
            walk(item, out);
        }
        walk(child, out);
    }
}

/// Rebuilds the account seen by `kept` (in order sent), `start_s` being the scenario's start.
pub(super) fn rebuild(kept: &[Exchange], start_s: i64) -> Account {
    let new = created(kept);
    let mut a = Account {
        start_s,
        ..Account::default()
    };
    for x in kept
        .iter()
        .filter(|x| x.method == "GET" && super::succeeded(x))
    {
        let Some(r) = &x.response else { continue };
        let p = x.path.trim_start_matches("/api/v4/");
        match p.split('/').collect::<Vec<_>>().as_slice() {
            ["users"] => {
                a.users = arr(r, "users")
                    .filter_map(|u| Some((id(u)?, u.get("name")?.as_str()?.to_string())))
                    .collect();
            }
            ["leads", "pipelines"] => a.pipelines = arr(r, "pipelines").cloned().collect(),
            ["contacts"] => arr(r, "contacts").for_each(|c| a.see_contact(c, &new)),
            ["contacts", _] => a.see_contact(r, &new),
            ["leads"] => arr(r, "leads").for_each(|l| a.see("leads", l, &new)),
            ["leads", n] if n.parse::<u64>().is_ok() => a.see("leads", r, &new),
            ["tasks"] => arr(r, "tasks").for_each(|t| a.see("tasks", t, &new)),
            ["tasks", _] => a.see("tasks", r, &new),
            _ => {}
        }
    }
    a
}

impl Account {
    fn see_contact(&mut self, c: &Json, new: &BTreeSet<(&'static str, u64)>) {
        let Some(cid) = id(c) else { return };
        for l in arr(c, "leads").filter_map(id) {
            self.links.entry(l).or_insert(cid);
        }
        self.see("contacts", c, new);
    }

    fn see(&mut self, kind: &'static str, v: &Json, new: &BTreeSet<(&'static str, u64)>) {
        let Some(i) = id(v) else { return };
        if new.contains(&(kind, i)) {
            return;
        }
        let map = match kind {
            "contacts" => &mut self.contacts,
            "leads" => &mut self.leads,
            _ => &mut self.tasks,
        };
        map.entry(i).or_insert_with(|| v.clone());
    }

    /// Seeded tasks as (entity kind, due offset, completed), for the expectations.
    pub(super) fn tasks(&self) -> Vec<(Option<&str>, u64, bool)> {
        self.tasks
            .values()
            .map(|t| (super::task_on(t), self.offset(t), flag(t, "is_completed")))
            .collect()
    }

    fn offset(&self, t: &Json) -> u64 {
        let till = t
            .get("complete_till")
            .and_then(Json::as_i64)
            .unwrap_or(self.start_s);
        u64::try_from(till.saturating_sub(self.start_s)).unwrap_or(0)
    }

    /// The `crm:` block.
    pub(super) fn to_yaml(&self) -> Value {
        let mut m = Mapping::new();
        let users = self
            .users
            .iter()
            .map(|(i, n)| map(&[("id", (*i).into()), ("name", n.clone().into())]));
        m.insert("users".into(), Value::Sequence(users.collect()));
        if !self.pipelines.is_empty() {
            let list = self.pipelines.iter().map(pipeline).collect();
            m.insert("pipelines".into(), Value::Sequence(list));
        }
        let contacts = self.contacts.values().map(contact).collect();
        m.insert("contacts".into(), Value::Sequence(contacts));
        let leads = self.leads.values().map(|l| self.lead(l)).collect();
        m.insert("leads".into(), Value::Sequence(leads));
        let tasks = self.tasks.values().map(|t| self.task(t)).collect();
        m.insert("tasks".into(), Value::Sequence(tasks));
        Value::Mapping(m)
    }

    fn lead(&self, l: &Json) -> Value {
        let i = id(l).unwrap_or(0);
        let contact = arr(l, "contacts")
            .find_map(id)
            .or_else(|| self.links.get(&i).copied());
        let mut out = vec![("id", i.into())];
        out.extend(text(l, "name").map(|n| ("name", n)));
        out.extend(contact.map(|c| ("contact", c.into())));
        out.extend(number(l, "pipeline_id").map(|p| ("pipeline", p)));
        out.extend(number(l, "status_id").map(|s| ("status", s)));
        out.extend(number(l, "responsible_user_id").map(|r| ("responsible", r)));
        map(&out)
    }

    fn task(&self, t: &Json) -> Value {
        let mut out = vec![("id", id(t).unwrap_or(0).into())];
        let entity = t.get("entity_id").and_then(Json::as_u64);
        match (t.get("entity_type").and_then(Json::as_str), entity) {
            (Some("contacts"), Some(e)) => out.push(("contact", e.into())),
            (Some("leads"), Some(e)) => out.push(("lead", e.into())),
            _ => {}
        }
        out.push(("complete_till", format!("{}s", self.offset(t)).into()));
        out.push(("completed", flag(t, "is_completed").into()));
        out.extend(number(t, "responsible_user_id").map(|r| ("responsible", r)));
        out.extend(text(t, "text").map(|x| ("text", x)));
        map(&out)
    }
}

fn pipeline(p: &Json) -> Value {
    let statuses = arr(p, "statuses")
        .filter(|s| !matches!(id(s), Some(142 | 143)))
        .map(|s| {
            let mut out = vec![("id", id(s).unwrap_or(0).into())];
            out.extend(text(s, "name").map(|n| ("name", n)));
            out.push((
                "unsorted",
                (s.get("type").and_then(Json::as_u64) == Some(1)).into(),
            ));
            map(&out)
        })
        .collect();
    let mut out = vec![("id", id(p).unwrap_or(0).into())];
    out.extend(text(p, "name").map(|n| ("name", n)));
    out.push(("main", flag(p, "is_main").into()));
    out.push(("statuses", Value::Sequence(statuses)));
    map(&out)
}

fn contact(c: &Json) -> Value {
    // The PHONE values as amoCRM answered them, read as the engine reads them.
    let phones: Vec<Value> = serde_json::from_value::<crate::amocrm::model::Contact>(c.clone())
        .map(|contact| contact.phones())
        .unwrap_or_default()
        .into_iter()
        .map(Value::from)
        .collect();
    let mut out = vec![("id", id(c).unwrap_or(0).into())];
    out.extend(text(c, "name").map(|n| ("name", n)));
    out.push(("phones", Value::Sequence(phones)));
    out.extend(number(c, "responsible_user_id").map(|r| ("responsible", r)));
    map(&out)
}

fn text(v: &Json, key: &str) -> Option<Value> {
    v.get(key)
        .and_then(Json::as_str)
        .map(|s| s.to_string().into())
}

fn number(v: &Json, key: &str) -> Option<Value> {
    v.get(key).and_then(Json::as_u64).map(Value::from)
}

fn flag(v: &Json, key: &str) -> bool {
    v.get(key).and_then(Json::as_bool).unwrap_or(false)
}

fn map(pairs: &[(&str, Value)]) -> Value {
    let mut m = Mapping::new();
    for (k, v) in pairs {
        m.insert((*k).into(), v.clone());
    }
    Value::Mapping(m)
}
