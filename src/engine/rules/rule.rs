//! The rules of `spec/behaviour.md` as a type: the one list of rule IDs, used by the plan's
//! reasons (what the engine logs for each call) and by the scenarios' coverage report.

use std::fmt;

/// One rule of the behaviour spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    CfgDealNeedsContact,
    CfgAccountChecks,
    InUnknownImmediate,
    InUnknownUnsorted,
    InAcceptOnAnswer,
    UnsortedDedup,
    UnsortedAccept,
    UnsortedDecline,
    InKnown,
    MissTask,
    MissBind,
    MissDedup,
    MissResponsible,
    MissKnown,
    OutUnknown,
    OutPendingUnsorted,
    Hidden,
    OutKnown,
    NoteCall,
    NoteNotReached,
    Internal,
    Transfer,
    Wire,
    Idempotent,
    Faults,
    Isolate,
}

impl Rule {
    /// Every rule, in the order of the spec.
    pub const ALL: [Rule; 26] = [
        Rule::CfgDealNeedsContact,
        Rule::CfgAccountChecks,
        Rule::InUnknownImmediate,
        Rule::InUnknownUnsorted,
        Rule::InAcceptOnAnswer,
        Rule::UnsortedDedup,
        Rule::UnsortedAccept,
        Rule::UnsortedDecline,
        Rule::InKnown,
        Rule::MissTask,
        Rule::MissBind,
        Rule::MissDedup,
        Rule::MissResponsible,
        Rule::MissKnown,
        Rule::OutUnknown,
        Rule::OutPendingUnsorted,
        Rule::Hidden,
        Rule::OutKnown,
        Rule::NoteCall,
        Rule::NoteNotReached,
        Rule::Internal,
        Rule::Transfer,
        Rule::Wire,
        Rule::Idempotent,
        Rule::Faults,
        Rule::Isolate,
    ];

    /// The rule's ID in the spec, e.g. `R-IN-U3`.
    pub fn id(self) -> &'static str {
        self.entry().0
    }

    /// The rule's title in the spec.
    pub fn title(self) -> &'static str {
        self.entry().1
    }

    fn entry(self) -> (&'static str, &'static str) {
        match self {
            Rule::CfgDealNeedsContact => ("R-CFG-1", "Deal needs a contact"),
            Rule::CfgAccountChecks => ("R-CFG-2", "Pipelines and responsibles must exist"),
            Rule::InUnknownImmediate => ("R-IN-U1", "Immediate mode"),
            Rule::InUnknownUnsorted => ("R-IN-U2", "Unsorted mode"),
            Rule::InAcceptOnAnswer => ("R-IN-U3", "Accept on answer"),
            Rule::UnsortedDedup => ("R-UNS-DEDUP", "One pending Unsorted per number"),
            Rule::UnsortedAccept => ("R-UNS-ACCEPT", "Accepting"),
            Rule::UnsortedDecline => ("R-UNS-DECLINE", "Declining"),
            Rule::InKnown => ("R-IN-K1", "Known number, incoming"),
            Rule::MissTask => ("R-MISS-TASK", "Callback task"),
            Rule::MissBind => ("R-MISS-BIND", "Task target"),
            Rule::MissDedup => ("R-MISS-DEDUP", "No second task before the deadline"),
            Rule::MissResponsible => (
                "R-MISS-RESP",
                "Responsible for missed calls from new clients",
            ),
            Rule::MissKnown => ("R-MISS-KNOWN", "Missed calls from known clients"),
            Rule::OutUnknown => ("R-OUT-U1", "Outgoing to an unknown number"),
            Rule::OutPendingUnsorted => ("R-OUT-UNS", "Outgoing to a number waiting in Unsorted"),
            Rule::Hidden => ("R-HIDDEN", "Hidden numbers"),
            Rule::OutKnown => ("R-OUT-K1", "Outgoing to a known number"),
            Rule::NoteCall => ("R-NOTE-CALL", "Call notes"),
            Rule::NoteNotReached => ("R-NOTE-NOTREACHED", "«Не дозвонились»"),
            Rule::Internal => ("R-INT", "Internal calls"),
            Rule::Transfer => ("R-TRANSFER", "Transfers"),
            Rule::Wire => ("R-WIRE", "Every Sipuni request is acknowledged"),
            Rule::Idempotent => ("R-IDEM", "Exactly-once effect"),
            Rule::Faults => ("R-FAIL", "Faults lose nothing"),
            Rule::Isolate => ("R-ISOLATE", "One bad call never blocks the others"),
        }
    }

    /// A reason of a plan: `R-XXX: why`.
    pub(crate) fn because(self, why: impl fmt::Display) -> String {
        format!("{}: {why}", self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique() {
        let ids: std::collections::BTreeSet<&str> = Rule::ALL.into_iter().map(Rule::id).collect();
        assert_eq!(ids.len(), Rule::ALL.len());
        assert_eq!(Rule::InAcceptOnAnswer.because("x"), "R-IN-U3: x");
    }
}
