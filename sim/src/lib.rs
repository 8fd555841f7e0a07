//! The simulation harness: the same game sessions as the real binaries, run
//! over turmoil's simulated network from one seed, judged by oracles.
//!
//! - [`env`]: [`env::SimEnv`], the `games::env::Env` over turmoil.
//! - [`trace`]: the one-line-per-event record of a run.
//! - [`tap`]: logs the lines crossing each simulated connection.
//! - [`harness`]: scenarios, outcomes, failure reports, per-host RNGs.
//! - [`tombola`], [`live`], [`chat`]: each game's scenarios and oracles.
//! - [`scenarios`]: the registry `sim list` prints.
//! - [`sweep`]: many seeds in parallel, with a summary.
//! - [`picture`]: a run as an SVG sequence diagram (`--svg`) or JSON (`--json`).

pub mod chat;
pub mod env;
pub mod harness;
pub mod live;
pub mod picture;
pub mod scenarios;
pub mod sweep;
pub mod tap;
pub mod tombola;
pub mod trace;
