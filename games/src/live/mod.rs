//! Live tombola: two ports, players who join a running game at any time,
//! and the first valid claim wins.
//!
//! `rules` (pure: claim verdicts, pause rounding; boards and the bag come
//! from [`crate::tombola::rules`]) -> `protocol` (lines on both ports) ->
//! `game` (the server's state machine, no I/O) -> `server` / `client` (async
//! sessions over an [`Env`](crate::env::Env)).

pub mod client;
pub mod game;
pub mod notes;
pub mod protocol;
pub mod rules;
pub mod server;
