//! The lock-step tombola wire protocol: one typed message per line, parsed
//! and encoded next to its definition. See docs/protocol.md.

use std::fmt;

use crate::tombola::game::PLAYERS_MAX;
use crate::tombola::rules::{Board, BOARD_NUMBERS};

/// Bytes of the longest player id: `p` and a connection count (a `u64`).
pub const ID_BYTES_MAX: usize = 1 + 20;

/// The longest line a lock-step server sends: a `START` or an
/// `OVER ... WINNERS` naming every one of [`PLAYERS_MAX`] players (about
/// 22 KB). Every other line keeps to `LINE_BYTES_MAX`, and so does every
/// line a client sends; clients read server lines up to this bound, so a
/// game of any size the server accepts can start and end.
pub const SERVER_LINE_BYTES_MAX: usize =
    "OVER ".len() + 20 + " WINNERS".len() + PLAYERS_MAX * (1 + ID_BYTES_MAX);
use crate::wire::{self, Refusal};

/// What a client may send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMessage {
    /// `BOARD n1 ... n15`
    Board(Board),
    /// `ACK <seq>`: seen draw `seq`, no claim.
    Ack(u32),
    /// `TOMBOLA <seq>`: my board is complete as of draw `seq`.
    Tombola(u32),
}

impl ClientMessage {
    /// Parses one line; a refusal says exactly what is wrong.
    pub fn parse(line: &str) -> Result<ClientMessage, Refusal> {
        let (keyword, rest) = wire::keyword(line);
        match keyword {
            "BOARD" => {
                let numbers: Vec<u8> = wire::numbers(rest).ok_or_else(|| {
                    Refusal::new(
                        "bad-board",
                        format!("need {BOARD_NUMBERS} numbers in 1..=90"),
                    )
                })?;
                Board::new(&numbers)
                    .map(ClientMessage::Board)
                    .map_err(|error| Refusal::new("bad-board", error.to_string()))
            }
            "ACK" | "TOMBOLA" => {
                let seq = wire::number(rest).ok_or_else(|| {
                    Refusal::new("bad-seq", format!("{keyword} needs a draw number"))
                })?;
                Ok(if keyword == "ACK" {
                    ClientMessage::Ack(seq)
                } else {
                    ClientMessage::Tombola(seq)
                })
            }
            _ => Err(wire::unknown_command(line, &["BOARD", "ACK", "TOMBOLA"])),
        }
    }
}

impl fmt::Display for ClientMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientMessage::Board(board) => write!(f, "BOARD {board}"),
            ClientMessage::Ack(seq) => {
                f.write_str("ACK ")?;
                wire::write_decimal(f, *seq)
            }
            ClientMessage::Tombola(seq) => write!(f, "TOMBOLA {seq}"),
        }
    }
}

/// What the server sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerMessage {
    /// `WELCOME <id>`
    Welcome(String),
    /// `BOARD-OK`
    BoardOk,
    /// `WAITING <have> <need>`
    Waiting { have: usize, need: usize },
    /// `START <game> <id> ...`
    Start { game: u64, players: Players },
    /// `DRAW <seq> <n>`
    Draw { seq: u32, number: u8 },
    /// `OVER <game> WINNERS <id> ...`, or `OVER <game> NOWINNER` when the
    /// draws ran out with no valid claim.
    Over { game: u64, winners: Vec<String> },
    /// `ERR <code> <detail>`
    Err(Refusal),
}

impl ServerMessage {
    pub fn parse(line: &str) -> Option<ServerMessage> {
        // The two lines a server sends most, a DRAW to every player at
        // every interval and a WAITING to every waiting player at every
        // registration (half a million in a 1,000-player room), are known
        // by their prefix before the general dispatch, for a fraction of
        // its comparisons. Exactly two numbers each, split without
        // collecting them. Without the space, `DRAW` and `WAITING` are no
        // line: the dispatch below refuses them.
        if let Some(rest) = line.strip_prefix("DRAW ") {
            let (seq, number) = wire::split_word(rest)?;
            return Some(ServerMessage::Draw {
                seq: wire::number(seq)?,
                number: wire::number(number)?,
            });
        }
        if let Some(rest) = line.strip_prefix("WAITING ") {
            let (have, need) = wire::split_word(rest)?;
            return Some(ServerMessage::Waiting {
                have: wire::number(have)?,
                need: wire::number(need)?,
            });
        }
        let (keyword, rest) = wire::keyword(line);
        let message = match keyword {
            "WELCOME" if is_id(rest) => ServerMessage::Welcome(rest.to_owned()),
            "BOARD-OK" if rest.is_empty() => ServerMessage::BoardOk,
            "START" => {
                let (game, ids) = match wire::split_word(rest) {
                    Some((game, ids)) => (game, Some(ids)),
                    None => (rest, None),
                };
                let game = wire::number(game)?;
                let players = match ids {
                    None => Players::default(),
                    Some(ids) if are_ids(ids) => Players(ids.into()),
                    Some(_) => return None,
                };
                ServerMessage::Start { game, players }
            }
            "OVER" => {
                let (game, rest) = rest.split_once(' ')?;
                let game = wire::number(game)?;
                let winners = if rest == "NOWINNER" {
                    Vec::new()
                } else {
                    let ids = rest.strip_prefix("WINNERS ")?;
                    let winners: Vec<String> = ids.split(' ').map(str::to_owned).collect();
                    if !winners.iter().all(|id| is_id(id)) {
                        return None;
                    }
                    winners
                };
                ServerMessage::Over { game, winners }
            }
            "ERR" => ServerMessage::Err(Refusal::parse(rest)?),
            _ => return None,
        };
        Some(message)
    }
}

/// The players a `START` seats, in order, kept as the line has them: their
/// ids joined by single spaces, shared. A game starts by sending the same
/// `START` to every player, so a 1,000-player room would otherwise copy
/// and format its 1,000 ids a thousand times, and every client would
/// split them into a thousand strings it never looks at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Players(std::sync::Arc<str>);

impl Players {
    /// The players with these ids (each non-empty, without spaces).
    pub fn new(ids: &[String]) -> Players {
        debug_assert!(ids.iter().all(|id| is_id(id)), "ids are words");
        Players(ids.join(" ").into())
    }

    /// The ids, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        self.0.split(' ').filter(|id| !id.is_empty())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many players.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// The ids as owned strings.
    pub fn to_vec(&self) -> Vec<String> {
        self.iter().map(str::to_owned).collect()
    }

    /// The ids joined by `separator`.
    pub fn join(&self, separator: &str) -> String {
        self.iter().collect::<Vec<_>>().join(separator)
    }
}

impl From<Vec<String>> for Players {
    fn from(ids: Vec<String>) -> Players {
        Players::new(&ids)
    }
}

/// Whether `text` is one or more ids separated by single spaces (every
/// word of `text.split(' ')` an id), checked in one pass over the bytes:
/// a 1,000-player `START` has 1,000 ids, and searching each for a space
/// again was a fifth of a full room's run.
fn are_ids(text: &str) -> bool {
    let bytes = text.as_bytes();
    !bytes.is_empty()
        && bytes[0] != b' '
        && bytes[bytes.len() - 1] != b' '
        && !bytes.windows(2).any(|pair| pair == b"  ")
}

/// A player id is one non-empty token.
fn is_id(text: &str) -> bool {
    !text.is_empty() && !text.contains(' ')
}

impl fmt::Display for ServerMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerMessage::Welcome(id) => write!(f, "WELCOME {id}"),
            ServerMessage::BoardOk => write!(f, "BOARD-OK"),
            // Numbers written without the formatting machinery: a
            // 1,000-player room's server renders half a million WAITING.
            ServerMessage::Waiting { have, need } => {
                f.write_str("WAITING ")?;
                wire::write_decimal(f, *have)?;
                f.write_str(" ")?;
                wire::write_decimal(f, *need)
            }
            ServerMessage::Start { game, players } if players.is_empty() => {
                write!(f, "START {game}")
            }
            ServerMessage::Start { game, players } => write!(f, "START {game} {}", players.0),
            ServerMessage::Draw { seq, number } => {
                f.write_str("DRAW ")?;
                wire::write_decimal(f, *seq)?;
                f.write_str(" ")?;
                wire::write_decimal(f, *number)
            }
            ServerMessage::Over { game, winners } if winners.is_empty() => {
                write!(f, "OVER {game} NOWINNER")
            }
            ServerMessage::Over { game, winners } => {
                write!(f, "OVER {game} WINNERS {}", winners.join(" "))
            }
            ServerMessage::Err(refusal) => write!(f, "{refusal}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn board_strategy() -> impl Strategy<Value = Board> {
        proptest::sample::subsequence((1..=90u8).collect::<Vec<_>>(), BOARD_NUMBERS)
            .prop_shuffle()
            .prop_map(|numbers| Board::new(&numbers).unwrap())
    }

    fn client_message() -> impl Strategy<Value = ClientMessage> {
        prop_oneof![
            board_strategy().prop_map(ClientMessage::Board),
            any::<u32>().prop_map(ClientMessage::Ack),
            any::<u32>().prop_map(ClientMessage::Tombola),
        ]
    }

    fn id() -> impl Strategy<Value = String> {
        "[a-z0-9.:]{1,12}"
    }

    fn server_message() -> impl Strategy<Value = ServerMessage> {
        prop_oneof![
            id().prop_map(ServerMessage::Welcome),
            Just(ServerMessage::BoardOk),
            (any::<usize>(), any::<usize>())
                .prop_map(|(have, need)| ServerMessage::Waiting { have, need }),
            (any::<u64>(), proptest::collection::vec(id(), 0..5)).prop_map(|(game, players)| {
                ServerMessage::Start {
                    game,
                    players: players.into(),
                }
            }),
            (any::<u32>(), any::<u8>())
                .prop_map(|(seq, number)| ServerMessage::Draw { seq, number }),
            (any::<u64>(), proptest::collection::vec(id(), 0..5))
                .prop_map(|(game, winners)| ServerMessage::Over { game, winners }),
            ("[a-z][a-z-]{0,15}", "[ -~]{0,40}")
                .prop_map(|(code, detail)| ServerMessage::Err(Refusal::new(&code, detail))),
        ]
    }

    proptest! {
        #[test]
        fn client_messages_survive_encode_then_parse(message in client_message()) {
            prop_assert_eq!(ClientMessage::parse(&message.to_string()), Ok(message));
        }

        #[test]
        fn server_messages_survive_encode_then_parse(message in server_message()) {
            prop_assert_eq!(ServerMessage::parse(&message.to_string()), Some(message));
        }

        #[test]
        fn a_draw_or_waiting_line_parses_exactly_when_it_has_two_canonical_numbers(
            line in "(DRAW|WAITING|DRAWS|WAIT)( ?[0-9]{0,3}[a ]?){0,3}"
        ) {
            // The grammar spelled out: the keyword, one space, two numbers
            // in their canonical spelling with one space between them.
            let canonical = |token: &str| {
                token.parse::<u64>().ok().filter(|value| value.to_string() == token)
            };
            let expected = line.split_once(' ').and_then(|(keyword, rest)| {
                let (first, second) = rest.split_once(' ')?;
                let (first, second) = (canonical(first)?, canonical(second)?);
                match keyword {
                    "DRAW" => Some(ServerMessage::Draw {
                        seq: u32::try_from(first).ok()?,
                        number: u8::try_from(second).ok()?,
                    }),
                    "WAITING" => Some(ServerMessage::Waiting {
                        have: usize::try_from(first).ok()?,
                        need: usize::try_from(second).ok()?,
                    }),
                    _ => None,
                }
            });
            prop_assert_eq!(ServerMessage::parse(&line), expected);
        }

        #[test]
        fn parsing_arbitrary_text_never_panics(line in "\\PC{0,200}") {
            let _ = ClientMessage::parse(&line);
            let _ = ServerMessage::parse(&line);
        }

        #[test]
        fn parsing_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let line = String::from_utf8_lossy(&bytes);
            let _ = ClientMessage::parse(&line);
            let _ = ServerMessage::parse(&line);
        }
    }

    #[test]
    fn a_start_names_its_players_with_single_spaces_between_them() {
        let players = |line: &str| match ServerMessage::parse(line) {
            Some(ServerMessage::Start { players, .. }) => Some(players.to_vec()),
            _ => None,
        };
        assert_eq!(players("START 1"), Some(vec![]));
        assert_eq!(
            players("START 1 p1 p2"),
            Some(vec!["p1".into(), "p2".into()])
        );
        for bad in [
            "START 1 ",
            "START 1  p1",
            "START 1 p1 ",
            "START 1 p1  p2",
            "START x p1",
        ] {
            assert_eq!(players(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn malformed_lines_get_the_documented_codes() {
        let code = |line: &str| ClientMessage::parse(line).unwrap_err().code;
        assert_eq!(code("BOARD 1 2 3"), "bad-board");
        assert_eq!(code("BOARD 1 2 x"), "bad-board");
        assert_eq!(code("BOARD  1"), "bad-board");
        assert_eq!(code("ACK"), "bad-seq");
        assert_eq!(code("TOMBOLA -1"), "bad-seq");
        assert_eq!(code("HELLO"), "unknown-command");
        assert_eq!(code("board 1"), "unknown-command");
    }
}
