//! Scenarios: the YAML format QA writes, the runner that plays one against the engine and a
//! fresh mock on a virtual clock, the expectations, and the reports.

pub mod expect;
pub mod html;
pub(crate) mod invariants;
pub mod load;
pub(crate) mod model;
pub mod outcome;
pub mod record;
pub mod report;
pub(crate) mod rules;
pub mod run;
mod sabotage;
pub mod schema;
pub mod suite;
pub mod timeline;
mod titles;
