//! The mock amoCRM driven over real HTTP with reqwest, endpoint by endpoint.

mod helpers;

mod account;
mod contacts;
mod errors;
mod fields_companies;
mod filters_events;
mod leads;
mod oauth;
mod php_library;
mod read_back;
mod tasks_notes_calls;
mod unsorted;
