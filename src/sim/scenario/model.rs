//! The scenario file format (`spec/scenario-format.md`) as types. Values are parsed while the
//! YAML is read, so a bad phone, duration or rule ID is reported at its line and column.

use std::fmt;

use serde::{Deserialize, Deserializer, de};

use crate::duration::Span;
use crate::engine::rules::settings::Settings;
use crate::phone::Phone;
use crate::sim::mock::{CrmSeed, FaultSpec, UnsortedState};
use crate::sipuni::event::{HangupStatus, ShortNumber};

/// A phone written in any common notation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PhoneField(pub(crate) Phone);

impl<'de> Deserialize<'de> for PhoneField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = scalar_string(d, "a phone number such as \"+7 916 123-45-67\"")?;
        Phone::parse(&raw)
            .map(PhoneField)
            .map_err(de::Error::custom)
    }
}

/// An employee's short number (`"201"`, or 201).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ShortField(pub(crate) ShortNumber);

impl<'de> Deserialize<'de> for ShortField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = scalar_string(d, "an employee short number such as \"201\"")?;
        ShortNumber::parse(&raw).map(ShortField).ok_or_else(|| {
            de::Error::custom(format!(
                "{raw:?} is not a Sipuni employee: a short number (2 to 6 digits, e.g. \"201\") or idNNN, an employee's Sipuni id on a mobile (e.g. \"id265648\")"
            ))
        })
    }
}

/// A rule ID of behaviour.md.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct RuleId(pub(crate) String);

impl<'de> Deserialize<'de> for RuleId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        if super::rules::is_rule(&raw) {
            Ok(RuleId(raw))
        } else {
            let known: Vec<&str> = super::rules::all_ids().collect();
            Err(de::Error::custom(format!(
                "unknown rule ID {raw:?}; behaviour.md has {}",
                known.join(", ")
            )))
        }
    }
}

/// A string or number scalar as text (scheme numbers, raw event values).
fn scalar_string<'de, D: Deserializer<'de>>(d: D, what: &'static str) -> Result<String, D::Error> {
    struct V(&'static str);
    impl de::Visitor<'_> for V {
        type Value = String;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(self.0)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
            Ok(v.to_string())
        }
    }
    d.deserialize_any(V(what))
}

/// Text from a string or a number (`scheme: 000123` or `"000123"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Text(pub(crate) String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        scalar_string(d, "text or a number").map(Text)
    }
}

/// `start:` — an RFC 3339 time, kept as Unix seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Start(pub i64);

impl Default for Start {
    /// 2026-03-02T10:00:00+03:00, the format page's example.
    fn default() -> Self {
        Start(1_772_434_800)
    }
}

impl<'de> Deserialize<'de> for Start {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = scalar_string(d, "a time such as 2026-03-02T10:00:00+03:00")?;
        chrono::DateTime::parse_from_rfc3339(raw.trim())
            .map(|t| Start(t.timestamp()))
            .map_err(|e| {
                de::Error::custom(format!(
                    "{raw:?} is not an RFC 3339 time such as 2026-03-02T10:00:00+03:00: {e}"
                ))
            })
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum CallDirection {
    #[default]
    Incoming,
    Outgoing,
}

/// The hangup status of an unanswered call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StatusField(pub(crate) HangupStatus);

impl<'de> Deserialize<'de> for StatusField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        HangupStatus::parse(&raw)
            .map(StatusField)
            .ok_or_else(|| de::Error::custom(format!("{raw:?} is not a hangup status; use NOANSWER, BUSY, CANCEL, CONGESTION, CHANUNAVAIL or ANSWER")))
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[expect(
    clippy::enum_variant_names,
    reason = "the variants are the YAML values in_order, reversed, hangup_first"
)]
pub(crate) enum Order {
    #[default]
    InOrder,
    Reversed,
    /// The hangup first, then the rest in order.
    HangupFirst,
}

/// How the call's events reach the engine (R-IDEM).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Delivery {
    /// Every event is delivered twice.
    #[serde(default)]
    pub(crate) duplicate: bool,
    #[serde(default)]
    pub(crate) order: Order,
}

/// A `call:` step.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CallStep {
    /// The client's phone (required), in any common notation.
    pub(crate) client: PhoneField,
    /// `incoming` (default) or `outgoing`.
    #[serde(default)]
    pub(crate) direction: CallDirection,
    /// The scheme's `treeNumber` («Конструктор»); outgoing calls use «Исходящая».
    #[serde(default)]
    pub(crate) scheme: Option<Text>,
    /// Employees rung, in order (incoming); default: the scheme's first user, else the first
    /// employee under `settings.users`.
    #[serde(default)]
    pub(crate) ring: Option<Vec<ShortField>>,
    /// Who answered; absent: missed (incoming).
    #[serde(default)]
    pub(crate) answer: Option<ShortField>,
    /// Outgoing: the employee who dials.
    #[serde(default)]
    pub(crate) employee: Option<ShortField>,
    /// Outgoing: whether the client picked up (default true).
    #[serde(default)]
    pub(crate) answered: Option<bool>,
    /// Ringing before the answer or the give-up (default 10s).
    #[serde(default)]
    pub(crate) ring_time: Option<Span>,
    /// Talk time when answered (default 60s).
    #[serde(default)]
    pub(crate) talk: Option<Span>,
    /// Hangup status when not answered: NOANSWER, BUSY, CANCEL, CONGESTION, CHANUNAVAIL.
    #[serde(default)]
    pub(crate) status: Option<StatusField>,
    /// Whether a recording link is sent (default true; cabinets send one on missed calls too).
    #[serde(default)]
    pub(crate) record: Option<bool>,
    /// R-TRANSFER: the answerer transfers the call to this employee halfway through the talk
    /// (`"202"`, or `"idNNN"` on a mobile).
    #[serde(default)]
    pub(crate) transfer: Option<ShortField>,
    /// The mobile number `idNNN` employees in `ring`, `answer` or `transfer` are rung on
    /// (behaviour.md «Employee on a mobile»); default: one made from the id.
    #[serde(default)]
    pub(crate) mobile: Option<PhoneField>,
    /// `false`: the hangup (`event=2`) never arrives, as happens on real cabinets; the call is
    /// closed as unfinished `--max-call-s` after its last event, with nothing done in amoCRM.
    #[serde(default)]
    pub(crate) hangup: Option<bool>,
    /// Replay each event twice, or deliver them in another order (R-IDEM).
    #[serde(default)]
    pub(crate) delivery: Delivery,
    /// Optional Sipuni call id (default: generated from the step's time and position).
    #[serde(default)]
    pub(crate) call_id: Option<Text>,
}

impl CallStep {
    /// The call's id: the one the step gives, else `<unix seconds>.<step number>` (the same in
    /// `sipamo run` and `sipamo gen`, so generated events replay the scenario's calls).
    pub(crate) fn id(&self, at: i64, index: usize) -> String {
        self.call_id
            .as_ref()
            .map_or_else(|| format!("{at}.{}", index + 1), |t| t.0.clone())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClientAction {
    /// The client's phone.
    pub(crate) client: PhoneField,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AcceptAction {
    /// The client's phone.
    pub(crate) client: PhoneField,
    /// The amoCRM user who accepts (becomes responsible).
    pub(crate) user: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CloseAction {
    /// The client's phone.
    pub(crate) client: PhoneField,
    /// The closing status: 143 (lost, default) or 142 (won).
    #[serde(default = "lost")]
    pub(crate) status: u64,
}

fn lost() -> u64 {
    crate::amocrm::model::LOST
}

/// A manager moves the deadline of the phone's open tasks to `due` (virtual time).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MoveTaskAction {
    /// The client's phone.
    pub(crate) client: PhoneField,
    /// The new deadline, as an offset from `start`.
    pub(crate) due: Span,
}

/// A manager's action in the amoCRM interface, written `{ accept_unsorted: {...} }`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CrmAction {
    AcceptUnsorted(AcceptAction),
    DeclineUnsorted(ClientAction),
    CompleteTask(ClientAction),
    CloseLead(CloseAction),
    MoveTask(MoveTaskAction),
    DeleteTask(ClientAction),
}

/// The raw shape of a `crm:` step before the one-action check.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCrmAction {
    /// A manager accepts the phone's pending Unsorted item as `user` (R-UNS-ACCEPT).
    #[serde(default)]
    accept_unsorted: Option<AcceptAction>,
    /// A manager declines the phone's pending Unsorted item (R-UNS-DECLINE).
    #[serde(default)]
    decline_unsorted: Option<ClientAction>,
    /// A manager completes the phone's open tasks.
    #[serde(default)]
    complete_task: Option<ClientAction>,
    /// A manager closes the phone's active deal (status 143 lost by default, 142 won).
    #[serde(default)]
    close_lead: Option<CloseAction>,
    /// A manager moves the deadline of the phone's open tasks to `due` (virtual time).
    #[serde(default)]
    move_task: Option<MoveTaskAction>,
    /// A manager deletes the phone's open tasks.
    #[serde(default)]
    delete_task: Option<ClientAction>,
}

impl<'de> Deserialize<'de> for CrmAction {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = RawCrmAction::deserialize(d)?;
        let mut all: Vec<CrmAction> = Vec::new();
        all.extend(r.accept_unsorted.map(CrmAction::AcceptUnsorted));
        all.extend(r.decline_unsorted.map(CrmAction::DeclineUnsorted));
        all.extend(r.complete_task.map(CrmAction::CompleteTask));
        all.extend(r.close_lead.map(CrmAction::CloseLead));
        all.extend(r.move_task.map(CrmAction::MoveTask));
        all.extend(r.delete_task.map(CrmAction::DeleteTask));
        match all.len() {
            1 => Ok(all.remove(0)),
            0 => Err(de::Error::custom(
                "crm: give one of accept_unsorted, decline_unsorted, complete_task, close_lead, \
                 move_task, delete_task",
            )),
            _ => Err(de::Error::custom("crm: one action per step")),
        }
    }
}

/// What a step does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Call(Box<CallStep>),
    /// A raw Sipuni event: field → value as the wire sends it.
    Event(Vec<(String, String)>),
    Crm(CrmAction),
    Fault(FaultSpec),
    /// The customer saves new settings: the engine starts again with them and its memory, as
    /// `serve` restarted with a new settings file would (the calls ended before are handled
    /// first).
    Settings(Box<crate::engine::Settings>, String),
}

/// One step: when and what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub(crate) at: Span,
    pub(crate) action: Action,
    /// 1-based line of the step in its file.
    pub(crate) line: usize,
}

/// The raw shape of a step before the one-action check.
#[derive(Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStep {
    /// Offset from `start`; never goes backwards.
    at: Span,
    /// A whole call, expanded into its Sipuni events.
    #[serde(default)]
    call: Option<CallStep>,
    /// A raw Sipuni event, as the wire sends it.
    #[serde(default)]
    #[schemars(schema_with = "super::schema::raw_event")]
    event: Option<serde_yaml::Mapping>,
    /// A manager's action in amoCRM.
    #[serde(default)]
    crm: Option<CrmAction>,
    /// Arms the mock: the next matching requests fail or hang.
    #[serde(default)]
    fault: Option<FaultSpec>,
    /// The customer saves new settings (the whole block, as at the top of the file): the
    /// engine starts again with them and its memory, as `serve` restarted would.
    #[serde(default)]
    #[schemars(with = "Option<crate::engine::Settings>")]
    settings: Option<serde_yaml::Value>,
}

impl<'de> Deserialize<'de> for Step {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawStep::deserialize(d)?;
        let mut actions = Vec::new();
        if let Some(c) = raw.call {
            actions.push(Action::Call(Box::new(c)));
        }
        if let Some(map) = raw.event {
            let mut fields = Vec::new();
            for (k, v) in map {
                let key = match k {
                    serde_yaml::Value::String(s) => s,
                    other => {
                        return Err(de::Error::custom(format!(
                            "event field names are text, got {other:?}"
                        )));
                    }
                };
                let value = match v {
                    serde_yaml::Value::String(s) => s,
                    serde_yaml::Value::Number(n) => n.to_string(),
                    serde_yaml::Value::Bool(b) => b.to_string(),
                    serde_yaml::Value::Null => String::new(),
                    _ => {
                        return Err(de::Error::custom(format!(
                            "event field `{key}` must be a string or a number"
                        )));
                    }
                };
                fields.push((key, value));
            }
            actions.push(Action::Event(fields));
        }
        if let Some(c) = raw.crm {
            actions.push(Action::Crm(c));
        }
        if let Some(f) = raw.fault {
            f.arm(0).map_err(de::Error::custom)?;
            actions.push(Action::Fault(f));
        }
        if let Some(value) = raw.settings {
            let text = serde_yaml::to_string(&value).map_err(de::Error::custom)?;
            let settings: crate::engine::Settings =
                serde_yaml::from_value(value).map_err(de::Error::custom)?;
            actions.push(Action::Settings(Box::new(settings), text));
        }
        match actions.len() {
            1 => Ok(Step {
                at: raw.at,
                action: actions.remove(0),
                line: 0,
            }),
            0 => Err(de::Error::custom(
                "a step needs one of call, event, crm, fault or settings",
            )),
            _ => Err(de::Error::custom(
                "a step does one thing: give only one of call, event, crm, fault or settings",
            )),
        }
    }
}

/// `N` or a list of expected items.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CountOr<T> {
    Count(usize),
    List(Vec<T>),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for CountOr<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Read as YAML first: an untagged enum would lose the inner error messages.
        let v = serde_yaml::Value::deserialize(d)?;
        match v {
            serde_yaml::Value::Number(n) => n
                .as_u64()
                .map(|n| CountOr::Count(n as usize))
                .ok_or_else(|| de::Error::custom("a count must be a whole number")),
            serde_yaml::Value::Sequence(_) => Vec::<T>::deserialize(v)
                .map(CountOr::List)
                .map_err(|e| de::Error::custom(e.to_string())),
            _ => Err(de::Error::custom(
                "expected a count or a list of expected items",
            )),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum On {
    Lead,
    Contact,
    /// A company (the engine never puts tasks there; a client of the mock may).
    Company,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ContactExpect {
    /// Matches through the contact's phones (last 10 digits).
    pub(crate) client: Option<PhoneField>,
    /// `responsible_user_id`.
    pub(crate) responsible: Option<u64>,
    /// The contact's name.
    pub(crate) name: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LeadExpect {
    /// Matches through the deal's contact phone (last 10 digits).
    pub(crate) client: Option<PhoneField>,
    /// `responsible_user_id`.
    pub(crate) responsible: Option<u64>,
    /// `pipeline_id`.
    pub(crate) pipeline: Option<u64>,
    /// `status_id` (142 won, 143 lost).
    pub(crate) status: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UnsortedExpect {
    /// Matches through the item's phone (last 10 digits).
    pub(crate) client: Option<PhoneField>,
    /// `pending`, `accepted` or `declined`.
    pub(crate) state: Option<UnsortedState>,
    /// The item's `call_responsible`.
    pub(crate) responsible: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TaskExpect {
    /// Matches through the phone of the entity the task is on (last 10 digits).
    pub(crate) client: Option<PhoneField>,
    /// The entity the task is on: `lead` or `contact`.
    pub(crate) on: Option<On>,
    /// `responsible_user_id`.
    pub(crate) responsible: Option<u64>,
    /// Due time as an offset from `start`.
    pub(crate) due: Option<Span>,
    /// Whether the task is completed.
    pub(crate) completed: Option<bool>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum NoteType {
    CallIn,
    CallOut,
    Common,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoteExpect {
    /// Matches through the phone of the entity the note is on (last 10 digits).
    pub(crate) client: Option<PhoneField>,
    /// `call_in`, `call_out` or `common`.
    #[serde(rename = "type")]
    pub(crate) note_type: Option<NoteType>,
    /// amoCRM call status (4 answered, 6 missed, ...).
    pub(crate) call_status: Option<u8>,
    /// The entity the note is on: `lead` or `contact`.
    pub(crate) on: Option<On>,
    /// The note's `responsible_user_id`.
    pub(crate) responsible: Option<u64>,
    /// `call_result`, e.g. «Не дозвонились».
    pub(crate) result: Option<String>,
    /// The recording link (`params.link`), exactly.
    pub(crate) link: Option<String>,
    /// The talk in seconds (`params.duration`); after a transfer the whole talk (R-TRANSFER).
    pub(crate) duration: Option<u64>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RequestsExpect {
    /// Upper bound on amoCRM requests the steps caused (the start-up check not counted).
    pub(crate) max: Option<usize>,
    /// Lower bound on amoCRM requests the steps caused.
    pub(crate) min: Option<usize>,
}

/// What must hold on the mock's final state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Expect {
    /// Visible contacts: a count, or a list matched one to one.
    pub(crate) contacts: Option<CountOr<ContactExpect>>,
    /// Visible deals: a count, or a list matched one to one.
    pub(crate) leads: Option<CountOr<LeadExpect>>,
    /// Every Unsorted item with its state: a count, or a list matched one to one.
    pub(crate) unsorted: Option<CountOr<UnsortedExpect>>,
    /// Tasks: a count, or a list matched one to one.
    pub(crate) tasks: Option<CountOr<TaskExpect>>,
    /// Notes: a count, or a list matched one to one.
    pub(crate) notes: Option<CountOr<NoteExpect>>,
    /// Bounds on the amoCRM requests the steps caused.
    pub(crate) requests: Option<RequestsExpect>,
    /// The scenario must be refused or report an error whose message contains this text
    /// (bad settings, a malformed event).
    pub(crate) error: Option<String>,
    /// Raw events the receiver acknowledges but keeps aside as unusable (R-WIRE), in order:
    /// each text must appear in its event's reason (`unknown_event`, `src_type`, ...); without
    /// this key a kept event fails the scenario.
    #[serde(default)]
    pub(crate) kept: Option<Vec<String>>,
    /// Calls the engine parked because amoCRM kept refusing them (R-ISOLATE); without this
    /// key a parked call fails the scenario.
    pub(crate) parked: Option<usize>,
    /// Check the storm invariants after every step (no deal without a contact, one pending
    /// Unsorted item per phone, no overlapping callback tasks, ...).
    #[serde(default)]
    pub(crate) invariants: bool,
}

/// A whole scenario file.
#[derive(Clone, Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// What the scenario shows (required).
    pub name: String,
    /// Rule IDs of the behaviour spec this scenario exercises.
    #[serde(default)]
    pub(crate) rules: Vec<RuleId>,
    /// Free labels for `sipamo run --tag`.
    #[serde(default)]
    pub(crate) tags: Vec<String>,
    /// Virtual time of `at: 0s`.
    #[serde(default)]
    pub start: Start,
    /// The settle window after a hangup (R-IDEM), as in `sipamo serve`: events of a call
    /// arriving within it count; default 2s.
    #[serde(default)]
    pub(crate) settle: Option<Span>,
    /// Seed of the retry jitter (and any other randomness); printed in reports.
    #[serde(default)]
    pub(crate) seed: Option<u64>,
    /// The customer's settings (behaviour spec, "Settings"); omitted keys take the defaults.
    pub(crate) settings: Settings,
    /// The initial state of the mock amoCRM account.
    #[serde(default)]
    pub(crate) crm: CrmSeed,
    /// Run in order; `at` never goes backwards.
    #[serde(default)]
    pub steps: Vec<Step>,
    /// What must hold on the mock's final state.
    #[serde(default)]
    pub(crate) expect: Expect,
}
