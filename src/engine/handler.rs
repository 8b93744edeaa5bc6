//! [`Engine`]: takes Sipuni events one by one, assembles calls, and when a call has ended
//! (and its stragglers had time to arrive) gathers the facts, decides, and executes.

use std::collections::BTreeMap;

use tracing::Instrument;

use super::call::{self, Assembled, Call, Direction};
use super::decide::{self, AcceptedItem, ContactFacts, Facts};
use super::execute::{self, ExecError};
use super::items::{self, ItemState};
use super::memory::{Memory, Progress, UnsortedMemo};
use super::plan::{Plan, UnsortedPlan};
use super::settings::{AccountFacts, PipelineFacts, Settings, SettingsError, StageKind};
use crate::amocrm::client::{AmoClient, ClientError};
use crate::phone::digits_key;
use crate::sipuni::event::{CallEvent, EventKind};

/// Why the engine could not do something.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Settings(#[from] SettingsError),
    #[error("cannot read the account to check the settings: {0}")]
    Account(ClientError),
    #[error("call {call_id}: cannot read what amoCRM knows about {phone}: {source}")]
    Facts {
        call_id: String,
        phone: String,
        source: ClientError,
    },
    #[error(transparent)]
    Exec(#[from] ExecError),
}

/// What happened to one delivered event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingested {
    Stored,
    /// The same event was delivered before (R-IDEM).
    Duplicate,
    /// The call was already handled; a late event changes nothing (R-IDEM).
    AfterFinish,
}

/// The outcome of one finished call.
#[derive(Debug, Clone)]
pub enum Handled {
    Internal {
        call_id: String,
    },
    /// The client's number is hidden (R-HIDDEN): nothing was done in amoCRM.
    Hidden {
        call_id: String,
        number: String,
    },
    Done {
        call_id: String,
        plan: Plan,
    },
}

#[derive(Debug, Default)]
struct OpenCall {
    events: Vec<CallEvent>,
    /// When the hangup arrived (clock ms).
    hangup_seen_ms: Option<i64>,
    ring_handled: bool,
    answer_handled: bool,
}

/// The settle window after a hangup (R-IDEM): events of the call arriving within it count.
pub const DEFAULT_SETTLE_MS: i64 = 2_000;

/// The integration engine for one amoCRM account.
pub struct Engine<M: Memory> {
    settings: Settings,
    main_pipeline: u64,
    /// Status ids of the account's Unsorted stages, to read an item's state from its lead.
    unsorted_stages: Vec<u64>,
    client: AmoClient,
    memory: M,
    open: BTreeMap<String, OpenCall>,
    /// How long after a hangup late events of the call are waited for.
    pub settle_ms: i64,
    /// A planted bug for the harness's self-test: ignore earlier callback tasks (R-MISS-DEDUP).
    /// Never set in production.
    pub sabotage_task_dedup: bool,
}

impl<M: Memory> Engine<M> {
    /// Checks the settings against the account (R-CFG-2: `GET /users`, `/leads/pipelines`)
    /// and makes an engine ready for events.
    pub async fn connect(
        settings: Settings,
        client: AmoClient,
        memory: M,
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
                        .map(|s| {
                            let kind = if s.id == 142 || s.id == 143 {
                                StageKind::Closed
                            } else if s.kind == 1 {
                                StageKind::Unsorted
                            } else {
                                StageKind::Normal
                            };
                            (s.id, kind)
                        })
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
            settle_ms: DEFAULT_SETTLE_MS,
            sabotage_task_dedup: false,
        })
    }

    pub fn memory(&self) -> &M {
        &self.memory
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
        let id = ev.call_id.as_str().to_string();
        if self.memory.is_done(&id) {
            return Ok(Ingested::AfterFinish);
        }
        if !self.memory.first_delivery(&call::fingerprint(&ev)) {
            return Ok(Ingested::Duplicate);
        }
        let now = self.client.clock().now_ms();
        let open = self.open.entry(id.clone()).or_default();
        let kind = ev.kind;
        if kind == EventKind::Hangup && open.hangup_seen_ms.is_none() {
            open.hangup_seen_ms = Some(now);
        }
        let answerer = ev.dst.short().map(|s| s.as_str().to_string());
        open.events.push(ev);
        let live = open.hangup_seen_ms.is_none();
        if kind == EventKind::Ring && live && !open.ring_handled {
            open.ring_handled = true;
            if let Some(call) = live_view(&open.events, None) {
                self.ring(&call).await?;
            }
        } else if kind == EventKind::Answer && live && !open.answer_handled {
            open.answer_handled = true;
            if let Some(call) = live_view(&open.events, answerer) {
                self.answer(&call).await?;
            }
        }
        Ok(Ingested::Stored)
    }

    /// Puts back an event stored before a restart: no duplicate check and no early action
    /// (the call's final handling covers whatever the early action did not finish).
    pub fn restore(&mut self, ev: CallEvent) {
        let id = ev.call_id.as_str().to_string();
        if self.memory.is_done(&id) {
            return;
        }
        self.memory.first_delivery(&call::fingerprint(&ev));
        let now = self.client.clock().now_ms();
        let open = self.open.entry(id).or_default();
        if open
            .events
            .iter()
            .any(|e| call::fingerprint(e) == call::fingerprint(&ev))
        {
            return;
        }
        if ev.kind == EventKind::Hangup && open.hangup_seen_ms.is_none() {
            open.hangup_seen_ms = Some(now);
        }
        open.ring_handled = true;
        open.answer_handled = true;
        open.events.push(ev);
    }

    async fn ring(&mut self, call: &Call) -> Result<(), EngineError> {
        if self.memory.unsorted_of_call(&call.id).is_some() {
            return Ok(());
        }
        let probe =
            decide::decide_ring(&self.settings, self.main_pipeline, call, &Facts::default());
        if probe.is_none() {
            return Ok(());
        }
        let facts = self.facts(call).await?;
        let plan = decide::decide_ring(&self.settings, self.main_pipeline, call, &facts);
        self.early_item(call, plan, "create the Unsorted item at the first ring")
            .await
            .map(|_| ())
    }

    /// R-IN-U3 at the answer: the pending item accepted for the answerer while the call goes
    /// on, or a new item accepted at once when the call's item was declined.
    async fn answer(&mut self, call: &Call) -> Result<(), EngineError> {
        if self.memory.answered_item(&call.id).is_some()
            || decide::decide_answer(&self.settings, self.main_pipeline, call, &Facts::default())
                .is_none()
        {
            return Ok(());
        }
        let facts = self.facts(call).await?;
        let plan = decide::decide_answer(&self.settings, self.main_pipeline, call, &facts);
        tracing::info!(call_id = %call.id, plan = ?plan, "R-IN-U3: answered");
        if let Some(memo) = self
            .early_item(call, plan, "accept the Unsorted item at the answer")
            .await?
        {
            self.memory.set_answered_item(&call.id, memo);
        }
        Ok(())
    }

    /// Carries out an Unsorted plan made before the hangup; answers the item when it ends up
    /// created, or accepted with its entities visible.
    async fn early_item(
        &mut self,
        call: &Call,
        plan: Option<UnsortedPlan>,
        step: &'static str,
    ) -> Result<Option<UnsortedMemo>, EngineError> {
        let fail = |source| ExecError {
            call_id: call.id.clone(),
            step,
            source,
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
                let memo = items::create(
                    &self.client,
                    call,
                    &source_uid,
                    pipeline_id,
                    responsible,
                    with_contact,
                )
                .await
                .map_err(fail)?;
                self.memory.set_unsorted_of_call(&call.id, memo.clone());
                self.memory.set_pending_unsorted(key, Some(memo.clone()));
                (memo, accept)
            }
            Some(UnsortedPlan::Accept { uid, user }) => {
                let memo = self
                    .memory
                    .unsorted_of_call(&call.id)
                    .or_else(|| self.memory.pending_unsorted(key))
                    .filter(|m| m.uid == uid)
                    .unwrap_or(UnsortedMemo {
                        uid,
                        source_uid: String::new(),
                        contact_id: None,
                        lead_id: None,
                    });
                (memo, Some(user))
            }
        };
        let Some(user) = accept else {
            return Ok(Some(memo));
        };
        let outcome = items::accept(&self.client, &self.unsorted_stages, &memo, user)
            .await
            .map_err(fail)?;
        self.memory.set_pending_unsorted(key, None);
        Ok((outcome == items::Accepted::Yes).then_some(memo))
    }

    /// Handles the calls that have ended: all of them with `force`, otherwise those whose
    /// settle window (`settle_ms` after the hangup arrived) has passed. Stops at the first
    /// error; that call stays open and is continued (not decided again) by the next `settle`.
    pub async fn settle(&mut self, force: bool) -> Result<Vec<Handled>, EngineError> {
        let now = self.client.clock().now_ms();
        let ready = self.ready(|t| force || now.saturating_sub(t) > self.settle_ms);
        self.handle(ready).await
    }

    /// When the earliest settle window among the ended calls closes (clock ms).
    pub fn next_due(&self) -> Option<i64> {
        self.open
            .values()
            .filter_map(|c| c.hangup_seen_ms)
            .map(|t| t.saturating_add(self.settle_ms))
            .min()
    }

    /// Handles the calls whose settle window closes at `due` or before (the harness moves its
    /// virtual clock to each window's end in turn, as time passes in `serve`).
    pub async fn settle_due(&mut self, due: i64) -> Result<Vec<Handled>, EngineError> {
        let ready = self.ready(|t| t.saturating_add(self.settle_ms) <= due);
        self.handle(ready).await
    }

    /// Handles one call now if its hangup has arrived, whatever its settle window says (a
    /// scenario's `call:` step delivers all its events within the step).
    pub async fn settle_call(&mut self, call_id: &str) -> Result<Vec<Handled>, EngineError> {
        let ready = self
            .open
            .get(call_id)
            .and_then(|c| c.hangup_seen_ms)
            .map(|t| vec![(t, call_id.to_string())])
            .unwrap_or_default();
        self.handle(ready).await
    }

    /// Calls whose hangup arrived at a time `pick` accepts, by hangup arrival.
    fn ready(&self, pick: impl Fn(i64) -> bool) -> Vec<(i64, String)> {
        let mut ready: Vec<(i64, String)> = self
            .open
            .iter()
            .filter_map(|(id, c)| {
                c.hangup_seen_ms
                    .filter(|t| pick(*t))
                    .map(|t| (t, id.clone()))
            })
            .collect();
        ready.sort();
        ready
    }

    async fn handle(&mut self, ready: Vec<(i64, String)>) -> Result<Vec<Handled>, EngineError> {
        let mut out = Vec::new();
        for (_, id) in ready {
            let events = self
                .open
                .get(&id)
                .map(|c| c.events.clone())
                .unwrap_or_default();
            let handled = match call::assemble(&events) {
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
                    let plan = self.finish(*call).instrument(span).await?;
                    Handled::Done {
                        call_id: id.clone(),
                        plan,
                    }
                }
            };
            self.memory.mark_done(&id);
            self.open.remove(&id);
            out.push(handled);
        }
        Ok(out)
    }

    async fn finish(&mut self, call: Call) -> Result<Plan, EngineError> {
        let mut progress = match self.memory.progress(&call.id) {
            Some(p) => p,
            None => {
                let answered_item = self
                    .memory
                    .answered_item(&call.id)
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
                    None => self.facts_with_leads(&call).await?,
                };
                let plan = decide::decide(&self.settings, self.main_pipeline, &call, &facts);
                tracing::info!(call_id = %call.id, because = ?plan.because, "decided");
                let p = Progress {
                    call: call.clone(),
                    plan,
                    known_leads,
                    accepted: answered_item.is_some(),
                    unsorted: answered_item,
                    contact_id: None,
                    lead_id: None,
                    task_id: None,
                    note_id: None,
                };
                self.memory.save_progress(&call.id, &p);
                p
            }
        };
        execute::execute(
            &self.client,
            &self.unsorted_stages,
            &mut self.memory,
            &mut progress,
        )
        .await?;
        Ok(progress.plan)
    }

    async fn facts(&mut self, call: &Call) -> Result<Facts, EngineError> {
        self.facts_with_leads(call).await.map(|(f, _)| f)
    }

    /// What amoCRM and memory say about the call's phone, and all lead ids of its contact.
    async fn facts_with_leads(&mut self, call: &Call) -> Result<(Facts, Vec<u64>), EngineError> {
        let err = |source| EngineError::Facts {
            call_id: call.id.clone(),
            phone: call.client.e164(),
            source,
        };
        let key = call.client.key().to_string();
        // «Finding the contact»: amoCRM's query is full-text, so search by the matching key
        // and keep only contacts whose PHONE really has it.
        let contacts = self.client.search_contacts(&key).await.map_err(err)?;
        let contact = contacts
            .into_iter()
            .filter(|c| {
                c.phones()
                    .iter()
                    .any(|p| digits_key(p).as_deref() == Some(key.as_str()))
            })
            .min_by_key(|c| c.id);
        let mut facts = Facts {
            call_item: self.memory.unsorted_of_call(&call.id).map(|m| m.source_uid),
            ..Facts::default()
        };
        let mut all_leads = Vec::new();
        if let Some(c) = contact {
            all_leads = c.lead_ids();
            let active = if all_leads.is_empty() {
                Vec::new()
            } else {
                let leads = self.client.leads_by_ids(&all_leads).await.map_err(err)?;
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
            // A visible contact means any remembered item was accepted (R-UNS-ACCEPT).
            if self.memory.pending_unsorted(&key).is_some() {
                self.memory.set_pending_unsorted(&key, None);
            }
        } else {
            let of_call = self.memory.unsorted_of_call(&call.id);
            let remembered = self.memory.pending_unsorted(&key);
            let mut checked = None;
            if let Some(m) = remembered {
                // amoCRM is the truth: the item may have been accepted or declined.
                let pending = self.still_pending(&m).await.map_err(err)?;
                if pending {
                    facts.pending_unsorted = Some(m.uid.clone());
                } else {
                    self.memory.set_pending_unsorted(&key, None);
                }
                checked = Some((m.uid, pending));
            }
            if let Some(m) = of_call {
                let pending = match &checked {
                    Some((uid, pending)) if *uid == m.uid => *pending,
                    _ => self.still_pending(&m).await.map_err(err)?,
                };
                if pending {
                    facts.unsorted_of_call = Some(m.uid);
                }
            }
        }
        let missed_incoming = call.direction == Direction::Incoming && !call.answered;
        if missed_incoming
            && !self.sabotage_task_dedup
            && self.settings.incoming.missed.create_task
            && let Some(t) = self.memory.callback_task(&key)
        {
            // R-MISS-DEDUP: the task as it is now in amoCRM (a manager may have moved its
            // deadline, completed or deleted it).
            let task = self.client.task(t.task_id).await.map_err(err)?;
            facts.open_task_deadline = task
                .filter(|task| !task.is_completed)
                .map(|task| task.complete_till);
        }
        Ok((facts, all_leads))
    }

    async fn still_pending(&self, m: &UnsortedMemo) -> Result<bool, ClientError> {
        Ok(items::item_state(&self.client, &self.unsorted_stages, m).await? == ItemState::Pending)
    }
}

/// The call as known before its hangup (at the first ring, or at the answer by `answerer`):
/// enough for R-IN-U3.
fn live_view(events: &[CallEvent], answerer: Option<String>) -> Option<Call> {
    let e = events.iter().find(|e| e.src.phone().is_some())?;
    if call::direction_of(e) != Some(Direction::Incoming) {
        return None;
    }
    Some(Call {
        id: e.call_id.as_str().to_string(),
        direction: Direction::Incoming,
        client: e.src.phone()?.clone(),
        scheme: events.iter().find_map(|e| e.tree_number.clone()),
        legs: events
            .iter()
            .filter(|e| e.kind == EventKind::Ring)
            .filter_map(|e| e.dst.short().map(|s| s.as_str().to_string()))
            .collect(),
        answered: answerer.is_some(),
        answerer,
        employee: None,
        status: String::new(),
        started_at: e.timestamp,
        ended_at: e.timestamp,
        talk_secs: 0,
        record_link: None,
    })
}
