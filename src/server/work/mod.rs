//! The work: the worker feeding stored events to the engine, its supervisor, the work lease
//! and its batched renewals, the replica id claim, retention, the kept amoCRM exchanges and
//! what operators do (`sipamo calls`).

pub(crate) mod exchanges;
pub(crate) mod lease;
pub(crate) mod operator;
pub(crate) mod renewals;
pub(crate) mod replica;
pub(crate) mod retention;
pub(crate) mod supervisor;
pub(crate) mod worker;
