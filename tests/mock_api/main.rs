//! The mock amoCRM driven over real HTTP with reqwest, endpoint by endpoint.

mod helpers;

mod account;
mod contacts;
mod errors;
mod fields_companies;
mod filters_events;
mod leads;
mod oauth;
mod tasks_notes_calls;
mod unsorted;
