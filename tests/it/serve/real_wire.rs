//! Calls shaped as real Sipuni cabinets send them (`reference/sipuni-events.md`, «What real
//! cabinets send»), one row per shape, each citing its public source, sent over HTTP through
//! `sipamo serve` to the mock amoCRM. Every request must be acknowledged with
//! `{"success":true}`, and the account must end as behaviour.md says.
//!
//! Values are copied from the sources; where a source shows only some fields of an event (a log
//! that cut a hash, a fixture without the employee side), the fields it leaves out are filled in
//! and the row says which.

use serde_json::Value;

use crate::serve::app::*;

/// How a row's requests are sent: both ways Sipuni's docs allow («GET или POST»).
#[derive(Clone, Copy)]
enum Via {
    Get,
    Post,
}

struct Row {
    shape: &'static str,
    source: &'static str,
    /// `phone_country` of the cabinet.
    country: &'static str,
    /// `crm:` additions (contacts already in the account).
    crm: &'static str,
    via: Via,
    requests: &'static [&'static str],
    /// The account afterwards, as [`account`] lists it.
    account: &'static [&'static str],
    /// Requests kept aside (no usable event), by reason.
    kept: &'static [&'static str],
    /// Calls still open at the end (their hangup never came).
    open: usize,
}

const USERS: &str = "\"101\": 1002, \"102\": 1002, \"201\": 1001, \"202\": 1002, \"205\": 1003, \"97\": 1003, \"id265648\": 1003, \"id356795\": 1003";

const ROWS: &[Row] = &[
    Row {
        shape: "incoming, answered; the client's number repeated in short_src_num",
        source: "hhwwwww1414/call-centre tests/unit/sipuni.test.ts (the `inbound` event); AdvantShop SipuniNotificationDto.cs reads the phone from short_src_num (event 3 and 2 filled in)",
        country: "RU",
        crm: "",
        via: Via::Post,
        requests: &[
            "call_id=1419783130.15593&src_num=79555555555&src_type=1&dst_num=012345101&dst_type=2&short_src_num=79555555555&short_dst_num=101&event=1&timestamp=1700000000",
            "call_id=1419783130.15593&src_num=79555555555&src_type=1&dst_num=012345101&dst_type=2&short_src_num=79555555555&short_dst_num=101&event=3&timestamp=1700000008",
            "call_id=1419783130.15593&src_num=79555555555&src_type=1&dst_num=012345101&dst_type=2&short_src_num=79555555555&short_dst_num=101&event=2&status=ANSWER&timestamp=1700000068&call_start_timestamp=1700000000&call_answer_timestamp=1700000008&call_record_link=https%3A%2F%2Fsipuni.com%2Fapi%2Fcrm%2Frecord%3Fid%3D1419783130.15593",
        ],
        account: &[
            "contact +79555555555 resp 1002",
            "lead +79555555555 resp 1002",
            "note leads call_in status 4 resp 1002 duration 60 link https://sipuni.com/api/crm/record?id=1419783130.15593",
        ],
        kept: &[],
        open: 0,
    },
    Row {
        shape: "outgoing to an Uzbek number: short_dst_num repeats it, event 1 twice a second apart, not reached, then reached",
        source: "rashidiy/claude s1p/claude/agents/researcher/studies/sipuni-webhook-events/raw-events.md (calls #94 and #96: a live cabinet's log; event 3 and the fields after status filled in)",
        country: "UZ",
        crm: "",
        via: Via::Get,
        requests: &[
            "call_id=1774376114.534794&event=1&src_type=2&src_num=070196201&short_src_num=201&dst_type=1&dst_num=998948867473&short_dst_num=998948867473&pbxdstnum=998948867473&timestamp=1774376127&treeName=%D0%98%D1%81%D1%85%D0%BE%D0%B4%D1%8F%D1%89%D0%B0%D1%8F&treeNumber=000-1734445&channel=Local/998946963233@vatsout-000022c5;1&user_id=070196",
            "call_id=1774376114.534794&event=1&src_type=2&src_num=070196201&short_src_num=201&dst_type=1&dst_num=998948867473&short_dst_num=998948867473&pbxdstnum=998948867473&timestamp=1774376128&treeName=%D0%98%D1%81%D1%85%D0%BE%D0%B4%D1%8F%D1%89%D0%B0%D1%8F&treeNumber=000-1734445&channel=Local/998946963233@vatsout-000022c5;1&user_id=070196",
            "call_id=1774376114.534794&event=2&src_type=2&src_num=070196201&short_src_num=201&dst_type=1&dst_num=998948867473&short_dst_num=998948867473&status=NOANSWER&call_start_timestamp=1774376127&call_answer_timestamp=1774376127&timestamp=1774376140&treeName=%D0%98%D1%81%D1%85%D0%BE%D0%B4%D1%8F%D1%89%D0%B0%D1%8F&user_id=070196",
            "call_id=1774376470.534900&event=1&src_type=2&src_num=070196201&short_src_num=201&dst_type=1&dst_num=998948867473&short_dst_num=998948867473&pbxdstnum=998948867473&timestamp=1774376482&treeName=%D0%98%D1%81%D1%85%D0%BE%D0%B4%D1%8F%D1%89%D0%B0%D1%8F&user_id=070196",
            "call_id=1774376470.534900&event=2&src_type=2&src_num=070196201&short_src_num=201&dst_type=1&dst_num=998948867473&short_dst_num=998948867473&status=ANSWER&call_start_timestamp=1774376482&call_answer_timestamp=1774376481&timestamp=1774376541&treeName=%D0%98%D1%81%D1%85%D0%BE%D0%B4%D1%8F%D1%89%D0%B0%D1%8F&user_id=070196&call_record_link=https://sipuni.com/api/crm/record?id=1774376470.534900&hash=0f5d4eeb5aa1&user=070196",
        ],
        account: &[
            "contact +998948867473 resp 1001",
            "lead +998948867473 resp 1001",
            "note leads call_out status 4 resp 1001 duration 60 link https://sipuni.com/api/crm/record?id=1774376470.534900&hash=0f5d4eeb5aa1&user=070196",
        ],
        kept: &[],
        open: 0,
    },
    Row {
        shape: "an Uzbek 9-digit national caller, the leg rung on an employee's mobile (NUMBER_idNNN, dst_type=1), missed, with a recording link",
        source: "rashidiy/claude s1p/claude/agents/researcher/studies/sipuni-webhook-events/raw-events.md (call #87, lines 182-188; the link's id, cut there, filled in)",
        country: "UZ",
        crm: "",
        via: Via::Get,
        requests: &[
            "call_id=1774373436.533962&event=2&src_type=1&src_num=951218115&short_src_num=951218115&dst_type=1&dst_num=998783337125_id265648&short_dst_num=998783337125_id265648&pbxdstnum=998783337125&timestamp=1774373455&status=NOANSWER&call_start_timestamp=1774373436&treeName=%D0%92%D1%85%D0%BE%D0%B4%D1%8F%D1%89%D0%B0%D1%8F&treeNumber=000-1734442&channel=SIP/047593496447128812-00047440&user_id=070196&call_record_link=https://sipuni.com/api/crm/record?id=1774373436.533962",
        ],
        account: &[
            "contact +998951218115 resp 1001",
            "lead +998951218115 resp 1001",
            "task lead resp 1001 due 1774373455+3600",
            "note leads call_in status 6 resp 1001 duration 0 link https://sipuni.com/api/crm/record?id=1774373436.533962",
        ],
        kept: &[],
        open: 0,
    },
    Row {
        shape: "answered on an employee's mobile in Kazakhstan (idNNN mapped), pbxdstnum national, a channel with a space, treeName=Incoming, roistat fields",
        source: "demomastra2025-eng/chatwoot spec/services/sipuni/events/normalizer_spec.rb (the raw Sipuni fields); caller from adiletpn/monitoringNewOperators tests/test_live_calls.py (events 1 and 2 built around them)",
        country: "KZ",
        crm: "",
        via: Via::Post,
        requests: &[
            "event=1&call_id=kz-mobile-1&src_num=77012345678&src_type=1&short_src_num=77012345678&dst_num=77271234567_id356795&dst_type=1&short_dst_num=77271234567_id356795&pbxdstnum=87271234567&timestamp=1717171700&treeName=Incoming&treeNumber=000-2776321&user_id=056124&channel=SIP/013997+77003470027-000063a8&roistat=0&roistat_number=&roistat_market=test-market",
            "event=3&call_id=kz-mobile-1&src_num=77012345678&src_type=1&dst_num=77271234567_id356795&dst_type=1&pbxdstnum=87271234567&timestamp=1717171710&user_id=056124",
            "event=2&call_id=kz-mobile-1&src_num=77012345678&src_type=1&short_src_num=77012345678&dst_num=77271234567_id356795&dst_type=1&short_dst_num=77271234567_id356795&status=ANSWER&call_start_timestamp=1717171700&call_answer_timestamp=1717171710&timestamp=1717171760&transfer_from=&last_called=&treeName=Incoming&treeNumber=000-2776321&user_id=056124&roistatgoogleid=",
        ],
        account: &[
            "contact +77012345678 resp 1003",
            "lead +77012345678 resp 1003",
            "note leads call_in status 4 resp 1003 duration 50 link -",
        ],
        kept: &[],
        open: 0,
    },
    Row {
        shape: "is_inner_call=1 on an outside caller's operator leg, missed",
        source: "demomastra2025-eng/chatwoot spec/requests/telephony/sipuni_two_operators_spec.rb (post_operator_leg_event; the hangup built around it)",
        country: "KZ",
        crm: "",
        via: Via::Post,
        requests: &[
            "event=1&call_id=sipuni-two-operators-call-1&src_num=77070001002&src_type=1&dst_num=015856205&dst_type=2&short_dst_num=205&user_id=015856&is_inner_call=1&channel=SIP/015856100021-00000001&timestamp=1717171700",
            "event=2&call_id=sipuni-two-operators-call-1&src_num=77070001002&src_type=1&dst_num=015856205&dst_type=2&short_dst_num=205&status=NOANSWER&call_start_timestamp=1717171700&timestamp=1717171720",
        ],
        account: &[
            "contact +77070001002 resp 1001",
            "lead +77070001002 resp 1001",
            "task lead resp 1001 due 1717171720+3600",
            "note leads call_in status 6 resp 1001 duration 0 link -",
        ],
        kept: &[],
        open: 0,
    },
    Row {
        shape: "a hangup without src_type and dst_type (Kazakh numbers)",
        source: "demomastra2025-eng/chatwoot spec/requests/sipuni/voice_events_spec.rb",
        country: "KZ",
        crm: "",
        via: Via::Post,
        requests: &[
            "event=2&status=ANSWER&call_id=sipuni-webhook-call-1&src_num=77011234567&dst_num=77271234567&timestamp=1717171760&call_start_timestamp=1717171700&call_answer_timestamp=1717171710&call_record_link=https://sipuni.example.test/recordings/call-1.mp3",
        ],
        account: &[
            "contact +77011234567 resp 1001",
            "lead +77011234567 resp 1001",
            "note leads call_in status 4 resp 1001 duration 50 link https://sipuni.example.test/recordings/call-1.mp3",
        ],
        kept: &[],
        open: 0,
    },
    Row {
        shape: "an unencoded recording link split into hash= and user=, on an unanswered outgoing call to a known client, the destination without its type",
        source: "Mavrinpro/34534543 frontend/controllers/ApiController.php (commit 0e4f810, lines 39-47)",
        country: "RU",
        crm: "contacts: [{ id: 5001, name: Клиент, phone: \"+7 960 374-81-54\", responsible: 1002 }]\n",
        via: Via::Get,
        requests: &[
            "event=2&src_type=2&dst_num=79603748154&timestamp=1676107150&last_called=205&status=NOANSWER&call_record_link=https://sipuni.com/api/crm/record?id=1676107122.1384946&hash=4a220a5a9e1d943accfcb38965105863&user=060863&treeName=%D0%98%D1%81%D1%85%D0%BE%D0%B4%D1%8F%D1%89%D0%B0%D1%8F&treeNumber=00037432&call_id=1676107122.1384946",
        ],
        account: &[
            "contact +79603748154 resp 1002",
            "note contacts call_out status 6 resp 1001 duration 0 link https://sipuni.com/api/crm/record?id=1676107122.1384946&hash=4a220a5a9e1d943accfcb38965105863&user=060863",
        ],
        kept: &[],
        open: 0,
    },
    Row {
        shape: "a missed incoming call with a recording link and no call_answer_timestamp",
        source: "rashidiy/claude raw-events.md (#83, lines 15-17: the link on a missed call, its hash cut there; #90, lines 79-81: no call_answer_timestamp; the caller's fields filled in)",
        country: "UZ",
        crm: "",
        via: Via::Get,
        requests: &[
            "call_id=1774371532.533505&event=2&src_type=1&src_num=998948867473&short_src_num=998948867473&dst_type=2&dst_num=018315201&short_dst_num=201&status=NOANSWER&call_start_timestamp=1774371532&timestamp=1774371538&last_called=201&call_record_link=https://sipuni.com/api/crm/record?id=1774371532.533505&hash=f5d4eeb5&channel=SIP/018315100002-000471a4",
        ],
        account: &[
            "contact +998948867473 resp 1001",
            "lead +998948867473 resp 1001",
            "task lead resp 1001 due 1774371538+3600",
            "note leads call_in status 6 resp 1001 duration 0 link https://sipuni.com/api/crm/record?id=1774371532.533505&hash=f5d4eeb5",
        ],
        kept: &[],
        open: 0,
    },
    Row {
        shape: "a transfer: event 4 of the first leg without status (transfer_from), the second employee answers",
        source: "alexkasp/crmproxy crmproxy/Parser.cpp lines 412-422 (parse_finishtransfer builds event 4 without status; transferFrom at 371-374); reference/sipuni-events.md (transfer_from)",
        country: "RU",
        crm: "",
        via: Via::Post,
        requests: &[
            "event=1&call_id=tr-1&src_num=79161230001&src_type=1&short_src_num=79161230001&dst_num=015856201&dst_type=2&short_dst_num=201&timestamp=1700000000",
            "event=3&call_id=tr-1&src_num=79161230001&src_type=1&dst_num=015856201&dst_type=2&short_dst_num=201&timestamp=1700000005",
            "event=1&call_id=tr-1&src_num=79161230001&src_type=1&dst_num=015856202&dst_type=2&short_dst_num=202&timestamp=1700000040&transfer_from=201",
            "event=4&call_id=tr-1&src_num=79161230001&src_type=1&dst_num=015856201&dst_type=2&timestamp=1700000042&transfer_from=201",
            "event=3&call_id=tr-1&src_num=79161230001&src_type=1&dst_num=015856202&dst_type=2&short_dst_num=202&timestamp=1700000042&transfer_from=201",
            "event=2&call_id=tr-1&src_num=79161230001&src_type=1&dst_num=015856202&dst_type=2&short_dst_num=202&status=ANSWER&call_start_timestamp=1700000000&call_answer_timestamp=1700000005&timestamp=1700000125&last_called=202",
        ],
        account: &[
            "contact +79161230001 resp 1002",
            "lead +79161230001 resp 1002",
            "note leads call_in status 4 resp 1002 duration 120 link -",
        ],
        kept: &[],
        open: 0,
    },
    Row {
        shape: "event 4 with only call_id and short_src_num (no timestamp): taken as sent when it arrived",
        source: "adiletpn/monitoringNewOperators tests/test_live_calls.py ({\"event\": \"4\", \"call_id\": \"s1\", \"short_src_num\": \"97\"})",
        country: "RU",
        crm: "",
        via: Via::Post,
        requests: &["event=4&call_id=s1&short_src_num=97"],
        account: &[],
        kept: &[],
        open: 1,
    },
    Row {
        shape: "event kinds 5 and 12, built by Sipuni's own proxy: acknowledged and kept aside",
        source: "alexkasp/crmproxy crmproxy/Parser.cpp line 452 (event 5, dstchannel) and line 560 (event 12, transferAnswer)",
        country: "RU",
        crm: "",
        via: Via::Post,
        requests: &[
            "event=5&call_id=1700000300.1&src_num=79161234567&dst_num=015856201&dstchannel=SIP/015856201-00000001",
            "event=12&call_id=1700000300.1&src_num=79161234567&dst_num=015856202",
        ],
        account: &[],
        kept: &["unknown_event", "unknown_event"],
        open: 0,
    },
    Row {
        shape: "last_called as a comma list; an outgoing call dialled 8 499 …",
        source: "hhwwwww1414/call-centre tests/unit/sipuni.test.ts (about line 150; the caller's side filled in); lib/telephony/providers/sipuni.ts splits it on commas",
        country: "RU",
        crm: "",
        via: Via::Post,
        requests: &[
            "src_num=012345102&src_type=2&short_src_num=102&dst_num=84999999999&dst_type=1&short_dst_num=84999999999&last_called=102,103&event=2&status=ANSWER&call_id=cc-2&call_start_timestamp=1700000000&call_answer_timestamp=1700000010&timestamp=1700000070&treeName=%D0%98%D1%81%D1%85%D0%BE%D0%B4%D1%8F%D1%89%D0%B0%D1%8F",
        ],
        account: &[
            "contact +74999999999 resp 1002",
            "lead +74999999999 resp 1002",
            "note leads call_out status 4 resp 1002 duration 60 link -",
        ],
        kept: &[],
        open: 0,
    },
    Row {
        shape: "an empty request, as when the integration settings are saved (GET and POST)",
        source: "IsaIsakov/KursorCRM server/routes-sipuni.js lines 68-69 (UNCONFIRMED there)",
        country: "RU",
        crm: "",
        via: Via::Get,
        requests: &[""],
        account: &[],
        kept: &["empty"],
        open: 0,
    },
];

#[tokio::test]
async fn every_real_shape_is_acknowledged_and_handled_as_the_spec_says() {
    let mut failures = Vec::new();
    for row in ROWS {
        if let Err(e) = run_row(row).await {
            failures.push(format!("{} [{}]:\n{e}", row.shape, row.source));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

async fn run_row(row: &Row) -> Result<(), String> {
    let dir = tempdir();
    let mock = spawn_mock_with(dir.path(), &format!("{ACCOUNT}{}", row.crm)).await;
    write_config(
        dir.path(),
        &format!(
            "default_responsible: 1001\nphone_country: {}\nusers: {{ {USERS} }}\n",
            row.country
        ),
    );
    let serve = spawn_serve(dir.path(), &mock.url).await;
    let http = http();
    let url = format!("{}/sipuni/events/{SECRET}", serve.url);
    for line in row.requests {
        let r = match row.via {
            Via::Get => http.get(format!("{url}?{line}")).send().await,
            Via::Post => {
                http.post(&url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(line.to_string())
                    .send()
                    .await
            }
        }
        .map_err(|e| e.to_string())?;
        let status = r.status();
        let body = r.text().await.unwrap_or_default();
        if status != 200 || body != r#"{"success":true}"# {
            return Err(format!("{line}\n  answered {status} {body}"));
        }
    }
    if row.requests.len() == 1 && row.requests[0].is_empty() {
        // The same ping as a POST with an empty body.
        let r = http.post(&url).send().await.map_err(|e| e.to_string())?;
        if r.status() != 200 {
            return Err(format!("an empty POST answered {}", r.status()));
        }
    }
    wait_settled(&http, &serve.url, row.open).await;
    let got = account(&http, &mock.url).await;
    let mut want: Vec<String> = row.account.iter().map(|l| due(l)).collect();
    want.sort();
    if got != want {
        return Err(format!("account:\n  got  {got:#?}\n  want {want:#?}"));
    }
    let m = metrics(&http, &serve.url).await;
    let mut kept = row.kept.to_vec();
    if row.requests == [""] {
        kept.push("empty");
    }
    for reason in ["empty", "unknown_event", "missing_field"] {
        let want = kept.iter().filter(|k| **k == reason).count() as f64;
        let got = metric(
            &m,
            &format!("sipamo_requests_kept_total{{reason=\"{reason}\"}}"),
        );
        if got != want {
            return Err(format!("kept as {reason}: {got}, want {want}\n{m}"));
        }
    }
    Ok(())
}

/// Waits until every stored event is taken and only `open` calls are left open, twice in a row.
async fn wait_settled(http: &reqwest::Client, serve: &str, open: usize) {
    let settled = || async {
        let m = metrics(http, serve).await;
        let stored = metric(&m, "sipamo_events_received_total{result=\"stored\"}");
        metric(&m, "sipamo_events_taken_total") == stored
            && metric(&m, "sipamo_queue_depth") == 0.0
            && metric(&m, "sipamo_open_calls") == open as f64
            && m.contains("sipamo_open_calls")
    };
    for _ in 0..300 {
        if settled().await {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            if settled().await {
                return;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the service never settled:\n{}", metrics(http, serve).await);
}

/// `due 1774373455+3600` written out.
fn due(line: &str) -> String {
    let Some((head, expr)) = line.split_once(" due ") else {
        return line.to_string();
    };
    let sum: i64 = expr.split('+').filter_map(|n| n.parse::<i64>().ok()).sum();
    format!("{head} due {sum}")
}

/// The account as a list of lines: contacts and leads with their phone and responsible, tasks
/// with their target, responsible and deadline, notes with type, status, responsible, duration
/// and link.
async fn account(http: &reqwest::Client, mock: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut phone_of = std::collections::HashMap::new();
    for c in get_all(http, mock, "/api/v4/contacts").await {
        let phone = c["custom_fields_values"][0]["values"][0]["value"]
            .as_str()
            .unwrap_or("")
            .replace([' ', '(', ')', '-'], "");
        phone_of.insert(c["id"].as_u64().unwrap_or(0), phone.clone());
        lines.push(format!("contact {phone} resp {}", c["responsible_user_id"]));
    }
    for l in get_all(http, mock, "/api/v4/leads?with=contacts").await {
        let phone = l["_embedded"]["contacts"][0]["id"]
            .as_u64()
            .and_then(|c| phone_of.get(&c).cloned())
            .unwrap_or_default();
        lines.push(format!("lead {phone} resp {}", l["responsible_user_id"]));
    }
    for t in get_all(http, mock, "/api/v4/tasks").await {
        let on = t["entity_type"]
            .as_str()
            .unwrap_or("")
            .trim_end_matches('s');
        lines.push(format!(
            "task {on} resp {} due {}",
            t["responsible_user_id"], t["complete_till"]
        ));
    }
    for kind in ["leads", "contacts"] {
        for n in get_all(http, mock, &format!("/api/v4/{kind}/notes")).await {
            let p = &n["params"];
            lines.push(format!(
                "note {kind} {} status {} resp {} duration {} link {}",
                n["note_type"].as_str().unwrap_or(""),
                p["call_status"],
                p["call_responsible"],
                p["duration"],
                p["link"].as_str().unwrap_or("-")
            ));
        }
    }
    lines.sort();
    lines
}

async fn get_all(http: &reqwest::Client, mock: &str, path: &str) -> Vec<Value> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let r = http
        .get(format!("{mock}{path}{sep}limit=250"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    if r.status() == 204 {
        return Vec::new();
    }
    let body: Value = r.json().await.unwrap();
    body["_embedded"]
        .as_object()
        .and_then(|o| o.values().next().cloned())
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
}
