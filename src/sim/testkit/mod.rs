//! Helpers the tests and benches share: the store contract both databases must keep, and a
//! throw-away PostgreSQL cluster from the OS packages.

pub mod pg_cluster;
pub mod store_contract;
