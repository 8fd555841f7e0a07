//! Whole runs through the crate: every built-in scenario of each game on
//! both backends, scenario files and recorded seeds, pictures, the largest
//! lock-step room, and a real-TCP chat run judged by the chat oracles.
//! These reach the internals, so they live inside the crate; what a user of
//! the library can do is tested from outside in the repository's `tests/`.
//!
//! A unit test runs in this package's folder (`sim/`), so files of the
//! repository are named from `..` (`../fixtures/...`).

mod chat_real_tcp;
mod chat_sim;
mod env_parity;
mod explore;
mod first_break;
mod hunt;
mod live_sim;
mod proof;
mod sim_fast;
mod sim_files;
mod sim_picture;
mod tombola_scale;
mod tombola_sim;
mod xml_check;
