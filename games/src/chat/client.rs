//! The chat client session the bots, the tests and the simulation share:
//! connect, learn the room, send seeded random messages to random peers,
//! leave, and report what happened.
//!
//! Every line it sends is recorded as `send <line>` and every line it
//! receives as `recv <line>`, and the session ends with one `end <how>`
//! record, so an oracle can pair each command with its reply (every
//! command gets exactly one) and each `FROM` with the `SENT` behind it.
//! Behaviours other than a talker exist so the harness can put a
//! misbehaving client into a scenario through the same code path.

use std::io;

use futures::{SinkExt, StreamExt};
use rand::seq::IndexedRandom;
use rand::Rng;
use tokio_util::codec::{FramedRead, FramedWrite};

use crate::chat::protocol::{ClientId, ClientMessage, ServerLineCodec, ServerMessage};
use crate::env::{Env, LineDirection};
use crate::framing::{Frame, FrameError};

/// How a talker leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Farewell {
    /// Sends `Q` and reads until `BYE` and the end of the stream.
    Quit,
    /// Drops the connection without a word, whatever is still queued for it.
    HangUp,
}

/// What a talker does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TalkPlan {
    /// Commands to send, one at a time, each after the previous reply.
    pub commands: u32,
    /// Pause before each command, drawn from `pause_min_ms..=pause_max_ms`.
    pub pause_min_ms: u64,
    pub pause_max_ms: u64,
    /// Percent of commands that are `L`; the others are messages to a peer
    /// from the last `CLIENTS` (self included; the list may be stale, so
    /// some targets have left). With no list yet, the command is `L`.
    pub list_percent: u32,
    /// Stop sending once this long has passed since connecting.
    pub duration_ms: Option<u64>,
    /// How long to keep reading after the last reply before leaving, so
    /// messages sent to this client still arrive.
    pub linger_ms: u64,
    pub farewell: Farewell,
}

impl Default for TalkPlan {
    fn default() -> Self {
        TalkPlan {
            commands: 10,
            pause_min_ms: 0,
            pause_max_ms: 20,
            list_percent: 20,
            duration_ms: None,
            linger_ms: 50,
            farewell: Farewell::Quit,
        }
    }
}

/// How the client behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Behaviour {
    Talker(TalkPlan),
    /// Reads its `WELCOME`, then never reads again and sends nothing; hangs
    /// up after `stay_ms`. The server must not let it stall anyone.
    NeverReads {
        stay_ms: u64,
    },
    /// Mixes correct play with malformed lines (see [`MischiefPlan`]).
    Mischief(MischiefPlan),
}

/// How a mischief client ends its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LastAct {
    /// Sends `Q` and reads until `BYE` and the end of the stream.
    Quit,
    /// Sends a line one byte over the limit; the server must refuse it
    /// with `ERR line-too-long` and close.
    LineTooLong,
    /// Shuts down its sending side and reads until the server closes.
    HalfClose,
}

/// What a mischief client does: turns of correct play (`L`, messages,
/// messages at and one byte over the length bound) and turns of malformed
/// lines (wrong grammar, unknown and lower-case words, bad ids, garbage,
/// a line at the length limit, bursts of them pipelined, invalid UTF-8),
/// any of them possibly written in many small pieces; then its last act.
/// Every line but the last act's gets exactly one reply, which it waits
/// for before the next turn. An invalid UTF-8 line is always sent alone
/// after every earlier reply is in, so that a server that answers framing
/// refusals out of turn is not what a run depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MischiefPlan {
    /// Turns before the last act.
    pub turns: u32,
    pub pause_min_ms: u64,
    pub pause_max_ms: u64,
    /// Percent of turns that are malformed.
    pub bad_percent: u32,
    /// The most malformed lines one burst pipelines.
    pub burst_max: u32,
    /// Percent of lines written in many small pieces.
    pub split_percent: u32,
    pub last_act: LastAct,
}

/// How a session ended, as its `end` record says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Sent `Q`, got `BYE`, saw the server close.
    Bye,
    /// Dropped the connection on purpose.
    HangUp,
    /// The server closed the connection without `BYE`.
    Closed,
    /// The server stayed silent past the session's silence bound while a
    /// reply (or the end of the stream after `Q`) was due; the session
    /// dropped the connection (see [`run_bounded`]).
    TimedOut,
}

impl End {
    pub fn as_str(self) -> &'static str {
        match self {
            End::Bye => "bye",
            End::HangUp => "hangup",
            End::Closed => "closed",
            End::TimedOut => "timeout",
        }
    }
}

/// What one session saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotReport {
    pub id: ClientId,
    /// Commands sent (`Q` not counted).
    pub commands: u32,
    /// Messages answered `SENT`.
    pub sent: u32,
    /// Messages answered `ERR recipient-busy`.
    pub busy: u32,
    /// Messages answered `ERR no-such-client`.
    pub no_such_client: u32,
    /// `FROM` lines received.
    pub received: u32,
    pub end: End,
}

/// Why a session could not run.
#[derive(Debug)]
pub enum ClientError {
    Io(io::Error),
    /// The server said something this client does not understand.
    Protocol(String),
    /// The connection ended before `WELCOME`.
    Closed,
    /// No `WELCOME` within the silence bound (recorded as `end timeout`).
    Silent(u64),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Io(error) => write!(f, "connection failed: {error}"),
            ClientError::Protocol(line) => write!(f, "unexpected line from server: {line:?}"),
            ClientError::Closed => write!(f, "server closed the connection before WELCOME"),
            ClientError::Silent(ms) => write!(f, "no WELCOME within {ms} ms"),
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

/// Words messages are made of: spaces, accents and an emoji included, so
/// byte-for-byte delivery is exercised on every run.
const WORDS: &[&str] = &[
    "ciao", "hello", "tombola", "numero", "città", "über", "🎲", "  ", "ok?", "L", "Q",
];
/// Words in one message after its number.
const MESSAGE_WORDS_MAX: usize = 4;

/// Connects to `addr` and runs one session.
pub async fn run<E: Env, R: Rng>(
    env: &E,
    addr: &str,
    behaviour: &Behaviour,
    rng: &mut R,
) -> Result<BotReport, ClientError> {
    run_bounded(env, addr, behaviour, rng, None).await
}

/// Like [`run`], but with `silence_ms` the session never waits longer than
/// that for the server while something is due (the connection and
/// `WELCOME`, a reply, the end of the stream after `Q`): it records
/// `end timeout` and drops the connection. A network fault can leave a
/// connection dead without either side hearing of it; this keeps a session
/// from waiting on it forever.
pub async fn run_bounded<E: Env, R: Rng>(
    env: &E,
    addr: &str,
    behaviour: &Behaviour,
    rng: &mut R,
    silence_ms: Option<u64>,
) -> Result<BotReport, ClientError> {
    let started_ms = env.now_ms();
    let greeting = async {
        let stream = env.connect(addr).await?;
        let (read_half, write_half) = crate::env::SplitStream::into_halves(stream);
        let mut lines = FramedRead::new(read_half, ServerLineCodec::new());
        let sink = FramedWrite::new(write_half, ServerLineCodec::new());
        let welcome = next_message(env, &mut lines).await?;
        Ok::<_, ClientError>((lines, sink, welcome))
    };
    let greeted = match silence_ms {
        None => greeting.await?,
        Some(bound_ms) => {
            tokio::select! {
                biased;
                greeted = greeting => greeted?,
                _ = env.sleep_ms(bound_ms) => {
                    env.record(format_args!("end {}", End::TimedOut.as_str()));
                    return Err(ClientError::Silent(bound_ms));
                }
            }
        }
    };
    let (mut lines, mut sink, welcome) = greeted;
    let welcome = welcome.ok_or(ClientError::Closed)?;
    let ServerMessage::Welcome(id) = welcome else {
        return Err(ClientError::Protocol(welcome.to_string()));
    };
    let mut report = BotReport {
        id,
        commands: 0,
        sent: 0,
        busy: 0,
        no_such_client: 0,
        received: 0,
        end: End::HangUp,
    };

    let plan = match behaviour {
        Behaviour::NeverReads { stay_ms } => {
            env.sleep_ms(*stay_ms).await;
            env.record(format_args!("end {}", End::HangUp.as_str()));
            return Ok(report);
        }
        Behaviour::Talker(plan) => plan,
        Behaviour::Mischief(plan) => {
            return mischief(env, lines, sink, report, plan, rng, silence_ms).await;
        }
    };

    let stop_sending_at_ms = plan.duration_ms.map_or(u64::MAX, |duration_ms| {
        started_ms.saturating_add(duration_ms)
    });
    let mut peers: Vec<ClientId> = Vec::new();
    let mut awaiting_reply = false;
    let mut next_command_at_ms = env.now_ms() + pause_ms(plan, rng);
    // Set once the last reply is in: when to leave.
    let mut leave_at_ms: Option<u64> = None;
    // When the reply to the command in flight is overdue.
    let mut reply_due_ms = u64::MAX;

    loop {
        let may_send = !awaiting_reply && leave_at_ms.is_none();
        tokio::select! {
            biased;
            message = next_message(env, &mut lines) => {
                let Some(message) = message? else {
                    report.end = End::Closed;
                    env.record(format_args!("end {}", End::Closed.as_str()));
                    return Ok(report);
                };
                if message.is_reply() {
                    awaiting_reply = false;
                    next_command_at_ms = env.now_ms() + pause_ms(plan, rng);
                }
                tally(&mut report, &message);
                if let ServerMessage::Clients(ids) = message {
                    peers = ids;
                }
            }
            _ = env.sleep_until_ms(next_command_at_ms), if may_send => {
                let now_ms = env.now_ms();
                if report.commands >= plan.commands || now_ms >= stop_sending_at_ms {
                    leave_at_ms = Some(now_ms + plan.linger_ms);
                    continue;
                }
                let command = choose_command(plan, &peers, report.commands, rng);
                send(env, &mut sink, &command).await?;
                report.commands += 1;
                awaiting_reply = true;
                reply_due_ms = env.now_ms().saturating_add(silence_ms.unwrap_or(u64::MAX));
            }
            _ = env.sleep_until_ms(reply_due_ms), if awaiting_reply && silence_ms.is_some() => {
                report.end = End::TimedOut;
                env.record(format_args!("end {}", End::TimedOut.as_str()));
                return Ok(report);
            }
            _ = env.sleep_until_ms(leave_at_ms.unwrap_or(0)), if leave_at_ms.is_some() => break,
        }
    }

    match plan.farewell {
        Farewell::HangUp => {
            report.end = End::HangUp;
            env.record(format_args!("end {}", End::HangUp.as_str()));
        }
        Farewell::Quit => {
            send(env, &mut sink, &ClientMessage::Quit).await?;
            let mut said_bye = false;
            loop {
                let message = match silence_ms {
                    None => next_message(env, &mut lines).await?,
                    Some(bound_ms) => {
                        tokio::select! {
                            biased;
                            message = next_message(env, &mut lines) => message?,
                            _ = env.sleep_ms(bound_ms) => {
                                report.end = End::TimedOut;
                                env.record(format_args!("end {}", End::TimedOut.as_str()));
                                return Ok(report);
                            }
                        }
                    }
                };
                let Some(message) = message else { break };
                said_bye |= message == ServerMessage::Bye;
                tally(&mut report, &message);
            }
            report.end = if said_bye { End::Bye } else { End::Closed };
            env.record(format_args!("end {}", report.end.as_str()));
        }
    }
    Ok(report)
}

/// Runs a mischief client's turns and last act on a welcomed connection.
async fn mischief<E: Env, R: Rng, RH, WH>(
    env: &E,
    mut lines: FramedRead<RH, ServerLineCodec>,
    mut sink: FramedWrite<WH, ServerLineCodec>,
    mut report: BotReport,
    plan: &MischiefPlan,
    rng: &mut R,
    silence_ms: Option<u64>,
) -> Result<BotReport, ClientError>
where
    RH: tokio::io::AsyncRead + Unpin,
    WH: tokio::io::AsyncWrite + Unpin,
{
    let talk = TalkPlan {
        list_percent: 30,
        ..TalkPlan::default()
    };
    let mut peers: Vec<ClientId> = Vec::new();
    for turn in 0..plan.turns {
        let pause = rng.random_range(plan.pause_min_ms..=plan.pause_max_ms.max(plan.pause_min_ms));
        // Read what arrives during the pause (messages from others).
        let pause_end_ms = env.now_ms() + pause;
        if let Some(end) = read_until(
            env,
            &mut lines,
            &mut report,
            &mut peers,
            0,
            Some(pause_end_ms),
            silence_ms,
        )
        .await?
        {
            report.end = end;
            return Ok(report);
        }
        let bad = rng.random_range(0..100) < plan.bad_percent;
        let mut batch: Vec<Outgoing> = Vec::new();
        if !bad {
            batch.push(good_line(&talk, &peers, report.id, turn, rng));
        } else if rng.random_range(0..6) == 0 {
            batch.push(Outgoing::InvalidUtf8(games_mischief::invalid_utf8_line(
                rng,
            )));
        } else {
            for _ in 0..rng.random_range(1..=plan.burst_max.max(1)) {
                batch.push(Outgoing::Line(bad_line(&peers, report.id, rng)));
            }
        }
        let expected = batch.len();
        for outgoing in batch {
            let split = rng.random_range(0..100) < plan.split_percent;
            write_outgoing(env, &mut sink, outgoing, split, rng).await?;
            report.commands += 1;
        }
        if let Some(end) = read_until(
            env,
            &mut lines,
            &mut report,
            &mut peers,
            expected,
            None,
            silence_ms,
        )
        .await?
        {
            report.end = end;
            return Ok(report);
        }
    }
    let split = rng.random_range(0..100) < plan.split_percent;
    match plan.last_act {
        LastAct::Quit => {
            write_outgoing(env, &mut sink, Outgoing::Line("Q".to_owned()), split, rng).await?;
        }
        LastAct::LineTooLong => {
            let line = games_mischief::line_over_limit(rng);
            env.record(format_args!("send-too-long"));
            write_raw(env, &mut sink, &line, split, rng).await?;
        }
        LastAct::HalfClose => {
            env.record(format_args!("half-close"));
            sink.flush().await?;
            tokio::io::AsyncWriteExt::shutdown(sink.get_mut()).await?;
        }
    }
    // Read until the server closes; `u32::MAX` replies never all arrive.
    let end = read_until(
        env,
        &mut lines,
        &mut report,
        &mut peers,
        usize::MAX,
        None,
        silence_ms,
    )
    .await?
    .unwrap_or(End::Closed);
    report.end = end;
    Ok(report)
}

/// Where the shared byte-level mischief lives.
use crate::mischief as games_mischief;

/// One line a mischief client writes.
enum Outgoing {
    /// UTF-8, recorded as `send <line>` (or `send-split <line>`).
    Line(String),
    /// Not UTF-8, with its terminator; recorded as `send-invalid-utf8`.
    InvalidUtf8(Vec<u8>),
}

/// A correct turn: `L`, a message from the talker's repertoire, or a
/// message at exactly the length bound or one byte over it (when the line
/// itself still fits in `LINE_BYTES_MAX`).
fn good_line<R: Rng>(
    talk: &TalkPlan,
    peers: &[ClientId],
    me: ClientId,
    turn: u32,
    rng: &mut R,
) -> Outgoing {
    let text_max = crate::chat::protocol::text_bytes_max(me);
    if let Some(&to) = peers.choose(rng) {
        let over = rng.random_range(0..2);
        let length = text_max + over;
        let fits = to.to_string().len() + 1 + length <= crate::framing::LINE_BYTES_MAX;
        if rng.random_range(0..8) == 0 && fits {
            let text: String = format!("m{turn}-edge-")
                .chars()
                .chain(std::iter::repeat('x'))
                .take(length)
                .collect();
            return Outgoing::Line(format!("{to} {text}"));
        }
    }
    Outgoing::Line(choose_command(talk, peers, turn, rng).to_string())
}

/// A malformed line that is still UTF-8 and within the length limit: the
/// chat grammar's mistakes and byte-level garbage.
fn bad_line<R: Rng>(peers: &[ClientId], me: ClientId, rng: &mut R) -> String {
    let peer = peers.choose(rng).copied().unwrap_or(me);
    let (ip, port) = (peer.ip(), peer.port());
    let garbage = |rng: &mut R, length: usize| {
        let mut bytes = games_mischief::garbage_line(rng, length);
        bytes.pop();
        String::from_utf8(bytes).unwrap_or_default()
    };
    match rng.random_range(0..16) {
        0 => "l".to_owned(),
        1 => "q".to_owned(),
        2 => "L all".to_owned(),
        3 => "Q now".to_owned(),
        4 => " L".to_owned(),
        5 => format!("{peer}"),
        6 => format!("{peer} "),
        7 => format!("localhost:{port} hi"),
        8 => format!("{ip}:0{port} hi"),
        9 => format!("{ip}:{} hi", u32::from(port) + 65_536),
        10 => "HELLO there".to_owned(),
        11 => format!("FROM {peer} spoof"),
        12 => "LIST".to_owned(),
        13 => {
            let length = rng.random_range(1..=40);
            garbage(rng, length)
        }
        14 => garbage(rng, crate::framing::LINE_BYTES_MAX),
        _ => "L;".to_owned(),
    }
}

/// Writes one line, recording it first.
async fn write_outgoing<E: Env, R: Rng, W: tokio::io::AsyncWrite + Unpin>(
    env: &E,
    sink: &mut FramedWrite<W, ServerLineCodec>,
    outgoing: Outgoing,
    split: bool,
    rng: &mut R,
) -> Result<(), ClientError> {
    match outgoing {
        Outgoing::Line(line) => {
            if split {
                env.record(format_args!("send-split {line}"));
            } else {
                env.record_line(LineDirection::Sent, &line);
            }
            let mut bytes = line.into_bytes();
            bytes.push(b'\n');
            write_raw(env, sink, &bytes, split, rng).await
        }
        Outgoing::InvalidUtf8(bytes) => {
            env.record(format_args!("send-invalid-utf8"));
            write_raw(env, sink, &bytes, split, rng).await
        }
    }
}

/// Writes bytes as they are, whole or in many small pieces.
async fn write_raw<E: Env, R: Rng, W: tokio::io::AsyncWrite + Unpin>(
    env: &E,
    sink: &mut FramedWrite<W, ServerLineCodec>,
    bytes: &[u8],
    split: bool,
    rng: &mut R,
) -> Result<(), ClientError> {
    sink.flush().await?;
    let writer = sink.get_mut();
    if split {
        games_mischief::write_in_pieces(env, writer, bytes, rng).await?;
    } else {
        tokio::io::AsyncWriteExt::write_all(writer, bytes).await?;
        tokio::io::AsyncWriteExt::flush(writer).await?;
    }
    Ok(())
}

/// Reads until `replies` replies are in (or, with `until_ms`, until then),
/// tallying what arrives. `Some(end)` when the connection ended first
/// (the server closed it, or stayed silent past `silence_ms` while a reply
/// was due); the `end` line is recorded.
async fn read_until<E: Env, RH: tokio::io::AsyncRead + Unpin>(
    env: &E,
    lines: &mut FramedRead<RH, ServerLineCodec>,
    report: &mut BotReport,
    peers: &mut Vec<ClientId>,
    replies: usize,
    until_ms: Option<u64>,
    silence_ms: Option<u64>,
) -> Result<Option<End>, ClientError> {
    let mut got = 0;
    let mut said_bye = false;
    let mut due_ms = env.now_ms().saturating_add(silence_ms.unwrap_or(u64::MAX));
    loop {
        if until_ms.is_none() && got >= replies {
            return Ok(None);
        }
        tokio::select! {
            biased;
            message = next_message(env, lines) => {
                let Some(message) = message? else {
                    let end = if said_bye { End::Bye } else { End::Closed };
                    env.record(format_args!("end {}", end.as_str()));
                    return Ok(Some(end));
                };
                if message.is_reply() {
                    got += 1;
                    due_ms = env.now_ms().saturating_add(silence_ms.unwrap_or(u64::MAX));
                }
                said_bye |= message == ServerMessage::Bye;
                tally(report, &message);
                if let ServerMessage::Clients(ids) = message {
                    *peers = ids;
                }
            }
            _ = env.sleep_until_ms(until_ms.unwrap_or(0)), if until_ms.is_some() => return Ok(None),
            _ = env.sleep_until_ms(due_ms), if silence_ms.is_some() && until_ms.is_none() => {
                env.record(format_args!("end {}", End::TimedOut.as_str()));
                return Ok(Some(End::TimedOut));
            }
        }
    }
}

fn pause_ms<R: Rng>(plan: &TalkPlan, rng: &mut R) -> u64 {
    rng.random_range(plan.pause_min_ms..=plan.pause_max_ms.max(plan.pause_min_ms))
}

fn choose_command<R: Rng>(
    plan: &TalkPlan,
    peers: &[ClientId],
    number: u32,
    rng: &mut R,
) -> ClientMessage {
    let Some(&to) = peers.choose(rng) else {
        return ClientMessage::List;
    };
    if rng.random_range(0..100) < plan.list_percent {
        return ClientMessage::List;
    }
    let mut text = format!("m{number}");
    for _ in 0..rng.random_range(1..=MESSAGE_WORDS_MAX) {
        text.push(' ');
        text.push_str(WORDS.choose(rng).expect("WORDS is not empty"));
    }
    ClientMessage::Send { to, text }
}

fn tally(report: &mut BotReport, message: &ServerMessage) {
    match message {
        ServerMessage::Sent(_) => report.sent += 1,
        ServerMessage::From { .. } => report.received += 1,
        ServerMessage::Err(refusal) if refusal.code == "recipient-busy" => report.busy += 1,
        ServerMessage::Err(refusal) if refusal.code == "no-such-client" => {
            report.no_such_client += 1
        }
        _ => {}
    }
}

async fn send<E: Env, W: tokio::io::AsyncWrite + Unpin>(
    env: &E,
    sink: &mut FramedWrite<W, ServerLineCodec>,
    message: &ClientMessage,
) -> Result<(), ClientError> {
    let line = message.to_string();
    env.record_line(LineDirection::Sent, &line);
    sink.send(line).await.map_err(ClientError::from)
}

/// The next line from the server, parsed and recorded; `None` at the end
/// of the stream.
async fn next_message<E: Env, R: tokio::io::AsyncRead + Unpin>(
    env: &E,
    lines: &mut FramedRead<R, ServerLineCodec>,
) -> Result<Option<ServerMessage>, ClientError> {
    match lines.next().await {
        // The server's shutdown line ends the stream as a close does.
        Some(Ok(Frame::Line(line))) if line == crate::conn::SHUTDOWN_LINE => {
            env.record_line(LineDirection::Received, &line);
            Ok(None)
        }
        Some(Ok(Frame::Line(line))) => {
            env.record_line(LineDirection::Received, &line);
            ServerMessage::parse(&line)
                .map(Some)
                .ok_or(ClientError::Protocol(line))
        }
        Some(Ok(Frame::InvalidUtf8)) => Err(ClientError::Protocol("invalid UTF-8".to_owned())),
        Some(Err(FrameError::Io(error))) if is_reset(&error) => Ok(None),
        Some(Err(error)) => Err(error.into()),
        None => Ok(None),
    }
}

/// A reset ends a stream as surely as a close does.
fn is_reset(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
    )
}
