//! What the engine does before a call's hangup (R-IN-U3, mode `unsorted_accept_on_answer`):
//! the Unsorted item at the first ring, its accept at the answer. Each write's intent is saved
//! before it is sent, and its result with every memory change it implies in one transaction,
//! so a crash in between never leaves a second item or an item the engine forgot.

use super::Ctx;
use super::execute::ExecError;
use super::items;
use crate::amocrm::client::ClientError;
use crate::engine::error::EngineError;
use crate::engine::memory::{Memory, Transaction, UnsortedMemo, Write, remembered_item};
use crate::engine::rules::call::Call;
use crate::engine::rules::decide::{self, Facts};
use crate::engine::rules::plan::UnsortedPlan;
use crate::engine::rules::settings::Settings;

impl<M: Memory> Ctx<'_, M> {
    /// R-IN-U3 at the first ring: the call's Unsorted item, unless it has one already.
    pub(crate) async fn ring(&mut self, call: &Call) -> Result<(), EngineError> {
        let done = self.memory.unsorted_of_call(&call.id).await?.is_some();
        self.before_hangup(
            call,
            done,
            decide::decide_ring,
            "create the Unsorted item at the first ring",
        )
        .await
    }

    /// R-IN-U3 at the answer: the pending item accepted for the answerer while the call goes
    /// on, or a new item accepted at once when the call's item was declined.
    pub(crate) async fn answer(&mut self, call: &Call) -> Result<(), EngineError> {
        let done = self.memory.answered_item(&call.id).await?.is_some();
        self.before_hangup(
            call,
            done,
            decide::decide_answer,
            "accept the Unsorted item at the answer",
        )
        .await
    }

    /// Decides with `decide` (asking amoCRM only when the settings make it matter) and carries
    /// the plan out, unless the call `done` it already.
    async fn before_hangup(
        &mut self,
        call: &Call,
        done: bool,
        decide: fn(&Settings, u64, &Call, &Facts) -> Option<UnsortedPlan>,
        step: &'static str,
    ) -> Result<(), EngineError> {
        if done || decide(self.settings, self.main_pipeline, call, &Facts::default()).is_none() {
            return Ok(());
        }
        let facts = self.early_facts(call).await?;
        let plan = decide(self.settings, self.main_pipeline, call, &facts);
        tracing::info!(call_id = %call.id, plan = ?plan, step, "R-IN-U3");
        self.early_item(call, plan, step).await
    }

    /// Carries out an Unsorted plan made before the hangup.
    async fn early_item(
        &mut self,
        call: &Call,
        plan: Option<UnsortedPlan>,
        step: &'static str,
    ) -> Result<(), EngineError> {
        let fail = |source: ClientError| ExecError {
            call_id: call.id.to_string(),
            step,
            source: source.into(),
        };
        let key = call.client.key();
        let (memo, accept) = match plan {
            None | Some(UnsortedPlan::None | UnsortedPlan::Keep { .. }) => return Ok(()),
            Some(UnsortedPlan::Create {
                source_uid,
                pipeline_id,
                responsible,
                with_contact,
                accept,
            }) => {
                let resumed =
                    self.memory.early_intent(&call.id).await? == Some(Write::UnsortedItem);
                self.memory
                    .set_early_intent(&call.id, Some(Write::UnsortedItem))
                    .await?;
                let memo = items::create(
                    self.client,
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
                let tx = Transaction::new()
                    .set_unsorted_of_call(&call.id, &memo)
                    .set_pending_unsorted(key, Some(&memo))
                    .set_early_intent(&call.id, next);
                self.memory.commit(tx).await?;
                (memo, accept)
            }
            Some(UnsortedPlan::Accept { uid, user }) => {
                let known = remembered_item(&*self.memory, &call.id, key, &uid).await?;
                let memo = known.unwrap_or(UnsortedMemo::uid_only(uid));
                self.memory
                    .set_early_intent(&call.id, Some(Write::Accept))
                    .await?;
                (memo, Some(user))
            }
        };
        let Some(user) = accept else {
            return Ok(());
        };
        let outcome = items::accept(self.client, self.unsorted_stages, &memo, user)
            .await
            .map_err(fail)?;
        let accepted = outcome == items::Accepted::Yes;
        let mut tx = Transaction::new();
        if accepted {
            tx = tx.set_answered_item(&call.id, &memo);
        }
        let tx = tx
            .set_pending_unsorted(key, None)
            .set_early_intent(&call.id, None);
        self.memory.commit(tx).await?;
        Ok(())
    }
}
