//! The three games, their protocols and their sessions, independent of any
//! particular network.
//!
//! - [`env`]: the seam. A session asks an [`env::Env`] for time and sockets;
//!   [`env::TokioEnv`] is real TCP, the `sim` crate provides turmoil's.
//! - [`framing`], [`wire`], [`conn`]: lines on the wire, the shared refusal
//!   format, and the server-side connection tasks every game uses.
//! - [`mischief`]: malformed input for adversarial simulated clients.
//! - [`cli`]: what the thin binaries share (seed, `listening on` line).
//! - [`tombola`]: the lock-step game (its `rules` are shared by the live one).
//! - [`live`]: live tombola, two ports, late joiners, first claim wins.
//! - [`chat`]: the chat room with private messages.
//! - [`tui`]: the terminal UIs of the three interactive clients.

pub mod chat;
pub mod cli;
pub mod conn;
pub mod env;
pub mod framing;
pub mod live;
pub mod mischief;
pub mod notes;
pub(crate) mod outbox;
pub mod tombola;
pub mod tui;
pub mod wire;
