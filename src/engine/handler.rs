//! [`Engine`]: takes Sipuni events one by one, assembles calls, and when a call has ended (and
//! its stragglers had time to arrive) gathers the facts, decides, and executes. Calls are handled
//! in the order of their hangup; a call amoCRM keeps refusing is parked so that the others go on
//! (R-ISOLATE).

use std::collections::BTreeMap;

use tracing::Instrument;

use super::effects::{Ctx, execute};
use super::error::EngineError;
use super::memory::{Memory, MemoryError, ParkedCall, Progress};
use super::rules::call::{self, Assembled, Call, Direction};
use super::rules::decide::{self, AcceptedItem, Facts};
use super::rules::plan::Plan;
use super::rules::settings::{AccountFacts, PipelineFacts, Settings, StageKind};
use crate::amocrm::client::{AmoClient, ClientError};
use crate::amocrm::exchange::for_call;
use crate::sipuni::event::{CallEvent, CallId, EventKind};

/// What happened to one delivered event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingested {
    Stored,
    /// The same event was delivered before (R-IDEM).
    Duplicate,
    /// The call was already handled (or parked); a late event changes nothing (R-IDEM).
    AfterFinish,
}

/// The outcome of one finished call.
#[derive(Debug, Clone)]
pub enum Handled {
    Internal {
        call_id: CallId,
    },
    /// The client's number is hidden (R-HIDDEN): nothing was done in amoCRM.
    Hidden {
        call_id: CallId,
        number: String,
    },
    Done {
        call_id: CallId,
        plan: Plan,
    },
    /// amoCRM keeps refusing it: set aside with the reason until an operator retries it.
    Parked {
        call_id: CallId,
        reason: String,
    },
}

#[derive(Debug, Default)]
pub(super) struct OpenCall {
    pub(super) events: Vec<CallEvent>,
    /// When the hangup arrived (clock ms).
    hangup_seen_ms: Option<i64>,
    /// The arrival number of the hangup: calls are handled in the order their hangups arrived
    /// (as they settle live), before and after a restart alike.
    hangup_order: Option<u64>,
    pub(super) ring_handled: bool,
    pub(super) answer_handled: bool,
    /// When its latest event arrived (clock ms).
    last_seen_ms: i64,
    /// Put back after a restart: what it had written before may not all be in memory.
    restored: bool,
}

/// The settle window after a hangup (R-IDEM): events of the call arriving within it count.
const DEFAULT_SETTLE_MS: i64 = 2_000;
/// Failed attempts after which a call that fails for a reason other than an amoCRM outage is
/// parked (R-ISOLATE).
const DEFAULT_PARK_AFTER: u32 = 10;
/// A call with no event for this long and no hangup is closed as unfinished (4 h).
const DEFAULT_MAX_CALL_MS: i64 = 4 * 3600 * 1000;

/// The integration engine for one amoCRM account.
/// How the engine settles, parks and closes calls: given to [`Engine::connect`], never changed
/// afterwards.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// How long after a hangup late events of the call are waited for.
    pub settle_ms: i64,
    /// Attempts after which a failing call is parked (unless amoCRM is down as a whole); at
    /// least 1.
    pub park_after: u32,
    /// A call whose hangup never came is closed as unfinished this long after its last event.
    pub max_call_ms: i64,
    /// Set when the service stops: no further call is started.
    pub stopping: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Every event comes from a store that keeps one copy of each (the service's inbox, unique
    /// by fingerprint): the engine then records no delivery of its own, and an event costs no
    /// write before its call is decided.
    pub deduplicated: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            settle_ms: DEFAULT_SETTLE_MS,
            park_after: DEFAULT_PARK_AFTER,
            max_call_ms: DEFAULT_MAX_CALL_MS,
            stopping: Default::default(),
            deduplicated: false,
        }
    }
}

pub struct Engine<M: Memory> {
    pub(super) settings: Settings,
    pub(super) main_pipeline: u64,
    /// Status ids of the account's Unsorted stages, to read an item's state from its lead.
    pub(super) unsorted_stages: Vec<u64>,
    pub(super) client: AmoClient,
    pub(super) memory: M,
    pub(super) open: BTreeMap<CallId, OpenCall>,
    /// Events taken so far (their arrival numbers).
    arrivals: u64,
    /// How calls are settled, parked and closed; fixed at [`Engine::connect`].
    options: EngineOptions,
    /// Calls handled in a round that then failed on a later call: reported with the next
    /// round's outcomes (metrics and explanations count every call once).
    unreported: Vec<Handled>,
}

impl<M: Memory> Engine<M> {
    /// Checks the settings against the account (R-CFG-2: `GET /users`, `/leads/pipelines`)
    /// and makes an engine ready for events.
    pub async fn connect(
        settings: Settings,
        client: AmoClient,
        memory: M,
        options: EngineOptions,
    ) -> Result<Self, EngineError> {
        settings.check_rules()?;
        let users = client.users().await.map_err(EngineError::Account)?;
        let pipelines = client.pipelines().await.map_err(EngineError::Account)?;
        let facts = AccountFacts {
            users: users.iter().map(|u| u.id).collect(),
            main_pipeline: pipelines
                .iter()
                .find(|p| p.is_main)
                .or(pipelines.first())
                .map(|p| p.id),
            pipelines: pipelines
                .iter()
                .map(|p| PipelineFacts {
                    id: p.id,
                    statuses: p
                        .embedded
                        .iter()
                        .flat_map(|e| &e.statuses)
                        .map(|s| (s.id, stage_kind(s.id, s.kind)))
                        .collect(),
                })
                .collect(),
        };
        let placement = settings.check_account(&facts)?;
        let unsorted_stages = facts
            .pipelines
            .iter()
            .flat_map(|p| &p.statuses)
            .filter(|(_, kind)| *kind == StageKind::Unsorted)
            .map(|(id, _)| *id)
            .collect();
        Ok(Engine {
            settings,
            main_pipeline: placement.main_pipeline,
            unsorted_stages,
            client,
            memory,
            open: BTreeMap::new(),
            arrivals: 0,
            options: EngineOptions {
                park_after: options.park_after.max(1),
                ..options
            },
            unreported: Vec::new(),
        })
    }

    /// What the effects of a call reach: the settings, the account's facts, the client, the
    /// memory.
    fn ctx(&mut self) -> Ctx<'_, M> {
        Ctx {
            settings: &self.settings,
            main_pipeline: self.main_pipeline,
            unsorted_stages: &self.unsorted_stages,
            client: &self.client,
            memory: &mut self.memory,
        }
    }

    pub fn memory(&self) -> &M {
        &self.memory
    }

    pub fn memory_mut(&mut self) -> &mut M {
        &mut self.memory
    }

    /// The memory, for an engine built anew after this one failed (as a restarted worker).
    pub fn into_memory(self) -> M {
        self.memory
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Calls whose hangup has not been handled yet.
    pub fn open_calls(&self) -> usize {
        self.open.len()
    }

    /// Takes one event. In mode `unsorted_accept_on_answer` the first ring of an incoming call
    /// creates the Unsorted item at once, and the answer accepts it during the call (R-IN-U3).
    pub async fn ingest(&mut self, ev: CallEvent) -> Result<Ingested, EngineError> {
        let now = self.client.clock().now_ms();
        self.ingest_at(ev, now).await
    }

    /// [`Engine::ingest`] of an event that arrived at `arrived_ms` (clock ms), as the service's
    /// inbox recorded it.
    pub(crate) async fn ingest_at(
        &mut self,
        ev: CallEvent,
        arrived_ms: i64,
    ) -> Result<Ingested, EngineError> {
        let id = ev.call_id.clone();
        if self.memory.is_done(&id).await? || self.memory.is_parked(&id).await? {
            return Ok(Ingested::AfterFinish);
        }
        if !self.options.deduplicated && !self.memory.first_delivery(&ev.fingerprint()).await? {
            return Ok(Ingested::Duplicate);
        }
        self.take_live(ev, arrived_ms).await?;
        Ok(Ingested::Stored)
    }

    /// Takes an event as the service does: only a storage error is an error; an early action
    /// (the ring-time item, the accept at the answer) that fails against amoCRM is logged and
    /// left to the call's hangup, whose final handling does what is still missing. The scenario
    /// runner takes events this way too, so that it settles calls as production does.
    pub async fn take_event(&mut self, ev: CallEvent, arrived_ms: i64) -> Result<(), MemoryError> {
        let id = ev.call_id.clone();
        match self.ingest_at(ev, arrived_ms).await {
            Ok(_) => Ok(()),
            Err(EngineError::Memory(e)) => Err(e),
            Err(err) => {
                tracing::warn!(call_id = %id, error = %err, "early action failed; the call is handled at its hangup");
                Ok(())
            }
        }
    }

    /// Puts back an event stored before a restart (events come in arrival order, already
    /// counted as delivered). The early actions run again as they did live (each finds what it
    /// already did), so that calls decided after them see the same account as without the
    /// restart; a call whose final handling had begun is left to it.
    pub async fn restore(&mut self, ev: CallEvent, arrived_ms: i64) -> Result<(), EngineError> {
        let id = ev.call_id.clone();
        if self.memory.is_done(&id).await? || self.memory.is_parked(&id).await? {
            return Ok(());
        }
        // No delivery is recorded here: the inbox keeps one copy of each event already.
        let fp = ev.fingerprint();
        if self
            .open
            .get(&id)
            .is_some_and(|o| o.events.iter().any(|e| e.fingerprint() == fp))
        {
            return Ok(());
        }
        if self.memory.progress(&id).await?.is_some() {
            let open = self.take(ev, arrived_ms);
            open.restored = true;
            open.ring_handled = true;
            open.answer_handled = true;
            return Ok(());
        }
        self.take_live(ev, arrived_ms).await?;
        if let Some(open) = self.open.get_mut(&id) {
            open.restored = true;
        }
        Ok(())
    }

    /// Adds an event to its call and runs the early action it calls for, if the call is live.
    async fn take_live(&mut self, ev: CallEvent, arrived_ms: i64) -> Result<(), EngineError> {
        let kind = ev.kind;
        let country = self.settings.phone_country;
        let answerer = ev.dst.short().cloned();
        let id = ev.call_id.clone();
        let open = self.take(ev, arrived_ms);
        let live = open.hangup_seen_ms.is_none();
        if kind == EventKind::Ring && live && !open.ring_handled {
            open.ring_handled = true;
            if let Some(call) = live_view(&open.events, None, country) {
                for_call(&id, self.ctx().ring(&call)).await?;
            }
        } else if kind == EventKind::Answer && live && !open.answer_handled {
            open.answer_handled = true;
            if let Some(call) = live_view(&open.events, answerer, country) {
                for_call(&id, self.ctx().answer(&call)).await?;
            }
        }
        Ok(())
    }

    /// Adds an event to its open call (numbered in arrival order) and answers the call.
    fn take(&mut self, ev: CallEvent, arrived_ms: i64) -> &mut OpenCall {
        self.arrivals += 1;
        let open = self.open.entry(ev.call_id.clone()).or_default();
        open.last_seen_ms = open.last_seen_ms.max(arrived_ms);
        if ev.kind == EventKind::Hangup && open.hangup_seen_ms.is_none() {
            open.hangup_seen_ms = Some(arrived_ms);
            open.hangup_order = Some(self.arrivals);
        }
        open.events.push(ev);
        open
    }

    /// Handles the calls that have ended: all of them with `force`, otherwise those whose
    /// settle window (`settle_ms` after the hangup arrived) has passed. A failing call either
    /// is parked (and the others go on) or stops the round; it stays open and is continued
    /// (not decided again) by the next `settle`.
    pub async fn settle(&mut self, force: bool) -> Result<Vec<Handled>, EngineError> {
        let now = self.client.clock().now_ms();
        self.close_abandoned(now).await?;
        let ready = self.ready(|t| force || now.saturating_sub(t) > self.options.settle_ms);
        self.handle(ready).await
    }

    /// Closes the calls whose hangup never came, `max_call_ms` after their last event: they
    /// are logged and done, and nothing is invented for them in amoCRM.
    async fn close_abandoned(&mut self, now: i64) -> Result<(), MemoryError> {
        let abandoned: Vec<CallId> = self
            .open
            .iter()
            .filter(|(_, c)| {
                c.hangup_seen_ms.is_none()
                    && now.saturating_sub(c.last_seen_ms) > self.options.max_call_ms
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in abandoned {
            let events = self.open.get(&id).map_or(0, |c| c.events.len());
            tracing::warn!(call_id = %id, events, "no hangup came: the call is closed as unfinished; nothing is done in amoCRM");
            self.memory.mark_done(&id).await?;
            self.open.remove(&id);
        }
        Ok(())
    }

    /// When the earliest settle window among the ended calls closes (clock ms).
    pub fn next_due(&self) -> Option<i64> {
        self.open
            .values()
            .filter_map(|c| c.hangup_seen_ms)
            .map(|t| t.saturating_add(self.options.settle_ms))
            .min()
    }

    /// Handles the calls whose settle window closes at `due` or before (the harness moves its
    /// virtual clock to each window's end in turn, as time passes in `serve`).
    pub(crate) async fn settle_due(&mut self, due: i64) -> Result<Vec<Handled>, EngineError> {
        let ready = self.ready(|t| t.saturating_add(self.options.settle_ms) <= due);
        self.handle(ready).await
    }

    /// Handles one call now if its hangup has arrived, whatever its settle window says (a
    /// scenario's `call:` step delivers all its events within the step).
    pub async fn settle_call(&mut self, call_id: &CallId) -> Result<Vec<Handled>, EngineError> {
        let ready = match self.open.get(call_id) {
            Some(c) if c.hangup_seen_ms.is_some() => vec![call_id.clone()],
            _ => Vec::new(),
        };
        self.handle(ready).await
    }

    /// Ended calls whose hangup arrived at a time `pick` accepts, in the order their hangups
    /// arrived, the same before and after a restart (events are restored in arrival order).
    fn ready(&self, pick: impl Fn(i64) -> bool) -> Vec<CallId> {
        let mut ready: Vec<(u64, CallId)> = self
            .open
            .iter()
            .filter(|(_, c)| c.hangup_seen_ms.is_some_and(&pick))
            .filter_map(|(id, c)| c.hangup_order.map(|o| (o, id.clone())))
            .collect();
        ready.sort();
        ready.into_iter().map(|(_, id)| id).collect()
    }

    async fn handle(&mut self, ready: Vec<CallId>) -> Result<Vec<Handled>, EngineError> {
        let mut out = Vec::new();
        for id in ready {
            if self
                .options
                .stopping
                .load(std::sync::atomic::Ordering::SeqCst)
            {
                break;
            }
            let events = self
                .open
                .get(&id)
                .map(|c| c.events.clone())
                .unwrap_or_default();
            let handled = match call::assemble(&events, self.settings.phone_country) {
                Assembled::Open => continue,
                Assembled::Internal => Handled::Internal {
                    call_id: id.clone(),
                },
                Assembled::Hidden { call_id, number } => {
                    tracing::info!(%call_id, number = %number, "R-HIDDEN: the client's number is hidden; nothing is done in amoCRM");
                    Handled::Hidden { call_id, number }
                }
                Assembled::Finished(call) => {
                    let span = tracing::info_span!("call", call_id = %id);
                    match for_call(&id, self.finish(*call)).instrument(span).await {
                        Ok(plan) => Handled::Done {
                            call_id: id.clone(),
                            plan,
                        },
                        Err(e) => {
                            let parked = match self.after_failure(&id, e).await {
                                Ok(p) => p,
                                Err(e) => {
                                    // The calls handled before this one are done: they are
                                    // reported with the next round's, never lost from the count.
                                    self.unreported.extend(out);
                                    return Err(e);
                                }
                            };
                            self.open.remove(&id);
                            out.push(parked);
                            continue;
                        }
                    }
                }
            };
            if let Err(e) = self.memory.mark_done(&id).await {
                self.unreported.extend(out);
                return Err(e.into());
            }
            self.open.remove(&id);
            out.push(handled);
        }
        let mut all = std::mem::take(&mut self.unreported);
        all.extend(out);
        Ok(all)
    }

    /// R-ISOLATE: a call amoCRM refuses for good (a 4xx a retry cannot fix), or one that keeps
    /// failing past `park_after` attempts while amoCRM answers other requests, is parked with
    /// its reason; anything else (an outage, a storage error) is returned and the call waits.
    async fn after_failure(&mut self, id: &CallId, e: EngineError) -> Result<Handled, EngineError> {
        if matches!(e, EngineError::Memory(_)) {
            return Err(e);
        }
        let attempts = self.memory.count_attempt(id).await?;
        let refused = e
            .amocrm()
            .is_some_and(|c| c.is_refusal() && !matches!(c.status(), Some(402 | 403)));
        let park = refused
            || (attempts >= self.options.park_after && {
                let transient = e.amocrm().is_some_and(ClientError::is_transient);
                // An outage is no reason to park: park only when amoCRM answers other requests.
                !transient || self.client.users().await.is_ok()
            });
        if !park {
            tracing::warn!(call_id = %id, attempts, error = %e, "the call failed; it stays queued and is retried");
            return Err(e);
        }
        let reason = e.to_string();
        let parked = ParkedCall {
            call_id: id.clone(),
            reason: reason.clone(),
            attempts,
            at_ms: self.client.clock().now_ms(),
        };
        self.memory.park(&parked).await?;
        tracing::error!(call_id = %id, attempts, %reason, "call parked; the others go on (`sipamo calls retry` puts it back)");
        Ok(Handled::Parked {
            call_id: id.clone(),
            reason,
        })
    }

    async fn finish(&mut self, call: Call) -> Result<Plan, EngineError> {
        let mut progress = match self.memory.progress(&call.id).await? {
            Some(p) => p,
            None => {
                let p = self.decide(&call).await?;
                self.memory.save_progress(&call.id, &p).await?;
                p
            }
        };
        execute::execute(
            &self.client,
            &self.unsorted_stages,
            self.settings.phone_country,
            &mut self.memory,
            &mut progress,
        )
        .await?;
        Ok(progress.plan)
    }

    /// Gathers the facts and decides the call's plan (its progress before any write).
    async fn decide(&mut self, call: &Call) -> Result<Progress, EngineError> {
        let answered_item = self
            .memory
            .answered_item(&call.id)
            .await?
            .filter(|_| call.answered && call.direction == Direction::Incoming);
        let (facts, known_leads) = match &answered_item {
            // Accepted during the talk: only the note is left, no look-up needed.
            Some(memo) => (
                Facts {
                    accepted_at_answer: Some(AcceptedItem {
                        uid: memo.uid.clone(),
                    }),
                    ..Facts::default()
                },
                Vec::new(),
            ),
            None => self.ctx().facts_with_leads(call).await?,
        };
        let plan = decide::decide(&self.settings, self.main_pipeline, call, &facts);
        tracing::info!(call_id = %call.id, because = ?plan.because, "decided");
        Ok(Progress {
            call: call.clone(),
            plan,
            known_leads,
            accepted: answered_item.is_some(),
            unsorted: answered_item,
            contact_id: None,
            lead_id: None,
            task_id: None,
            note_id: None,
            // An item create sent before the hangup and never answered may have been applied.
            in_flight: self.memory.early_intent(&call.id).await?,
            recovered: self.open.get(&call.id).is_some_and(|o| o.restored),
        })
    }
}

fn stage_kind(id: u64, kind: u8) -> StageKind {
    if id == crate::amocrm::model::WON || id == crate::amocrm::model::LOST {
        StageKind::Closed
    } else if kind == 1 {
        StageKind::Unsorted
    } else {
        StageKind::Normal
    }
}

/// The call as known before its hangup (at the first ring, or at the answer by `answerer`):
/// enough for R-IN-U3.
pub(super) fn live_view(
    events: &[CallEvent],
    answerer: Option<crate::sipuni::event::ShortNumber>,
    country: crate::phone::Country,
) -> Option<Call> {
    let e = events.iter().find(|e| e.src.phone().is_some())?;
    if call::direction_of(e) != Some(Direction::Incoming) {
        return None;
    }
    Some(Call {
        id: e.call_id.clone(),
        direction: Direction::Incoming,
        client: e.src.phone()?.resolve(country),
        scheme: events.iter().find_map(|e| e.tree_number.clone()),
        legs: events
            .iter()
            .filter(|e| e.kind == EventKind::Ring)
            .filter_map(|e| e.dst.short().cloned())
            .collect(),
        answered: answerer.is_some(),
        answerer,
        employee: None,
        status: None,
        started_at: e.timestamp,
        ended_at: e.timestamp,
        talk_secs: 0,
        record_link: None,
    })
}
