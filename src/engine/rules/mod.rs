//! The rules, pure: a call assembled from its events ([`call`]), the customer's settings
//! ([`settings`]), the plan of writes ([`plan`]) and the decision that makes it ([`decide`]).
//! Nothing here is `async`, reaches amoCRM or reads the memory: every function answers from
//! its arguments alone, and is unit-tested that way.

pub(crate) mod call;
pub(crate) mod decide;
pub(crate) mod plan;
pub(crate) mod rule;
pub(crate) mod settings;
pub(crate) mod settings_schema;
