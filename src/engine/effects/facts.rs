//! What amoCRM and the engine's memory say about a call's phone, gathered before deciding:
//! the visible contact («Finding the contact»), its active leads, the pending Unsorted items,
//! and the last callback task as it is now (R-MISS-DEDUP).

use super::Ctx;
use super::items::{self, ItemState};
use super::lookup::{find_contact, task_keys};
use crate::amocrm::client::ClientError;
use crate::amocrm::model::Contact;
use crate::engine::error::EngineError;
use crate::engine::memory::{Memory, MemoryError, UnsortedMemo};
use crate::engine::rules::call::{Call, Direction};
use crate::engine::rules::decide::{ContactFacts, Facts};

impl<M: Memory> Ctx<'_, M> {
    /// What the decisions before the hangup need (R-IN-U3): whether the number has a visible
    /// contact, and its pending items; no leads or tasks are read.
    pub(crate) async fn early_facts(&mut self, call: &Call) -> Result<Facts, EngineError> {
        let (mut facts, contact) = self.base_facts(call).await.map_err(|e| e.named(call))?;
        if let Some(c) = contact {
            facts.contact = Some(ContactFacts {
                id: c.id,
                responsible: c.responsible_user_id,
                active_leads: Vec::new(),
            });
        }
        Ok(facts)
    }

    /// The facts, and all lead ids of the phone's contact.
    pub(crate) async fn facts_with_leads(
        &mut self,
        call: &Call,
    ) -> Result<(Facts, Vec<u64>), EngineError> {
        self.full_facts(call).await.map_err(|e| e.named(call))
    }

    async fn full_facts(&mut self, call: &Call) -> Result<(Facts, Vec<u64>), Gather> {
        let (mut facts, contact) = self.base_facts(call).await?;
        let mut all_leads = Vec::new();
        if let Some(c) = contact {
            all_leads = c.lead_ids();
            let active = if all_leads.is_empty() {
                Vec::new()
            } else {
                let leads = self.client.leads_by_ids(&all_leads).await?;
                leads
                    .iter()
                    .filter(|l| l.is_active())
                    .map(|l| l.id)
                    .collect()
            };
            facts.contact = Some(ContactFacts {
                id: c.id,
                responsible: c.responsible_user_id,
                active_leads: active,
            });
        }
        self.open_task(call, call.client.key(), &mut facts).await?;
        Ok((facts, all_leads))
    }

    /// The visible contact of the phone, this call's own item, and, without a visible contact,
    /// the pending items checked in amoCRM.
    async fn base_facts(&mut self, call: &Call) -> Result<(Facts, Option<Contact>), Gather> {
        let key = call.client.key();
        let contact = find_contact(self.client, key, self.settings.phone_country).await?;
        let of_call = self.memory.unsorted_of_call(&call.id).await?;
        let mut facts = Facts {
            call_item: of_call.as_ref().map(|m| m.source_uid.clone()),
            ..Facts::default()
        };
        if contact.is_some() {
            // A visible contact means any remembered item was accepted (R-UNS-ACCEPT).
            if self.memory.pending_unsorted(key).await?.is_some() {
                self.memory.set_pending_unsorted(key, None).await?;
            }
        } else {
            self.pending_items(key, of_call, &mut facts).await?;
        }
        Ok((facts, contact))
    }

    /// The phone's pending item and this call's own item, each checked in amoCRM.
    async fn pending_items(
        &mut self,
        key: &str,
        of_call: Option<UnsortedMemo>,
        facts: &mut Facts,
    ) -> Result<(), Gather> {
        let mut checked = None;
        if let Some(m) = self.memory.pending_unsorted(key).await? {
            // amoCRM is the truth: the item may have been accepted or declined.
            let pending = self.still_pending(&m).await?;
            if pending {
                facts.pending_unsorted = Some(m.uid.clone());
            } else {
                self.memory.set_pending_unsorted(key, None).await?;
            }
            checked = Some((m.uid, pending));
        }
        if let Some(m) = of_call {
            let pending = match &checked {
                Some((uid, pending)) if *uid == m.uid => *pending,
                _ => self.still_pending(&m).await?,
            };
            if pending {
                facts.unsorted_of_call = Some(m.uid);
            }
        }
        Ok(())
    }

    /// R-MISS-DEDUP: the tasks remembered for the client (its visible contact, whichever of
    /// its phones called, and this phone), as they are now in amoCRM (a manager may have moved
    /// a deadline, completed or deleted a task); the latest open deadline counts.
    async fn open_task(&mut self, call: &Call, key: &str, facts: &mut Facts) -> Result<(), Gather> {
        let missed_incoming = call.direction == Direction::Incoming && !call.answered;
        if !missed_incoming || !self.settings.incoming.missed.create_task {
            return Ok(());
        }
        let mut task_ids = Vec::new();
        for k in task_keys(key, facts.contact.as_ref().map(|c| c.id)) {
            if let Some(t) = self.memory.callback_task(&k).await?
                && !task_ids.contains(&t.task_id)
            {
                task_ids.push(t.task_id);
            }
        }
        for id in task_ids {
            let open = self.client.task(id).await?.filter(|t| !t.is_completed);
            if let Some(task) = open {
                facts.open_task_deadline = facts.open_task_deadline.max(Some(task.complete_till));
            }
        }
        Ok(())
    }

    async fn still_pending(&self, m: &UnsortedMemo) -> Result<bool, ClientError> {
        Ok(items::item_state(self.client, self.unsorted_stages, m).await? == ItemState::Pending)
    }
}

/// A failure while gathering facts: amoCRM's (named with the call by the caller) or storage's.
enum Gather {
    Amo(ClientError),
    Engine(EngineError),
}

impl Gather {
    fn named(self, call: &Call) -> EngineError {
        match self {
            Gather::Amo(source) => EngineError::Facts {
                call_id: call.id.to_string(),
                phone: call.client.e164(),
                source,
            },
            Gather::Engine(e) => e,
        }
    }
}

impl From<ClientError> for Gather {
    fn from(e: ClientError) -> Self {
        Gather::Amo(e)
    }
}

impl From<MemoryError> for Gather {
    fn from(e: MemoryError) -> Self {
        Gather::Engine(e.into())
    }
}
