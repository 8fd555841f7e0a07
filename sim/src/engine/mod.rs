//! The engine: what carries out one seeded run of a scenario and records it.
//!
//! - [`harness`]: what every run shares: network settings, per-host RNGs
//!   derived from the seed, the outcome of a run and its failure report.
//! - [`turmoil_env`]: the `games::env::Env` over turmoil's simulated TCP;
//!   [`tap`] logs the lines crossing each of its connections.
//! - [`fast`]: the event-driven backend (in-memory pipes on its own
//!   scheduler and simulated clock).
//! - [`trace`]: the one-line-per-event record of a run.
//! - [`first_break`]: where in a failing run's trace a safety property
//!   first broke.
//! - [`backend`]: the seam: a game's [`backend::Model`], a
//!   [`backend::Backend`] ([`turmoil_backend::Turmoil`] or
//!   [`fast_hosts::Fast`]), the one run function and the RNG naming rule.

pub mod backend;
pub mod fast;
pub mod fast_hosts;
pub mod first_break;
pub mod harness;
pub mod tap;
pub mod trace;
pub mod turmoil_backend;
pub mod turmoil_env;
