//! What the lock-step server's state machine (`game.rs`) records: one
//! [`Note`] per thing that happened, in the order it happened.
//!
//! The text of a note (its `Display`) is the trace line the simulation
//! snapshots and replays hold, so it never changes silently; `FromStr`
//! reads it back for the simulation's oracles. The shell's own lines
//! (`listen`, `full`, `accept-error`, `shutdown`, in `conn.rs` and `server.rs`) are not notes of
//! the game and stay plain text.

use std::fmt;
use std::str::FromStr;

use crate::notes::{number, word, word_enum, words, write_words, NoteError};
use crate::tombola::rules::Board;

/// The first words of the lines the server's shell (`server.rs`) writes
/// itself: every other line a tombola server records is a [`Note`].
pub const SHELL_KEYWORDS: &[&str] = &["listen", "full", "accept-error", "shutdown"];

/// Whether `line` is one of the shell's own lines, not a note.
pub fn is_shell_line(line: &str) -> bool {
    let keyword = line.split(' ').next().unwrap_or_default();
    SHELL_KEYWORDS.contains(&keyword)
}

/// One event of the lock-step game, as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// `connect p1`: a connection was greeted with its player id.
    Connect { player: String },
    /// `board p1 3 7 ...`: a player registered its board.
    Board { player: String, board: Board },
    /// `start 1 p1 p2`: game `game` began with these players, in
    /// registration order.
    Start { game: u64, players: Vec<String> },
    /// `draw 3 42`: draw `seq` of the running game is `number`.
    Draw { seq: u32, number: u8 },
    /// `claim p1 5 valid` / `claim p1 5 false`: a player claimed tombola
    /// on draw `seq`.
    Claim {
        player: String,
        seq: u32,
        valid: bool,
    },
    /// `over 1 winners p1 p3` / `over 1 nowinner` (no winners).
    Over { game: u64, winners: Vec<String> },
    /// `abandon 1`: the last player left, the game ended without result.
    Abandon { game: u64 },
    /// `drop p1 reply-timeout`: the player was removed and closed.
    Drop { player: String, reason: DropReason },
}

word_enum! {
    /// Why the server dropped a player.
    pub enum DropReason {
        /// The connection closed, reset or broke the framing.
        Disconnected = "disconnected",
        /// No answer to a draw within `reply_timeout_ms`.
        ReplyTimeout = "reply-timeout",
        /// It claimed tombola with a board the draws did not cover.
        FalseClaim = "false-claim",
        /// The table did not fill within `registration_timeout_ms`.
        RegistrationTimeout = "registration-timeout",
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Note::Connect { player } => write!(f, "connect {player}"),
            Note::Board { player, board } => write!(f, "board {player} {board}"),
            Note::Start { game, players } => {
                write!(f, "start {game} ")?;
                write_words(f, players)
            }
            Note::Draw { seq, number } => write!(f, "draw {seq} {number}"),
            Note::Claim { player, seq, valid } => {
                let verdict = if *valid { "valid" } else { "false" };
                write!(f, "claim {player} {seq} {verdict}")
            }
            Note::Over { game, winners } if winners.is_empty() => {
                write!(f, "over {game} nowinner")
            }
            Note::Over { game, winners } => {
                write!(f, "over {game} winners ")?;
                write_words(f, winners)
            }
            Note::Abandon { game } => write!(f, "abandon {game}"),
            Note::Drop { player, reason } => write!(f, "drop {player} {reason}"),
        }
    }
}

impl FromStr for Note {
    type Err = NoteError;

    fn from_str(line: &str) -> Result<Note, NoteError> {
        let bad = || NoteError::new(line);
        let (keyword, rest) = line.split_once(' ').ok_or_else(bad)?;
        let note = match keyword {
            "connect" => Note::Connect {
                player: word(rest, line)?,
            },
            "board" => {
                let (player, numbers) = rest.split_once(' ').ok_or_else(bad)?;
                let numbers: Vec<u8> = crate::wire::numbers(numbers).ok_or_else(bad)?;
                Note::Board {
                    player: word(player, line)?,
                    board: Board::new(&numbers).map_err(|_| bad())?,
                }
            }
            "start" => {
                let (game, players) = rest.split_once(' ').ok_or_else(bad)?;
                Note::Start {
                    game: number(game, line)?,
                    players: words(players, line)?,
                }
            }
            "draw" => {
                let (seq, drawn) = rest.split_once(' ').ok_or_else(bad)?;
                Note::Draw {
                    seq: number(seq, line)?,
                    number: number(drawn, line)?,
                }
            }
            "claim" => match rest.split(' ').collect::<Vec<_>>()[..] {
                [player, seq, verdict] => Note::Claim {
                    player: word(player, line)?,
                    seq: number(seq, line)?,
                    valid: match verdict {
                        "valid" => true,
                        "false" => false,
                        _ => return Err(bad()),
                    },
                },
                _ => return Err(bad()),
            },
            "over" => {
                let (game, result) = rest.split_once(' ').ok_or_else(bad)?;
                let winners = match result.split_once(' ') {
                    None if result == "nowinner" => Vec::new(),
                    Some(("winners", ids)) if !ids.is_empty() => words(ids, line)?,
                    _ => return Err(bad()),
                };
                Note::Over {
                    game: number(game, line)?,
                    winners,
                }
            }
            "abandon" => Note::Abandon {
                game: number(rest, line)?,
            },
            "drop" => {
                let (player, reason) = rest.split_once(' ').ok_or_else(bad)?;
                Note::Drop {
                    player: word(player, line)?,
                    reason: DropReason::from_word(reason).ok_or_else(bad)?,
                }
            }
            _ => return Err(bad()),
        };
        Ok(note)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tombola::rules::{BOARD_NUMBERS, NUMBER_MAX};
    use proptest::prelude::*;
    use proptest::sample::subsequence;

    fn player() -> impl Strategy<Value = String> {
        "p[1-9][0-9]{0,3}"
    }

    fn board() -> impl Strategy<Value = Board> {
        subsequence((1..=NUMBER_MAX).collect::<Vec<u8>>(), BOARD_NUMBERS)
            .prop_map(|numbers| Board::new(&numbers).expect("15 distinct numbers in range"))
    }

    fn note() -> impl Strategy<Value = Note> {
        prop_oneof![
            player().prop_map(|player| Note::Connect { player }),
            (player(), board()).prop_map(|(player, board)| Note::Board { player, board }),
            (any::<u64>(), proptest::collection::vec(player(), 0..6))
                .prop_map(|(game, players)| Note::Start { game, players }),
            (any::<u32>(), any::<u8>()).prop_map(|(seq, number)| Note::Draw { seq, number }),
            (player(), any::<u32>(), any::<bool>()).prop_map(|(player, seq, valid)| Note::Claim {
                player,
                seq,
                valid
            }),
            (any::<u64>(), proptest::collection::vec(player(), 0..4))
                .prop_map(|(game, winners)| Note::Over { game, winners }),
            any::<u64>().prop_map(|game| Note::Abandon { game }),
            (player(), proptest::sample::select(DropReason::ALL))
                .prop_map(|(player, reason)| Note::Drop { player, reason }),
        ]
    }

    proptest! {
        #[test]
        fn every_note_reads_back_as_itself(note in note()) {
            let text = note.to_string();
            prop_assert_eq!(text.parse::<Note>(), Ok(note), "{}", text);
        }

        #[test]
        fn whatever_parses_as_a_note_is_written_back_unchanged(line in "connect p0?[0-9] ?|draw 0?[0-9]{1,3} [0-9]{1,3}|claim p[0-9] 0?[0-9] (valid|false|true)|over 0?[0-9] (nowinner|winners( p[0-9]){0,2})|abandon [0-9]{0,2}|drop p[0-9] (false-claim|reply-timeout|bored)|start 0?[0-9] ( ?p[0-9]){0,3}") {
            if let Ok(note) = line.parse::<Note>() {
                prop_assert_eq!(note.to_string(), line);
            }
        }
    }

    #[test]
    fn every_server_line_of_the_tombola_snapshots_is_a_note_written_back_unchanged() {
        crate::notes::assert_snapshot_notes_round_trip::<Note>("tombola_", is_shell_line, 100);
    }

    #[test]
    fn lines_that_are_not_notes_are_refused() {
        for line in [
            "",
            "draw",
            "draw 1",
            "draw 01 5",
            "draw 1 256",
            "claim p1 3 maybe",
            "over 1 winners ",
            "over 1 winners",
            "over 1 nowinner p1",
            "drop p1 bored",
            "board p1 1 2 3",
            "connect ",
            "listen 0.0.0.0:8000",
        ] {
            assert_eq!(line.parse::<Note>(), Err(NoteError::new(line)), "{line:?}");
        }
    }
}
