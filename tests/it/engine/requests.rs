//! amoCRM requests per call for each path of the rules: the table in docs/architecture.md, measured.

use crate::engine::app::*;

/// Requests the last call made, after `before` calls placed a minute apart.
async fn measure(
    settings: &str,
    crm: &str,
    before: Vec<sipamo::sim::synth::CallSpec>,
    call: sipamo::sim::synth::CallSpec,
) -> usize {
    let mut app = spawn_app(settings, crm).await;
    let mut at = 0;
    for c in before {
        app.call(at, c).await;
        at += 60;
    }
    let start = app.mock.journal_len();
    app.call(at, call).await;
    app.mock.journal_len() - start
}

const UNS: &str = "incoming: { unknown: { mode: unsorted } }";
const UAA: &str = "incoming: { unknown: { mode: unsorted_accept_on_answer } }";
const CLOSED: &str = "leads: [{ id: 7001, contact: 5001, status: 142 }]";
const ACTIVE: &str = "leads: [{ id: 7001, contact: 5001, status: 41 }]";

#[tokio::test]
#[expect(
    clippy::too_many_lines,
    reason = "a table: one row per kind of call, as in docs/architecture.md"
)]
async fn requests_per_call_match_the_readme_table() {
    let new = "+79031112233";
    let known = "+79161234567";
    let rows: Vec<(&str, usize)> = vec![
        (
            "incoming, unknown, answered, immediate",
            measure("", "", vec![], incoming(new).answer("201")).await,
        ),
        (
            "incoming, unknown, missed, immediate",
            measure("", "", vec![], incoming(new)).await,
        ),
        (
            "incoming, known, no leads, answered",
            measure("", KNOWN, vec![], incoming(known).answer("201")).await,
        ),
        (
            "incoming, known, one active lead, answered",
            measure(
                "",
                &format!("{KNOWN}{ACTIVE}"),
                vec![],
                incoming(known).answer("201"),
            )
            .await,
        ),
        (
            "incoming, known, closed lead, missed",
            measure("", &format!("{KNOWN}{CLOSED}"), vec![], incoming(known)).await,
        ),
        (
            "incoming, missed again before the deadline",
            measure("", "", vec![incoming(new)], incoming(new)).await,
        ),
        (
            "incoming, unknown, answered, unsorted",
            measure(UNS, "", vec![], incoming(new).answer("201")).await,
        ),
        (
            "incoming, unknown, missed, unsorted",
            measure(UNS, "", vec![], incoming(new)).await,
        ),
        (
            "incoming, pending Unsorted, missed again (after deadline)",
            measure(
                "incoming: { unknown: { mode: unsorted }, missed: { task_deadline: 30 } }",
                "",
                vec![incoming(new)],
                incoming(new),
            )
            .await,
        ),
        (
            "incoming, unknown, answered, accept on answer",
            measure(UAA, "", vec![], incoming(new).answer("201")).await,
        ),
        (
            "incoming, unknown, missed, accept on answer",
            measure(UAA, "", vec![], incoming(new)).await,
        ),
        (
            "outgoing, unknown, answered",
            measure("", "", vec![], outgoing(new, "201", true)).await,
        ),
        (
            "outgoing, unknown, unanswered",
            measure("", "", vec![], outgoing(new, "201", false)).await,
        ),
        (
            "outgoing, known, no leads, answered",
            measure("", KNOWN, vec![], outgoing(known, "201", true)).await,
        ),
        (
            "outgoing, known, active lead, unanswered",
            measure(
                "",
                &format!("{KNOWN}{ACTIVE}"),
                vec![],
                outgoing(known, "201", false),
            )
            .await,
        ),
    ];
    let table: Vec<String> = rows.iter().map(|(p, n)| format!("{p}: {n}")).collect();
    let expected = [
        "incoming, unknown, answered, immediate: 3",
        "incoming, unknown, missed, immediate: 4",
        "incoming, known, no leads, answered: 3",
        "incoming, known, one active lead, answered: 3",
        "incoming, known, closed lead, missed: 5",
        "incoming, missed again before the deadline: 4",
        "incoming, unknown, answered, unsorted: 2",
        "incoming, unknown, missed, unsorted: 3",
        "incoming, pending Unsorted, missed again (after deadline): 4",
        "incoming, unknown, answered, accept on answer: 7",
        "incoming, unknown, missed, accept on answer: 5",
        "outgoing, unknown, answered: 3",
        "outgoing, unknown, unanswered: 1",
        "outgoing, known, no leads, answered: 3",
        "outgoing, known, active lead, unanswered: 3",
    ];
    assert_eq!(table, expected, "\nmeasured:\n{}", table.join("\n"));
}
