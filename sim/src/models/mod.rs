//! One model per game: what its scenario section says, which sessions a run
//! starts and on which hosts, and the oracles that judge its trace. The game
//! logic itself lives in the `games` crate: the same code the real binaries
//! run.
//!
//! - [`tombola`]: lock-step tombola.
//! - [`live`]: live tombola (two ports, late joiners, first claim wins).
//! - [`chat`]: the chat room.

pub mod chat;
pub mod live;
pub mod tombola;
