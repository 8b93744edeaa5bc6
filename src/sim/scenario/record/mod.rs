//! `sipamo record`: calls the service handled, turned into a scenario file that replays them —
//! their raw Sipuni events as `event:` steps at the times they arrived, the settings the
//! service ran with, a `crm:` account rebuilt from what amoCRM answered during those calls, and
//! `expect:` filled with what the service did (its notes and tasks, and at most its requests).

mod account;
mod export;
mod outcome;

use serde_yaml::{Mapping, Value};

use crate::amocrm::exchange::Exchange;
use crate::phone::Phone;
use crate::server::store::Db;

/// Which calls to record; every given filter must hold.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    pub calls: Vec<String>,
    pub phone: Option<Phone>,
    /// Calls with an event received at or after this time (Unix ms).
    pub since_ms: Option<i64>,
}

/// Why nothing could be recorded.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("the database: {0}")]
    Database(#[from] crate::server::store::StoreError),
    #[error("{0}")]
    Kept(String),
    #[error(
        "no call matches (give --call, --phone or --since; `sipamo calls list` shows parked ones)"
    )]
    NoCall,
    #[error(
        "the database holds no settings: it was written by a sipamo before `record` existed; restart the service once with this version"
    )]
    NoSettings,
    #[error("the kept settings are not YAML: {0}")]
    Settings(String),
}

/// One stored event of a selected call.
struct Recorded {
    call_id: String,
    fields: Vec<(String, String)>,
    received_ms: i64,
}

/// The scenario file's text for the selected calls.
pub(crate) async fn record(conn: &Db, sel: &Selection) -> Result<String, RecordError> {
    let events = selected_events(conn, sel).await?;
    let Some(first) = events.first() else {
        return Err(RecordError::NoCall);
    };
    let start_ms = first.received_ms - first.received_ms.rem_euclid(1000);
    let calls: Vec<String> = unique(events.iter().map(|e| e.call_id.clone()));
    let kept = export::exchanges_of(conn, &calls)
        .await?
        .iter()
        .map(|text| {
            serde_json::from_str(text)
                .map_err(|e| RecordError::Kept(format!("a kept exchange: {e}")))
        })
        .collect::<Result<Vec<crate::amocrm::exchange::Exchange>, _>>()?;
    let settings_text = export::settings(conn)
        .await?
        .ok_or(RecordError::NoSettings)?;
    let settings: Value =
        serde_yaml::from_str(&settings_text).map_err(|e| RecordError::Settings(e.to_string()))?;
    let start_s = start_ms / 1000;
    let crm = account::rebuild(&kept, start_s);
    let expect = outcome::expect(&kept, &crm, start_s);
    let mut doc = Mapping::new();
    doc.insert("name".into(), name(&calls).into());
    doc.insert("tags".into(), Value::Sequence(vec!["recorded".into()]));
    doc.insert("start".into(), rfc3339(start_s).into());
    doc.insert("settings".into(), settings);
    doc.insert("crm".into(), crm.to_yaml());
    doc.insert("steps".into(), steps(&events, start_ms));
    doc.insert("expect".into(), expect);
    let body = serde_yaml::to_string(&Value::Mapping(doc))
        .map_err(|e| RecordError::Settings(e.to_string()))?;
    Ok(format!(
        "{}\n# Recorded by `sipamo record` from the service's database: {} call(s), {} amoCRM \
         exchange(s).\n# Review it like any scenario; faults amoCRM answered then are not \
         replayed.\n{body}",
        super::schema::modeline(2),
        calls.len(),
        kept.iter().filter(|x| x.call_id.is_some()).count()
    ))
}

async fn selected_events(conn: &Db, sel: &Selection) -> Result<Vec<Recorded>, RecordError> {
    let all = export::all_events(conn).await?;
    let matches = |e: &crate::server::store::StoredEvent| {
        (sel.calls.is_empty() || sel.calls.contains(&e.call_id))
            && sel.since_ms.is_none_or(|t| e.received_ms >= t)
            && sel.phone.as_ref().is_none_or(|p| {
                fields(&e.raw).iter().any(|(k, v)| {
                    (k == "src_num" || k == "dst_num")
                        && crate::phone::digits_key(v).as_deref() == Some(p.last10())
                })
            })
    };
    let chosen: Vec<String> = unique(all.iter().filter(|e| matches(e)).map(|e| e.call_id.clone()));
    Ok(all
        .into_iter()
        .filter(|e| chosen.contains(&e.call_id))
        .map(|e| Recorded {
            fields: fields(&e.raw),
            call_id: e.call_id,
            received_ms: e.received_ms,
        })
        .collect())
}

fn fields(raw: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect()
}

fn unique(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

fn steps(events: &[Recorded], start_ms: i64) -> Value {
    let list = events
        .iter()
        .map(|e| {
            let mut event = Mapping::new();
            for (k, v) in &e.fields {
                event.insert(k.clone().into(), v.clone().into());
            }
            let at = (e.received_ms - start_ms).max(0) / 1000;
            let mut step = Mapping::new();
            step.insert("at".into(), format!("{at}s").into());
            step.insert("event".into(), Value::Mapping(event));
            Value::Mapping(step)
        })
        .collect();
    Value::Sequence(list)
}

fn name(calls: &[String]) -> String {
    match calls {
        [one] => format!("Recorded call {one}"),
        [first, .., last] => format!("Recorded calls {first} … {last} ({})", calls.len()),
        [] => "Recorded calls".into(),
    }
}

fn rfc3339(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| "2026-03-02T10:00:00+03:00".into())
}

/// A task's `entity_type` as an expectation's `on:` (`lead`, `contact`; none for others).
fn task_on(t: &serde_json::Value) -> Option<&'static str> {
    match t.get("entity_type").and_then(serde_json::Value::as_str) {
        Some("leads") => Some("lead"),
        Some("contacts") => Some("contact"),
        _ => None,
    }
}

/// Exchanges answered with success.
fn succeeded(x: &Exchange) -> bool {
    x.status.is_some_and(|s| (200..300).contains(&s))
}
