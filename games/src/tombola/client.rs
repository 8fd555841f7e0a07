//! The lock-step tombola client session: register a board, answer every
//! draw, claim when the board is complete, report how the game ended.
//!
//! Behaviours other than an honest player exist so the harness can put
//! misbehaving clients into a scenario with the same code path.

use std::io;

use futures::{SinkExt, StreamExt};
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::env::Env;
use crate::framing::{Frame, FrameError, LineCodec};
use crate::tombola::protocol::{ClientMessage, ServerMessage};
use crate::tombola::rules::{Board, NumberSet};

/// How the client plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Answers every draw and claims as soon as the board is complete.
    Honest,
    /// Registers, then never answers a draw (the server must drop it).
    Silent,
    /// Claims tombola at draw `seq` whatever its board says.
    FalseClaimAt(u32),
    /// Disconnects after answering `draws` draws.
    LeaveAfter(u32),
}

/// How one client's game ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Won {
        winners: Vec<String>,
    },
    Lost {
        winners: Vec<String>,
    },
    NoWinner,
    /// The server refused a claim and closed the connection.
    Disqualified,
    /// The server closed the connection without `OVER` (timeout, ...).
    Dropped {
        reason: String,
    },
    /// The client left on its own (behaviour `LeaveAfter`).
    Left,
}

/// What one client saw: its id, its game, every draw in order, the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientReport {
    pub id: String,
    pub game: Option<u64>,
    pub draws: Vec<u8>,
    pub outcome: Outcome,
}

/// Why a session could not play.
#[derive(Debug)]
pub enum ClientError {
    Io(io::Error),
    /// The server said something this client does not understand.
    Protocol(String),
    /// The server refused the board.
    Refused(String),
    /// The connection ended before the game could start.
    Closed,
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Io(error) => write!(f, "connection failed: {error}"),
            ClientError::Protocol(line) => write!(f, "unexpected line from server: {line:?}"),
            ClientError::Refused(line) => write!(f, "server refused: {line}"),
            ClientError::Closed => write!(f, "server closed the connection"),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<io::Error> for ClientError {
    fn from(error: io::Error) -> Self {
        ClientError::Io(error)
    }
}

impl From<FrameError> for ClientError {
    fn from(error: FrameError) -> Self {
        match error {
            FrameError::Io(error) => ClientError::Io(error),
            FrameError::LineTooLong => ClientError::Protocol("line too long".to_owned()),
        }
    }
}

/// A person's answer to a draw (see [`Observer::answer`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Ack,
    Claim,
}

/// Watches a session as it plays (the interactive client draws its board
/// from these calls). `()` watches nothing.
pub trait Observer {
    fn seen(&mut self, message: &ServerMessage, board: &Board, drawn: &NumberSet);

    /// Decides the answer to draw `seq` in place of the behaviour: the
    /// interactive client asks the person, who may claim (and risks the
    /// false-claim rule). `None`, the default, leaves it to the behaviour.
    fn answer(&mut self, seq: u32) -> impl std::future::Future<Output = Option<Answer>> + Send {
        let _ = seq;
        std::future::ready(None)
    }
}

impl Observer for () {
    fn seen(&mut self, _: &ServerMessage, _: &Board, _: &NumberSet) {}
}

/// How long a client in a running game waits for the server's next line
/// before it gives up on a server that went silent (a dead link that TCP
/// has not reported yet). Waiting for other players has no limit.
pub const SILENCE_TIMEOUT_MS: u64 = 30_000;

/// How a client session plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientSettings {
    pub behaviour: Behaviour,
    /// See [`SILENCE_TIMEOUT_MS`].
    pub silence_timeout_ms: u64,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            behaviour: Behaviour::Honest,
            silence_timeout_ms: SILENCE_TIMEOUT_MS,
        }
    }
}

impl From<Behaviour> for ClientSettings {
    fn from(behaviour: Behaviour) -> Self {
        ClientSettings {
            behaviour,
            ..ClientSettings::default()
        }
    }
}

/// Connects to `addr`, plays one game with `board`, and reports.
pub async fn play<E: Env>(
    env: &E,
    addr: &str,
    board: Board,
    settings: impl Into<ClientSettings>,
    observer: &mut impl Observer,
) -> Result<ClientReport, ClientError> {
    let ClientSettings {
        behaviour,
        silence_timeout_ms,
    } = settings.into();
    let stream = env.connect(addr).await?;
    let (read_half, write_half) = tokio::io::split(stream);
    let mut lines = FramedRead::new(read_half, LineCodec::new());
    let mut sink = FramedWrite::new(write_half, LineCodec::new());
    let mut send = async |message: ClientMessage| -> Result<(), ClientError> {
        let line = message.to_string();
        env.record(format_args!("send {line}"));
        sink.send(line).await.map_err(ClientError::from)
    };

    let mut report = ClientReport {
        id: String::new(),
        game: None,
        draws: Vec::new(),
        outcome: Outcome::Left,
    };
    let mut drawn = NumberSet::default();
    let mut answered: u32 = 0;
    let mut registered = false;

    loop {
        let next = if report.game.is_some() {
            tokio::select! {
                biased;
                next = lines.next() => next,
                _ = env.sleep_ms(silence_timeout_ms) => {
                    env.record(format_args!("silence {silence_timeout_ms}"));
                    report.outcome = Outcome::Dropped { reason: format!("server silent for {silence_timeout_ms} ms") };
                    return Ok(report);
                }
            }
        } else {
            lines.next().await
        };
        let line = match next {
            Some(Ok(Frame::Line(line))) => line,
            Some(Ok(Frame::InvalidUtf8)) => {
                return Err(ClientError::Protocol("invalid UTF-8".to_owned()))
            }
            Some(Err(error)) => {
                if registered {
                    report.outcome = Outcome::Dropped {
                        reason: error.to_string(),
                    };
                    return Ok(report);
                }
                return Err(error.into());
            }
            None if registered => {
                report.outcome = Outcome::Dropped {
                    reason: "connection closed".to_owned(),
                };
                return Ok(report);
            }
            None => return Err(ClientError::Closed),
        };
        env.record(format_args!("recv {line}"));
        let message =
            ServerMessage::parse(&line).ok_or_else(|| ClientError::Protocol(line.clone()))?;
        observer.seen(&message, &board, &drawn);
        match &message {
            ServerMessage::Welcome(id) => {
                report.id = id.clone();
                send(ClientMessage::Board(board.clone())).await?;
            }
            ServerMessage::BoardOk => registered = true,
            ServerMessage::Waiting { .. } => {}
            ServerMessage::Start { game, .. } => report.game = Some(*game),
            ServerMessage::Draw { seq, number } => {
                report.draws.push(*number);
                if (1..=90).contains(number) {
                    drawn.insert(*number);
                }
                let answer = match observer.answer(*seq).await {
                    Some(Answer::Claim) => Some(ClientMessage::Tombola(*seq)),
                    Some(Answer::Ack) => Some(ClientMessage::Ack(*seq)),
                    None => None,
                };
                let answer = match (answer, behaviour) {
                    (Some(answer), _) => answer,
                    (None, Behaviour::Silent) => continue,
                    (None, Behaviour::LeaveAfter(draws)) if answered >= draws => {
                        report.outcome = Outcome::Left;
                        env.record(format_args!("leave"));
                        return Ok(report);
                    }
                    (None, Behaviour::FalseClaimAt(at)) if *seq == at => {
                        ClientMessage::Tombola(*seq)
                    }
                    _ if board.is_covered_by(&drawn) => ClientMessage::Tombola(*seq),
                    _ => ClientMessage::Ack(*seq),
                };
                answered += 1;
                send(answer).await?;
            }
            ServerMessage::Over { winners, .. } => {
                report.outcome = if winners.is_empty() {
                    Outcome::NoWinner
                } else if winners.contains(&report.id) {
                    Outcome::Won {
                        winners: winners.clone(),
                    }
                } else {
                    Outcome::Lost {
                        winners: winners.clone(),
                    }
                };
                return Ok(report);
            }
            ServerMessage::Err(refusal) => match refusal.code.as_str() {
                "disqualified" => {
                    report.outcome = Outcome::Disqualified;
                    return Ok(report);
                }
                "bad-board" | "server-full" => return Err(ClientError::Refused(line)),
                _ => {}
            },
        }
    }
}
