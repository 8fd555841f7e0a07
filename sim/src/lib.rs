//! The simulation harness: the same game sessions as the real binaries, run
//! over turmoil's simulated network from one seed, judged by oracles.
//!
//! - [`env`]: [`env::SimEnv`], the `games::env::Env` over turmoil.
//! - [`trace`]: the one-line-per-event record of a run.
//! - [`tap`]: logs the lines crossing each simulated connection.
//! - [`harness`]: scenarios, outcomes, failure reports, per-host RNGs.
//! - [`file`]: scenario files (TOML) and the built-in ones.
//! - [`faults`]: partitions, holds, crashes, latency spikes, and the loop
//!   that drives a run; [`swarm`]: faults drawn from each seed.
//! - [`tombola`], [`live`], [`chat`]: each game's scenarios and oracles.
//! - [`scenarios`]: the registry `sim list` prints.
//! - [`shrink`]: reduce a failing scenario; [`seeds`]: recorded seeds.
//! - [`sweep`]: many seeds in parallel, with a summary.
//! - [`picture`]: a run as an SVG sequence diagram (`--svg`) or JSON (`--json`).
//! - [`fast`]: the event-driven backend (in-memory pipes, paused tokio
//!   clock); [`bench`]: games per second on each backend.

pub mod bench;
pub mod chat;
pub mod env;
pub mod fast;
pub mod faults;
pub mod file;
pub mod harness;
pub mod live;
pub mod picture;
pub mod scenarios;
pub mod seeds;
pub mod shrink;
pub mod swarm;
pub mod sweep;
pub mod tap;
pub mod tombola;
pub mod trace;
