//! Scenarios: the YAML format QA writes, the runner that plays one against the engine and a
//! fresh mock on a virtual clock, the expectations, and the reports.

pub mod expect;
pub mod invariants;
pub mod load;
pub mod model;
pub mod report;
pub mod rules;
pub mod run;
mod sabotage;
pub mod suite;
