//! Performs a [`Plan`] through the amoCRM client, step by step. Before each write its intent is
//! saved with the call's progress; after it, its result and every memory change of the step are
//! saved in one transaction. A write whose outcome is uncertain (5xx, timeout, dropped
//! connection, or a restart after its intent was saved) is looked up in amoCRM before it is sent
//! again (R-FAIL, R-IDEM), so neither a retry nor `kill -9` makes a second entity.

use serde_json::Value;

use super::bodies;
use super::items;
use super::lookup::{create_once, find_contact, task_keys};
use crate::amocrm::client::{AmoClient, ClientError};
use crate::amocrm::requests::EntityRef;
use crate::engine::memory::{
    MemResult, Memory, MemoryError, Progress, TaskMemo, Transaction, UnsortedMemo, Write,
    remembered_item,
};
use crate::engine::rules::plan::*;
use crate::phone::Country;

/// Why a step failed: amoCRM, or the engine's own storage.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum StepFailure {
    #[error(transparent)]
    Amo(#[from] ClientError),
    #[error(transparent)]
    Memory(#[from] MemoryError),
}

/// A step of the plan that could not be done.
#[derive(Debug, Clone, thiserror::Error)]
#[error("call {call_id}: {step}: {source}")]
pub struct ExecError {
    pub(crate) call_id: String,
    pub(crate) step: &'static str,
    #[source]
    pub(crate) source: StepFailure,
}

/// The entity a task or a note of the plan goes on, once it exists.
fn entity(target: Target, p: &Progress) -> Option<EntityRef> {
    match target {
        Target::NewLead => p.lead_id.map(EntityRef::Lead),
        Target::NewContact => p.contact_id.map(EntityRef::Contact),
        Target::Lead(id) => Some(EntityRef::Lead(id)),
        Target::Contact(id) => Some(EntityRef::Contact(id)),
        Target::UnsortedLead => p.unsorted.as_ref().and_then(|u| {
            u.lead_id
                .map(EntityRef::Lead)
                .or(u.contact_id.map(EntityRef::Contact))
        }),
        Target::UnsortedContact => p
            .unsorted
            .as_ref()
            .and_then(|u| u.contact_id)
            .map(EntityRef::Contact),
    }
}

/// Saves the intent to send `w`; answers whether an earlier intent for it was left unanswered
/// (the write may have been applied before a crash).
async fn intend<M: Memory>(memory: &mut M, p: &mut Progress, w: Write) -> MemResult<bool> {
    let resumed = p.in_flight == Some(w);
    if !resumed {
        p.in_flight = Some(w);
        memory.save_progress(&p.call.id, p).await?;
    }
    Ok(resumed)
}

/// Records a step's result: `more` memory changes and the progress (intent cleared), in one
/// transaction.
async fn done<M: Memory>(memory: &mut M, p: &mut Progress, more: Transaction) -> MemResult<()> {
    p.in_flight = None;
    memory.commit(more.save_progress(&p.call.id, p)).await
}

/// Runs the remaining steps of `p`, saving intent and progress around each write.
pub(crate) async fn execute<M: Memory>(
    client: &AmoClient,
    unsorted_stages: &[u64],
    country: Country,
    memory: &mut M,
    p: &mut Progress,
) -> Result<(), ExecError> {
    let fail = |step: &'static str, call_id: &str| {
        let call_id = call_id.to_string();
        move |source: StepFailure| ExecError {
            call_id,
            step,
            source,
        }
    };
    let id = p.call.id.clone();
    unsorted_step(client, unsorted_stages, memory, p)
        .await
        .map_err(fail("create or accept the Unsorted item", &id))?;
    contact_and_lead(client, country, memory, p)
        .await
        .map_err(fail("create the contact and lead", &id))?;
    task_step(client, memory, p)
        .await
        .map_err(fail("create the callback task", &id))?;
    note_step(client, memory, p)
        .await
        .map_err(fail("add the call note", &id))?;
    Ok(())
}

/// The visible contact of the call's phone (lowest id) and a lead of it this call made (one not
/// among `known_leads`).
async fn find_new(
    client: &AmoClient,
    country: Country,
    p: &Progress,
) -> Result<Option<(u64, Option<u64>)>, ClientError> {
    let contact = find_contact(client, p.call.client.key(), country).await?;
    Ok(contact.map(|c| {
        (
            c.id,
            c.lead_ids()
                .into_iter()
                .find(|l| !p.known_leads.contains(l)),
        )
    }))
}

/// Step 2: contact and lead; one `leads/complex` when both are new.
async fn contact_and_lead<M: Memory>(
    client: &AmoClient,
    country: Country,
    memory: &mut M,
    p: &mut Progress,
) -> Result<(), StepFailure> {
    let plan = p.plan.clone();
    let call = p.call.clone();
    if let ContactPlan::Existing(id) = plan.contact {
        p.contact_id = Some(id);
    }
    let snapshot = p.clone();
    match (plan.contact, &plan.lead) {
        (ContactPlan::Create { .. }, Some(lead)) if p.lead_id.is_none() => {
            let body = bodies::lead_with_new_contact(&call, lead);
            let resumed = intend(memory, p, Write::Complex).await?;
            let (lead_id, contact_id) = create_once(
                client,
                resumed,
                || async {
                    let (l, c) = client.create_complex(&body).await?;
                    Ok((Some(l), c))
                },
                || async {
                    Ok(find_new(client, country, &snapshot)
                        .await?
                        .filter(|(_, l)| l.is_some())
                        .map(|(c, l)| (l, Some(c))))
                },
            )
            .await?;
            p.lead_id = lead_id;
            p.contact_id = contact_id;
        }
        (ContactPlan::Create { responsible }, None) if p.contact_id.is_none() => {
            let body = bodies::contact(&call, Some(responsible));
            let resumed = intend(memory, p, Write::Contact).await?;
            let id = create_once(
                client,
                resumed,
                || client.create_contact(&body),
                || async { Ok(find_new(client, country, &snapshot).await?.map(|(c, _)| c)) },
            )
            .await?;
            p.contact_id = Some(id);
        }
        (ContactPlan::Existing(contact), Some(lead)) if p.lead_id.is_none() => {
            let body = bodies::lead_of_contact(&call, lead, contact);
            let resumed = intend(memory, p, Write::Lead).await?;
            let id = create_once(
                client,
                resumed,
                || client.create_lead(&body),
                || async {
                    Ok(find_new(client, country, &snapshot)
                        .await?
                        .and_then(|(_, l)| l))
                },
            )
            .await?;
            p.lead_id = Some(id);
        }
        _ => return Ok(()),
    }
    done(memory, p, Transaction::new()).await?;
    Ok(())
}

/// Step 3: the callback task, remembered for its phone and its contact (R-MISS-DEDUP: per
/// client, whichever of its phones calls next) in the same transaction.
async fn task_step<M: Memory>(
    client: &AmoClient,
    memory: &mut M,
    p: &mut Progress,
) -> Result<(), StepFailure> {
    let (Some(task), None) = (p.plan.task, p.task_id) else {
        return Ok(());
    };
    let Some(on) = entity(task.target, p) else {
        return Ok(());
    };
    let call = p.call.clone();
    let body = bodies::task(&call, &task, on);
    let text = bodies::task_text(&call);
    let resumed = intend(memory, p, Write::Task).await?;
    let id = create_once(
        client,
        resumed,
        || client.create_task(&body),
        || async {
            let open = client.open_tasks(on).await?;
            Ok(open
                .into_iter()
                .find(|t| t.complete_till == task.complete_till && t.text == text)
                .map(|t| t.id))
        },
    )
    .await?;
    p.task_id = Some(id);
    let keys = task_keys(call.client.key(), p.contact_id);
    let memo = TaskMemo {
        task_id: id,
        deadline: task.complete_till,
    };
    let tx = keys
        .iter()
        .fold(Transaction::new(), |tx, k| tx.set_callback_task(k, &memo));
    done(memory, p, tx).await?;
    Ok(())
}

/// Step 4: the call note, found again by its `uniq` (the call id).
async fn note_step<M: Memory>(
    client: &AmoClient,
    memory: &mut M,
    p: &mut Progress,
) -> Result<(), StepFailure> {
    let (Some(note), None) = (p.plan.note, p.note_id) else {
        return Ok(());
    };
    let Some(on) = entity(note.target, p) else {
        return Ok(());
    };
    let call = p.call.clone();
    let body = bodies::note(&call, &note);
    // An Unsorted item created for this call carried the call in its metadata with
    // `is_call_event_needed`, and amoCRM puts that call on the item's lead itself. Whenever an
    // item is involved, or the call was decided after a restart (when memory may have missed
    // such an item), the note is looked for before it is written: the card never shows the
    // call twice.
    let carried = p.unsorted.is_some() || p.recovered;
    let resumed = intend(memory, p, Write::Note).await? || carried;
    let id = create_once(
        client,
        resumed,
        || client.add_note(on, &body),
        || async {
            let notes = client.notes(on).await?;
            Ok(notes
                .into_iter()
                .find(|n| {
                    n.note_type == note.kind.as_str()
                        && n.params.get("uniq").and_then(Value::as_str) == Some(call.id.as_str())
                })
                .map(|n| n.id))
        },
    )
    .await?;
    p.note_id = Some(id);
    done(memory, p, Transaction::new()).await?;
    Ok(())
}

/// Step 1: the call's Unsorted item created, accepted or kept.
async fn unsorted_step<M: Memory>(
    client: &AmoClient,
    unsorted_stages: &[u64],
    memory: &mut M,
    p: &mut Progress,
) -> Result<(), StepFailure> {
    let call = p.call.clone();
    let key = call.client.key().to_string();
    let accept_user = match p.plan.unsorted.clone() {
        UnsortedPlan::None => return Ok(()),
        UnsortedPlan::Keep { uid } => {
            if p.unsorted.is_none() {
                p.unsorted = remembered_item(memory, &call.id, &key, &uid).await?;
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
                let resumed = intend(memory, p, Write::UnsortedItem).await?;
                let memo = items::create(
                    client,
                    resumed,
                    &call,
                    &source_uid,
                    pipeline_id,
                    responsible,
                    with_contact,
                )
                .await?;
                p.unsorted = Some(memo.clone());
                let tx = Transaction::new()
                    .set_unsorted_of_call(&call.id, &memo)
                    .set_pending_unsorted(&key, Some(&memo));
                done(memory, p, tx).await?;
            }
            accept
        }
        UnsortedPlan::Accept { uid, user } => {
            if p.unsorted.is_none() {
                let known = remembered_item(memory, &call.id, &key, &uid).await?;
                p.unsorted = Some(known.unwrap_or(UnsortedMemo::uid_only(uid)));
            }
            Some(user)
        }
    };
    if let (Some(user), false, Some(memo)) = (accept_user, p.accepted, p.unsorted.clone()) {
        // Accepting twice is harmless (a refusal is read back), so no look-up is needed first.
        if items::accept(client, unsorted_stages, &memo, user).await? == items::Accepted::Declined {
            tracing::warn!(uid = %memo.uid, "a manager declined the item before it was accepted; nothing goes on it");
            p.unsorted = None;
        }
        p.accepted = true;
        done(
            memory,
            p,
            Transaction::new().set_pending_unsorted(&key, None),
        )
        .await?;
    }
    Ok(())
}
