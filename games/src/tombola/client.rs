//! The lock-step tombola client session: register a board, answer every
//! draw, claim when the board is complete, report how the game ended.
//!
//! Behaviours other than an honest player exist so the harness can put
//! misbehaving clients into a scenario with the same code path.

use std::io;

use futures::{SinkExt, StreamExt};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tokio::io::AsyncWriteExt;
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::env::{Env, LineDirection};
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
    /// Plays honestly, but after some answers also sends malformed lines
    /// (see [`mischief_lines`]), and may end with a line over the length
    /// limit or a half-close. Everything it does is drawn from `seed`.
    Mischief { seed: u64 },
}

/// One bad thing a mischievous client does, after its answer to a draw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadAct {
    /// A UTF-8 line the server must refuse with an `ERR` and go on.
    Line(String),
    /// A line that is not UTF-8: `ERR invalid-utf8`, the stream goes on.
    InvalidUtf8,
    /// A line one byte over the limit: `ERR line-too-long`, then closed.
    OverLimit,
    /// The client stops writing (shuts its write half); the server sees
    /// the end of the stream and drops the player.
    HalfClose,
}

/// The chance, per draw answered, that a mischievous client misbehaves.
const MISCHIEF_PER_DRAW: f64 = 0.3;
/// The chance that a misbehaviour is a burst rather than one line.
const MISCHIEF_BURST: f64 = 0.2;
/// The most lines in one burst: enough to fill the server's read-ahead
/// (4 unhandled lines) twice over.
const MISCHIEF_BURST_LINES_MAX: usize = 8;
/// The chance, per draw, that a mischievous client makes its last act.
const MISCHIEF_LAST_ACT_PER_DRAW: f64 = 0.02;

/// The bad acts a mischievous client commits after answering draw `seq`,
/// as drawn from `rng`. Grammar mistakes are this game's; byte-level ones
/// come from `games::mischief`. A last act ([`BadAct::OverLimit`],
/// [`BadAct::HalfClose`]) is always last.
pub fn mischief_lines(rng: &mut impl rand::Rng, seq: u32, board: &Board) -> Vec<BadAct> {
    let mut acts = Vec::new();
    if rng.random_bool(MISCHIEF_PER_DRAW) {
        let lines = if rng.random_bool(MISCHIEF_BURST) {
            rng.random_range(2..=MISCHIEF_BURST_LINES_MAX)
        } else {
            1
        };
        for _ in 0..lines {
            acts.push(one_bad_line(rng, seq, board));
        }
    }
    if rng.random_bool(MISCHIEF_LAST_ACT_PER_DRAW) {
        acts.push(if rng.random_bool(0.5) {
            BadAct::OverLimit
        } else {
            BadAct::HalfClose
        });
    }
    acts
}

fn one_bad_line(rng: &mut impl rand::Rng, seq: u32, board: &Board) -> BadAct {
    let line = match rng.random_range(0..13) {
        0 => "HELLO".to_owned(),
        1 => format!("ack {seq}"),
        2 => format!("tombola {seq}"),
        3 => "ACK".to_owned(),
        4 => "TOMBOLA x".to_owned(),
        5 => format!("ACK {seq} {seq}"),
        6 => "ACK 0".to_owned(),
        7 => "TOMBOLA 99999999999".to_owned(),
        8 => format!("ACK {seq}"),
        9 => "BOARD 1 2 3".to_owned(),
        10 => format!("BOARD {board}"),
        11 => {
            let line = crate::mischief::line_at_limit(rng);
            String::from_utf8_lossy(&line[..line.len() - 1]).into_owned()
        }
        _ => return BadAct::InvalidUtf8,
    };
    BadAct::Line(line)
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

/// In words, as traces and pictures show it: `won (winners p1 p3)`,
/// `dropped (connection closed)`, `left`.
impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Won { winners } => write!(f, "won (winners {})", winners.join(" ")),
            Outcome::Lost { winners } => write!(f, "lost (winners {})", winners.join(" ")),
            Outcome::NoWinner => write!(f, "no winner"),
            Outcome::Disqualified => write!(f, "disqualified"),
            Outcome::Dropped { reason } => write!(f, "dropped ({reason})"),
            Outcome::Left => write!(f, "left"),
        }
    }
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
    /// Connected, but `WELCOME` and `BOARD-OK` did not both arrive within
    /// [`ClientSettings::register_timeout_ms`].
    RegisterTimeout(u64),
}

impl ClientError {
    /// Worth another connect: the failure happened before the server had
    /// this player's board, so a new connection loses nothing.
    fn before_registering(&self) -> bool {
        matches!(
            self,
            ClientError::Io(_) | ClientError::Closed | ClientError::RegisterTimeout(_)
        )
    }
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Io(error) => write!(f, "connection failed: {error}"),
            ClientError::Protocol(line) => write!(f, "unexpected line from server: {line:?}"),
            ClientError::Refused(line) => write!(f, "server refused: {line}"),
            ClientError::Closed => write!(f, "server closed the connection"),
            ClientError::RegisterTimeout(ms) => write!(f, "not registered within {ms} ms"),
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
/// has not reported yet).
pub const SILENCE_TIMEOUT_MS: u64 = 30_000;

/// How long a registered client waits for `START` after the last line it
/// heard before it gives up on a dead link: a server starts the game, or
/// refuses a lone player, within its registration timeout (60 s by
/// default, `crate::tombola::game::REGISTRATION_TIMEOUT_MS`), so silence
/// beyond that plus [`SILENCE_TIMEOUT_MS`] means the `START` (or the close)
/// was lost. A server with a longer registration timeout needs clients
/// told so ([`ClientSettings::start_timeout_ms`]).
pub const START_TIMEOUT_MS: u64 =
    crate::tombola::game::REGISTRATION_TIMEOUT_MS + SILENCE_TIMEOUT_MS;

/// How many times a client tries to get registered (connect, `WELCOME`,
/// `BOARD-OK`) before it gives up. With the pauses of
/// [`connect_retry_pause_ms`] the attempts span about 8 s: enough to ride
/// out a restarting server or a short partition, bounded so that a client
/// pointed at nothing ends.
pub const CONNECT_ATTEMPTS_MAX: u32 = 6;
/// The pause after the first failed attempt; it doubles after each.
pub const CONNECT_RETRY_FIRST_MS: u64 = 250;
/// The longest pause between two attempts.
pub const CONNECT_RETRY_MAX_MS: u64 = 2_000;
/// How long one attempt waits, from connecting, for `WELCOME` and then
/// `BOARD-OK` before it closes the connection and tries again: a lost
/// line is never sent again on the same connection, and a server answers
/// a board at once.
pub const REGISTER_TIMEOUT_MS: u64 = 5_000;

/// The pause after failed attempt `attempt` (1-based).
pub fn connect_retry_pause_ms(attempt: u32) -> u64 {
    let doublings = attempt.saturating_sub(1).min(16);
    (CONNECT_RETRY_FIRST_MS << doublings).min(CONNECT_RETRY_MAX_MS)
}

/// How a client session plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientSettings {
    pub behaviour: Behaviour,
    /// See [`SILENCE_TIMEOUT_MS`].
    pub silence_timeout_ms: u64,
    /// See [`START_TIMEOUT_MS`].
    pub start_timeout_ms: u64,
    /// See [`REGISTER_TIMEOUT_MS`].
    pub register_timeout_ms: u64,
    /// See [`CONNECT_ATTEMPTS_MAX`].
    pub connect_attempts_max: u32,
}

impl Default for ClientSettings {
    fn default() -> Self {
        ClientSettings {
            behaviour: Behaviour::Honest,
            silence_timeout_ms: SILENCE_TIMEOUT_MS,
            start_timeout_ms: START_TIMEOUT_MS,
            register_timeout_ms: REGISTER_TIMEOUT_MS,
            connect_attempts_max: CONNECT_ATTEMPTS_MAX,
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

/// Connects to `addr`, plays one game with `board`, and reports. A failure
/// before the server has the board (no connection, closed, or no
/// `BOARD-OK` in time) is retried on a new connection, up to
/// `connect_attempts_max` attempts in all; once registered it never
/// reconnects (a new connection would be a new player).
pub async fn play<E: Env>(
    env: &E,
    addr: &str,
    board: Board,
    settings: impl Into<ClientSettings>,
    observer: &mut impl Observer,
) -> Result<ClientReport, ClientError> {
    let settings = settings.into();
    let mut attempt = 1;
    loop {
        let mut registered = false;
        let result = play_once(env, addr, &board, settings, observer, &mut registered).await;
        match result {
            Err(error)
                if !registered
                    && error.before_registering()
                    && attempt < settings.connect_attempts_max =>
            {
                let pause_ms = connect_retry_pause_ms(attempt);
                env.record(format_args!(
                    "retry {attempt} in {pause_ms} ms after: {error}"
                ));
                env.sleep_ms(pause_ms).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// One connection's attempt at a game; `registered` says whether the
/// server acknowledged the board.
async fn play_once<E: Env>(
    env: &E,
    addr: &str,
    board: &Board,
    settings: ClientSettings,
    observer: &mut impl Observer,
    registered: &mut bool,
) -> Result<ClientReport, ClientError> {
    let ClientSettings {
        behaviour,
        silence_timeout_ms,
        start_timeout_ms,
        register_timeout_ms,
        ..
    } = settings;
    let board = board.clone();
    let stream = env.connect(addr).await?;
    let register_deadline_ms = env.now_ms() + register_timeout_ms;
    let (read_half, write_half) = crate::env::SplitStream::into_halves(stream);
    // A START or OVER names every player: longer than a client's own lines.
    let mut lines = FramedRead::new(
        read_half,
        LineCodec::reading_up_to(crate::tombola::protocol::SERVER_LINE_BYTES_MAX),
    );
    let mut sink = FramedWrite::new(write_half, LineCodec::new());
    let mut mischief_rng = match behaviour {
        Behaviour::Mischief { seed } => Some(ChaCha8Rng::seed_from_u64(seed)),
        _ => None,
    };
    // Refusals a mischievous client is still owed for its bad lines: it
    // sends invalid UTF-8 or an over-long line only when none is owed, so
    // its sweeps never depend on framing refusals keeping their order.
    let mut refusals_owed: u32 = 0;
    let mut stopped_writing = false;

    let mut report = ClientReport {
        id: String::new(),
        game: None,
        draws: Vec::new(),
        outcome: Outcome::Left,
    };
    let mut drawn = NumberSet::default();
    let mut answered: u32 = 0;

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
        } else if !*registered {
            tokio::select! {
                biased;
                next = lines.next() => next,
                _ = env.sleep_until_ms(register_deadline_ms) => {
                    return Err(ClientError::RegisterTimeout(register_timeout_ms));
                }
            }
        } else {
            tokio::select! {
                biased;
                next = lines.next() => next,
                _ = env.sleep_ms(start_timeout_ms) => {
                    env.record(format_args!("silence {start_timeout_ms}"));
                    report.outcome = Outcome::Dropped { reason: format!("no START within {start_timeout_ms} ms of silence") };
                    return Ok(report);
                }
            }
        };
        // The server's shutdown line ends the session as a close does.
        let next = match next {
            Some(Ok(Frame::Line(line))) if line == crate::conn::SHUTDOWN_LINE => {
                env.record_line(LineDirection::Received, &line);
                None
            }
            other => other,
        };
        let line = match next {
            Some(Ok(Frame::Line(line))) => line,
            Some(Ok(Frame::InvalidUtf8)) => {
                return Err(ClientError::Protocol("invalid UTF-8".to_owned()))
            }
            Some(Err(error)) => {
                if *registered {
                    report.outcome = Outcome::Dropped {
                        reason: error.to_string(),
                    };
                    return Ok(report);
                }
                return Err(error.into());
            }
            None if *registered => {
                report.outcome = Outcome::Dropped {
                    reason: "connection closed".to_owned(),
                };
                return Ok(report);
            }
            None => return Err(ClientError::Closed),
        };
        env.record_line(LineDirection::Received, &line);
        let message =
            ServerMessage::parse(&line).ok_or_else(|| ClientError::Protocol(line.clone()))?;
        observer.seen(&message, &board, &drawn);
        match &message {
            ServerMessage::Welcome(id) => {
                report.id = id.clone();
                send(env, &mut sink, ClientMessage::Board(board.clone())).await?;
            }
            ServerMessage::BoardOk => *registered = true,
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
                    // Once it wrote a line over the limit (mischief), the
                    // connection is done for: nothing more is written.
                    _ if stopped_writing => continue,
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
                send(env, &mut sink, answer).await?;
                if let Some(rng) = &mut mischief_rng {
                    for act in mischief_lines(rng, *seq, &board) {
                        let framing = matches!(act, BadAct::InvalidUtf8 | BadAct::OverLimit);
                        if framing && refusals_owed > 0 {
                            continue;
                        }
                        let bytes = match &act {
                            BadAct::Line(line) => {
                                env.record_line(LineDirection::Sent, line);
                                format!("{line}\n").into_bytes()
                            }
                            BadAct::InvalidUtf8 => {
                                env.record(format_args!("send-invalid-utf8"));
                                crate::mischief::invalid_utf8_line(rng)
                            }
                            BadAct::OverLimit => {
                                env.record(format_args!("send-over-limit"));
                                stopped_writing = true;
                                crate::mischief::line_over_limit(rng)
                            }
                            BadAct::HalfClose => {
                                env.record(format_args!("half-close"));
                                stopped_writing = true;
                                sink.get_mut().shutdown().await?;
                                break;
                            }
                        };
                        refusals_owed += 1;
                        crate::mischief::write_in_pieces(env, sink.get_mut(), &bytes, rng).await?;
                        if stopped_writing {
                            break;
                        }
                    }
                }
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
            ServerMessage::Err(refusal)
                if refusals_owed > 0 && !FINAL_CODES.contains(&refusal.code.as_str()) =>
            {
                refusals_owed -= 1;
            }
            ServerMessage::Err(refusal) => match refusal.code.as_str() {
                "disqualified" => {
                    report.outcome = Outcome::Disqualified;
                    return Ok(report);
                }
                "bad-board" | "server-full" | "not-enough-players" => {
                    return Err(ClientError::Refused(line))
                }
                _ => {}
            },
        }
    }
}

/// Refusals that end a session rather than answer one line.
const FINAL_CODES: &[&str] = &[
    "disqualified",
    "reply-timeout",
    "not-enough-players",
    "server-full",
    "false-claim",
];

/// Sends one well-formed line and records it.
async fn send<E: Env, W: tokio::io::AsyncWrite + Unpin>(
    env: &E,
    sink: &mut FramedWrite<W, LineCodec>,
    message: ClientMessage,
) -> Result<(), ClientError> {
    let line = message.to_string();
    env.record_line(LineDirection::Sent, &line);
    sink.send(line).await.map_err(ClientError::from)
}
