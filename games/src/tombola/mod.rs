//! Lock-step tombola: the server waits for `players` boards, draws a number
//! every interval, waits for every player's answer, and lets every valid
//! claim on the same draw win together.
//!
//! `rules` (pure, shared with the live game) -> `protocol` (lines) ->
//! `game` (state machine, no I/O) -> `server` / `client` (async sessions
//! over an [`Env`](crate::env::Env)).

pub mod client;
pub mod game;
pub mod notes;
pub mod protocol;
pub mod rules;
pub mod server;
