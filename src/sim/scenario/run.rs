//! Plays one scenario: a fresh mock seeded from `crm:`, the settings checked (R-CFG-1/2), the
//! steps applied in virtual time, then `expect:` checked on the mock's final state.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use super::expect;
use super::load::Loaded;
use super::model::*;
use super::outcome::DEFAULT_SEED;
pub use super::outcome::{Outcome, PathStats};
use super::sabotage::RunMemory;
use super::timeline::{Moment, MomentKind};
use super::titles::{event_title, fault_title, manager_title};
use crate::clock::Clock;
use crate::engine::{Engine, EngineOptions, Memory, Rule};
use crate::server::work::worker::retry_pause;
use crate::sim::harness::{self, WorldConfig, WorldError};
use crate::sim::mock::journal::{self, JournalEntry};
use crate::sim::mock::{MockCrm, MockOptions};
use crate::sim::synth::{CallSpec, SynthDirection, WireEvent};
use crate::sipuni::event::{CallEvent, HangupStatus, ShortNumber};

/// How a scenario is run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// How long the engine's client waits for an answer; a `hang` fault costs this much
    /// real time (everything else is virtual time).
    pub client_timeout: Duration,
    /// Check the storm invariants after every step (also on with `expect.invariants`).
    pub invariants: bool,
    /// A manager action that finds nothing to act on is skipped instead of failing (storms
    /// draw actions without knowing the account).
    pub lenient_crm: bool,
    /// Run with the planted bug (R-MISS-DEDUP off): for the harness's self-test only.
    pub sabotage_task_dedup: bool,
    /// The mock answers 429 past this many requests in any second (amoCRM's 7 by default).
    pub rate_limit: Option<u32>,
    /// Advanced by one per step.
    pub progress: Option<indicatif::ProgressBar>,
    /// The mock still answers accepted and declined Unsorted items by uid (amoCRM does not
    /// document which way it goes).
    pub list_processed_unsorted: bool,
    /// The mock puts an Unsorted item's call on its lead as a note (`is_call_event_needed`).
    pub unsorted_call_events: bool,
    /// How the mock's `query` reads a phone, unless the scenario's `crm: { search: … }` says.
    pub search: crate::sim::mock::state::SearchMode,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            client_timeout: Duration::from_millis(500),
            invariants: false,
            lenient_crm: false,
            sabotage_task_dedup: false,
            rate_limit: Some(7),
            progress: None,
            list_processed_unsorted: false,
            unsorted_call_events: false,
            search: crate::sim::mock::state::SearchMode::Strict,
        }
    }
}

/// Gives the engine an event as `serve` does ([`Engine::take_event`]): a failed early action is
/// left to the call's hangup; only a storage error stops the run.
async fn take(ctx: &mut Ctx, ev: CallEvent) -> Result<(), StepError> {
    let now = ctx.clock.now_ms();
    Ok(ctx.engine.take_event(ev, now).await?)
}

/// Why a step stopped the scenario: the engine or its storage failed, or the step itself
/// cannot be played.
#[derive(Debug, thiserror::Error)]
enum StepError {
    #[error(transparent)]
    Memory(#[from] crate::engine::memory::MemoryError),
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
    #[error("generated event rejected: {0}")]
    Generated(#[from] crate::sipuni::event::EventError),
    #[error(transparent)]
    Fault(#[from] crate::sim::mock::FaultError),
    #[error(transparent)]
    Call(#[from] NobodyOnTheLine),
}

/// A `call:` step names nobody to ring or to dial, and the settings map no employee.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NobodyOnTheLine {
    #[error("call: nobody to ring; give `ring: [\"201\"]` or map employees under settings.users")]
    Ring,
    #[error("call: nobody dials; give `employee: \"201\"` or map employees under settings.users")]
    Dial,
}

/// The synthetic call of a `call:` step.
pub(crate) fn call_spec(
    sc: &Scenario,
    step: &CallStep,
    call_id: String,
) -> Result<CallSpec, NobodyOnTheLine> {
    let first_user = || {
        step.scheme
            .as_ref()
            .and_then(|t| sc.settings.schemes.get(&t.0))
            .and_then(|s| s.first_user.clone())
            .or_else(|| sc.settings.users.keys().next().cloned())
    };
    let ring: Vec<ShortNumber> = match &step.ring {
        Some(r) => r.iter().map(|s| s.0.clone()).collect(),
        None => first_user().into_iter().collect(),
    };
    let direction = match step.direction {
        CallDirection::Incoming => SynthDirection::Incoming,
        CallDirection::Outgoing => SynthDirection::Outgoing,
    };
    let employee = step
        .employee
        .as_ref()
        .map(|e| e.0.clone())
        .or_else(first_user);
    if direction == SynthDirection::Incoming && ring.is_empty() {
        return Err(NobodyOnTheLine::Ring);
    }
    if direction == SynthDirection::Outgoing && employee.is_none() {
        return Err(NobodyOnTheLine::Dial);
    }
    let answered = step.answered.unwrap_or(true);
    Ok(CallSpec {
        call_id,
        client: step.client.0.clone(),
        direction,
        scheme: step.scheme.as_ref().map(|t| t.0.clone()),
        ring,
        answer: step.answer.as_ref().map(|a| a.0.clone()),
        employee,
        answered,
        ring_time: step.ring_time.map_or(10, |s| s.secs()),
        talk: step.talk.map_or(60, |s| s.secs()),
        status: step.status.map_or(HangupStatus::NoAnswer, |s| s.0),
        record: step.record.unwrap_or(true),
        transfer: step.transfer.as_ref().map(|t| t.0.clone()),
        mobile: step.mobile.as_ref().map(|m| m.0.digits().to_string()),
        no_hangup: step.hangup == Some(false),
    })
}

fn deliver(mut events: Vec<WireEvent>, d: Delivery) -> Vec<WireEvent> {
    match d.order {
        Order::InOrder => {}
        Order::Reversed => events.reverse(),
        Order::HangupFirst => {
            if let Some(i) = events.iter().position(|e| e.line.starts_with("event=2&")) {
                let h = events.remove(i);
                events.insert(0, h);
            }
        }
    }
    if d.duplicate {
        events = events.into_iter().flat_map(|e| [e.clone(), e]).collect();
    }
    events
}

struct Ctx {
    /// Why each handled call did what it did, in the order they were handled.
    explained: Vec<String>,
    mock: MockCrm,
    engine: Engine<RunMemory>,
    clock: Clock,
    lenient_crm: bool,
    /// Calls whose amoCRM work failed, retried as `serve` retries them.
    retry: Retry,
    /// What happened so far (requests aside: the journal has them).
    timeline: Vec<Moment>,
    /// Virtual time zero, clock ms.
    origin_ms: i64,
    /// The engine's client and options, to start it again with new settings.
    client: crate::amocrm::client::AmoClient,
    engine_options: EngineOptions,
    /// Raw events the receiver would acknowledge and keep aside (R-WIRE): reason and detail.
    kept: Vec<String>,
}

impl Ctx {
    /// Virtual time since the scenario's start, ms.
    fn since_start(&self) -> i64 {
        self.clock.now_ms().saturating_sub(self.origin_ms)
    }

    /// Records a moment of the timeline, now.
    fn moment(&mut self, kind: MomentKind, title: String, detail: Option<String>) {
        let mut m = Moment::new(self.since_start(), kind, title);
        m.detail = detail;
        self.timeline.push(m);
    }
}

/// What a step did, besides its requests.
#[derive(Default)]
struct StepDone {
    /// A failure of the scenario's own making that lets the steps go on.
    problem: Option<String>,
    /// The call the step placed.
    call: Option<crate::sim::scenario::invariants::CallFacts>,
    /// Paths through the rules of the calls the step finished.
    paths: Vec<String>,
}

/// Which ended calls to handle.
enum Settle<'a> {
    /// Those whose settle window closed before `at_ms`, each at the end of its window on the
    /// virtual clock (R-IDEM, as `serve`): a straggler at `at_ms` or later does not count.
    Before(i64),
    /// This call, now: a `call:` step delivers all its events within the step.
    Call(&'a crate::sipuni::event::CallId),
    /// Every call whose hangup arrived (after the last step).
    All,
}

/// Handles ended calls. As in `serve`, a call whose amoCRM work fails stays queued and is
/// retried after [`retry_pause`] (`Ok(None)`): the engine parks it once amoCRM keeps refusing
/// it while answering other requests; only a storage failure stops the run.
async fn settle(
    ctx: &mut Ctx,
    which: Settle<'_>,
) -> Result<Option<Vec<crate::engine::Handled>>, StepError> {
    let requests_before = ctx.mock.journal_len();
    let result = match which {
        Settle::Before(at_ms) => settle_before(ctx, at_ms).await,
        Settle::Call(id) => match settle_before(ctx, ctx.clock.now_ms()).await {
            Ok(mut before) => ctx.engine.settle_call(id).await.map(|h| {
                before.extend(h);
                before
            }),
            Err(e) => Err(e),
        },
        Settle::All => ctx.engine.settle(true).await,
    };
    match result {
        Ok(h) => {
            if ctx.engine.open_calls() == 0 || !h.is_empty() {
                ctx.retry = Retry::default();
            }
            // The calls come on the timeline where their work began: at their first request.
            let began = ctx
                .mock
                .inspect(|_, journal| journal.get(requests_before).map(|e| e.at_ms));
            let at = began.map_or_else(|| ctx.since_start(), |t| t - ctx.origin_ms);
            for e in h.iter().map(super::report::explain) {
                ctx.timeline.push(Moment::call(at, &e));
                ctx.explained.push(e);
            }
            Ok(Some(h))
        }
        Err(crate::engine::EngineError::Memory(e)) => Err(e.into()),
        Err(e) => {
            let now = ctx.clock.now_ms();
            ctx.retry.failed(now, &e);
            let again = ctx.retry.at_ms.unwrap_or(now).saturating_sub(ctx.origin_ms);
            let title = format!(
                "amoCRM work failed ({} in a row); the call stays queued, retried at {}",
                ctx.retry.failures,
                crate::sim::mock::journal::offset(again)
            );
            ctx.timeline.push(
                Moment::new(ctx.since_start(), MomentKind::Failed, title)
                    .with_detail(e.to_string()),
            );
            tracing::warn!(error = %e, retry_at_ms = ?ctx.retry.at_ms, "the call stays queued and is retried");
            Ok(None)
        }
    }
}

/// Failing calls, retried on the virtual clock with `serve`'s pauses.
#[derive(Debug, Default)]
struct Retry {
    /// Rounds that failed in a row.
    failures: u32,
    /// When the next round is due (clock ms), while a call is failing.
    at_ms: Option<i64>,
    /// What the last failure said.
    last_error: Option<String>,
}

impl Retry {
    fn failed(&mut self, now_ms: i64, e: &crate::engine::EngineError) {
        self.failures = self.failures.saturating_add(1);
        let pause = retry_pause(crate::server::work::worker::TICK, self.failures);
        let pause_ms = i64::try_from(pause.as_millis()).unwrap_or(i64::MAX);
        self.at_ms = Some(now_ms.saturating_add(pause_ms));
        self.last_error = Some(e.to_string());
    }
}

/// How long past the last step failing calls are still retried (virtual time): beyond the hour
/// after which `serve` parks a call amoCRM keeps failing while it answers other requests.
const RETRY_HORIZON_MS: i64 = 2 * 3_600_000;

/// Retry rounds due before `until_ms`, each at its instant on the virtual clock.
async fn retry_due(ctx: &mut Ctx, until_ms: i64) -> Result<Vec<crate::engine::Handled>, StepError> {
    let mut out = Vec::new();
    while let Some(at) = ctx.retry.at_ms.filter(|t| *t < until_ms) {
        if at > ctx.clock.now_ms() {
            ctx.clock.advance_to(at);
        }
        ctx.retry.at_ms = None;
        if let Some(h) = settle(ctx, Settle::All).await? {
            out.extend(h);
        }
    }
    Ok(out)
}

/// `expect.kept`: the raw events kept aside (R-WIRE), each matching the text at its place;
/// without the key, a kept event fails the scenario.
fn kept_failures(expect: &Expect, kept: &[String]) -> Vec<String> {
    let list = || {
        kept.iter()
            .map(|k| format!("    {k}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    match &expect.kept {
        Some(want)
            if want.len() == kept.len()
                && want.iter().zip(kept).all(|(w, k)| k.contains(w.as_str())) =>
        {
            Vec::new()
        }
        Some(want) => vec![format!(
            "expect.kept: {want:?}, got {} request(s) kept aside:\n{}",
            kept.len(),
            list()
        )],
        None if kept.is_empty() => Vec::new(),
        None => vec![format!(
            "events kept aside as unusable (list them under `expect: kept:` if meant):\n{}",
            list()
        )],
    }
}

/// Parked calls fail the scenario unless `expect.parked` counts them (R-ISOLATE: a parked
/// call is never dropped silently).
fn parked_failures(expect: &Expect, parked: &[crate::engine::memory::ParkedCall]) -> Vec<String> {
    let list = || {
        parked
            .iter()
            .map(|p| {
                format!(
                    "    {} after {} attempt(s): {}",
                    p.call_id, p.attempts, p.reason
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    match expect.parked {
        Some(n) if n == parked.len() => Vec::new(),
        Some(n) => vec![format!(
            "expect.parked: {n} call(s), got {}:\n{}",
            parked.len(),
            list()
        )],
        None if parked.is_empty() => Vec::new(),
        None => vec![format!(
            "calls parked (amoCRM kept refusing them):\n{}",
            list()
        )],
    }
}

/// Decides, window by window, the calls whose settle window closes before `at_ms`.
async fn settle_before(
    ctx: &mut Ctx,
    at_ms: i64,
) -> Result<Vec<crate::engine::Handled>, crate::engine::EngineError> {
    let mut out = Vec::new();
    while let Some(due) = ctx.engine.next_due().filter(|d| *d < at_ms) {
        if due > ctx.clock.now_ms() {
            ctx.clock.advance_to(due);
        }
        let handled = ctx.engine.settle_due(due).await?;
        if handled.is_empty() {
            break;
        }
        out.extend(handled);
    }
    Ok(out)
}

/// The phone a step is about (its call's client or its manager action's).
fn step_phone(step: &Step) -> Option<String> {
    let phone = match &step.action {
        Action::Call(c) => &c.client,
        Action::Crm(CrmAction::AcceptUnsorted(a)) => &a.client,
        Action::Crm(
            CrmAction::DeclineUnsorted(a) | CrmAction::CompleteTask(a) | CrmAction::DeleteTask(a),
        ) => &a.client,
        Action::Crm(CrmAction::MoveTask(a)) => &a.client,
        Action::Crm(CrmAction::CloseLead(a)) => &a.client,
        Action::Event(fields) => {
            return fields
                .iter()
                .find(|(k, _)| k == "src_num" || k == "dst_num")
                .and_then(|(_, v)| crate::phone::digits_key(v));
        }
        Action::Fault(_) | Action::Settings(..) => return None,
    };
    Some(phone.0.last10().to_string())
}

fn path_label(h: &crate::engine::Handled) -> Option<String> {
    use crate::engine::rules::plan::{ContactPlan, UnsortedPlan};
    let plan = match h {
        crate::engine::Handled::Done { plan, .. } => plan,
        crate::engine::Handled::Internal { .. } => return Some("internal".into()),
        crate::engine::Handled::Hidden { .. } => return Some("hidden number".into()),
        crate::engine::Handled::Parked { .. } => return Some("parked".into()),
    };
    let known = matches!(plan.contact, ContactPlan::Existing(_));
    let unsorted = !matches!(plan.unsorted, UnsortedPlan::None);
    let dir = if plan
        .note
        .is_some_and(|n| n.kind == crate::engine::rules::plan::NoteKind::CallOut)
        || [
            Rule::OutKnown,
            Rule::OutUnknown,
            Rule::OutPendingUnsorted,
            Rule::NoteNotReached,
        ]
        .into_iter()
        .any(|r| cites(plan, r))
    {
        "outgoing"
    } else {
        "incoming"
    };
    Some(format!(
        "{dir} {}{}",
        if known { "known" } else { "unknown" },
        if unsorted { " (Unsorted)" } else { "" }
    ))
}

/// Does one of the plan's reasons come from `rule`?
fn cites(plan: &crate::engine::rules::plan::Plan, rule: Rule) -> bool {
    plan.because.iter().any(|b| {
        b.strip_prefix(rule.id())
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(':'))
    })
}

/// Journal entries as indented `time request → status` lines for failure reports.
fn request_lines(entries: &[JournalEntry], origin_ms: i64) -> String {
    entries
        .iter()
        .map(|j| {
            format!(
                "    {} {} → {}",
                journal::offset(j.at_ms - origin_ms),
                j.request_line(),
                j.status
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs one scenario.
pub async fn run(loaded: &Loaded, opts: RunOptions) -> Outcome {
    let started = Instant::now();
    let sc = &loaded.scenario;
    let seed = sc.seed.unwrap_or(DEFAULT_SEED);
    let mut out = Outcome::empty(
        &sc.name,
        loaded.path.display().to_string(),
        sc.tags.clone(),
        seed,
        sc.start.0 * 1000,
    );
    out.rules = sc.rules.iter().map(|r| r.0.clone()).collect();
    match start_world(sc, &opts, seed).await {
        Err(StartFailed::Failure(f)) => out.failures.push(f),
        Err(StartFailed::Error(e)) => out.error = Some(e),
        Ok((mut ctx, startup_requests)) => {
            run_steps(sc, &opts, &mut ctx, &mut out).await;
            finish(sc, &mut ctx, &mut out, startup_requests).await;
        }
    }
    check_expected_error(sc, &mut out);
    out.elapsed = started.elapsed();
    out
}

/// Why the world of a scenario could not be set up.
enum StartFailed {
    /// The scenario itself is wrong (its `crm:` block).
    Failure(String),
    /// The engine refused to start (what `expect.error` may expect).
    Error(String),
}

/// The mock account seeded from `crm:`, and the engine connected to it on a virtual clock;
/// answers them with the number of requests the engine's start-up made.
async fn start_world(
    sc: &Scenario,
    opts: &RunOptions,
    seed: u64,
) -> Result<(Ctx, usize), StartFailed> {
    let mut state = sc
        .crm
        .build(sc.start.0)
        .map_err(|e| StartFailed::Failure(format!("crm: {e}")))?;
    if sc.crm.search.is_none() {
        state.search = opts.search;
    }
    let engine_options = crate::engine::EngineOptions {
        settle_ms: sc
            .settle
            .map_or(EngineOptions::default().settle_ms, |s| s.ms()),
        // As `serve` by default: a call amoCRM keeps failing is parked after this many attempts.
        park_after: crate::server::work::worker::PARK_AFTER,
        ..EngineOptions::default()
    };
    let cfg = WorldConfig {
        mock: MockOptions {
            clock: Clock::virtual_at(sc.start.0 * 1000),
            state,
            hang_for: opts.client_timeout * 10,
            rate_limit: opts.rate_limit,
            list_processed_unsorted: opts.list_processed_unsorted,
            unsorted_call_events: opts.unsorted_call_events,
            token_ttl: sc.crm.token_lifetime.map(|s| Duration::from_secs(s.secs())),
            ..MockOptions::default()
        },
        client_timeout: opts.client_timeout,
        jitter_seed: seed,
        engine: engine_options.clone(),
    };
    let memory = RunMemory::new(opts.sabotage_task_dedup);
    let world = match harness::World::start(cfg, sc.settings.clone(), memory).await {
        Ok(w) => w,
        Err(WorldError::Client(e)) => {
            return Err(StartFailed::Failure(format!(
                "cannot build the amoCRM client: {e}"
            )));
        }
        Err(WorldError::Engine(e)) => return Err(StartFailed::Error(e.to_string())),
    };
    let harness::World {
        mock,
        engine,
        clock,
        startup_requests,
        client,
    } = world;
    let ctx = Ctx {
        explained: Vec::new(),
        mock,
        engine,
        clock,
        lenient_crm: opts.lenient_crm,
        retry: Retry::default(),
        timeline: Vec::new(),
        origin_ms: sc.start.0.saturating_mul(1000),
        client,
        engine_options,
        kept: Vec::new(),
    };
    Ok((ctx, startup_requests))
}

/// Runs the steps in order until the end, an engine error or a broken invariant.
async fn run_steps(sc: &Scenario, opts: &RunOptions, ctx: &mut Ctx, out: &mut Outcome) {
    let mut checker = (opts.invariants || sc.expect.invariants).then(|| {
        crate::sim::scenario::invariants::Checker::new(
            sc.settings.incoming.missed.task_deadline.0 as i64,
            opts.rate_limit.map(|r| r as usize),
        )
    });
    for (i, step) in sc.steps.iter().enumerate() {
        let before = ctx.mock.journal_len();
        let result = apply(sc, i, step, ctx).await;
        out.steps_run = i + 1;
        if let Some(p) = &opts.progress {
            p.inc(1);
        }
        let at = |what: &dyn std::fmt::Display| {
            format!(
                "step {} (line {}, at {}): {what}",
                i + 1,
                step.line,
                step.at
            )
        };
        match result {
            Ok(done) => {
                if let Some(problem) = &done.problem {
                    out.failures.push(at(problem));
                }
                count_paths(out, &done, ctx.mock.journal_len() - before);
                let last = i + 1 == sc.steps.len();
                if let Some(c) = checker.as_mut()
                    && let Err(v) = check_invariants(c, ctx, step, &done, last)
                {
                    out.failures.push(at(&v));
                    out.violation = Some(v);
                    out.violation_step = Some(i);
                    break;
                }
            }
            Err(e) => {
                let mut msg = at(&e);
                let lines = request_lines(&ctx.mock.journal()[before..], out.origin_ms);
                if !lines.is_empty() {
                    let _ = write!(msg, "\n  requests of this step:\n{lines}");
                }
                out.error = Some(msg);
                break;
            }
        }
    }
}

/// Requests per call path, for the storm summary.
fn count_paths(out: &mut Outcome, done: &StepDone, made: usize) {
    for label in &done.paths {
        let e = out.paths.entry(label.clone()).or_default();
        e.calls += 1;
        e.requests += made / done.paths.len().max(1);
    }
}

/// The invariants after a step: of the step's phone, or of everything after the last step.
fn check_invariants(
    c: &mut crate::sim::scenario::invariants::Checker,
    ctx: &Ctx,
    step: &Step,
    done: &StepDone,
    last: bool,
) -> Result<(), crate::sim::scenario::invariants::Violation> {
    let scope = step_phone(step);
    ctx.mock.inspect(|s, j| {
        if last {
            c.check(s, j, done.call.as_ref())
        } else {
            c.check_step(s, j, done.call.as_ref(), scope.as_deref())
        }
    })
}

/// Settles what is still open, then checks the account against `expect:`.
async fn finish(sc: &Scenario, ctx: &mut Ctx, out: &mut Outcome, startup_requests: usize) {
    if out.error.is_none()
        && let Err(e) = drain(ctx).await
    {
        out.error = Some(format!("after the last step: {e}"));
    }
    if let Some(still) = still_queued(ctx) {
        out.failures.push(still);
    }
    match ctx.engine.memory().parked().await {
        Ok(parked) => out.failures.extend(parked_failures(&sc.expect, &parked)),
        Err(e) => out.failures.push(e.to_string()),
    }
    out.failures.extend(kept_failures(&sc.expect, &ctx.kept));
    out.kept = std::mem::take(&mut ctx.kept);
    out.explanation = std::mem::take(&mut ctx.explained);
    out.journal = ctx.mock.journal();
    out.requests = out.journal.len().saturating_sub(startup_requests);
    let account = ctx.mock.snapshot();
    out.account = expect::account_view(&account, sc.start.0);
    out.timeline =
        super::timeline::merged(&ctx.timeline, &out.journal, out.origin_ms, startup_requests);
    let expect::Checked {
        failures,
        mismatches,
    } = expect::check(&sc.expect, &account, sc.start.0, out.requests);
    out.mismatches = mismatches;
    if !failures.is_empty() {
        let lines = request_lines(&out.journal[startup_requests..], out.origin_ms);
        out.failures.extend(failures);
        out.failures.push(format!(
            "requests the steps made:\n{}",
            if lines.is_empty() {
                "    (none)"
            } else {
                &lines
            }
        ));
    }
}

/// After the last step: the ended calls are handled, failing ones retried as `serve` retries
/// them, for at most [`RETRY_HORIZON_MS`] of virtual time.
async fn drain(ctx: &mut Ctx) -> Result<(), StepError> {
    let horizon = ctx.clock.now_ms().saturating_add(RETRY_HORIZON_MS);
    if ctx.engine.open_calls() > 0 {
        settle(ctx, Settle::All).await?;
    }
    retry_due(ctx, horizon).await?;
    Ok(())
}

/// The calls `serve` would still hold queued at the end, amoCRM having kept failing them.
fn still_queued(ctx: &Ctx) -> Option<String> {
    let error = ctx.retry.last_error.as_ref()?;
    ctx.retry.at_ms?;
    Some(format!(
        "{} call(s) still queued {} h after the last step, amoCRM failing them {} time(s) in a row \
         (`serve` would go on retrying; an outage parks nothing): {error}",
        ctx.engine.open_calls(),
        RETRY_HORIZON_MS / 3_600_000,
        ctx.retry.failures
    ))
}

/// `expect.error`: the run must have stopped with an error containing the text (and only
/// then).
fn check_expected_error(sc: &Scenario, out: &mut Outcome) {
    match (&sc.expect.error, &out.error) {
        (Some(want), Some(got)) if got.contains(want.as_str()) => {}
        (Some(want), Some(got)) => out.failures.insert(
            0,
            format!("expect.error: expected an error containing {want:?}, got: {got}"),
        ),
        (Some(want), None) => out.failures.insert(
            0,
            format!("expect.error: expected an error containing {want:?}, but everything ran"),
        ),
        (None, Some(got)) => out.failures.insert(0, format!("error: {got}")),
        (None, None) => {}
    }
}

/// Applies a step. `Err` stops the scenario (the engine failed); `Ok(Some(..))` is a failure
/// of the scenario's own making that lets the steps go on.
async fn apply(
    sc: &Scenario,
    index: usize,
    step: &Step,
    ctx: &mut Ctx,
) -> Result<StepDone, StepError> {
    let mut done = StepDone::default();
    let at = sc.start.0 + step.at.secs() as i64;
    // Failing calls due for a retry, then calls whose settle window closed before this step,
    // are handled first, as in `serve`.
    let retried = retry_due(ctx, at * 1000).await?;
    done.paths = retried.iter().filter_map(path_label).collect();
    if let Some(handled) = settle(ctx, Settle::Before(at * 1000)).await? {
        done.paths.extend(handled.iter().filter_map(path_label));
    }
    ctx.clock.advance_to(at * 1000);
    match &step.action {
        Action::Call(c) => {
            let spec = call_spec(sc, c, c.id(at, index))?;
            let mut call_id = None;
            for e in deliver(spec.events(at), c.delivery) {
                ctx.clock.advance_to(e.at * 1000);
                ctx.moment(
                    MomentKind::Event,
                    event_title(&e.line),
                    Some(e.line.clone()),
                );
                let ev = CallEvent::parse(&e.line)?;
                call_id = Some(ev.call_id.clone());
                take(ctx, ev).await?;
            }
            let Some(id) = call_id else {
                return Ok(done);
            };
            let Some(handled) = settle(ctx, Settle::Call(&id)).await? else {
                return Ok(done);
            };
            done.paths.extend(handled.iter().filter_map(path_label));
            // A call whose hangup never came is not handled: it leaves no note.
            let answered = !spec.no_hangup
                && match spec.direction {
                    SynthDirection::Incoming => spec.answer.is_some(),
                    SynthDirection::Outgoing => spec.answered,
                };
            done.call = Some(crate::sim::scenario::invariants::CallFacts {
                call_id: spec.call_id.clone(),
                phone_key: spec.client.last10().to_string(),
                answered,
            });
        }
        Action::Event(fields) => raw_event(ctx, fields, at).await?,
        Action::Crm(a) => {
            ctx.moment(MomentKind::Manager, manager_title(a), None);
            // A manager action that finds nothing fails the scenario but the steps go on.
            if let Err(e) = crm_action(sc, ctx, a)
                && !ctx.lenient_crm
            {
                done.problem = Some(format!("crm: {e}"));
            }
        }
        Action::Fault(f) => {
            ctx.moment(MomentKind::Fault, fault_title(f), None);
            ctx.mock.arm(f)?;
        }
        Action::Settings(settings, yaml) => {
            ctx.moment(
                MomentKind::Manager,
                "the customer saves new settings; the engine starts again with them".into(),
                Some(yaml.clone()),
            );
            new_settings(ctx, settings).await?;
        }
    }
    Ok(done)
}

/// A raw `event:` step, as the receiver takes it (R-WIRE): what is no usable event is
/// acknowledged and kept aside with its reason, never acted on.
async fn raw_event(ctx: &mut Ctx, fields: &[(String, String)], at: i64) -> Result<(), StepError> {
    let line = {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in fields {
            ser.append_pair(k, v);
        }
        if !fields.iter().any(|(k, _)| k == "timestamp") {
            ser.append_pair("timestamp", &at.to_string());
        }
        ser.finish()
    };
    // As the receiver does (R-WIRE): what is no usable event is acknowledged and kept
    // aside with its reason, never acted on.
    match CallEvent::parse(&line) {
        Ok(ev) => {
            ctx.moment(MomentKind::Event, event_title(&line), Some(line.clone()));
            take(ctx, ev).await?;
        }
        Err(e) => {
            let why = format!("{}: {e}", e.reason());
            let title = format!("kept aside, no usable event (R-WIRE): {}", e.reason());
            ctx.moment(MomentKind::Kept, title, Some(format!("{why}\n{line}")));
            ctx.kept.push(why);
        }
    }
    Ok(())
}

/// New settings, as `serve` restarted with another settings file: the calls that ended are
/// handled first, then the engine connects again (checking the settings against the account,
/// R-CFG-1/2) with the same memory.
async fn new_settings(ctx: &mut Ctx, settings: &crate::engine::Settings) -> Result<(), StepError> {
    settle(ctx, Settle::All).await?;
    let memory = std::mem::replace(ctx.engine.memory_mut(), RunMemory::new(false));
    let options = ctx.engine_options.clone();
    ctx.engine = Engine::connect(settings.clone(), ctx.client.clone(), memory, options).await?;
    Ok(())
}

/// A manager's action in amoCRM, through the mock's own door (not the API).
fn crm_action(
    sc: &Scenario,
    ctx: &Ctx,
    a: &CrmAction,
) -> Result<(), crate::sim::mock::ActionError> {
    match a {
        CrmAction::AcceptUnsorted(x) => ctx
            .mock
            .accept_unsorted(&x.client.0.e164(), x.user)
            .map(|_| ()),
        CrmAction::DeclineUnsorted(x) => ctx.mock.decline_unsorted(&x.client.0.e164()).map(|_| ()),
        CrmAction::CompleteTask(x) => ctx.mock.complete_tasks(&x.client.0.e164()).map(|_| ()),
        CrmAction::CloseLead(x) => ctx
            .mock
            .close_leads(&x.client.0.e164(), x.status)
            .map(|_| ()),
        CrmAction::MoveTask(x) => {
            let due = sc.start.0.saturating_add(x.due.secs() as i64);
            ctx.mock.move_tasks(&x.client.0.e164(), due).map(|_| ())
        }
        CrmAction::DeleteTask(x) => ctx.mock.delete_tasks(&x.client.0.e164()).map(|_| ()),
    }
}
