//! The simulation, behind the one `sim` feature: everything that stands in for Sipuni and amoCRM
//! so the engine can be proved before a release. Production code never imports it.
//!
//! | module | what it is |
//! |---|---|
//! | [`mock`] | the stateful mock amoCRM on wiremock, as strict as amoCRM |
//! | [`synth`] | synthetic Sipuni traffic: call scripts turned into the events a cabinet sends |
//! | [`harness`] | the one world a scenario, a storm, a bench round and the tests run in (`World::start`) |
//! | [`scenario`] | the YAML scenario runner, its JSON Schema, and `record` (service calls into scenarios) |
//! | [`storm`] | seeded call storms and their shrinking |
//! | [`mod@bench`] | throughput figures |
//! | [`testkit`] | the store contract and throw-away PostgreSQL clusters for tests and benches |

pub mod bench;
pub mod harness;
pub mod mock;
pub mod scenario;
pub mod storm;
pub mod synth;
pub mod testkit;
