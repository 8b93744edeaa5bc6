//! Ended calls handled as `serve` handles them: each when its settle window closes, a call whose
//! amoCRM work fails kept queued and retried on the virtual clock with `serve`'s pauses.

use super::{Ctx, StepError};
use crate::server::work::worker::retry_pause;
use crate::sim::scenario::timeline::{Moment, MomentKind};

/// Which ended calls to handle.
pub(super) enum Settle<'a> {
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
pub(super) async fn settle(
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
            for e in h.iter().map(crate::sim::scenario::report::explain) {
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
pub(super) struct Retry {
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
pub(super) const RETRY_HORIZON_MS: i64 = 2 * 3_600_000;

/// Retry rounds due before `until_ms`, each at its instant on the virtual clock.
pub(super) async fn retry_due(
    ctx: &mut Ctx,
    until_ms: i64,
) -> Result<Vec<crate::engine::Handled>, StepError> {
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

/// Decides, window by window, the calls whose settle window closes before `at_ms`.
pub(super) async fn settle_before(
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

/// After the last step: the ended calls are handled, failing ones retried as `serve` retries
/// them, for at most [`RETRY_HORIZON_MS`] of virtual time.
pub(super) async fn drain(ctx: &mut Ctx) -> Result<(), StepError> {
    let horizon = ctx.clock.now_ms().saturating_add(RETRY_HORIZON_MS);
    if ctx.engine.open_calls() > 0 {
        settle(ctx, Settle::All).await?;
    }
    retry_due(ctx, horizon).await?;
    Ok(())
}

/// The calls `serve` would still hold queued at the end, amoCRM having kept failing them.
pub(super) fn still_queued(ctx: &Ctx) -> Option<String> {
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
