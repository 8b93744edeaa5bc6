//! [`Engine`]: takes Sipuni events one by one, assembles calls, and when a call has ended
//! (and its stragglers had time to arrive) gathers the facts, decides, and executes.

use std::collections::BTreeMap;

use tracing::Instrument;

use super::call::{self, Assembled, Call, Direction};
use super::decide::{self, ContactFacts, Facts};
use super::execute::{self, ExecError};
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
    Internal { call_id: String },
    Done { call_id: String, plan: Plan },
}

#[derive(Debug, Default)]
struct OpenCall {
    events: Vec<CallEvent>,
    /// When the hangup arrived (clock ms).
    hangup_seen_ms: Option<i64>,
    ring_handled: bool,
}

/// The integration engine for one amoCRM account.
pub struct Engine<M: Memory> {
    settings: Settings,
    main_pipeline: u64,
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
        Ok(Engine {
            settings,
            main_pipeline: placement.main_pipeline,
            client,
            memory,
            open: BTreeMap::new(),
            settle_ms: 3_000,
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

    /// Takes one event. At the first ring of an incoming call in mode
    /// `unsorted_accept_on_answer` the Unsorted item is created at once (R-IN-U3).
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
        let is_ring = ev.kind == EventKind::Ring;
        if ev.kind == EventKind::Hangup && open.hangup_seen_ms.is_none() {
            open.hangup_seen_ms = Some(now);
        }
        open.events.push(ev);
        let early = is_ring && !open.ring_handled && open.hangup_seen_ms.is_none();
        if early {
            open.ring_handled = true;
            if let Some(call) = ring_view(&open.events) {
                self.ring(&call).await?;
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
        if let Some(UnsortedPlan::Create {
            pipeline_id,
            responsible,
            with_contact,
            ..
        }) = decide::decide_ring(&self.settings, self.main_pipeline, call, &facts)
        {
            let memo = execute::create_unsorted(
                &self.client,
                call,
                pipeline_id,
                responsible,
                with_contact,
            )
            .await
            .map_err(|source| ExecError {
                call_id: call.id.clone(),
                step: "create the Unsorted item at the first ring",
                source,
            })?;
            self.memory
                .set_pending_unsorted(call.client.key(), Some(memo.clone()));
            self.memory.set_unsorted_of_call(&call.id, memo);
        }
        Ok(())
    }

    /// Handles the calls that have ended: all of them with `force`, otherwise those whose
    /// hangup arrived at least `settle_ms` ago. Stops at the first error; that call stays
    /// open and is continued (not decided again) by the next `settle`.
    pub async fn settle(&mut self, force: bool) -> Result<Vec<Handled>, EngineError> {
        let now = self.client.clock().now_ms();
        let mut ready: Vec<(i64, String)> = self
            .open
            .iter()
            .filter_map(|(id, c)| {
                c.hangup_seen_ms
                    .filter(|t| force || now - t >= self.settle_ms)
                    .map(|t| (t, id.clone()))
            })
            .collect();
        ready.sort();
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
                let (facts, known_leads) = self.facts_with_leads(&call).await?;
                let plan = decide::decide(&self.settings, self.main_pipeline, &call, &facts);
                tracing::info!(call_id = %call.id, because = ?plan.because, "decided");
                let p = Progress {
                    call: call.clone(),
                    plan,
                    known_leads,
                    unsorted: None,
                    accepted: false,
                    contact_id: None,
                    lead_id: None,
                    task_id: None,
                    note_id: None,
                };
                self.memory.save_progress(&call.id, &p);
                p
            }
        };
        execute::execute(&self.client, &mut self.memory, &mut progress).await?;
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
        let contacts = self
            .client
            .search_contacts(call.client.digits())
            .await
            .map_err(err)?;
        let contact = contacts
            .into_iter()
            .filter(|c| {
                c.phones()
                    .iter()
                    .any(|p| digits_key(p).as_deref() == Some(key.as_str()))
            })
            .min_by_key(|c| c.id);
        let mut facts = Facts::default();
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
            if let Some(m) = remembered {
                // amoCRM is the truth: the item may have been accepted or declined.
                if self.still_pending(&m).await.map_err(err)? {
                    facts.pending_unsorted = Some(m.uid);
                } else {
                    self.memory.set_pending_unsorted(&key, None);
                }
            }
            if let Some(m) = of_call
                && (facts.pending_unsorted.as_deref() == Some(m.uid.as_str())
                    || self.still_pending(&m).await.map_err(err)?)
            {
                facts.unsorted_of_call = Some(m.uid);
            }
        }
        let missed_incoming = call.direction == Direction::Incoming && !call.answered;
        if missed_incoming
            && !self.sabotage_task_dedup
            && self.settings.incoming.missed.create_task
            && let Some(t) = self
                .memory
                .callback_task(&key)
                .filter(|t| t.deadline > call.ended_at)
        {
            // Completed by the manager? Then it blocks nothing (R-MISS-DEDUP).
            let task = self.client.task(t.task_id).await.map_err(err)?;
            if task.is_some_and(|task| !task.is_completed) {
                facts.open_task_deadline = Some(t.deadline);
            }
        }
        Ok((facts, all_leads))
    }

    async fn still_pending(&self, m: &UnsortedMemo) -> Result<bool, ClientError> {
        Ok(self.client.unsorted(&m.uid).await?.is_some())
    }
}

/// The call as known at its first ring: enough for R-IN-U3.
fn ring_view(events: &[CallEvent]) -> Option<Call> {
    let e = events.first()?;
    if call::direction_of(e) != Some(Direction::Incoming) {
        return None;
    }
    Some(Call {
        id: e.call_id.as_str().to_string(),
        direction: Direction::Incoming,
        client: e.src.phone()?.clone(),
        scheme: e.tree_number.clone(),
        legs: events
            .iter()
            .filter(|e| e.kind == EventKind::Ring)
            .filter_map(|e| e.dst.short().map(|s| s.as_str().to_string()))
            .collect(),
        answerer: None,
        employee: None,
        answered: false,
        status: String::new(),
        started_at: e.timestamp,
        ended_at: e.timestamp,
        talk_secs: 0,
        record_link: None,
    })
}
