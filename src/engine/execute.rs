//! Performs a [`Plan`] through the amoCRM client, step by step, saving progress after each.
//! A create whose outcome is uncertain (5xx, timeout, dropped connection) is looked up before it
//! is sent again (R-FAIL), so a retry never makes a second entity.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use backon::{ExponentialBuilder, Retryable};
use serde_json::{Value, json};

use super::call::{Call, Direction};
use super::items;
use super::memory::{Memory, Progress, TaskMemo, UnsortedMemo};
use super::plan::*;
use crate::amocrm::client::{AmoClient, ClientError};

/// The text of a callback task («Перезвонить клиенту»), followed by the phone.
pub const TASK_TEXT: &str = "Перезвонить клиенту";
/// `source` of call notes and `source_name` of Unsorted items.
pub const SOURCE: &str = "Sipuni";

/// A step of the plan that could not be done.
#[derive(Debug, Clone, thiserror::Error)]
#[error("call {call_id}: {step}: {source}")]
pub struct ExecError {
    pub call_id: String,
    pub step: &'static str,
    #[source]
    pub source: ClientError,
}

fn phone_field(call: &Call) -> Value {
    json!([{ "field_code": "PHONE", "values": [{ "value": call.client.e164(), "enum_code": "WORK" }] }])
}

fn contact_json(call: &Call, responsible: Option<u64>) -> Value {
    let mut c = json!({ "name": call.client.e164(), "custom_fields_values": phone_field(call) });
    if let Some(r) = responsible {
        c["responsible_user_id"] = json!(r);
    }
    c
}

fn lead_name(call: &Call) -> String {
    match call.direction {
        Direction::Incoming => format!("Входящий звонок {}", call.client.e164()),
        Direction::Outgoing => format!("Исходящий звонок {}", call.client.e164()),
    }
}

fn lead_json(call: &Call, lead: &LeadPlan) -> Value {
    let mut l = json!({ "name": lead_name(call), "responsible_user_id": lead.responsible });
    if let Some(p) = lead.pipeline {
        l["pipeline_id"] = json!(p.id);
        if let Some(st) = p.status {
            l["status_id"] = json!(st);
        }
    }
    l
}

/// The `leads/unsorted/sip` item for a call.
pub fn unsorted_json(
    call: &Call,
    source_uid: &str,
    pipeline_id: u64,
    responsible: u64,
    with_contact: bool,
) -> Value {
    let mut metadata = json!({
        "is_call_event_needed": true,
        "uniq": call.id,
        "duration": call.talk_secs,
        "service_code": "sipuni",
        "phone": call.client.e164(),
        "called_at": call.started_at,
        "from": call.client.e164(),
        "call_responsible": responsible,
    });
    if let Some(link) = &call.record_link {
        metadata["link"] = json!(link);
    }
    let mut embedded = json!({ "leads": [{ "name": lead_name(call) }] });
    if with_contact {
        embedded["contacts"] = json!([contact_json(call, None)]);
    }
    json!({
        "source_name": SOURCE,
        "source_uid": source_uid,
        "pipeline_id": pipeline_id,
        "created_at": call.started_at,
        "metadata": metadata,
        "_embedded": embedded,
    })
}

fn backoff(client: &AmoClient) -> ExponentialBuilder {
    let p = client.retry_policy();
    let b = ExponentialBuilder::default()
        .with_min_delay(p.min_delay)
        .with_max_delay(p.max_delay)
        .with_max_times(p.max_times)
        .with_jitter();
    match p.jitter_seed {
        Some(seed) => b.with_jitter_seed(seed ^ 0x5eed),
        None => b,
    }
}

/// Creates something at most once: after an uncertain failure, `lookup` runs before the next
/// `create`, and what it finds is taken as created.
pub async fn create_once<T, C, CF, L, LF>(
    client: &AmoClient,
    create: C,
    lookup: L,
) -> Result<T, ClientError>
where
    C: Fn() -> CF,
    CF: Future<Output = Result<T, ClientError>>,
    L: Fn() -> LF,
    LF: Future<Output = Result<Option<T>, ClientError>>,
{
    let uncertain = AtomicBool::new(false);
    let clock = client.clock().clone();
    (|| async {
        if uncertain.load(Ordering::Relaxed)
            && let Some(found) = lookup().await?
        {
            tracing::info!("an earlier attempt had created it; not creating again");
            return Ok(found);
        }
        match create().await {
            Err(e) if e.is_uncertain() => {
                uncertain.store(true, Ordering::Relaxed);
                Err(e)
            }
            other => other,
        }
    })
    .retry(backoff(client))
    .sleep(move |d| {
        let c = clock.clone();
        async move { c.sleep(d).await }
    })
    .when(ClientError::is_transient)
    .notify(|e, d| tracing::warn!(error = %e, retry_in_ms = d.as_millis() as u64, "create failed; retrying"))
    .await
}

fn entity(target: Target, p: &Progress) -> Option<(&'static str, u64)> {
    match target {
        Target::NewLead => p.lead_id.map(|id| ("leads", id)),
        Target::NewContact => p.contact_id.map(|id| ("contacts", id)),
        Target::Lead(id) => Some(("leads", id)),
        Target::Contact(id) => Some(("contacts", id)),
        Target::UnsortedLead => p.unsorted.as_ref().and_then(|u| {
            u.lead_id
                .map(|id| ("leads", id))
                .or(u.contact_id.map(|id| ("contacts", id)))
        }),
        Target::UnsortedContact => p
            .unsorted
            .as_ref()
            .and_then(|u| u.contact_id)
            .map(|id| ("contacts", id)),
    }
}

/// Runs the remaining steps of `p`, saving progress after each.
pub async fn execute<M: Memory>(
    client: &AmoClient,
    unsorted_stages: &[u64],
    memory: &mut M,
    p: &mut Progress,
) -> Result<(), ExecError> {
    let call = p.call.clone();
    let plan = p.plan.clone();
    let key = call.client.key().to_string();
    let fail = |step: &'static str| {
        let call_id = call.id.clone();
        move |source: ClientError| ExecError {
            call_id: call_id.clone(),
            step,
            source,
        }
    };

    // 1. Unsorted («Неразобранное»).
    unsorted_step(client, unsorted_stages, memory, p)
        .await
        .map_err(fail("create or accept the Unsorted item"))?;

    // 2. Contact and lead: one `leads/complex` when both are new.
    if let ContactPlan::Existing(id) = plan.contact {
        p.contact_id = Some(id);
    }
    let known_leads = p.known_leads.clone();
    let find_new = || async {
        let contacts = client.search_contacts(call.client.key()).await?;
        let contact = contacts
            .iter()
            .filter(|c| {
                c.phones()
                    .iter()
                    .any(|ph| crate::phone::digits_key(ph).as_deref() == Some(call.client.key()))
            })
            .min_by_key(|c| c.id);
        Ok(contact.map(|c| {
            (
                c.id,
                c.lead_ids().into_iter().find(|l| !known_leads.contains(l)),
            )
        }))
    };
    match (plan.contact, &plan.lead) {
        (ContactPlan::Create { .. }, Some(lead)) if p.lead_id.is_none() => {
            let mut body = lead_json(&call, lead);
            body["_embedded"] =
                json!({ "contacts": [contact_json(&call, Some(lead.responsible))] });
            let (lead_id, contact_id) = create_once(
                client,
                || async {
                    client
                        .create_complex(body.clone())
                        .await
                        .map(|(l, c)| (Some(l), c))
                },
                || async {
                    Ok(find_new()
                        .await?
                        .filter(|(_, l)| l.is_some())
                        .map(|(c, l)| (l, Some(c))))
                },
            )
            .await
            .map_err(fail("create the contact and lead (leads/complex)"))?;
            p.lead_id = lead_id;
            p.contact_id = contact_id;
            memory.save_progress(&call.id, p);
        }
        (ContactPlan::Create { responsible }, None) if p.contact_id.is_none() => {
            let body = contact_json(&call, Some(responsible));
            let id = create_once(
                client,
                || async {
                    client
                        .create_one("/api/v4/contacts", "contacts", body.clone())
                        .await
                },
                || async { Ok(find_new().await?.map(|(c, _)| c)) },
            )
            .await
            .map_err(fail("create the contact"))?;
            p.contact_id = Some(id);
            memory.save_progress(&call.id, p);
        }
        (ContactPlan::Existing(contact), Some(lead)) if p.lead_id.is_none() => {
            let mut body = lead_json(&call, lead);
            body["_embedded"] = json!({ "contacts": [{ "id": contact }] });
            let id = create_once(
                client,
                || async {
                    client
                        .create_one("/api/v4/leads", "leads", body.clone())
                        .await
                },
                || async { Ok(find_new().await?.and_then(|(_, l)| l)) },
            )
            .await
            .map_err(fail("create the lead"))?;
            p.lead_id = Some(id);
            memory.save_progress(&call.id, p);
        }
        _ => {}
    }

    // 3. Callback task.
    if let (Some(task), None) = (plan.task, p.task_id)
        && let Some((kind, entity_id)) = entity(task.target, p)
    {
        let text = format!("{TASK_TEXT} {}", call.client.e164());
        let body = json!({
            "task_type_id": 1, "text": text, "complete_till": task.complete_till,
            "entity_id": entity_id, "entity_type": kind, "responsible_user_id": task.responsible,
        });
        let id = create_once(
            client,
            || async {
                client
                    .create_one("/api/v4/tasks", "tasks", body.clone())
                    .await
            },
            || async {
                let open = client.open_tasks(kind, entity_id).await?;
                Ok(open
                    .into_iter()
                    .find(|t| t.complete_till == task.complete_till && t.text == text)
                    .map(|t| t.id))
            },
        )
        .await
        .map_err(fail("create the callback task"))?;
        p.task_id = Some(id);
        memory.set_callback_task(
            &key,
            TaskMemo {
                task_id: id,
                deadline: task.complete_till,
            },
        );
        memory.save_progress(&call.id, p);
    }

    // 4. Call note.
    if let (Some(note), None) = (plan.note, p.note_id)
        && let Some((kind, entity_id)) = entity(note.target, p)
    {
        let mut params = json!({
            "uniq": call.id, "duration": call.talk_secs, "source": SOURCE,
            "phone": call.client.e164(), "call_status": note.call_status, "call_responsible": note.responsible,
        });
        if let Some(link) = &call.record_link {
            params["link"] = json!(link);
        }
        if note.not_reached {
            params["call_result"] = json!(NOT_REACHED);
        }
        let body = json!({ "note_type": note.kind.as_str(), "responsible_user_id": note.responsible, "params": params });
        let path = format!("/api/v4/{kind}/{entity_id}/notes");
        let id = create_once(
            client,
            || async { client.create_one(&path, "notes", body.clone()).await },
            || async {
                let notes = client.notes(kind, entity_id).await?;
                Ok(notes
                    .into_iter()
                    .find(|n| {
                        n.note_type == note.kind.as_str()
                            && n.params.get("uniq").and_then(Value::as_str)
                                == Some(call.id.as_str())
                    })
                    .map(|n| n.id))
            },
        )
        .await
        .map_err(fail("add the call note"))?;
        p.note_id = Some(id);
        memory.save_progress(&call.id, p);
    }
    Ok(())
}

/// Step 1 of a plan: the call's Unsorted item created, accepted or kept, saving progress after
/// each write.
async fn unsorted_step<M: Memory>(
    client: &AmoClient,
    unsorted_stages: &[u64],
    memory: &mut M,
    p: &mut Progress,
) -> Result<(), ClientError> {
    let call = p.call.clone();
    let key = call.client.key().to_string();
    let remembered = |memory: &M, uid: &str| {
        memory
            .unsorted_of_call(&call.id)
            .filter(|m| m.uid == uid)
            .or_else(|| memory.pending_unsorted(&key).filter(|m| m.uid == uid))
    };
    let accept_user = match p.plan.unsorted.clone() {
        UnsortedPlan::None => return Ok(()),
        UnsortedPlan::Keep { uid } => {
            if p.unsorted.is_none() {
                p.unsorted = remembered(memory, &uid);
            }
            return Ok(());
        }
        UnsortedPlan::Create {
            source_uid,
            pipeline_id,
            responsible,
            with_contact,
            accept,
        } => {
            if p.unsorted.is_none() {
                let memo = items::create(
                    client,
                    &call,
                    &source_uid,
                    pipeline_id,
                    responsible,
                    with_contact,
                )
                .await?;
                memory.set_unsorted_of_call(&call.id, memo.clone());
                memory.set_pending_unsorted(&key, Some(memo.clone()));
                p.unsorted = Some(memo);
                memory.save_progress(&call.id, p);
            }
            accept
        }
        UnsortedPlan::Accept { uid, user } => {
            if p.unsorted.is_none() {
                p.unsorted = Some(remembered(memory, &uid).unwrap_or(UnsortedMemo {
                    uid,
                    source_uid: String::new(),
                    contact_id: None,
                    lead_id: None,
                }));
            }
            Some(user)
        }
    };
    if let (Some(user), false, Some(memo)) = (accept_user, p.accepted, p.unsorted.clone()) {
        if items::accept(client, unsorted_stages, &memo, user).await? == items::Accepted::Declined {
            tracing::warn!(uid = %memo.uid, "a manager declined the item before it was accepted; nothing goes on it");
            p.unsorted = None;
        }
        memory.set_pending_unsorted(&key, None);
        p.accepted = true;
        memory.save_progress(&call.id, p);
    }
    Ok(())
}
