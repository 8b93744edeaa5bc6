//! sipamo: Sipuni PBX call events in, amoCRM API v4 requests out, by the rules of
//! `spec/behaviour.md`; plus the simulation harness that proves it against a stateful mock.
//!
//! # Layout
//!
//! Three areas. Production (always built):
//!
//! | module | responsibility |
//! |---|---|
//! | [`sipuni`] | the event wire format: parsing at the edge into typed events, and their fingerprints (`sipuni/event.rs`) |
//! | [`phone`] | phone numbers and short numbers, parsed once |
//! | [`engine`] | the rules in two layers: `rules/` (pure: the call, the settings, the plan, the decision) and `effects/` (amoCRM look-ups, facts, Unsorted items, early actions, the plan executed exactly once), tied by `handler.rs` |
//! | [`amocrm`] | the amoCRM API v4 client (rate limit, retries, OAuth refresh), its data model, the typed request bodies, and each request's exchange tagged with its call |
//! | [`server`] | `sipamo serve`, by concern: `http/` (listener, receiver, inbox writer, health, metrics), `work/` (worker, supervisor, work lease and its renewals, replica ids, retention, kept exchanges, operator commands), `fleet/` (`--accounts`: every enabled account of the accounts table, the key vault, the files read at start), `store/` (the database: `sqlite/` and `postgres/` side by side, one `Db` over both, the engine's memory written once over either's rows) |
//! | [`clock`], [`duration`], [`secret`], [`http`] | injected time, scenario durations, secrets never shown, the one HTTP client setup |
//! | [`cli`] | the command line: one short file per subcommand |
//!
//! The simulation, `sim` (the default `sim` feature, behind this file's one gate;
//! `cargo build --no-default-features` leaves it out): the mock amoCRM, synthetic Sipuni
//! traffic, the one harness every scenario, storm and engine test runs in, the scenario runner,
//! storms, the bench and the test kit. Production code never imports it.
//!
//! # Where each rule is decided
//!
//! Each row names the function that decides the rule; a test checks that the function is in
//! that file and cites the rule.
//!
//! | rule | file | function |
//! |---|---|---|
//! | R-CFG-1 | `src/engine/rules/settings.rs` | `check_rules` |
//! | R-CFG-2 | `src/engine/rules/settings.rs` | `check_account` |
//! | R-IN-K1, R-MISS-KNOWN | `src/engine/rules/decide/known.rs` | `incoming` |
//! | R-IN-U1 | `src/engine/rules/decide/unknown.rs` | `immediate` |
//! | R-IN-U2, R-UNS-DEDUP, R-UNS-DECLINE | `src/engine/rules/decide/unknown.rs` | `unsorted` |
//! | R-MISS-BIND | `src/engine/rules/decide/unknown.rs` | `immediate_task_target`, `unsorted_task_target` |
//! | R-MISS-RESP | `src/engine/rules/decide/people.rs` | `missed_responsible` |
//! | R-IN-U3 | `src/engine/rules/decide/accept_on_answer.rs` | `decide_ring`, `decide_answer`, `accepted_at_answer` |
//! | R-UNS-ACCEPT | `src/engine/effects/facts.rs` | `base_facts` |
//! | R-MISS-TASK, R-MISS-DEDUP | `src/engine/rules/decide/tasks.rs` | `callback_deadline` |
//! | R-OUT-K1 | `src/engine/rules/decide/outgoing.rs` | `known_reached` |
//! | R-OUT-U1 | `src/engine/rules/decide/outgoing.rs` | `unknown_reached` |
//! | R-OUT-UNS | `src/engine/rules/decide/outgoing.rs` | `pending_item_reached` |
//! | R-NOTE-NOTREACHED | `src/engine/rules/decide/outgoing.rs` | `decide` |
//! | R-NOTE-CALL | `src/engine/rules/decide/notes.rs` | `note_target`, `call` |
//! | R-HIDDEN, R-INT | `src/engine/rules/call.rs` | `hidden_or_internal` |
//! | R-TRANSFER | `src/engine/rules/call.rs` | `answerer` |
//! | R-WIRE | `src/server/http/receiver.rs` | `receive` |
//! | R-IDEM | `src/sipuni/event.rs` | `fingerprint` |
//! | R-FAIL | `src/engine/effects/lookup.rs` | `create_once` |
//! | R-ISOLATE | `src/engine/handler.rs` | `after_failure` |

pub mod amocrm;
pub mod cli;
pub mod clock;
pub mod duration;
pub mod engine;
pub mod http;
pub mod phone;
mod private_file;
pub mod secret;
pub mod server;
#[cfg(feature = "sim")]
pub mod sim;
pub mod sipuni;
