//! The live tombola client session: open the numbers port, pair the claims
//! port with the token, register a board, follow every game it is in
//! (history, then draws), claim when the board is complete, and answer
//! `AGAIN` or `QUIT` after each game.
//!
//! The session checks what it is told: a `DRAW` out of sequence, or for a
//! game it is not in, ends it with a protocol error. Behaviours other than
//! an honest player exist so the harness can put misbehaving clients into a
//! scenario with the same code path. Trace events: `send <line>` for what it
//! sends (always on the claims port), `recv <line>` for the claims port and
//! `recv# <line>` for the numbers port.

use std::io;

use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::env::Env;
use crate::framing::{Frame, FrameError, LineCodec};
use crate::live::game::Port;
use crate::live::protocol::{ClientMessage, ServerMessage};
use crate::tombola::rules::{Board, NumberSet, NUMBER_MAX};

/// How the client plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Claims as soon as its board is complete, and says `AGAIN` until it
    /// has played `games` games, then `QUIT`.
    Honest { games: u32 },
    /// In its first game, claims at its `seq`-th number whatever its board
    /// says, and once more at the next one; then plays that game honestly
    /// and quits.
    FalseClaim { seq: u32 },
    /// Honest, but after a game someone else won it claims that game
    /// anyway once it has seen `OVER` (a claim during the pause).
    ClaimAfterOver { games: u32 },
    /// Sends `QUIT` at its `numbers`-th number of its first game.
    QuitAt { numbers: u32 },
    /// Drops both connections without a word at its `numbers`-th number.
    DisconnectAt { numbers: u32 },
    /// Plays one game honestly and never answers `AGAIN` or `QUIT`: the
    /// server must send it away when the pause ends.
    Silent,
    /// Asks the answers channel after each game (the interactive client);
    /// no channel, or a closed one, means `QUIT`.
    Ask,
}

/// The answer the server gave to this client's claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimAnswer {
    Win,
    Late {
        winner: String,
    },
    /// `ERR <code> ...`: `false-claim`, `claim-barred`, `game-over`, ...
    Refused {
        code: String,
    },
}

/// One game as this client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GameReport {
    pub game: u64,
    /// The numbers drawn before it joined.
    pub history: Vec<u8>,
    /// The draws it received after joining, in order.
    pub draws: Vec<u8>,
    /// Answers to its claims for this game, in order.
    pub answers: Vec<ClaimAnswer>,
    /// `Some(winner)` once `OVER` arrived (`Some(None)`: no winner).
    pub over: Option<Option<String>>,
}

/// How the session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// It sent `QUIT` and got `GOODBYE`.
    Quit,
    /// The server sent `GOODBYE` without a `QUIT` (no `AGAIN` in time).
    SentAway,
    /// It dropped its connections on purpose (`DisconnectAt`).
    Left,
    /// The server closed a connection without `GOODBYE`.
    Closed,
}

/// What one client saw: its id, every game it was in, how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveReport {
    pub id: String,
    pub games: Vec<GameReport>,
    pub ending: Ending,
}

/// Why a session could not play.
#[derive(Debug)]
pub enum ClientError {
    Io(io::Error),
    /// The server said something this client does not understand or that
    /// breaks the protocol (a gap in the draws, ...).
    Protocol(String),
    /// The server refused the pairing or the board.
    Refused(String),
    /// A connection ended before the board was registered.
    Closed,
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Io(error) => write!(f, "connection failed: {error}"),
            ClientError::Protocol(line) => write!(f, "protocol broken by server: {line}"),
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

/// What the client knows, handed to an [`Observer`] after each line.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    pub id: &'a str,
    pub board: &'a Board,
    /// The game it is in (or was last in).
    pub game: Option<u64>,
    /// The numbers of that game it knows of.
    pub drawn: &'a NumberSet,
    /// It waits for an answer on the answers channel (`Behaviour::Ask`).
    pub asking: bool,
}

/// Watches a session as it plays (the interactive client draws its board
/// from these calls). `()` watches nothing.
pub trait Observer {
    fn seen(&mut self, port: Port, message: &ServerMessage, view: &View<'_>);
}

impl Observer for () {
    fn seen(&mut self, _: Port, _: &ServerMessage, _: &View<'_>) {}
}

/// Where to connect and how to play.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub numbers_addr: String,
    pub claims_addr: String,
    pub board: Board,
    pub behaviour: Behaviour,
}

/// Plays until the session ends, and reports. `answers` feeds
/// `Behaviour::Ask` (true: `AGAIN`, false: `QUIT`).
pub async fn play<E: Env>(
    env: &E,
    config: &ClientConfig,
    observer: &mut impl Observer,
    mut answers: Option<mpsc::Receiver<bool>>,
) -> Result<LiveReport, ClientError> {
    let numbers_stream = env.connect(&config.numbers_addr).await?;
    let mut numbers = FramedRead::new(numbers_stream, LineCodec::new());
    let (id, token) = match next_line(&mut numbers).await? {
        Some(line) => {
            env.record(format_args!("recv# {line}"));
            match ServerMessage::parse(&line) {
                Some(ServerMessage::Welcome { id, token }) => (id, token),
                Some(ServerMessage::Err(_)) => return Err(ClientError::Refused(line)),
                _ => return Err(ClientError::Protocol(line)),
            }
        }
        None => return Err(ClientError::Closed),
    };
    let claims_stream = env.connect(&config.claims_addr).await?;
    let (claims_read, claims_write) = tokio::io::split(claims_stream);
    let mut claims = FramedRead::new(claims_read, LineCodec::new());
    let mut sink = FramedWrite::new(claims_write, LineCodec::new());
    let mut send = async |message: ClientMessage| -> Result<(), ClientError> {
        let line = message.to_string();
        env.record(format_args!("send {line}"));
        sink.send(line).await.map_err(ClientError::from)
    };
    send(ClientMessage::Hello(token)).await?;

    let mut session = Session {
        id,
        board: config.board.clone(),
        behaviour: config.behaviour,
        registered: false,
        games: Vec::new(),
        drawn: NumberSet::default(),
        claimed: false,
        asking: false,
        quitting: false,
        false_claims_left: match config.behaviour {
            Behaviour::FalseClaim { .. } => 2,
            _ => 0,
        },
    };

    // The server closes both connections of a player together, but their
    // ends arrive separately: after one ends, the other is read to its end
    // (a `GOODBYE` may still be on its way there).
    let (mut claims_open, mut numbers_open) = (true, true);
    loop {
        let (port, line) = tokio::select! {
            biased;
            line = next_line(&mut claims), if claims_open => (Port::Claims, line?),
            line = next_line(&mut numbers), if numbers_open => (Port::Numbers, line?),
            answer = next_answer(&mut answers), if session.asking => {
                session.asking = false;
                let again = answer.unwrap_or(false);
                session.quitting = !again;
                send(if again { ClientMessage::Again } else { ClientMessage::Quit }).await?;
                continue;
            }
            else => return session.closed(),
        };
        let Some(line) = line else {
            match port {
                Port::Claims => claims_open = false,
                Port::Numbers => numbers_open = false,
            }
            if claims_open || numbers_open {
                continue;
            }
            return session.closed();
        };
        match port {
            Port::Numbers => env.record(format_args!("recv# {line}")),
            Port::Claims => env.record(format_args!("recv {line}")),
        }
        let message =
            ServerMessage::parse(&line).ok_or_else(|| ClientError::Protocol(line.clone()))?;
        let actions = session.handle(port, &message, &line)?;
        observer.seen(port, &message, &session.view());
        for action in actions {
            match action {
                Action::Send(message) => send(message).await?,
                Action::Leave => {
                    env.record(format_args!("leave"));
                    return Ok(session.report(Ending::Left));
                }
                Action::End(ending) => return Ok(session.report(ending)),
            }
        }
    }
}

async fn next_line<S>(lines: &mut FramedRead<S, LineCodec>) -> Result<Option<String>, ClientError>
where
    S: tokio::io::AsyncRead + Unpin,
{
    match lines.next().await {
        // The server's shutdown line ends the stream as a close does.
        Some(Ok(Frame::Line(line))) if line == crate::conn::SHUTDOWN_LINE => Ok(None),
        Some(Ok(Frame::Line(line))) => Ok(Some(line)),
        Some(Ok(Frame::InvalidUtf8)) => Err(ClientError::Protocol("invalid UTF-8".to_owned())),
        Some(Err(FrameError::Io(_))) | None => Ok(None),
        Some(Err(error)) => Err(error.into()),
    }
}

async fn next_answer(answers: &mut Option<mpsc::Receiver<bool>>) -> Option<bool> {
    match answers {
        Some(answers) => answers.recv().await,
        None => None,
    }
}

enum Action {
    Send(ClientMessage),
    Leave,
    End(Ending),
}

/// The client's bookkeeping, without I/O.
struct Session {
    id: String,
    board: Board,
    behaviour: Behaviour,
    registered: bool,
    games: Vec<GameReport>,
    /// The numbers of the current (or last) game.
    drawn: NumberSet,
    /// A claim for the current game has been sent.
    claimed: bool,
    asking: bool,
    quitting: bool,
    false_claims_left: u32,
}

impl Session {
    fn view(&self) -> View<'_> {
        View {
            id: &self.id,
            board: &self.board,
            game: self.games.last().map(|game| game.game),
            drawn: &self.drawn,
            asking: self.asking,
        }
    }

    fn report(&self, ending: Ending) -> LiveReport {
        LiveReport {
            id: self.id.clone(),
            games: self.games.clone(),
            ending,
        }
    }

    fn closed(&self) -> Result<LiveReport, ClientError> {
        if self.registered {
            Ok(self.report(Ending::Closed))
        } else {
            Err(ClientError::Closed)
        }
    }

    /// The game being played: known, and not over yet.
    fn current(&mut self) -> Option<&mut GameReport> {
        self.games.last_mut().filter(|game| game.over.is_none())
    }

    fn handle(
        &mut self,
        port: Port,
        message: &ServerMessage,
        line: &str,
    ) -> Result<Vec<Action>, ClientError> {
        let broken = || ClientError::Protocol(line.to_owned());
        let mut actions = Vec::new();
        match message {
            ServerMessage::Hello(id) if port == Port::Claims && !self.registered => {
                if *id != self.id {
                    return Err(broken());
                }
                actions.push(Action::Send(ClientMessage::Board(self.board.clone())));
            }
            ServerMessage::BoardOk if port == Port::Claims => self.registered = true,
            ServerMessage::Game { game, history } if port == Port::Numbers => {
                if self.current().is_some() || history.len() > usize::from(NUMBER_MAX) {
                    return Err(broken());
                }
                self.drawn = NumberSet::default();
                for &number in history {
                    if !(1..=NUMBER_MAX).contains(&number) || !self.drawn.insert(number) {
                        return Err(broken());
                    }
                }
                self.claimed = false;
                self.games.push(GameReport {
                    game: *game,
                    history: history.clone(),
                    draws: Vec::new(),
                    answers: Vec::new(),
                    over: None,
                });
                self.after_number(&mut actions);
            }
            ServerMessage::Draw { game, seq, number } if port == Port::Numbers => {
                let known = self.drawn.len();
                let current = self.current().ok_or_else(broken)?;
                if current.game != *game
                    || *seq as usize != known + 1
                    || !(1..=NUMBER_MAX).contains(number)
                {
                    return Err(broken());
                }
                current.draws.push(*number);
                if !self.drawn.insert(*number) {
                    return Err(broken());
                }
                self.after_number(&mut actions);
            }
            ServerMessage::Over { game, winner } if port == Port::Numbers => {
                let Some(current) = self.current().filter(|current| current.game == *game) else {
                    // A game this client is not in (it has not registered).
                    return Ok(actions);
                };
                current.over = Some(winner.clone());
                let lost = winner.as_ref() != Some(&self.id);
                self.after_game(*game, lost, &mut actions);
            }
            ServerMessage::Next { .. } if port == Port::Numbers => {}
            ServerMessage::Win(game) if port == Port::Claims => {
                self.answer(*game, ClaimAnswer::Win).ok_or_else(broken)?
            }
            ServerMessage::Late { game, winner } if port == Port::Claims => self
                .answer(
                    *game,
                    ClaimAnswer::Late {
                        winner: winner.clone(),
                    },
                )
                .ok_or_else(broken)?,
            ServerMessage::AgainOk if port == Port::Claims => {}
            ServerMessage::Goodbye => actions.push(Action::End(if self.quitting {
                Ending::Quit
            } else {
                Ending::SentAway
            })),
            ServerMessage::Err(refusal) => match refusal.code.as_str() {
                "false-claim" | "claim-barred" | "game-over" | "wrong-game" => {
                    let game = crate::wire::keyword(&refusal.detail).0;
                    let game = crate::wire::number(game).ok_or_else(broken)?;
                    let code = refusal.code.clone();
                    self.answer(game, ClaimAnswer::Refused { code })
                        .ok_or_else(broken)?
                }
                "bad-token" | "bad-board" | "server-full" | "pairing-timeout" => {
                    return Err(ClientError::Refused(line.to_owned()))
                }
                // Anything else refuses a line this client did not send
                // on purpose; it changes nothing here.
                _ => {}
            },
            _ => return Err(broken()),
        }
        Ok(actions)
    }

    /// Records the answer to a claim for `game`; `None` if this client
    /// never played that game.
    fn answer(&mut self, game: u64, answer: ClaimAnswer) -> Option<()> {
        let report = self
            .games
            .iter_mut()
            .rev()
            .find(|report| report.game == game)?;
        report.answers.push(answer);
        Some(())
    }

    /// A number arrived (or a history): claim, misbehave, or go on.
    fn after_number(&mut self, actions: &mut Vec<Action>) {
        let Some(game) = self.games.last().map(|game| game.game) else {
            return;
        };
        let first_game = self.games.len() == 1;
        let known = self.drawn.len() as u32;
        match self.behaviour {
            Behaviour::QuitAt { numbers } if first_game && known >= numbers && !self.quitting => {
                self.quitting = true;
                actions.push(Action::Send(ClientMessage::Quit));
                return;
            }
            Behaviour::DisconnectAt { numbers } if first_game && known >= numbers => {
                actions.push(Action::Leave);
                return;
            }
            Behaviour::FalseClaim { seq }
                if first_game && known >= seq && self.false_claims_left > 0 =>
            {
                self.false_claims_left -= 1;
                actions.push(Action::Send(ClientMessage::Tombola(game)));
                return;
            }
            _ => {}
        }
        if !self.claimed && self.board.is_covered_by(&self.drawn) {
            self.claimed = true;
            actions.push(Action::Send(ClientMessage::Tombola(game)));
        }
    }

    /// `OVER` for this client's game arrived.
    fn after_game(&mut self, game: u64, lost: bool, actions: &mut Vec<Action>) {
        let played = self.games.len() as u32;
        let again = match self.behaviour {
            Behaviour::Honest { games } => played < games,
            Behaviour::ClaimAfterOver { games } => {
                if lost {
                    actions.push(Action::Send(ClientMessage::Tombola(game)));
                }
                played < games
            }
            Behaviour::FalseClaim { .. } | Behaviour::QuitAt { .. } => false,
            Behaviour::DisconnectAt { .. } => false,
            Behaviour::Silent => return,
            Behaviour::Ask => {
                self.asking = true;
                return;
            }
        };
        if again {
            actions.push(Action::Send(ClientMessage::Again));
        } else if !self.quitting {
            self.quitting = true;
            actions.push(Action::Send(ClientMessage::Quit));
        }
    }
}
