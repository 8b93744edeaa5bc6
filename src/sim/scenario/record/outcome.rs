//! The `expect:` block of a recorded scenario: what the service did for those calls — the
//! call notes and callback tasks it wrote (beside the tasks the account already had), and no
//! more amoCRM requests than it made.

use serde_json::Value as Json;
use serde_yaml::{Mapping, Value};

use super::account::Account;
use crate::amocrm::exchange::Exchange;

pub(super) fn expect(kept: &[Exchange], account: &Account, start_s: i64) -> Value {
    let writes: Vec<&Exchange> = kept
        .iter()
        .filter(|x| x.call_id.is_some() && x.method == "POST" && super::succeeded(x))
        .collect();
    let notes: Vec<Value> = writes.iter().flat_map(|x| notes(x)).collect();
    let mut tasks: Vec<Value> = account
        .tasks()
        .into_iter()
        .map(|(on, due, completed)| {
            let mut m = Mapping::new();
            if let Some(on) = on {
                m.insert("on".into(), on.into());
            }
            m.insert("due".into(), format!("{due}s").into());
            m.insert("completed".into(), completed.into());
            Value::Mapping(m)
        })
        .collect();
    tasks.extend(
        writes
            .iter()
            .filter(|x| x.path == "/api/v4/tasks")
            .flat_map(|x| items(x))
            .map(|t| task(t, start_s)),
    );
    let requests = kept.iter().filter(|x| x.call_id.is_some()).count();
    let mut m = Mapping::new();
    m.insert("tasks".into(), Value::Sequence(tasks));
    m.insert("notes".into(), Value::Sequence(notes));
    let mut r = Mapping::new();
    r.insert("max".into(), requests.into());
    m.insert("requests".into(), Value::Mapping(r));
    Value::Mapping(m)
}

fn items(x: &Exchange) -> impl Iterator<Item = &Json> {
    x.request
        .as_ref()
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
}

/// Notes written by `POST /api/v4/{leads|contacts}[/{id}]/notes`.
fn notes(x: &Exchange) -> Vec<Value> {
    let parts: Vec<&str> = x.path.trim_start_matches("/api/v4/").split('/').collect();
    let on = match parts.as_slice() {
        ["leads", "notes"] | ["leads", _, "notes"] => "lead",
        ["contacts", "notes"] | ["contacts", _, "notes"] => "contact",
        _ => return Vec::new(),
    };
    items(x)
        .filter_map(|n| {
            let kind = n.get("note_type").and_then(Json::as_str)?;
            if !matches!(kind, "call_in" | "call_out" | "common") {
                return None;
            }
            let mut m = Mapping::new();
            m.insert("type".into(), kind.into());
            if let Some(s) = n.pointer("/params/call_status").and_then(Json::as_u64) {
                m.insert("call_status".into(), s.into());
            }
            m.insert("on".into(), on.into());
            Some(Value::Mapping(m))
        })
        .collect()
}

fn task(t: &Json, start_s: i64) -> Value {
    let mut m = Mapping::new();
    if let Some(on) = super::task_on(t) {
        m.insert("on".into(), on.into());
    }
    if let Some(r) = t.get("responsible_user_id").and_then(Json::as_u64) {
        m.insert("responsible".into(), r.into());
    }
    // A deadline before `start` (events stamped earlier than they arrived) has no `due`.
    if let Some(due) = t
        .get("complete_till")
        .and_then(Json::as_i64)
        .and_then(|till| u64::try_from(till.saturating_sub(start_s)).ok())
    {
        m.insert("due".into(), format!("{due}s").into());
    }
    m.insert("completed".into(), false.into());
    Value::Mapping(m)
}
