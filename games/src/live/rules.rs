//! The live game's own pure rules, on top of the shared tombola rules: how a
//! claim is judged (first valid claim wins, everything after it is late) and
//! how a pause is announced in whole seconds. No clock, no I/O.

use crate::tombola::rules::{Board, NumberSet};

/// Where the server stands when a claim arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing<'a> {
    /// Game `game` is running and `drawn` holds its numbers so far.
    Playing { game: u64, drawn: &'a NumberSet },
    /// Game `game` is over (the pause after it, or nobody left to play).
    Finished { game: u64, winner: Option<&'a str> },
    /// No game has been played yet.
    NotStarted,
}

/// What the server answers to `TOMBOLA <game>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The first valid claim: this player wins the game.
    Win,
    /// The board is not covered by the draws: `ERR false-claim`.
    False,
    /// The game already has a winner: `LATE <game> <winner>`.
    Late { winner: String },
    /// This player made a false claim in this game earlier.
    Barred,
    /// The game ended without a winner.
    NoWinner,
    /// The claim names a game that is neither running nor just finished.
    WrongGame,
}

/// Judges one claim for `claimed_game` by a player holding `board`, who made
/// a false claim in game `barred_in` (if any). The caller decides what a win
/// does to the game; this only says what the claim is worth.
pub fn judge(
    standing: Standing<'_>,
    claimed_game: u64,
    board: &Board,
    barred_in: Option<u64>,
) -> Verdict {
    match standing {
        Standing::Playing { game, drawn } if game == claimed_game => {
            if barred_in == Some(game) {
                Verdict::Barred
            } else if board.is_covered_by(drawn) {
                Verdict::Win
            } else {
                Verdict::False
            }
        }
        Standing::Finished { game, winner } if game == claimed_game => match winner {
            Some(winner) => Verdict::Late {
                winner: winner.to_owned(),
            },
            None => Verdict::NoWinner,
        },
        _ => Verdict::WrongGame,
    }
}

/// The `<seconds>` of `NEXT <game> IN <seconds>` for a pause of `pause_ms`.
/// It is also the time a player has to answer `AGAIN`, so it is rounded
/// down: overstating a deadline would make a careful player miss it. A
/// sub-second pause is announced as `IN 0`, "answer now".
pub fn pause_seconds(pause_ms: u64) -> u64 {
    pause_ms / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn board(numbers: std::ops::RangeInclusive<u8>) -> Board {
        Board::new(&numbers.collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn a_covered_board_wins_and_an_uncovered_one_is_false() {
        let board = board(1..=15);
        let mut drawn: NumberSet = (1..=14).collect();
        fn playing(drawn: &NumberSet) -> Standing<'_> {
            Standing::Playing { game: 3, drawn }
        }
        assert_eq!(judge(playing(&drawn), 3, &board, None), Verdict::False);
        drawn.insert(15);
        assert_eq!(judge(playing(&drawn), 3, &board, None), Verdict::Win);
        assert_eq!(judge(playing(&drawn), 3, &board, Some(3)), Verdict::Barred);
        // A false claim in an earlier game does not bar this one.
        assert_eq!(judge(playing(&drawn), 3, &board, Some(2)), Verdict::Win);
        assert_eq!(judge(playing(&drawn), 2, &board, None), Verdict::WrongGame);
    }

    #[test]
    fn claims_after_the_end_are_late_and_name_the_winner() {
        let board = board(1..=15);
        let over = Standing::Finished {
            game: 3,
            winner: Some("p2"),
        };
        assert_eq!(
            judge(over, 3, &board, None),
            Verdict::Late {
                winner: "p2".into()
            }
        );
        assert_eq!(judge(over, 4, &board, None), Verdict::WrongGame);
        let nowinner = Standing::Finished {
            game: 3,
            winner: None,
        };
        assert_eq!(judge(nowinner, 3, &board, None), Verdict::NoWinner);
        assert_eq!(
            judge(Standing::NotStarted, 1, &board, None),
            Verdict::WrongGame
        );
    }

    #[test]
    fn pauses_are_announced_in_whole_seconds_rounded_down() {
        assert_eq!(pause_seconds(0), 0);
        assert_eq!(pause_seconds(200), 0);
        assert_eq!(pause_seconds(999), 0);
        assert_eq!(pause_seconds(1000), 1);
        assert_eq!(pause_seconds(1999), 1);
        assert_eq!(pause_seconds(60_000), 60);
    }
}
