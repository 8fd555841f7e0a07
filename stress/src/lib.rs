//! The real servers under stress, with nothing to install beyond the stable
//! Rust toolchain.
//!
//! - [`fuzz`]: seeded random and mutated input for every line parser, the
//!   line codecs and the three sans-IO game state machines, asserting that
//!   nothing panics and that cheap invariants hold (the `fuzz` binary runs
//!   them for a set time, `tests/fuzz_short.rs` runs a short variant).
//! - [`loadgen`]: bots over real TCP against a running server, and the
//!   least-possible-work reference servers the real ones are compared with
//!   (the `loadgen` binary).

pub mod fuzz;
pub mod loadgen;
