//! The live tombola wire protocol: every line either side may send, on
//! either port, parsed and encoded next to its definition. Parsing never
//! panics, whatever the text. See docs/protocol.md, "Tombola, live".

use std::fmt;

use crate::tombola::rules::{Board, BOARD_NUMBERS};
use crate::wire::{self, Refusal};

/// What a client may send (on the claims port; the numbers port only
/// listens).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMessage {
    /// `HELLO <token>`: pairs this claims connection with the numbers
    /// connection that was given `<token>`.
    Hello(String),
    /// `BOARD n1 ... n15`
    Board(Board),
    /// `TOMBOLA <game>`: my board is complete in game `<game>`.
    Tombola(u64),
    /// `AGAIN`: play the next game too.
    Again,
    /// `QUIT`: leave now.
    Quit,
}

impl ClientMessage {
    /// Parses one line; a refusal says exactly what is wrong.
    pub fn parse(line: &str) -> Result<ClientMessage, Refusal> {
        let (keyword, rest) = wire::keyword(line);
        match keyword {
            "HELLO" => {
                if is_token(rest) {
                    Ok(ClientMessage::Hello(rest.to_owned()))
                } else {
                    Err(Refusal::new(
                        "bad-token",
                        "HELLO needs the token from WELCOME",
                    ))
                }
            }
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
            "TOMBOLA" => wire::number(rest)
                .map(ClientMessage::Tombola)
                .ok_or_else(|| Refusal::new("bad-game", "TOMBOLA needs a game number")),
            // `AGAIN ` (a trailing space) is an argument too, as in chat.
            "AGAIN" | "QUIT" if line.len() > keyword.len() => Err(Refusal::new(
                "bad-arguments",
                format!("{keyword} takes no arguments"),
            )),
            "AGAIN" => Ok(ClientMessage::Again),
            "QUIT" => Ok(ClientMessage::Quit),
            _ => Err(wire::unknown_command(
                line,
                &["HELLO", "BOARD", "TOMBOLA", "AGAIN", "QUIT"],
            )),
        }
    }
}

impl fmt::Display for ClientMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientMessage::Hello(token) => write!(f, "HELLO {token}"),
            ClientMessage::Board(board) => write!(f, "BOARD {board}"),
            ClientMessage::Tombola(game) => write!(f, "TOMBOLA {game}"),
            ClientMessage::Again => write!(f, "AGAIN"),
            ClientMessage::Quit => write!(f, "QUIT"),
        }
    }
}

/// What the server sends. The comment names the port each goes out on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerMessage {
    /// Numbers: `WELCOME <id> <token>`.
    Welcome { id: String, token: String },
    /// Claims: `HELLO <id>`, the pairing worked.
    Hello(String),
    /// Claims: `BOARD-OK`.
    BoardOk,
    /// Numbers: `GAME <game> HISTORY n1 n2 ...`, the numbers drawn so far in
    /// the game this player has just entered (none when it has not begun).
    Game { game: u64, history: Vec<u8> },
    /// Numbers: `DRAW <game> <seq> <n>`.
    Draw { game: u64, seq: u32, number: u8 },
    /// Claims: `WIN <game>`.
    Win(u64),
    /// Claims: `LATE <game> <winner-id>`.
    Late { game: u64, winner: String },
    /// Numbers: `OVER <game> WINNER <id>` or `OVER <game> NOWINNER`.
    Over { game: u64, winner: Option<String> },
    /// Numbers: `NEXT <game> IN <seconds>`.
    Next { game: u64, seconds: u64 },
    /// Claims: `AGAIN-OK`.
    AgainOk,
    /// Claims, and numbers when the pause ends: `GOODBYE`.
    Goodbye,
    /// Either port: `ERR <code> <detail>`.
    Err(Refusal),
}

impl ServerMessage {
    /// Parses one line from either port; `None` if it is not a server line.
    pub fn parse(line: &str) -> Option<ServerMessage> {
        let (keyword, rest) = wire::keyword(line);
        let message = match keyword {
            "WELCOME" => {
                let (id, token) = rest.split_once(' ')?;
                if !is_token(id) || !is_token(token) {
                    return None;
                }
                ServerMessage::Welcome {
                    id: id.to_owned(),
                    token: token.to_owned(),
                }
            }
            "HELLO" if is_token(rest) => ServerMessage::Hello(rest.to_owned()),
            "BOARD-OK" if rest.is_empty() => ServerMessage::BoardOk,
            "GAME" => {
                let (game, rest) = rest.split_once(' ')?;
                let history = match rest.strip_prefix("HISTORY") {
                    Some("") => Vec::new(),
                    Some(numbers) => match numbers.strip_prefix(' ')? {
                        "" => return None,
                        numbers => wire::numbers(numbers)?,
                    },
                    None => return None,
                };
                ServerMessage::Game {
                    game: wire::number(game)?,
                    history,
                }
            }
            "DRAW" => match rest.split(' ').collect::<Vec<_>>()[..] {
                [game, seq, number] => ServerMessage::Draw {
                    game: wire::number(game)?,
                    seq: wire::number(seq)?,
                    number: wire::number(number)?,
                },
                _ => return None,
            },
            "WIN" => ServerMessage::Win(wire::number(rest)?),
            "LATE" => {
                let (game, winner) = rest.split_once(' ')?;
                if !is_token(winner) {
                    return None;
                }
                ServerMessage::Late {
                    game: wire::number(game)?,
                    winner: winner.to_owned(),
                }
            }
            "OVER" => {
                let (game, rest) = rest.split_once(' ')?;
                let winner = match rest.strip_prefix("WINNER ") {
                    Some(id) if is_token(id) => Some(id.to_owned()),
                    Some(_) => return None,
                    None if rest == "NOWINNER" => None,
                    None => return None,
                };
                ServerMessage::Over {
                    game: wire::number(game)?,
                    winner,
                }
            }
            "NEXT" => match rest.split(' ').collect::<Vec<_>>()[..] {
                [game, "IN", seconds] => ServerMessage::Next {
                    game: wire::number(game)?,
                    seconds: wire::number(seconds)?,
                },
                _ => return None,
            },
            "AGAIN-OK" if rest.is_empty() => ServerMessage::AgainOk,
            "GOODBYE" if rest.is_empty() => ServerMessage::Goodbye,
            "ERR" => ServerMessage::Err(Refusal::parse(rest)?),
            _ => return None,
        };
        Some(message)
    }
}

/// Ids and tokens are one non-empty token.
fn is_token(text: &str) -> bool {
    !text.is_empty() && !text.contains(' ')
}

impl fmt::Display for ServerMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerMessage::Welcome { id, token } => write!(f, "WELCOME {id} {token}"),
            ServerMessage::Hello(id) => write!(f, "HELLO {id}"),
            ServerMessage::BoardOk => write!(f, "BOARD-OK"),
            ServerMessage::Game { game, history } if history.is_empty() => {
                write!(f, "GAME {game} HISTORY")
            }
            ServerMessage::Game { game, history } => {
                write!(f, "GAME {game} HISTORY {}", wire::join(history))
            }
            ServerMessage::Draw { game, seq, number } => write!(f, "DRAW {game} {seq} {number}"),
            ServerMessage::Win(game) => write!(f, "WIN {game}"),
            ServerMessage::Late { game, winner } => write!(f, "LATE {game} {winner}"),
            ServerMessage::Over {
                game,
                winner: Some(id),
            } => write!(f, "OVER {game} WINNER {id}"),
            ServerMessage::Over { game, winner: None } => write!(f, "OVER {game} NOWINNER"),
            ServerMessage::Next { game, seconds } => write!(f, "NEXT {game} IN {seconds}"),
            ServerMessage::AgainOk => write!(f, "AGAIN-OK"),
            ServerMessage::Goodbye => write!(f, "GOODBYE"),
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

    fn token() -> impl Strategy<Value = String> {
        "[a-z0-9.:-]{1,16}"
    }

    fn client_message() -> impl Strategy<Value = ClientMessage> {
        prop_oneof![
            token().prop_map(ClientMessage::Hello),
            board_strategy().prop_map(ClientMessage::Board),
            any::<u64>().prop_map(ClientMessage::Tombola),
            Just(ClientMessage::Again),
            Just(ClientMessage::Quit),
        ]
    }

    fn server_message() -> impl Strategy<Value = ServerMessage> {
        prop_oneof![
            (token(), token()).prop_map(|(id, token)| ServerMessage::Welcome { id, token }),
            token().prop_map(ServerMessage::Hello),
            Just(ServerMessage::BoardOk),
            (any::<u64>(), proptest::collection::vec(any::<u8>(), 0..90))
                .prop_map(|(game, history)| ServerMessage::Game { game, history }),
            (any::<u64>(), any::<u32>(), any::<u8>())
                .prop_map(|(game, seq, number)| ServerMessage::Draw { game, seq, number }),
            any::<u64>().prop_map(ServerMessage::Win),
            (any::<u64>(), token()).prop_map(|(game, winner)| ServerMessage::Late { game, winner }),
            (any::<u64>(), proptest::option::of(token()))
                .prop_map(|(game, winner)| ServerMessage::Over { game, winner }),
            (any::<u64>(), any::<u64>())
                .prop_map(|(game, seconds)| ServerMessage::Next { game, seconds }),
            Just(ServerMessage::AgainOk),
            Just(ServerMessage::Goodbye),
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
    fn malformed_client_lines_get_the_documented_codes() {
        let code = |line: &str| ClientMessage::parse(line).unwrap_err().code;
        assert_eq!(code("HELLO"), "bad-token");
        assert_eq!(code("HELLO a b"), "bad-token");
        assert_eq!(code("BOARD 1 2 3"), "bad-board");
        assert_eq!(code("BOARD 1 2 x"), "bad-board");
        assert_eq!(code("TOMBOLA"), "bad-game");
        assert_eq!(code("TOMBOLA -1"), "bad-game");
        assert_eq!(code("AGAIN now"), "bad-arguments");
        assert_eq!(code("QUIT x"), "bad-arguments");
        assert_eq!(code("tombola 1"), "unknown-command");
        assert_eq!(code("DRAW 1 1 1"), "unknown-command");
    }

    #[test]
    fn malformed_server_lines_are_not_messages() {
        for line in [
            "WELCOME p1",
            "GAME 1",
            "GAME 1 HISTORY ",
            "GAME 1 HISTORYX",
            "DRAW 1 2",
            "OVER 1 WINNER",
            "OVER 1 WINNER a b",
            "NEXT 2 AT 60",
            "LATE 1",
            "GOODBYE now",
        ] {
            assert_eq!(ServerMessage::parse(line), None, "{line}");
        }
    }
}
