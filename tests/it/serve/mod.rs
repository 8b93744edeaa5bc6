//! `sipamo serve` as a process against `sipamo mock` as a process: end to end, crashes
//! (`kill -9`), and bad input.

mod app;

mod accounts;

mod bad_input;
mod crash;
mod end_to_end;
mod fleet;
mod fleet_failover;
mod fleet_lanes;
mod fleet_scale;
mod flood;
mod isolation;
mod mock_cli;
mod postgres;
mod real_wire;
mod record;
mod retention;
mod shutdown;
mod wire_props;
