//! One step applied: a synthetic call's events, a raw event, a manager's action in amoCRM, a
//! fault armed, or new settings.

use super::labels::path_label;
use super::settling::{Settle, retry_due, settle};
use super::{Ctx, StepDone, StepError};
use crate::engine::Engine;
use crate::sim::scenario::model::{
    Action, CallDirection, CallStep, CrmAction, Delivery, Order, Scenario, Step,
};
use crate::sim::scenario::sabotage::RunMemory;
use crate::sim::scenario::timeline::MomentKind;
use crate::sim::scenario::titles::{event_title, fault_title, manager_title};
use crate::sim::synth::{CallSpec, SynthDirection, WireEvent};
use crate::sipuni::event::{CallEvent, HangupStatus, ShortNumber};

/// Gives the engine an event as `serve` does ([`Engine::take_event`]): a failed early action is
/// left to the call's hangup; only a storage error stops the run.
pub(super) async fn take(ctx: &mut Ctx, ev: CallEvent) -> Result<(), StepError> {
    let now = ctx.clock.now_ms();
    Ok(ctx.engine.take_event(ev, now).await?)
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

pub(super) fn deliver(mut events: Vec<WireEvent>, d: Delivery) -> Vec<WireEvent> {
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

/// Applies a step. `Err` stops the scenario (the engine failed); `Ok(Some(..))` is a failure
/// of the scenario's own making that lets the steps go on.
pub(super) async fn apply(
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
