//! Unsorted items («Неразобранное») in amoCRM: what state an item is in, read from what amoCRM
//! answers (never from a 204 or an error code alone), and creating and accepting one so that a
//! retry or a lost answer never makes a second item.

use super::bodies;
use super::lookup::create_once;
use crate::amocrm::client::{AmoClient, ClientError};
use crate::engine::memory::UnsortedMemo;
use crate::engine::rules::call::Call;

/// Where an Unsorted item stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ItemState {
    /// Neither accepted nor declined: its contact and lead are hidden.
    Pending,
    /// Accepted (by the engine or a manager): its contact and lead are visible.
    Accepted,
    /// Declined: its contact and lead are deleted (R-UNS-DECLINE).
    Declined,
}

/// Reads an item's state. Whether amoCRM still returns an accepted or declined item from
/// `GET /leads/unsorted/{uid}` is not documented, so the answer decides only through the item's
/// lead: in an Unsorted stage → pending; in another stage → accepted; gone → declined. An item
/// without a lead is judged by its contact (visible → accepted).
pub(crate) async fn item_state(
    client: &AmoClient,
    unsorted_stages: &[u64],
    memo: &UnsortedMemo,
) -> Result<ItemState, ClientError> {
    let item = client.unsorted(&memo.uid).await?;
    let (lead, contact) = match &item {
        Some(u) => (
            u.embedded.leads.first().map(|l| (l.id, l.status_id)),
            u.embedded.contacts.first().map(|c| c.id),
        ),
        None => (memo.lead_id.map(|id| (id, None)), memo.contact_id),
    };
    if let Some((id, status)) = lead {
        let status = match status {
            Some(s) => Some(s),
            None => client.lead(id).await?.map(|l| l.status_id),
        };
        return Ok(match status {
            None => ItemState::Declined,
            Some(s) if unsorted_stages.contains(&s) => ItemState::Pending,
            Some(_) => ItemState::Accepted,
        });
    }
    match contact {
        None => Ok(ItemState::Declined),
        Some(id) => Ok(
            match (client.contact(id).await?.is_some(), item.is_some()) {
                (true, _) => ItemState::Accepted,
                (false, true) => ItemState::Pending,
                (false, false) => ItemState::Declined,
            },
        ),
    }
}

/// What accepting an item came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Accepted {
    /// It is accepted now (by this request, or by an earlier one whose answer was lost).
    Yes,
    /// A manager declined it first.
    Declined,
}

/// Accepts an item on behalf of `user`. When amoCRM refuses, the item is read: already accepted
/// counts as done, declined is reported, still pending returns the refusal.
pub(crate) async fn accept(
    client: &AmoClient,
    unsorted_stages: &[u64],
    memo: &UnsortedMemo,
    user: u64,
) -> Result<Accepted, ClientError> {
    match client.accept_unsorted(&memo.uid, user).await {
        Ok(()) => Ok(Accepted::Yes),
        Err(e) if e.is_refusal() => match item_state(client, unsorted_stages, memo).await? {
            ItemState::Accepted => {
                tracing::info!(uid = %memo.uid, "the item was already accepted");
                Ok(Accepted::Yes)
            }
            ItemState::Declined => Ok(Accepted::Declined),
            ItemState::Pending => Err(e),
        },
        Err(e) => Err(e),
    }
}

/// Creates an item for `call` with `source_uid` (or finds it after a lost answer, a restart
/// after its intent was saved (`resumed`), or a refusal, whatever code amoCRM refused with).
pub(crate) async fn create(
    client: &AmoClient,
    resumed: bool,
    call: &Call,
    source_uid: &str,
    pipeline_id: u64,
    responsible: u64,
    with_contact: bool,
) -> Result<UnsortedMemo, ClientError> {
    let item = bodies::unsorted_item(call, source_uid, pipeline_id, responsible, with_contact);
    let find = || async {
        let items = client.pending_unsorted().await?;
        Ok(items
            .into_iter()
            .find(|u| u.source_uid.as_deref() == Some(source_uid)))
    };
    let created = create_once(
        client,
        resumed,
        || async {
            match client.create_unsorted_sip(&item).await {
                Err(e) if e.is_refusal() => match find().await? {
                    Some(u) => Ok(u),
                    None => Err(e),
                },
                other => other,
            }
        },
        find,
    )
    .await?;
    Ok(UnsortedMemo {
        uid: created.uid,
        source_uid: source_uid.to_string(),
        contact_id: created.embedded.contacts.first().map(|c| c.id),
        lead_id: created.embedded.leads.first().map(|l| l.id),
    })
}
