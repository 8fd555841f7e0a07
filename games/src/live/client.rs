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

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::io::AsyncWriteExt;

use crate::env::{Env, LineDirection};
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
    /// Plays one game honestly, and between numbers, whenever every line
    /// it sent has been answered, sometimes sends malformed input (see
    /// [`MischiefAct`]): `acts` acts in all, the last of which ends the
    /// connection (a line over the limit, or a half-close). Every choice
    /// comes from an RNG seeded with `seed`.
    Mischief { acts: u32, seed: u64 },
}

/// One malformed thing a [`Behaviour::Mischief`] client does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MischiefAct {
    /// A keyword in lower case (`tombola 1`, `again`): unknown.
    LowerCase,
    /// A word no command starts with (`PING`, `HELO x`).
    UnknownWord,
    /// A known keyword with the wrong arguments (`TOMBOLA`, `AGAIN now`,
    /// `BOARD 1 2 3`, `HELLO` again).
    WrongGrammar,
    /// Numbers out of range (`TOMBOLA 99999999999999999999999`,
    /// `BOARD 0 ...`, `BOARD 91 ...`).
    OutOfRange,
    /// The longest legal line, of garbage.
    LineAtLimit,
    /// A line that is not UTF-8.
    InvalidUtf8,
    /// Two to five bad lines in one go, without waiting for replies.
    Burst,
    /// A bad line written in many small pieces.
    Split,
    /// Last act: a line one byte over the limit.
    LineOverLimit,
    /// Last act: closes its sending half of the claims connection.
    HalfClose,
}

/// The acts a mischief client draws from before its last one.
const MISCHIEF_ACTS: &[MischiefAct] = &[
    MischiefAct::LowerCase,
    MischiefAct::UnknownWord,
    MischiefAct::WrongGrammar,
    MischiefAct::OutOfRange,
    MischiefAct::LineAtLimit,
    MischiefAct::InvalidUtf8,
    MischiefAct::Burst,
    MischiefAct::Split,
];

/// A mischief client acts after about one number in this many (when its
/// replies are all in), so its acts spread over the game.
const MISCHIEF_ONE_IN: u32 = 4;

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
    let (claims_read, claims_write) = crate::env::SplitStream::into_halves(claims_stream);
    let mut claims = FramedRead::new(claims_read, LineCodec::new());
    let mut sink = FramedWrite::new(claims_write, LineCodec::new());
    send_line(env, &mut sink, ClientMessage::Hello(token).to_string()).await?;

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
        unanswered: 1,
        mischief: match config.behaviour {
            Behaviour::Mischief { acts, seed } => Some((acts, ChaCha8Rng::seed_from_u64(seed))),
            _ => None,
        },
        refusals_expected: 0,
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
                let message = if again { ClientMessage::Again } else { ClientMessage::Quit };
                session.unanswered += 1;
                send_line(env, &mut sink, message.to_string()).await?;
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
            Port::Claims => {
                env.record_line(LineDirection::Received, &line);
                session.unanswered = session.unanswered.saturating_sub(1);
            }
        }
        let message =
            ServerMessage::parse(&line).ok_or_else(|| ClientError::Protocol(line.clone()))?;
        let actions = session.handle(port, &message, &line)?;
        observer.seen(port, &message, &session.view());
        for action in actions {
            match action {
                Action::Send(message) => {
                    session.unanswered += 1;
                    send_line(env, &mut sink, message.to_string()).await?;
                }
                Action::Raw { bytes, pieces } => {
                    let writer = sink.get_mut();
                    let mut rng = ChaCha8Rng::seed_from_u64(bytes.len() as u64);
                    if let Some((_, mischief_rng)) = &mut session.mischief {
                        rng = ChaCha8Rng::seed_from_u64(mischief_rng.random());
                    }
                    match std::str::from_utf8(&bytes) {
                        Ok(text) if bytes.len() <= crate::framing::LINE_BYTES_MAX + 1 => {
                            let line = text.trim_end_matches('\n');
                            if pieces {
                                env.record(format_args!("send-in-pieces {line}"));
                            } else {
                                env.record_line(LineDirection::Sent, line);
                            }
                        }
                        Ok(_) => env.record(format_args!("send-over-limit {}", bytes.len() - 1)),
                        Err(_) => env.record(format_args!("send-invalid-utf8 {}", hex(&bytes))),
                    }
                    if pieces {
                        crate::mischief::write_in_pieces(env, writer, &bytes, &mut rng).await?;
                    } else {
                        writer.write_all(&bytes).await?;
                        writer.flush().await?;
                    }
                }
                Action::HalfClose => {
                    env.record(format_args!("half-close"));
                    sink.get_mut().shutdown().await?;
                }
                Action::Leave => {
                    env.record(format_args!("leave"));
                    return Ok(session.report(Ending::Left));
                }
                Action::End(ending) => return Ok(session.report(ending)),
            }
        }
    }
}

/// Sends one line on the claims port and notes it in the trace.
async fn send_line<E: Env, W: tokio::io::AsyncWrite + Unpin>(
    env: &E,
    sink: &mut FramedWrite<W, LineCodec>,
    line: String,
) -> Result<(), ClientError> {
    env.record_line(LineDirection::Sent, &line);
    sink.send(line).await.map_err(ClientError::from)
}

/// Bytes as lower-case hex, for a line that cannot go into the trace as text.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
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
    /// Raw bytes (one or more lines, maybe malformed) on the claims port,
    /// in many small writes if `pieces`.
    Raw {
        bytes: Vec<u8>,
        pieces: bool,
    },
    /// Close the sending half of the claims connection.
    HalfClose,
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
    /// Lines sent on the claims port and not answered yet.
    unanswered: u32,
    /// A mischief client's acts left and its RNG.
    mischief: Option<(u32, ChaCha8Rng)>,
    /// Refusals this client provoked on purpose and has not seen yet.
    refusals_expected: u32,
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
                "bad-token" | "bad-board" if self.refusals_expected > 0 => {
                    self.refusals_expected -= 1;
                }
                "bad-token" | "bad-board" | "server-full" | "pairing-timeout" => {
                    return Err(ClientError::Refused(line.to_owned()))
                }
                // Anything else refuses a line this client did not send
                // on purpose; it changes nothing here.
                _ => self.refusals_expected = self.refusals_expected.saturating_sub(1),
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
            Behaviour::Mischief { .. } if self.registered && self.unanswered == 0 => {
                self.mischief(game, actions);
            }
            _ => {}
        }
        if !self.claimed && self.board.is_covered_by(&self.drawn) {
            self.claimed = true;
            actions.push(Action::Send(ClientMessage::Tombola(game)));
        }
    }

    /// Maybe one act of mischief (see [`Behaviour::Mischief`]), only when
    /// every line sent so far has been answered: replies come in order,
    /// and a refusal of bad bytes must not overtake the reply to a line.
    fn mischief(&mut self, game: u64, actions: &mut Vec<Action>) {
        let Some((acts_left, rng)) = &mut self.mischief else {
            return;
        };
        if *acts_left == 0 || !rng.random_ratio(1, MISCHIEF_ONE_IN) {
            return;
        }
        *acts_left -= 1;
        let act = if *acts_left == 0 {
            if rng.random_bool(0.5) {
                MischiefAct::LineOverLimit
            } else {
                MischiefAct::HalfClose
            }
        } else {
            MISCHIEF_ACTS[rng.random_range(0..MISCHIEF_ACTS.len())]
        };
        let bad_line = |rng: &mut ChaCha8Rng, act: MischiefAct| -> String {
            match act {
                MischiefAct::LowerCase => ["tombola 1", "again", "quit", "board 1 2 3", "hello x"]
                    [rng.random_range(0..5)]
                .replace('1', &game.to_string()),
                MischiefAct::UnknownWord => ["PING", "HELO x", "TOMBOLAS 1", "WIN", "BINGO 3"]
                    [rng.random_range(0..5)]
                .to_owned(),
                MischiefAct::WrongGrammar => [
                    "TOMBOLA",
                    "TOMBOLA x",
                    "AGAIN now",
                    "QUIT please",
                    "BOARD 1 2 3",
                    "HELLO",
                    "BOARD",
                ][rng.random_range(0..7)]
                .to_owned(),
                _ => [
                    "TOMBOLA 99999999999999999999999",
                    "BOARD 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14",
                    "BOARD 91 1 2 3 4 5 6 7 8 9 10 11 12 13 14",
                    "BOARD 1 1 2 3 4 5 6 7 8 9 10 11 12 13 14",
                ][rng.random_range(0..4)]
                .to_owned(),
            }
        };
        let text_act = |rng: &mut ChaCha8Rng| {
            [
                MischiefAct::LowerCase,
                MischiefAct::UnknownWord,
                MischiefAct::WrongGrammar,
                MischiefAct::OutOfRange,
            ][rng.random_range(0..4)]
        };
        match act {
            MischiefAct::LineAtLimit => actions.push(Action::Raw {
                bytes: crate::mischief::line_at_limit(rng),
                pieces: false,
            }),
            MischiefAct::InvalidUtf8 => actions.push(Action::Raw {
                bytes: crate::mischief::invalid_utf8_line(rng),
                pieces: false,
            }),
            MischiefAct::LineOverLimit => actions.push(Action::Raw {
                bytes: crate::mischief::line_over_limit(rng),
                pieces: false,
            }),
            MischiefAct::HalfClose => actions.push(Action::HalfClose),
            MischiefAct::Burst => {
                for _ in 0..rng.random_range(2..=5) {
                    let act = text_act(rng);
                    let line = bad_line(rng, act);
                    actions.push(Action::Raw {
                        bytes: format!("{line}\n").into_bytes(),
                        pieces: false,
                    });
                }
            }
            MischiefAct::Split => {
                let act = text_act(rng);
                let line = bad_line(rng, act);
                actions.push(Action::Raw {
                    bytes: format!("{line}\n").into_bytes(),
                    pieces: true,
                });
            }
            act => {
                let line = bad_line(rng, act);
                actions.push(Action::Raw {
                    bytes: format!("{line}\n").into_bytes(),
                    pieces: false,
                });
            }
        }
        // Each bad line gets one refusal; bad boards and tokens are
        // refused with codes an honest client would stop on.
        let lines = actions
            .iter()
            .filter(|action| matches!(action, Action::Raw { .. }))
            .count() as u32;
        self.unanswered += lines;
        self.refusals_expected += lines;
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
            Behaviour::Mischief { .. } => false,
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
