//! The chat room: clients connect, list who is there, and send private
//! messages to each other through the server, which names every sender by
//! the address it sees and never lets a client that does not read stall
//! the others.
//!
//! `protocol` (lines) -> `room` (state machine, no I/O) -> `server` (the
//! room in the shared server loop, `conn::serve`, with a reserved reply
//! place per line) / `client` (async sessions over an
//! [`Env`](crate::env::Env)).

pub mod client;
pub mod notes;
pub mod protocol;
pub mod room;
pub mod server;
