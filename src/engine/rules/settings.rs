//! Scenario settings (Sipuni «Сценарии интеграции amoCRM») as typed values with the spec's
//! defaults; R-CFG-1 is checked when they load, R-CFG-2 against the account before work starts.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, de};

use crate::phone::Country;
use crate::sipuni::event::ShortNumber;

fn yes() -> bool {
    true
}

/// How an incoming call from an unknown number reaches amoCRM («способ создания»).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub(crate) enum UnknownMode {
    /// «Сразу создавать контакт и сделку».
    #[default]
    Immediate,
    /// «Контакт и сделку создавать в Неразобранном».
    Unsorted,
    /// «Создать Неразобранное и принять сделку при ответе».
    UnsortedAcceptOnAnswer,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IncomingUnknown {
    /// «Создавать контакт».
    #[serde(default = "yes")]
    pub(crate) create_contact: bool,
    /// «Создавать сделку».
    #[serde(default = "yes")]
    pub(crate) create_lead: bool,
    #[serde(default)]
    pub(crate) mode: UnknownMode,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Known {
    /// «Создавать сделку, если у контакта нет активных сделок».
    #[serde(default = "yes")]
    pub(crate) create_lead_if_no_active: bool,
}

/// Task deadline in seconds; empty or absent means 3600.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Deadline(pub(crate) u64);

impl Default for Deadline {
    fn default() -> Self {
        Deadline(3600)
    }
}

impl<'de> Deserialize<'de> for Deadline {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl de::Visitor<'_> for V {
            type Value = Deadline;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a task deadline in seconds (a positive integer), or empty for 3600")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Deadline, E> {
                Ok(Deadline::default())
            }
            fn visit_none<E: de::Error>(self) -> Result<Deadline, E> {
                Ok(Deadline::default())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Deadline, E> {
                if v == 0 {
                    return Err(E::custom(
                        "task_deadline 0 would make every task overdue; give seconds > 0 or leave it empty for 3600",
                    ));
                }
                Ok(Deadline(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Deadline, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom(format!("task_deadline {v} is negative")))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Deadline, E> {
                let t = v.trim();
                if t.is_empty() {
                    return Ok(Deadline::default());
                }
                match t.parse::<u64>() {
                    Ok(n) => self.visit_u64(n),
                    Err(_) => t
                        .parse::<crate::duration::Span>()
                        .map_err(E::custom)
                        .and_then(|s| self.visit_u64(s.secs())),
                }
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Missed {
    /// «Создавать задачу».
    #[serde(default = "yes")]
    pub(crate) create_task: bool,
    /// «В случае создания сделки привязывать задачу к созданной сделке».
    #[serde(default = "yes")]
    pub(crate) bind_task_to_lead: bool,
    /// «Срок выполнения задачи, в секундах».
    #[serde(default)]
    pub(crate) task_deadline: Deadline,
    /// «Ставить ответственным первого пользователя на линии».
    #[serde(default)]
    pub(crate) first_user_responsible: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Incoming {
    #[serde(default = "default_incoming_unknown")]
    pub(crate) unknown: IncomingUnknown,
    #[serde(default = "default_known")]
    pub(crate) known: Known,
    #[serde(default = "default_missed")]
    pub(crate) missed: Missed,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OutgoingUnknown {
    #[serde(default = "yes")]
    pub(crate) create_contact: bool,
    #[serde(default = "yes")]
    pub(crate) create_lead: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Unanswered {
    /// «Создавать заметку «Не дозвонились»».
    #[serde(default = "yes")]
    pub(crate) note_not_reached: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Outgoing {
    #[serde(default = "default_outgoing_unknown")]
    pub(crate) unknown: OutgoingUnknown,
    #[serde(default = "default_known")]
    pub(crate) known: Known,
    #[serde(default = "default_unanswered")]
    pub(crate) unanswered: Unanswered,
}

fn default_incoming_unknown() -> IncomingUnknown {
    IncomingUnknown {
        create_contact: true,
        create_lead: true,
        mode: UnknownMode::Immediate,
    }
}
fn default_known() -> Known {
    Known {
        create_lead_if_no_active: true,
    }
}
fn default_missed() -> Missed {
    Missed {
        create_task: true,
        bind_task_to_lead: true,
        task_deadline: Deadline::default(),
        first_user_responsible: false,
    }
}
fn default_outgoing_unknown() -> OutgoingUnknown {
    OutgoingUnknown {
        create_contact: true,
        create_lead: true,
    }
}
fn default_unanswered() -> Unanswered {
    Unanswered {
        note_not_reached: true,
    }
}
fn default_incoming() -> Incoming {
    Incoming {
        unknown: default_incoming_unknown(),
        known: default_known(),
        missed: default_missed(),
    }
}
fn default_outgoing() -> Outgoing {
    Outgoing {
        unknown: default_outgoing_unknown(),
        known: default_known(),
        unanswered: default_unanswered(),
    }
}

/// A pipeline («воронка») and optionally its first stage: `3001` or `{ id: 3001, status: 41 }`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub(crate) struct PipelineRef {
    pub(crate) id: u64,
    pub(crate) status: Option<u64>,
}

impl<'de> Deserialize<'de> for PipelineRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Full {
            id: u64,
            #[serde(default)]
            status: Option<u64>,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            Id(u64),
            Full(Full),
        }
        match Form::deserialize(d)
            .map_err(|_| de::Error::custom("expected a pipeline id or { id: N, status: M }"))?
        {
            Form::Id(id) => Ok(PipelineRef { id, status: None }),
            Form::Full(f) => Ok(PipelineRef {
                id: f.id,
                status: f.status,
            }),
        }
    }
}

/// Per-scheme overrides (Sipuni «Конструктор», `treeNumber`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Scheme {
    #[serde(default)]
    pub(crate) pipeline: Option<PipelineRef>,
    /// The scheme's first employee on the line (a short number).
    #[serde(default, deserialize_with = "opt_short")]
    #[schemars(with = "Option<ShortNumber>")]
    pub(crate) first_user: Option<ShortNumber>,
    /// amoCRM user responsible for missed calls of this scheme.
    #[serde(default)]
    pub(crate) missed_responsible: Option<u64>,
}

fn short_from<E: de::Error>(raw: &str) -> Result<ShortNumber, E> {
    ShortNumber::parse(raw).ok_or_else(|| {
        E::custom(format!(
            "{raw:?} is not a Sipuni employee: a short number (2 to 6 digits, e.g. \"201\") or idNNN, the Sipuni id of an employee answering on a mobile (e.g. \"id265648\")"
        ))
    })
}

fn opt_short<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ShortNumber>, D::Error> {
    let v = Option::<serde_yaml::Value>::deserialize(d)?;
    match v {
        None | Some(serde_yaml::Value::Null) => Ok(None),
        Some(serde_yaml::Value::String(s)) => short_from(&s).map(Some),
        Some(serde_yaml::Value::Number(n)) => short_from(&n.to_string()).map(Some),
        Some(_) => Err(de::Error::custom("expected a short number such as \"201\"")),
    }
}

fn users_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<ShortNumber, u64>, D::Error> {
    let raw = serde_yaml::Mapping::deserialize(d)?;
    let mut out = BTreeMap::new();
    for (k, v) in raw {
        let v = v
            .as_u64()
            .ok_or_else(|| de::Error::custom(format!("users: {v:?} is not an amoCRM user id")))?;
        let key = match &k {
            serde_yaml::Value::String(s) => s.clone(),
            serde_yaml::Value::Number(n) => n.to_string(),
            _ => {
                return Err(de::Error::custom(
                    "users: keys are short numbers such as \"201\", or idNNN (an employee's Sipuni id, for calls answered on a mobile)",
                ));
            }
        };
        out.insert(short_from(&key)?, v);
    }
    Ok(out)
}

/// The whole settings block. Omitted keys take the spec's defaults.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default = "default_incoming")]
    pub(crate) incoming: Incoming,
    #[serde(default = "default_outgoing")]
    pub(crate) outgoing: Outgoing,
    /// «Менеджер по умолчанию».
    pub(crate) default_responsible: u64,
    /// «Настройка воронок»; absent: the account's main pipeline, first normal stage.
    #[serde(default)]
    pub(crate) pipeline: Option<PipelineRef>,
    /// Sipuni short number (or `idNNN`, an employee's Sipuni id, for calls answered on a
    /// mobile) → amoCRM user id («Пользователи»).
    #[serde(default, deserialize_with = "users_map")]
    #[schemars(schema_with = "users_schema")]
    pub(crate) users: BTreeMap<ShortNumber, u64>,
    #[serde(default)]
    pub(crate) schemes: BTreeMap<String, Scheme>,
    /// The Sipuni cabinet's country (ISO code): national numbers in its events are read as
    /// numbers of this country (behaviour.md «Client phone»).
    #[serde(default)]
    #[schemars(with = "String")]
    pub(crate) phone_country: Country,
}

/// The JSON Schema of `users`: short number (or `idNNN`) → amoCRM user id.
fn users_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "description": "Sipuni short number (or idNNN, an employee's Sipuni id, for calls answered on a mobile) → amoCRM user id («Пользователи»).",
        "type": "object",
        "propertyNames": { "pattern": "^\\s*([0-9]{2,6}|id[0-9]{1,12})\\s*$" },
        "additionalProperties": { "type": "integer", "minimum": 0 }
    })
}

/// Settings that cannot run, naming the option.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// R-CFG-1.
    #[error(
        "{option}: true with {contact_option}: false is not allowed — «Создавать сделку без контакта нельзя» (a deal has no phone of its own; it is on the contact). Turn {contact_option} on or {option} off."
    )]
    LeadWithoutContact {
        option: &'static str,
        contact_option: &'static str,
    },
    /// R-CFG-2: every problem found against the account.
    #[error("settings do not match the amoCRM account: {}", .0.join("; "))]
    Account(Vec<String>),
    #[error("settings: {0}")]
    Parse(String),
}

impl Settings {
    /// Reads settings from YAML (the keys of a scenario's `settings:` block at the top level)
    /// and checks R-CFG-1.
    pub fn from_yaml(text: &str) -> Result<Self, SettingsError> {
        let s: Settings =
            serde_yaml::from_str(text).map_err(|e| SettingsError::Parse(e.to_string()))?;
        s.check_rules()?;
        Ok(s)
    }

    /// R-CFG-1: a deal needs a contact.
    pub(crate) fn check_rules(&self) -> Result<(), SettingsError> {
        if self.incoming.unknown.create_lead && !self.incoming.unknown.create_contact {
            return Err(SettingsError::LeadWithoutContact {
                option: "incoming.unknown.create_lead",
                contact_option: "incoming.unknown.create_contact",
            });
        }
        if self.outgoing.unknown.create_lead && !self.outgoing.unknown.create_contact {
            return Err(SettingsError::LeadWithoutContact {
                option: "outgoing.unknown.create_lead",
                contact_option: "outgoing.unknown.create_contact",
            });
        }
        Ok(())
    }

    /// The amoCRM user of an employee, if mapped.
    pub(crate) fn user_of(&self, short: &ShortNumber) -> Option<u64> {
        self.users.get(short).copied()
    }

    pub(crate) fn scheme(&self, tree_number: Option<&str>) -> Option<&Scheme> {
        tree_number.and_then(|t| self.schemes.get(t))
    }

    /// R-CFG-2: every referenced user, pipeline and status exists in the account.
    pub(crate) fn check_account(&self, account: &AccountFacts) -> Result<Placement, SettingsError> {
        let mut problems = Vec::new();
        let mut users: Vec<(String, u64)> =
            vec![("default_responsible".into(), self.default_responsible)];
        users.extend(
            self.users
                .iter()
                .map(|(short, id)| (format!("users.\"{short}\""), *id)),
        );
        for (name, s) in &self.schemes {
            if let Some(id) = s.missed_responsible {
                users.push((format!("schemes.\"{name}\".missed_responsible"), id));
            }
        }
        for (what, id) in users {
            if !account.users.contains(&id) {
                problems.push(format!("{what}: user {id} does not exist in amoCRM"));
            }
        }
        let unsorted_mode = self.incoming.unknown.mode != UnknownMode::Immediate
            && (self.incoming.unknown.create_contact || self.incoming.unknown.create_lead);
        let main = account.main_pipeline;
        match (&self.pipeline, main) {
            (Some(r), _) => check_pipeline(&mut problems, account, unsorted_mode, "pipeline", r),
            (None, Some(id)) => check_pipeline(
                &mut problems,
                account,
                unsorted_mode,
                "pipeline (the main one)",
                &PipelineRef { id, status: None },
            ),
            (None, None) => problems.push("pipeline: the account has no pipelines".into()),
        }
        for (name, s) in &self.schemes {
            if let Some(r) = &s.pipeline {
                check_pipeline(
                    &mut problems,
                    account,
                    unsorted_mode,
                    &format!("schemes.\"{name}\".pipeline"),
                    r,
                );
            }
            if let Some(first) = &s.first_user
                && !self.users.contains_key(first)
            {
                problems.push(format!("schemes.\"{name}\".first_user: employee {first} has no amoCRM user under `users`"));
            }
        }
        if !problems.is_empty() {
            return Err(SettingsError::Account(problems));
        }
        Ok(Placement {
            main_pipeline: main.unwrap_or_default(),
        })
    }
}

fn check_pipeline(
    problems: &mut Vec<String>,
    account: &AccountFacts,
    unsorted_mode: bool,
    what: &str,
    r: &PipelineRef,
) {
    let Some(p) = account.pipelines.iter().find(|p| p.id == r.id) else {
        problems.push(format!(
            "{what}: pipeline {} does not exist in amoCRM",
            r.id
        ));
        return;
    };
    if let Some(st) = r.status {
        match p.statuses.iter().find(|s| s.0 == st) {
            None => problems.push(format!("{what}.status: status {st} is not in pipeline {}", r.id)),
            Some((_, StageKind::Unsorted)) => problems.push(format!("{what}.status: status {st} is the Unsorted stage; leads cannot be created there")),
            Some((_, StageKind::Closed)) => problems.push(format!("{what}.status: status {st} closes a deal (142 won / 143 lost); choose an open stage")),
            Some(_) => {}
        }
    }
    if unsorted_mode && !p.statuses.iter().any(|s| s.1 == StageKind::Unsorted) {
        problems.push(format!(
            "{what}: pipeline {} has no Unsorted stage, but incoming.unknown.mode needs one",
            r.id
        ));
    }
}

/// What a stage is, for R-CFG-2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StageKind {
    Normal,
    Unsorted,
    Closed,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct PipelineFacts {
    pub(crate) id: u64,
    pub(crate) statuses: Vec<(u64, StageKind)>,
}

/// What the account says about users and pipelines (`GET /users`, `/leads/pipelines`).
#[derive(Clone, Debug, Default)]
pub(crate) struct AccountFacts {
    pub(crate) users: Vec<u64>,
    pub(crate) pipelines: Vec<PipelineFacts>,
    pub(crate) main_pipeline: Option<u64>,
}

/// Facts about the account the engine keeps after the R-CFG-2 check.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Placement {
    pub(crate) main_pipeline: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[test]
    fn omitted_keys_take_the_spec_defaults() {
        let s = Settings::from_yaml("default_responsible: 1001").unwrap();
        assert!(s.incoming.unknown.create_contact && s.incoming.unknown.create_lead);
        assert_eq!(s.incoming.unknown.mode, UnknownMode::Immediate);
        assert!(s.incoming.known.create_lead_if_no_active);
        assert!(s.incoming.missed.create_task && s.incoming.missed.bind_task_to_lead);
        assert_eq!(s.incoming.missed.task_deadline, Deadline(3600));
        assert!(!s.incoming.missed.first_user_responsible);
        assert!(s.outgoing.unknown.create_contact && s.outgoing.unknown.create_lead);
        assert!(
            s.outgoing.known.create_lead_if_no_active && s.outgoing.unanswered.note_not_reached
        );
    }

    #[rstest]
    #[case("{ task_deadline: 300 }", 300)]
    #[case("{ task_deadline: }", 3600)]
    #[case("{ task_deadline: '' }", 3600)]
    #[case("{ task_deadline: 5m }", 300)]
    #[case("{}", 3600)]
    fn an_empty_deadline_means_an_hour(#[case] missed: &str, #[case] secs: u64) {
        let s = Settings::from_yaml(&format!(
            "default_responsible: 1\nincoming:\n  missed: {missed}"
        ))
        .unwrap();
        assert_eq!(s.incoming.missed.task_deadline, Deadline(secs));
    }

    #[rstest]
    #[case("{ task_deadline: -5 }", "task_deadline -5 is negative")]
    #[case(
        "{ task_deadline: 0 }",
        "task_deadline 0 would make every task overdue"
    )]
    #[case("{ task_deadline: [1] }", "a task deadline in seconds")]
    fn a_deadline_that_cannot_be_is_refused(#[case] missed: &str, #[case] says: &str) {
        let e = Settings::from_yaml(&format!(
            "default_responsible: 1\nincoming:\n  missed: {missed}"
        ))
        .unwrap_err();
        assert!(e.to_string().contains(says), "{e}");
    }

    #[rstest]
    #[case(
        "incoming: { unknown: { create_contact: false } }",
        "incoming.unknown.create_lead"
    )]
    #[case(
        "outgoing: { unknown: { create_contact: false, create_lead: true } }",
        "outgoing.unknown.create_lead"
    )]
    fn a_deal_without_a_contact_is_refused_at_load(#[case] yaml: &str, #[case] option: &str) {
        let e = Settings::from_yaml(&format!("default_responsible: 1\n{yaml}")).unwrap_err();
        assert!(e.to_string().starts_with(option), "{e}");
        assert!(
            e.to_string()
                .contains("Создавать сделку без контакта нельзя")
        );
    }

    #[test]
    fn contact_without_deal_is_fine() {
        Settings::from_yaml("default_responsible: 1\nincoming: { unknown: { create_contact: true, create_lead: false } }").unwrap();
    }

    #[test]
    fn unknown_keys_and_bad_short_numbers_are_refused() {
        assert!(Settings::from_yaml("default_responsible: 1\nincomming: {}").is_err());
        assert!(Settings::from_yaml("default_responsible: 1\nusers: { abc: 1 }").is_err());
        assert!(
            Settings::from_yaml("users: { \"201\": 1 }").is_err(),
            "default_responsible is required"
        );
    }

    fn account() -> AccountFacts {
        AccountFacts {
            users: vec![1001, 1002],
            pipelines: vec![
                PipelineFacts {
                    id: 3001,
                    statuses: vec![
                        (40, StageKind::Unsorted),
                        (41, StageKind::Normal),
                        (142, StageKind::Closed),
                        (143, StageKind::Closed),
                    ],
                },
                PipelineFacts {
                    id: 3002,
                    statuses: vec![
                        (50, StageKind::Normal),
                        (142, StageKind::Closed),
                        (143, StageKind::Closed),
                    ],
                },
            ],
            main_pipeline: Some(3001),
        }
    }

    #[test]
    fn every_missing_reference_is_named() {
        let s = Settings::from_yaml(
            "default_responsible: 9\nusers: { \"201\": 1001, \"202\": 7 }\npipeline: { id: 3001, status: 99 }\nschemes: { \"000123\": { pipeline: 4000, first_user: \"205\", missed_responsible: 8 } }",
        )
        .unwrap();
        let SettingsError::Account(problems) = s.check_account(&account()).unwrap_err() else {
            panic!()
        };
        let text = problems.join("\n");
        for needle in [
            "default_responsible: user 9",
            "users.\"202\": user 7",
            "missed_responsible: user 8",
            "pipeline.status: status 99",
            "pipeline: pipeline 4000",
            "first_user: employee 205",
        ] {
            assert!(text.contains(needle), "missing {needle:?} in\n{text}");
        }
    }

    #[test]
    fn unsorted_modes_need_an_unsorted_stage() {
        let s = Settings::from_yaml(
            "default_responsible: 1001\npipeline: 3002\nincoming: { unknown: { mode: unsorted } }",
        )
        .unwrap();
        let e = s.check_account(&account()).unwrap_err().to_string();
        assert!(e.contains("has no Unsorted stage"), "{e}");
        let ok = Settings::from_yaml(
            "default_responsible: 1001\nincoming: { unknown: { mode: unsorted_accept_on_answer } }",
        )
        .unwrap();
        assert_eq!(ok.check_account(&account()).unwrap().main_pipeline, 3001);
    }
}
