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
use crate::clock::Clock;
use crate::engine::{Engine, EngineOptions, Memory};
use crate::sim::harness::{self, WorldConfig, WorldError};
use crate::sim::mock::journal::{self, JournalEntry};
use crate::sim::mock::{MockCrm, MockOptions};

mod labels;
mod settling;
mod steps;
mod verdict;

use labels::step_phone;
use settling::{Retry, drain, still_queued};
pub(crate) use steps::call_spec;
use steps::{NobodyOnTheLine, apply};
use verdict::{check_expected_error, indented, kept_failures, parked_failures};

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

/// Journal entries as indented `time request → status` lines for failure reports.
fn request_lines(entries: &[JournalEntry], origin_ms: i64) -> String {
    indented(entries.iter().map(|j| {
        format!(
            "{} {} → {}",
            journal::offset(j.at_ms - origin_ms),
            j.request_line(),
            j.status
        )
    }))
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
    out.timeline =
        super::timeline::merged(&ctx.timeline, &out.journal, out.origin_ms, startup_requests);
    let expect::Checked {
        failures,
        mismatches,
        account,
    } = expect::check(&sc.expect, &account, sc.start.0, out.requests);
    out.mismatches = mismatches;
    out.account = account;
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
