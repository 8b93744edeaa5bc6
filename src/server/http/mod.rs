//! The way in: the receiver's listener and handler, the inbox writer that commits each
//! arrival before it is acknowledged (with the event the receiver parsed handed on), and the
//! `/health` and `/metrics` answers.

pub(crate) mod health;
pub(crate) mod inbox;
pub(crate) mod listen;
pub(crate) mod metrics;
pub(crate) mod parsed;
pub(crate) mod receiver;
