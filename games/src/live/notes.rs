//! What the live server's state machine (`game.rs`) records: one [`Note`]
//! per decision, in the order it was made.
//!
//! The text of a note (its `Display`) is the trace line the simulation
//! snapshots and replays hold, so it never changes silently; `FromStr`
//! reads it back for the simulation's oracles. The shell's own lines
//! (`listen`, `full`, `accept-error`, `shutdown`, in `conn.rs` and `server.rs`) are not notes of
//! the game and stay plain text.

use std::fmt;
use std::str::FromStr;

use crate::conn::ConnId;
use crate::notes::{number, word, word_enum, NoteError};
use crate::tombola::rules::Board;

/// The first words of the lines the server's shell (`server.rs`) writes
/// itself: every other line a live server records is a [`Note`].
pub const SHELL_KEYWORDS: &[&str] = &["listen", "full", "accept-error", "shutdown"];

/// Whether `line` is one of the shell's own lines, not a note.
pub fn is_shell_line(line: &str) -> bool {
    let keyword = line.split(' ').next().unwrap_or_default();
    SHELL_KEYWORDS.contains(&keyword)
}

/// One decision of the live server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// `connect p1`: a numbers connection became player `p1`.
    Connect { player: String },
    /// `pair p1`: a claims connection said `HELLO` with p1's token.
    Pair { player: String },
    /// `board p1 3 7 ...`: the player registered its board.
    Board { player: String, board: Board },
    /// `join p1 2 history 5`: the player entered game 2, sent the 5
    /// numbers drawn so far.
    Join {
        player: String,
        game: u64,
        history: usize,
    },
    /// `wait p1 3`: registered during the pause, it plays game 3.
    Wait { player: String, game: u64 },
    /// `claim p1 2 late`: the verdict on p1's claim for game 2.
    Claim {
        player: String,
        game: u64,
        verdict: ClaimVerdict,
    },
    /// `again p1`: the player asked to play the next game.
    Again { player: String },
    /// `quit p1`: the player said `QUIT`.
    Quit { player: String },
    /// `goodbye p1`: the pause ended without an `AGAIN` from it.
    Goodbye { player: String },
    /// `drop p1 numbers-closed`: the player was removed.
    Drop { player: String, reason: DropReason },
    /// `drop-claims 7 bad-token`: an unpaired claims connection (by its
    /// connection id) was closed.
    DropClaims {
        conn: ConnId,
        reason: ClaimsDropReason,
    },
    /// `start 2`: game 2 began.
    Start { game: u64 },
    /// `draw 2 5 42`: the 5th number of game 2 is 42.
    Draw { game: u64, seq: u32, number: u8 },
    /// `over 2 winner p1` / `over 2 nowinner`.
    Over { game: u64, winner: Option<String> },
    /// `abandon 2`: the last player of game 2 left.
    Abandon { game: u64 },
    /// `pause`: the pause between two games began.
    Pause,
    /// `idle`: the pause ended with nobody to play.
    Idle,
}

impl Note {
    /// The player the note is about, for the notes that name one.
    pub fn player(&self) -> Option<&str> {
        match self {
            Note::Connect { player }
            | Note::Pair { player }
            | Note::Board { player, .. }
            | Note::Join { player, .. }
            | Note::Wait { player, .. }
            | Note::Claim { player, .. }
            | Note::Again { player }
            | Note::Quit { player }
            | Note::Goodbye { player }
            | Note::Drop { player, .. } => Some(player),
            Note::DropClaims { .. }
            | Note::Start { .. }
            | Note::Draw { .. }
            | Note::Over { .. }
            | Note::Abandon { .. }
            | Note::Pause
            | Note::Idle => None,
        }
    }

    /// Whether the player it names leaves with it (`quit`, `goodbye`,
    /// `drop`).
    pub fn is_leaving(&self) -> bool {
        matches!(
            self,
            Note::Quit { .. } | Note::Goodbye { .. } | Note::Drop { .. }
        )
    }
}

word_enum! {
    /// What the server answered a claim (see `rules::Verdict`).
    pub enum ClaimVerdict {
        Win = "win",
        False = "false",
        Late = "late",
        Barred = "barred",
        NoWinner = "nowinner",
        WrongGame = "wrong-game",
    }
}

word_enum! {
    /// How a connection was lost.
    pub enum Lost {
        /// It closed, reset or broke the framing.
        Closed = "closed",
        /// Its outbox filled with lines it did not read.
        NotReading = "not-reading",
    }
}

word_enum! {
    /// Why a player was dropped.
    pub enum DropReason {
        NumbersClosed = "numbers-closed",
        NumbersNotReading = "numbers-not-reading",
        ClaimsClosed = "claims-closed",
        ClaimsNotReading = "claims-not-reading",
        /// No claims connection paired with it in time.
        PairingTimeout = "pairing-timeout",
    }
}

impl DropReason {
    /// The player's numbers connection was lost.
    pub fn numbers(lost: Lost) -> DropReason {
        match lost {
            Lost::Closed => DropReason::NumbersClosed,
            Lost::NotReading => DropReason::NumbersNotReading,
        }
    }

    /// The player's claims connection was lost.
    pub fn claims(lost: Lost) -> DropReason {
        match lost {
            Lost::Closed => DropReason::ClaimsClosed,
            Lost::NotReading => DropReason::ClaimsNotReading,
        }
    }
}

word_enum! {
    /// Why an unpaired claims connection was closed.
    pub enum ClaimsDropReason {
        Quit = "quit",
        /// Too many `HELLO`s with a bad token.
        BadToken = "bad-token",
        PairingTimeout = "pairing-timeout",
        Closed = "closed",
        NotReading = "not-reading",
    }
}

impl From<Lost> for ClaimsDropReason {
    fn from(lost: Lost) -> ClaimsDropReason {
        match lost {
            Lost::Closed => ClaimsDropReason::Closed,
            Lost::NotReading => ClaimsDropReason::NotReading,
        }
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Note::Connect { player } => write!(f, "connect {player}"),
            Note::Pair { player } => write!(f, "pair {player}"),
            Note::Board { player, board } => write!(f, "board {player} {board}"),
            Note::Join {
                player,
                game,
                history,
            } => write!(f, "join {player} {game} history {history}"),
            Note::Wait { player, game } => write!(f, "wait {player} {game}"),
            Note::Claim {
                player,
                game,
                verdict,
            } => write!(f, "claim {player} {game} {verdict}"),
            Note::Again { player } => write!(f, "again {player}"),
            Note::Quit { player } => write!(f, "quit {player}"),
            Note::Goodbye { player } => write!(f, "goodbye {player}"),
            Note::Drop { player, reason } => write!(f, "drop {player} {reason}"),
            Note::DropClaims { conn, reason } => write!(f, "drop-claims {conn} {reason}"),
            Note::Start { game } => write!(f, "start {game}"),
            Note::Draw { game, seq, number } => write!(f, "draw {game} {seq} {number}"),
            Note::Over {
                game,
                winner: Some(winner),
            } => write!(f, "over {game} winner {winner}"),
            Note::Over { game, winner: None } => write!(f, "over {game} nowinner"),
            Note::Abandon { game } => write!(f, "abandon {game}"),
            Note::Pause => f.write_str("pause"),
            Note::Idle => f.write_str("idle"),
        }
    }
}

impl FromStr for Note {
    type Err = NoteError;

    fn from_str(line: &str) -> Result<Note, NoteError> {
        let bad = || NoteError::new(line);
        let (keyword, rest) = line.split_once(' ').unwrap_or((line, ""));
        let args: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split(' ').collect()
        };
        let player = |token: &str| word(token, line);
        let note = match (keyword, &args[..]) {
            ("connect", [id]) => Note::Connect {
                player: player(id)?,
            },
            ("pair", [id]) => Note::Pair {
                player: player(id)?,
            },
            ("board", [id, numbers @ ..]) => {
                let numbers: Vec<u8> = numbers
                    .iter()
                    .map(|token| number(token, line))
                    .collect::<Result<_, _>>()?;
                Note::Board {
                    player: player(id)?,
                    board: Board::new(&numbers).map_err(|_| bad())?,
                }
            }
            ("join", [id, game, "history", history]) => Note::Join {
                player: player(id)?,
                game: number(game, line)?,
                history: number(history, line)?,
            },
            ("wait", [id, game]) => Note::Wait {
                player: player(id)?,
                game: number(game, line)?,
            },
            ("claim", [id, game, verdict]) => Note::Claim {
                player: player(id)?,
                game: number(game, line)?,
                verdict: ClaimVerdict::from_word(verdict).ok_or_else(bad)?,
            },
            ("again", [id]) => Note::Again {
                player: player(id)?,
            },
            ("quit", [id]) => Note::Quit {
                player: player(id)?,
            },
            ("goodbye", [id]) => Note::Goodbye {
                player: player(id)?,
            },
            ("drop", [id, reason]) => Note::Drop {
                player: player(id)?,
                reason: DropReason::from_word(reason).ok_or_else(bad)?,
            },
            ("drop-claims", [conn, reason]) => Note::DropClaims {
                conn: number(conn, line)?,
                reason: ClaimsDropReason::from_word(reason).ok_or_else(bad)?,
            },
            ("start", [game]) => Note::Start {
                game: number(game, line)?,
            },
            ("draw", [game, seq, drawn]) => Note::Draw {
                game: number(game, line)?,
                seq: number(seq, line)?,
                number: number(drawn, line)?,
            },
            ("over", [game, "winner", id]) => Note::Over {
                game: number(game, line)?,
                winner: Some(player(id)?),
            },
            ("over", [game, "nowinner"]) => Note::Over {
                game: number(game, line)?,
                winner: None,
            },
            ("abandon", [game]) => Note::Abandon {
                game: number(game, line)?,
            },
            ("pause", []) if !line.contains(' ') => Note::Pause,
            ("idle", []) if !line.contains(' ') => Note::Idle,
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
    use proptest::sample::{select, subsequence};

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
            player().prop_map(|player| Note::Pair { player }),
            (player(), board()).prop_map(|(player, board)| Note::Board { player, board }),
            (player(), any::<u64>(), any::<usize>()).prop_map(|(player, game, history)| {
                Note::Join {
                    player,
                    game,
                    history,
                }
            }),
            (player(), any::<u64>()).prop_map(|(player, game)| Note::Wait { player, game }),
            (player(), any::<u64>(), select(ClaimVerdict::ALL)).prop_map(
                |(player, game, verdict)| Note::Claim {
                    player,
                    game,
                    verdict
                }
            ),
            player().prop_map(|player| Note::Again { player }),
            player().prop_map(|player| Note::Quit { player }),
            player().prop_map(|player| Note::Goodbye { player }),
            (player(), select(DropReason::ALL))
                .prop_map(|(player, reason)| Note::Drop { player, reason }),
            (any::<ConnId>(), select(ClaimsDropReason::ALL))
                .prop_map(|(conn, reason)| Note::DropClaims { conn, reason }),
            any::<u64>().prop_map(|game| Note::Start { game }),
            (any::<u64>(), any::<u32>(), any::<u8>()).prop_map(|(game, seq, number)| Note::Draw {
                game,
                seq,
                number
            }),
            (any::<u64>(), proptest::option::of(player()))
                .prop_map(|(game, winner)| Note::Over { game, winner }),
            any::<u64>().prop_map(|game| Note::Abandon { game }),
            Just(Note::Pause),
            Just(Note::Idle),
        ]
    }

    proptest! {
        #[test]
        fn every_note_reads_back_as_itself(note in note()) {
            let text = note.to_string();
            prop_assert_eq!(text.parse::<Note>(), Ok(note), "{}", text);
        }

        #[test]
        fn whatever_parses_as_a_note_is_written_back_unchanged(line in "(connect|pair|again|quit|goodbye) p0?[0-9] ?|join p[0-9] 0?[0-9] (history|h) [0-9]{1,2}|wait p[0-9] 0?[0-9]|claim p[0-9] [0-9] (win|false|late|barred|nowinner|wrong-game|lost)|drop p[0-9] (numbers|claims)-(closed|not-reading)|drop-claims 0?[0-9] (quit|bad-token|closed|x)|start 0?[0-9]{1,2}|draw [0-9] [0-9]{1,2} [0-9]{1,3}|over [0-9] (winner p1|nowinner|winner)|abandon [0-9]|pause ?|idle ?") {
            if let Ok(note) = line.parse::<Note>() {
                prop_assert_eq!(note.to_string(), line);
            }
        }
    }

    #[test]
    fn every_server_line_of_the_live_snapshots_is_a_note_written_back_unchanged() {
        crate::notes::assert_snapshot_notes_round_trip::<Note>("live_", is_shell_line, 50);
    }

    #[test]
    fn lines_that_are_not_notes_are_refused() {
        for line in [
            "",
            "pause ",
            "idle 1",
            "draw 1 2",
            "draw 1 02 3",
            "claim p1 2 lost",
            "over 1 winner",
            "over 1 winner p1 p2",
            "drop p1 closed",
            "drop-claims p1 quit",
            "join p1 1 history",
            "connect p1 p2",
            "listen 0.0.0.0:8000",
        ] {
            assert_eq!(line.parse::<Note>(), Err(NoteError::new(line)), "{line:?}");
        }
    }
}
