//! What the engine does before a call's hangup (R-IN-U3, mode `unsorted_accept_on_answer`):
//! the Unsorted item at the first ring, its accept at the answer. Each write's intent is saved
//! before it is sent, and its result with every memory change it implies in one transaction,
//! so a crash in between never leaves a second item or an item the engine forgot.

use super::call::Call;
use super::decide::{self, Facts};
use super::execute::ExecError;
use super::handler::{Engine, EngineError};
use super::items;
use super::memory::{Memory, UnsortedMemo, Write};
use super::plan::UnsortedPlan;
use crate::amocrm::client::ClientError;

impl<M: Memory> Engine<M> {
    pub(super) async fn ring(&mut self, call: &Call) -> Result<(), EngineError> {
        if self.memory.unsorted_of_call(&call.id)?.is_some()
            || decide::decide_ring(&self.settings, self.main_pipeline, call, &Facts::default())
                .is_none()
        {
            return Ok(());
        }
        let facts = self.early_facts(call).await?;
        let plan = decide::decide_ring(&self.settings, self.main_pipeline, call, &facts);
        self.early_item(call, plan, "create the Unsorted item at the first ring")
            .await
            .map(|_| ())
    }

    /// R-IN-U3 at the answer: the pending item accepted for the answerer while the call goes
    /// on, or a new item accepted at once when the call's item was declined.
    pub(super) async fn answer(&mut self, call: &Call) -> Result<(), EngineError> {
        if self.memory.answered_item(&call.id)?.is_some()
            || decide::decide_answer(&self.settings, self.main_pipeline, call, &Facts::default())
                .is_none()
        {
            return Ok(());
        }
        let facts = self.early_facts(call).await?;
        let plan = decide::decide_answer(&self.settings, self.main_pipeline, call, &facts);
        tracing::info!(call_id = %call.id, plan = ?plan, "R-IN-U3: answered");
        self.early_item(call, plan, "accept the Unsorted item at the answer")
            .await
            .map(|_| ())
    }

    /// Carries out an Unsorted plan made before the hangup; answers the item when it ends up
    /// created, or accepted with its entities visible.
    async fn early_item(
        &mut self,
        call: &Call,
        plan: Option<UnsortedPlan>,
        step: &'static str,
    ) -> Result<Option<UnsortedMemo>, EngineError> {
        let fail = |source: ClientError| ExecError {
            call_id: call.id.clone(),
            step,
            source: source.into(),
        };
        let key = call.client.key();
        let (memo, accept) = match plan {
            None | Some(UnsortedPlan::None | UnsortedPlan::Keep { .. }) => return Ok(None),
            Some(UnsortedPlan::Create {
                source_uid,
                pipeline_id,
                responsible,
                with_contact,
                accept,
            }) => {
                let resumed = self.memory.early_intent(&call.id)? == Some(Write::UnsortedItem);
                self.memory
                    .set_early_intent(&call.id, Some(Write::UnsortedItem))?;
                let memo = items::create(
                    &self.client,
                    resumed,
                    call,
                    &source_uid,
                    pipeline_id,
                    responsible,
                    with_contact,
                )
                .await
                .map_err(fail)?;
                let next = accept.map(|_| Write::Accept);
                self.memory.atomically(|m| {
                    m.set_unsorted_of_call(&call.id, &memo)?;
                    m.set_pending_unsorted(key, Some(&memo))?;
                    m.set_early_intent(&call.id, next)
                })?;
                (memo, accept)
            }
            Some(UnsortedPlan::Accept { uid, user }) => {
                let memo = match self.memory.unsorted_of_call(&call.id)? {
                    Some(m) if m.uid == uid => Some(m),
                    _ => self.memory.pending_unsorted(key)?.filter(|m| m.uid == uid),
                };
                let memo = memo.unwrap_or(UnsortedMemo {
                    uid,
                    source_uid: String::new(),
                    contact_id: None,
                    lead_id: None,
                });
                self.memory
                    .set_early_intent(&call.id, Some(Write::Accept))?;
                (memo, Some(user))
            }
        };
        let Some(user) = accept else {
            return Ok(Some(memo));
        };
        let outcome = items::accept(&self.client, &self.unsorted_stages, &memo, user)
            .await
            .map_err(fail)?;
        let accepted = outcome == items::Accepted::Yes;
        self.memory.atomically(|m| {
            if accepted {
                m.set_answered_item(&call.id, &memo)?;
            }
            m.set_pending_unsorted(key, None)?;
            m.set_early_intent(&call.id, None)
        })?;
        Ok(accepted.then_some(memo))
    }
}
