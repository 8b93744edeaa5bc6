//! Rule-by-rule tests of `decide`, with rstest tables over the settings combinations.

use rstest::rstest;

use super::*;
use crate::engine::rules::call::Direction;
use crate::engine::rules::plan::*;
use crate::phone::Phone;
use crate::sipuni::event::{CallId, HangupStatus, ShortNumber};

fn sn(n: &str) -> ShortNumber {
    ShortNumber::parse(n).unwrap()
}

const MAIN: u64 = 3001;

fn settings(extra: &str) -> Settings {
    Settings::from_yaml(&format!("default_responsible: 1001\nusers: {{ \"201\": 1001, \"202\": 1002, \"203\": 1003 }}\n{extra}")).unwrap()
}

fn incoming(answered: bool) -> Call {
    Call {
        id: CallId::parse("c1").unwrap(),
        direction: Direction::Incoming,
        client: Phone::parse("+79161234567").unwrap(),
        scheme: None,
        legs: vec![sn("203"), sn("202")],
        answerer: answered.then(|| sn("202")),
        employee: None,
        answered,
        status: Some(if answered {
            HangupStatus::Answer
        } else {
            HangupStatus::NoAnswer
        }),
        started_at: 1000,
        ended_at: 1100,
        talk_secs: if answered { 60 } else { 0 },
        record_link: None,
    }
}

fn outgoing(answered: bool) -> Call {
    Call {
        direction: Direction::Outgoing,
        legs: vec![],
        answerer: None,
        employee: Some(sn("201")),
        ..incoming(answered)
    }
}

fn known(active: &[u64]) -> Facts {
    Facts {
        contact: Some(ContactFacts {
            id: 5001,
            responsible: Some(1003),
            active_leads: active.to_vec(),
        }),
        ..Facts::default()
    }
}

// ---- R-IN-U1 / R-MISS-RESP / R-MISS-BIND ----------------------------------------------------

#[rstest]
#[case(true, true, ContactPlan::Create { responsible: 1002 }, true)]
#[case(true, false, ContactPlan::Create { responsible: 1002 }, false)]
#[case(false, false, ContactPlan::None, false)]
fn r_in_u1_immediate_creates_what_the_options_say(
    #[case] contact: bool,
    #[case] lead: bool,
    #[case] want: ContactPlan,
    #[case] want_lead: bool,
) {
    let s = settings(&format!(
        "incoming: {{ unknown: {{ create_contact: {contact}, create_lead: {lead} }} }}"
    ));
    let p = decide(&s, MAIN, &incoming(true), &Facts::default());
    assert_eq!(p.contact, want);
    assert_eq!(p.lead.is_some(), want_lead);
    assert_eq!(
        p.lead.map(|l| l.responsible),
        want_lead.then_some(1002),
        "the answerer is responsible"
    );
}

#[rstest]
#[case(false, 1001)] // default manager
#[case(true, 1003)] // the first leg rung (203)
fn r_miss_resp_picks_the_responsible_for_a_new_client(#[case] first_user: bool, #[case] want: u64) {
    let s = settings(&format!(
        "incoming: {{ missed: {{ first_user_responsible: {first_user} }} }}"
    ));
    let p = decide(&s, MAIN, &incoming(false), &Facts::default());
    assert_eq!(p.contact, ContactPlan::Create { responsible: want });
    assert_eq!(p.lead.unwrap().responsible, want);
    assert_eq!(p.task.unwrap().responsible, want);
}

#[test]
fn r_miss_resp_uses_the_schemes_first_user_and_missed_responsible() {
    let s = settings(
        "schemes: { \"000123\": { first_user: \"201\", missed_responsible: 1002 } }\nincoming: { missed: { first_user_responsible: true } }",
    );
    let call = Call {
        scheme: Some("000123".into()),
        ..incoming(false)
    };
    assert_eq!(
        decide(&s, MAIN, &call, &Facts::default())
            .task
            .unwrap()
            .responsible,
        1001
    );
    let s = settings("schemes: { \"000123\": { missed_responsible: 1002 } }");
    assert_eq!(
        decide(&s, MAIN, &call, &Facts::default())
            .task
            .unwrap()
            .responsible,
        1002
    );
}

#[rstest]
#[case("bind_task_to_lead: true", "create_lead: true", Some(Target::NewLead))]
#[case(
    "bind_task_to_lead: false",
    "create_lead: true",
    Some(Target::NewContact)
)]
#[case(
    "bind_task_to_lead: true",
    "create_lead: false",
    Some(Target::NewContact)
)]
fn r_miss_bind_puts_the_task_on_the_new_lead_or_contact(
    #[case] bind: &str,
    #[case] lead: &str,
    #[case] want: Option<Target>,
) {
    let s = settings(&format!(
        "incoming: {{ missed: {{ {bind} }}, unknown: {{ {lead} }} }}"
    ));
    assert_eq!(
        decide(&s, MAIN, &incoming(false), &Facts::default())
            .task
            .map(|t| t.target),
        want
    );
}

#[test]
fn r_miss_bind_with_no_entity_makes_no_task_unless_an_unsorted_item_exists() {
    let s = settings("incoming: { unknown: { create_contact: false, create_lead: false } }");
    let p = decide(&s, MAIN, &incoming(false), &Facts::default());
    assert_eq!((p.task, p.note), (None, None));
    let facts = Facts {
        pending_unsorted: Some("u1".into()),
        ..Facts::default()
    };
    let p = decide(&s, MAIN, &incoming(false), &facts);
    assert_eq!(p.task.unwrap().target, Target::UnsortedLead);
    assert_eq!(p.unsorted, UnsortedPlan::Keep { uid: "u1".into() });
}

// ---- R-MISS-TASK / R-MISS-DEDUP --------------------------------------------------------------

#[test]
fn r_miss_task_is_due_after_the_deadline_from_hangup() {
    let s = settings("incoming: { missed: { task_deadline: 300 } }");
    assert_eq!(
        decide(&s, MAIN, &incoming(false), &Facts::default())
            .task
            .unwrap()
            .complete_till,
        1400
    );
    let s = settings("");
    assert_eq!(
        decide(&s, MAIN, &incoming(false), &Facts::default())
            .task
            .unwrap()
            .complete_till,
        4700
    );
    let s = settings("incoming: { missed: { create_task: false } }");
    assert_eq!(
        decide(&s, MAIN, &incoming(false), &Facts::default()).task,
        None
    );
    assert_eq!(
        decide(&settings(""), MAIN, &incoming(true), &Facts::default()).task,
        None,
        "answered calls get no task"
    );
}

#[rstest]
#[case(Some(1101), false)] // deadline after this hangup: blocked
#[case(Some(1100), true)] // at the deadline: a new task
#[case(Some(900), true)]
#[case(None, true)]
fn r_miss_dedup_blocks_a_task_until_the_deadline(
    #[case] open: Option<i64>,
    #[case] want_task: bool,
) {
    let facts = Facts {
        open_task_deadline: open,
        ..known(&[7001])
    };
    assert_eq!(
        decide(&settings(""), MAIN, &incoming(false), &facts)
            .task
            .is_some(),
        want_task
    );
}

// ---- R-IN-K1 / R-MISS-KNOWN / R-NOTE-CALL ---------------------------------------------------

#[rstest]
#[case(true, &[], true)]
#[case(true, &[7001], false)]
#[case(false, &[], false)]
fn r_in_k1_creates_a_lead_only_without_active_ones(
    #[case] option: bool,
    #[case] active: &[u64],
    #[case] want: bool,
) {
    let s = settings(&format!(
        "incoming: {{ known: {{ create_lead_if_no_active: {option} }} }}"
    ));
    let p = decide(&s, MAIN, &incoming(true), &known(active));
    assert_eq!(p.lead.is_some(), want);
    assert_eq!(p.contact, ContactPlan::Existing(5001));
}

#[test]
fn r_miss_known_puts_lead_and_task_on_the_contacts_responsible() {
    let s = settings("incoming: { missed: { first_user_responsible: true } }");
    let p = decide(&s, MAIN, &incoming(false), &known(&[]));
    assert_eq!(p.lead.unwrap().responsible, 1003);
    let t = p.task.unwrap();
    assert_eq!((t.target, t.responsible), (Target::NewLead, 1003));
}

#[rstest]
#[case(&[], true, Target::NewLead)]
#[case(&[7001], false, Target::Lead(7001))]
#[case(&[7001, 7002], false, Target::Contact(5001))]
fn r_note_call_targets_new_lead_else_single_active_else_contact(
    #[case] active: &[u64],
    #[case] creates: bool,
    #[case] want: Target,
) {
    let p = decide(&settings(""), MAIN, &incoming(true), &known(active));
    assert_eq!(p.lead.is_some(), creates);
    let n = p.note.unwrap();
    assert_eq!(
        (n.target, n.kind, n.call_status, n.responsible),
        (want, NoteKind::CallIn, CALL_TALKED, 1002)
    );
}

#[test]
fn r_note_call_missed_incoming_leaves_status_6() {
    let n = decide(&settings(""), MAIN, &incoming(false), &known(&[7001]))
        .note
        .unwrap();
    assert_eq!(
        (n.kind, n.call_status, n.target),
        (NoteKind::CallIn, CALL_MISSED, Target::Lead(7001))
    );
}

// ---- Unsorted modes ---------------------------------------------------------------------------

#[rstest]
#[case(true)]
#[case(false)]
fn r_in_u2_every_unknown_call_makes_one_pending_item(#[case] answered: bool) {
    let p = decide(
        &settings("incoming: { unknown: { mode: unsorted } }"),
        MAIN,
        &incoming(answered),
        &Facts::default(),
    );
    assert_eq!(
        p.unsorted,
        UnsortedPlan::Create {
            source_uid: "c1".into(),
            pipeline_id: MAIN,
            responsible: if answered { 1002 } else { 1001 },
            with_contact: true,
            accept: None
        }
    );
    assert_eq!((p.contact, p.lead, p.note), (ContactPlan::None, None, None));
    assert_eq!(
        p.task.map(|t| t.target),
        (!answered).then_some(Target::UnsortedLead)
    );
}

#[rstest]
#[case("unsorted")]
#[case("unsorted_accept_on_answer")]
fn r_uns_dedup_no_second_item_while_one_is_pending(#[case] mode: &str) {
    let facts = Facts {
        pending_unsorted: Some("u1".into()),
        ..Facts::default()
    };
    let p = decide(
        &settings(&format!("incoming: {{ unknown: {{ mode: {mode} }} }}")),
        MAIN,
        &incoming(false),
        &facts,
    );
    assert_eq!(p.unsorted, UnsortedPlan::Keep { uid: "u1".into() });
    assert!(
        p.because.iter().any(|b| b.starts_with("R-UNS-DEDUP")),
        "{:?}",
        p.because
    );
}

#[test]
fn r_in_u3_accepts_on_answer_and_notes_the_call() {
    let s = settings("incoming: { unknown: { mode: unsorted_accept_on_answer } }");
    let facts = Facts {
        unsorted_of_call: Some("u9".into()),
        ..Facts::default()
    };
    let p = decide(&s, MAIN, &incoming(true), &facts);
    assert_eq!(
        p.unsorted,
        UnsortedPlan::Accept {
            uid: "u9".into(),
            user: 1002
        }
    );
    assert_eq!(p.note.unwrap().target, Target::UnsortedLead);
    let missed = decide(&s, MAIN, &incoming(false), &facts);
    assert_eq!(missed.unsorted, UnsortedPlan::Keep { uid: "u9".into() });
    assert_eq!(missed.note, None);
}

#[test]
fn r_in_u3_creates_the_item_at_the_first_ring() {
    let s = settings("incoming: { unknown: { mode: unsorted_accept_on_answer } }");
    let call = incoming(false);
    assert!(matches!(
        decide_ring(&s, MAIN, &call, &Facts::default()),
        Some(UnsortedPlan::Create { accept: None, .. })
    ));
    assert_eq!(
        decide_ring(&s, MAIN, &call, &known(&[])),
        None,
        "known numbers get no item"
    );
    assert_eq!(
        decide_ring(&settings(""), MAIN, &call, &Facts::default()),
        None,
        "other modes create later"
    );
}

#[test]
fn r_in_u3_answered_without_a_ring_item_creates_and_accepts() {
    let s = settings("incoming: { unknown: { mode: unsorted_accept_on_answer } }");
    let p = decide(&s, MAIN, &incoming(true), &Facts::default());
    assert_eq!(
        p.unsorted,
        UnsortedPlan::Create {
            source_uid: "c1".into(),
            pipeline_id: MAIN,
            responsible: 1002,
            with_contact: true,
            accept: Some(1002)
        }
    );
}

// ---- outgoing -----------------------------------------------------------------------------------

#[rstest]
#[case(true, true, true)]
#[case(true, false, false)]
fn r_out_u1_answered_unknown_creates_contact_and_lead(
    #[case] contact: bool,
    #[case] lead: bool,
    #[case] want_lead: bool,
) {
    let s = settings(&format!(
        "outgoing: {{ unknown: {{ create_contact: {contact}, create_lead: {lead} }} }}"
    ));
    let p = decide(&s, MAIN, &outgoing(true), &Facts::default());
    assert_eq!(p.contact, ContactPlan::Create { responsible: 1001 });
    assert_eq!(p.lead.is_some(), want_lead);
    assert_eq!(p.note.unwrap().kind, NoteKind::CallOut);
}

#[test]
fn r_out_u1_unanswered_unknown_creates_nothing() {
    let p = decide(&settings(""), MAIN, &outgoing(false), &Facts::default());
    assert_eq!(
        (p.contact, p.lead, p.note, p.task),
        (ContactPlan::None, None, None, None)
    );
}

#[rstest]
#[case(true, &[], true)]
#[case(true, &[7001], false)]
#[case(false, &[], false)]
fn r_out_k1_answered_known_creates_a_lead_only_without_active_ones(
    #[case] option: bool,
    #[case] active: &[u64],
    #[case] want: bool,
) {
    let s = settings(&format!(
        "outgoing: {{ known: {{ create_lead_if_no_active: {option} }} }}"
    ));
    let p = decide(&s, MAIN, &outgoing(true), &known(active));
    assert_eq!(p.lead.map(|l| l.responsible), want.then_some(1001));
}

#[rstest]
#[case(true, true)]
#[case(false, false)]
fn r_note_notreached_follows_its_option(#[case] option: bool, #[case] want: bool) {
    let s = settings(&format!(
        "outgoing: {{ unanswered: {{ note_not_reached: {option} }} }}"
    ));
    let p = decide(&s, MAIN, &outgoing(false), &known(&[7001]));
    assert_eq!(p.lead, None);
    assert_eq!(
        p.note
            .map(|n| (n.kind, n.call_status, n.not_reached, n.target)),
        want.then_some((NoteKind::CallOut, CALL_MISSED, true, Target::Lead(7001)))
    );
}

#[test]
fn scheme_pipeline_overrides_the_default() {
    let s =
        settings("pipeline: 3001\nschemes: { \"000123\": { pipeline: { id: 3002, status: 50 } } }");
    let call = Call {
        scheme: Some("000123".into()),
        ..incoming(true)
    };
    let lead = decide(&s, MAIN, &call, &Facts::default()).lead.unwrap();
    assert_eq!(
        lead.pipeline.map(|p| (p.id, p.status)),
        Some((3002, Some(50)))
    );
    assert_eq!(
        decide(&s, MAIN, &incoming(true), &Facts::default())
            .lead
            .unwrap()
            .pipeline
            .map(|p| p.id),
        Some(3001)
    );
}

// ---- a pending Unsorted item hides the number's contact ----------------------------------

#[rstest]
#[case(true)]
#[case(false)]
fn r_out_uns_accepts_the_pending_item_only_when_contacts_may_be_created(#[case] create: bool) {
    let facts = Facts {
        pending_unsorted: Some("u1".into()),
        ..Facts::default()
    };
    let s = settings(&format!(
        "outgoing: {{ unknown: {{ create_contact: {create}, create_lead: false }} }}"
    ));
    let p = decide(&s, MAIN, &outgoing(true), &facts);
    assert_eq!(p.contact, ContactPlan::None);
    if create {
        assert!(matches!(p.unsorted, UnsortedPlan::Accept { .. }));
    } else {
        assert_eq!(
            p,
            Plan {
                because: p.because.clone(),
                ..Plan::nothing("")
            }
        );
        assert!(p.because[0].starts_with("R-OUT-UNS"));
    }
    let unanswered = decide(&s, MAIN, &outgoing(false), &facts);
    assert_eq!(unanswered.unsorted, UnsortedPlan::None);
}

#[test]
fn r_in_u3_the_answer_accepts_the_pending_item_for_the_answerer() {
    let s = settings("incoming: { unknown: { mode: unsorted_accept_on_answer } }");
    let facts = Facts {
        unsorted_of_call: Some("u1".into()),
        call_item: Some("c1".into()),
        ..Facts::default()
    };
    assert_eq!(
        decide_answer(&s, MAIN, &incoming(true), &facts),
        Some(UnsortedPlan::Accept {
            uid: "u1".into(),
            user: 1002
        })
    );
    assert_eq!(decide_answer(&s, MAIN, &incoming(true), &known(&[])), None);
    assert_eq!(
        decide_answer(&settings(""), MAIN, &incoming(true), &facts),
        None,
        "immediate mode acts at hangup"
    );
}

#[test]
fn r_in_u3_a_declined_ring_item_is_replaced_by_a_new_one_accepted_at_once() {
    let s = settings("incoming: { unknown: { mode: unsorted_accept_on_answer } }");
    let declined = Facts {
        call_item: Some("c1".into()),
        ..Facts::default()
    };
    let want = UnsortedPlan::Create {
        source_uid: "c1/2".into(),
        pipeline_id: MAIN,
        responsible: 1002,
        with_contact: true,
        accept: Some(1002),
    };
    assert_eq!(
        decide_answer(&s, MAIN, &incoming(true), &declined),
        Some(want.clone())
    );
    assert_eq!(decide(&s, MAIN, &incoming(true), &declined).unsorted, want);
    let missed = decide(&s, MAIN, &incoming(false), &declined);
    assert_eq!((missed.unsorted, missed.task), (UnsortedPlan::None, None));
    assert!(
        missed
            .because
            .iter()
            .any(|b| b.starts_with("R-UNS-DECLINE"))
    );
}

#[test]
fn r_in_u3_after_the_answer_only_the_note_is_left() {
    let s = settings("incoming: { unknown: { mode: unsorted_accept_on_answer } }");
    let facts = Facts {
        accepted_at_answer: Some(AcceptedItem { uid: "u1".into() }),
        ..known(&[])
    };
    let p = decide(&s, MAIN, &incoming(true), &facts);
    assert_eq!((p.contact, p.lead, p.task), (ContactPlan::None, None, None));
    assert_eq!(
        p.note.map(|n| (n.target, n.call_status, n.responsible)),
        Some((Target::UnsortedLead, CALL_TALKED, 1002))
    );
}

#[test]
fn r_miss_task_a_deadline_past_unix_time_makes_no_task() {
    let s = settings("incoming: { missed: { task_deadline: 9223372036854775807 } }");
    let p = decide(&s, MAIN, &incoming(false), &Facts::default());
    assert_eq!(p.task, None);
}

#[test]
fn an_answered_outgoing_call_accepts_the_pending_item_instead_of_a_second_contact() {
    let facts = Facts {
        pending_unsorted: Some("u1".into()),
        ..Facts::default()
    };
    let p = decide(&settings(""), MAIN, &outgoing(true), &facts);
    assert_eq!(p.contact, ContactPlan::None);
    assert_eq!(
        p.unsorted,
        UnsortedPlan::Accept {
            uid: "u1".into(),
            user: 1001
        }
    );
    assert_eq!(
        p.note.map(|n| (n.target, n.kind)),
        Some((Target::UnsortedLead, NoteKind::CallOut))
    );
}

#[rstest]
#[case(true)]
#[case(false)]
fn immediate_mode_does_not_duplicate_a_contact_hidden_in_unsorted(#[case] answered: bool) {
    let facts = Facts {
        pending_unsorted: Some("u1".into()),
        ..Facts::default()
    };
    let p = decide(&settings(""), MAIN, &incoming(answered), &facts);
    assert_eq!(p.contact, ContactPlan::None);
    assert_eq!(p.lead, None);
    if answered {
        assert_eq!(
            p.unsorted,
            UnsortedPlan::Accept {
                uid: "u1".into(),
                user: 1002
            }
        );
    } else {
        assert_eq!(p.task.map(|t| t.target), Some(Target::UnsortedLead));
    }
}
