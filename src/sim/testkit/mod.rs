//! Helpers the tests and benches share: the store contract both databases must keep, a
//! throw-away PostgreSQL cluster from the OS packages, and call ids written in a test.

pub mod pg_cluster;
pub mod store_contract;

use crate::sipuni::event::CallId;

/// A call id a test writes out, e.g. `cid("c1")`; one that would not parse is a bug in the test.
pub fn cid(s: &str) -> CallId {
    CallId::parse(s).unwrap_or_else(|| panic!("{s:?} is not a Sipuni call id"))
}
