//! The simulation harness: the same game sessions as the real binaries, run
//! over a simulated network from one seed, judged by oracles.
//!
//! The folders read as the data flows:
//! - [`scenario`]: what a run is asked to do: scenario files and the
//!   built-in ones, faults, swarm (faults drawn from each seed), recorded
//!   seeds, shrinking a failing scenario.
//! - [`models`]: one folder per game: its scenario section, the sessions a
//!   run starts, and the oracles that judge its trace.
//! - [`engine`]: what runs a scenario: the turmoil backend and the fast
//!   event-driven backend, the trace, per-host RNGs, outcomes.
//! - [`check`]: the harness as a test library ([`Check`]: a scenario over
//!   a range of seeds on a backend, `SIM_SEED` / `SIM_SEEDS`).
//! - [`report`]: what is made of runs: sweeps with their summaries,
//!   benchmarks, and pictures of a run (`--svg`, `--json`).

pub mod engine;
pub mod models;
pub mod report;
pub mod scenario;

pub mod check;

pub use check::Check;
