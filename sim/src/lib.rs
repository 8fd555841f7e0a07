//! The simulation harness: the same game sessions as the real binaries, run
//! over a simulated network from one seed, judged by oracles.
//!
//! # Public API
//!
//! What a user of the library sees is small:
//! - [`Check`]: a scenario (a built-in name, a scenario file or a recorded
//!   seed) over a range of seeds on a backend, in a test of one's own; it
//!   panics with the standard failure report, and `SIM_SEED` / `SIM_SEEDS`
//!   replay or resize it without editing the test;
//! - [`SweepSummary`] (with [`Failure`], [`Violation`] and [`Shard`]): what
//!   such a check found;
//! - [`cli`]: the `sim` command line, for a binary of one's own.
//!
//! ```
//! let summary = sim::Check::scenario("chat-small-room").seeds(0..5).fast().run();
//! assert!(summary.passed());
//! assert_eq!(summary.seeds, 5);
//! assert!(summary.failures.is_empty());
//! ```
//!
//! # Inside
//!
//! The folders read as the data flows; they are the crate's own:
//! - `scenario`: what a run is asked to do: scenario files and the
//!   built-in ones, faults, swarm (faults drawn from each seed), recorded
//!   seeds, shrinking a failing scenario.
//! - `models`: one folder per game: its scenario section, the sessions a
//!   run starts, and the oracles that judge its trace.
//! - `engine`: what runs a scenario: the turmoil backend and the fast
//!   event-driven backend, the trace, per-host RNGs, outcomes.
//! - `check`: the harness as a test library (above).
//! - `report`: what is made of runs: sweeps with their summaries,
//!   benchmarks, and pictures of a run (`--svg`, `--json`).
//! - `cli`: the command line, over all of the above.

pub(crate) mod engine;
pub(crate) mod models;
pub(crate) mod report;
pub(crate) mod scenario;

pub mod check;
pub mod cli;

pub use check::Check;
pub use engine::harness::Violation;
pub use report::sweep::{Failure, Shard, SweepSummary};

#[cfg(test)]
mod tests;
