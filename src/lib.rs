//! sipamo: Sipuni PBX call events in, amoCRM API v4 requests out, by the rules of
//! `spec/behaviour.md`; plus the simulation harness that proves it against a stateful mock.
//!
//! # Layout
//!
//! Production (always built):
//!
//! | module | responsibility |
//! |---|---|
//! | [`sipuni`] | the event wire format: parsing at the edge into typed events (`sipuni/event.rs`) |
//! | [`phone`] | phone numbers and short numbers, parsed once |
//! | [`engine`] | the rules: calls assembled from events, facts read from amoCRM, a pure `decide` into a plan, the plan executed exactly once |
//! | [`amocrm`] | the amoCRM API v4 client (rate limit, retries, OAuth refresh), its data model, and each request's exchange tagged with its call |
//! | [`server`] | `sipamo serve`, by concern: `http/` (listener, receiver, inbox writer, health, metrics), `work/` (worker, supervisor, work lease and its renewals, replica ids, retention, kept exchanges, operator commands), `fleet/` (`--accounts`: every enabled account of the accounts table, the key vault, the files read at start), `store/` (the database: `sqlite/` and `postgres/` side by side, each with its SQL and refinery migrations, one `Db` over both, the engine's memory written once over either's rows; PostgreSQL keeps every account in one set of tables keyed by account) |
//! | [`clock`], [`duration`], [`secret`], [`http`] | injected time, scenario durations, secrets never shown, the one HTTP client setup |
//! | [`cli`] | the command line: one short file per subcommand |
//!
//! Simulation (the default `sim` feature; `cargo build --no-default-features` leaves it out):
//! the mock amoCRM (`amocrm::mock`), the synthetic Sipuni traffic (`sipuni::synth`), the
//! scenario runner (`scenario`, with its JSON Schema and `record`, which turns the service's
//! calls into scenarios), storms (`storm`) and `bench`. Production code never imports them.
//!
//! # Where each rule is decided
//!
//! | rule | file |
//! |---|---|
//! | R-CFG-1, R-CFG-2 | `src/engine/settings.rs` (checked against the account in `src/engine/handler.rs`) |
//! | R-IN-K1, R-MISS-KNOWN | `src/engine/decide/known.rs` |
//! | R-IN-U1, R-IN-U2, R-UNS-DEDUP, R-UNS-DECLINE, R-MISS-BIND, R-MISS-RESP | `src/engine/decide/unknown.rs` |
//! | R-IN-U3 | `src/engine/decide/mod.rs` (at the ring and the answer; the calls in `src/engine/early.rs`) |
//! | R-UNS-ACCEPT | `src/engine/facts.rs` (an item's state read back from its lead) |
//! | R-MISS-TASK, R-MISS-DEDUP | `src/engine/decide/mod.rs` (`callback_deadline`) |
//! | R-OUT-K1, R-OUT-U1, R-OUT-UNS, R-NOTE-NOTREACHED | `src/engine/decide/outgoing.rs` |
//! | R-NOTE-CALL | `src/engine/plan.rs` (`NotePlan::call`) |
//! | R-HIDDEN, R-INT, R-TRANSFER | `src/engine/call.rs` (a call assembled without a client number; the answerer of the last answer event) |
//! | R-WIRE | `src/server/http/receiver.rs` (every request on the secret path stored: an event, or kept aside with its reason by `src/sipuni/event.rs`) |
//! | R-IDEM | `src/sipuni/event.rs` (fingerprints) and `src/engine/execute.rs` (write intents) |
//! | R-FAIL | `src/engine/execute.rs` |
//! | R-ISOLATE | `src/engine/handler.rs` (parking) |

pub mod amocrm;
#[cfg(feature = "sim")]
pub mod bench;
pub mod cli;
pub mod clock;
pub mod duration;
pub mod engine;
pub mod http;
pub mod phone;
mod private_file;
#[cfg(feature = "sim")]
pub mod scenario;
pub mod secret;
pub mod server;
pub mod sipuni;
#[cfg(feature = "sim")]
pub mod storm;
