//! The integration tests, one binary (beside the custom-harness `scenarios` and `store`): the
//! engine against the mock over real HTTP, the mock's API, `serve` as real processes on real
//! databases, storms, the scenario format and schema, `run --watch`, and the docs' links. One
//! binary links once; `cargo test --test it serve::` runs one area.

mod docs;
mod engine;
mod format_example;
mod layout;
mod mock_api;
mod parser_props;
mod report_browser;
mod runner;
mod schema;
mod serve;
mod serve_outage;
mod storm;
mod watch;
