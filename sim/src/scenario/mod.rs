//! Scenarios: what a run is asked to do.
//!
//! - [`file`](mod@file): scenario files (TOML) and the built-in ones.
//! - [`faults`]: partitions, holds, crashes, latency spikes, and the loop
//!   that drives a turmoil run; [`swarm`]: faults drawn from each seed.
//! - [`registry`]: every built-in scenario, as `sim list` prints them.
//! - [`seeds`]: recorded seeds; [`shrink`]: reduce a failing scenario.

pub mod faults;
pub mod file;
pub mod registry;
pub mod seeds;
pub mod shrink;
pub mod shrink_choices;
pub mod swarm;
