//! The engine driven by synthetic Sipuni events against the mock amoCRM over real HTTP; each
//! test checks the mock's resulting state, rule by rule (spec/behaviour.md).

mod app;

mod config;
mod faults;
mod incoming_known;
mod incoming_unknown;
mod missed;
mod order;
mod outgoing;
mod requests;
mod storage;
mod unsorted;
