//! The line oracle of lock-step tombola: every line every client receives
//! must be one the rules allow at that moment, given what that client sent
//! before and what the server recorded (its `start`, `draw`, `claim`,
//! `drop` and `over` notes). It owns the protocol's promises about replies
//! (docs/protocol.md, lock-step section): `WELCOME` exactly once and
//! first; a reply (`BOARD-OK` or an `ERR` with the documented code) to
//! each line that needs one, in the order the lines were sent; `START`,
//! `DRAW` and `OVER` equal to the server's record; nothing after a final
//! line. A line it cannot explain is a violation; it never panics on any
//! trace.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use games::tombola::notes::{DropReason, Note};
use games::tombola::protocol::{ClientMessage, ServerMessage};

use crate::engine::harness::Violation;
use crate::engine::trace::TraceLine;

/// What the line oracle needs of one game, from the server's notes.
#[derive(Debug, Clone, Default)]
pub struct GameFacts {
    pub players: Vec<String>,
    pub draws: Vec<u8>,
    pub winners: Option<Vec<String>>,
}

/// The trace line a client writes when it sends bytes that are not UTF-8.
pub const SENT_INVALID_UTF8: &str = "send-invalid-utf8";
/// The trace line a client writes when it sends a line over the limit.
pub const SENT_OVER_LIMIT: &str = "send-over-limit";

/// A reply a client is owed, for the line it sent as its `sent`-th line.
#[derive(Debug, Clone)]
struct Owed {
    sent: usize,
    line: String,
    /// `None`: `BOARD-OK`; otherwise the `ERR` codes that may answer it.
    codes: Option<Vec<&'static str>>,
}

/// One connection of one client, as far as the oracle follows it.
#[derive(Debug, Default)]
struct Connection {
    received: usize,
    sent: usize,
    server: u32,
    id: Option<String>,
    /// The line after which nothing more may arrive.
    ended_by: Option<String>,
    owed: VecDeque<Owed>,
    board_sent: bool,
    registered: bool,
    game: Option<u64>,
    last_seq: u32,
    /// Draw seq -> the index of the send that answered it.
    answered: Answered,
    /// The last reply was `ERR false-claim`: `ERR disqualified` must follow.
    disqualifying: bool,
    /// When the server took this player's board (`None`: never), looked
    /// up once per connection rather than for each of its `WAITING` lines
    /// (a 1,000-player room's clients receive half a million of them).
    registered_ms: Option<Option<u64>>,
}

/// Draw seq -> the index of the send that answered it, sorted by seq: a
/// player answers the draws in order, so an answer is pushed at the end
/// and a look-up is a binary search of a vector (a tree map allocated a
/// node for the answers of every connection).
#[derive(Debug, Default)]
struct Answered(Vec<(u32, usize)>);

impl Answered {
    fn get(&self, seq: u32) -> Option<usize> {
        let index = self.0.binary_search_by_key(&seq, |&(answered, _)| answered);
        index.ok().map(|index| self.0[index].1)
    }

    fn insert(&mut self, seq: u32, sent: usize) {
        match self.0.binary_search_by_key(&seq, |&(answered, _)| answered) {
            Ok(index) => self.0[index].1 = sent,
            Err(index) => self.0.insert(index, (seq, sent)),
        }
    }
}

/// What the server recorded, by (server incarnation, player id).
#[derive(Debug, Default)]
pub(super) struct ServerRecord {
    /// (incarnation, id, seq) -> the claim was valid.
    claims: BTreeMap<(u32, String, u32), bool>,
    /// (incarnation, id) -> why the server dropped the player.
    drops: BTreeMap<(u32, String), DropReason>,
    /// (incarnation, count) -> when (in time order) the number of
    /// registered players waiting for a game became `count`. `WAITING
    /// <have>` must be one of these counts (players who register while a
    /// game runs wait for the next one, so a full table may wait). Kept by
    /// count so that checking one of the half million `WAITING` lines of a
    /// 1,000-player room is a lookup, not a scan of every change; hashed
    /// (by FNV, never iterated), since a tree of a thousand counts took
    /// some twenty key comparisons per line, a twentieth of that room's
    /// CPU.
    waiting: NameMap<(u32, usize), Vec<u64>>,
    /// incarnation -> id -> when the server took the player's board.
    registered_ms: BTreeMap<u32, BTreeMap<String, u64>>,
}

impl ServerRecord {
    /// Whether, on server `incarnation`, the number of waiting players
    /// became `count` at some time in `since_ms..=until_ms`.
    fn waiting_became(&self, incarnation: u32, count: usize, since_ms: u64, until_ms: u64) -> bool {
        self.waiting
            .get(&(incarnation, count))
            .is_some_and(|times| {
                let first = times.partition_point(|&time_ms| time_ms < since_ms);
                times.get(first).is_some_and(|&time_ms| time_ms <= until_ms)
            })
    }
}

/// Builds the [`ServerRecord`] from the server's notes as the trace walk
/// that parses them for every oracle (`parse_facts`) meets them: the
/// notes are parsed once, not once more here.
#[derive(Default)]
pub(super) struct ServerRecorder {
    record: ServerRecord,
    incarnation: u32,
    queue: BTreeSet<String>,
}

impl ServerRecorder {
    pub(super) fn new() -> ServerRecorder {
        ServerRecorder {
            incarnation: 1,
            ..ServerRecorder::default()
        }
    }

    /// The server restarted: a new incarnation with nobody waiting.
    pub(super) fn restart_server(&mut self) {
        self.incarnation += 1;
        self.queue.clear();
    }

    /// One note of the server's, written at `time_ms`.
    pub(super) fn note(&mut self, time_ms: u64, note: &Note) {
        let incarnation = self.incarnation;
        let record = &mut self.record;
        let queue = &mut self.queue;
        let changed = match note {
            Note::Claim { player, seq, valid } => {
                record
                    .claims
                    .insert((incarnation, player.clone(), *seq), *valid);
                false
            }
            Note::Drop { player, reason } => {
                let was_waiting = queue.remove(player);
                record
                    .drops
                    .entry((incarnation, player.clone()))
                    .or_insert(*reason);
                was_waiting
            }
            Note::Board { player, .. } => {
                record
                    .registered_ms
                    .entry(incarnation)
                    .or_default()
                    .insert(player.clone(), time_ms);
                queue.insert(player.clone())
            }
            Note::Start { players, .. } => {
                let before = queue.len();
                for player in players {
                    queue.remove(player);
                }
                queue.len() != before
            }
            _ => false,
        };
        if changed {
            record
                .waiting
                .entry((incarnation, queue.len()))
                .or_default()
                .push(time_ms);
        }
    }

    pub(super) fn finish(self) -> ServerRecord {
        self.record
    }
}

/// A hash map keyed by names from the trace, hashed by FNV-1a (the `fnv`
/// crate): names are a few bytes long, so it costs a fraction of the
/// standard SipHash. No adversary picks them, and these maps are never
/// iterated, so the hash cannot reach a report.
pub(crate) type NameMap<K, V> = HashMap<K, V, fnv::FnvBuildHasher>;

/// Checks every `recv` line of every client against the rules.
///
/// `record` is what the server's notes say (a [`ServerRecorder`] fed by
/// the same walk over the trace), and `received` the `recv` lines that
/// walk parsed already, as (index in `trace`, message) in trace order:
/// those are not parsed again.
#[allow(clippy::too_many_arguments)]
pub(super) fn check_every_line_explained(
    players_per_game: usize,
    trace: &[TraceLine],
    games: &BTreeMap<(u32, u64), GameFacts>,
    record: &ServerRecord,
    received: &[(usize, ServerMessage)],
    violations: &mut Vec<Violation>,
    reached: &mut BTreeSet<String>,
) {
    let mut parsed = received.iter().peekable();
    let mut incarnation = 1u32;
    // Looked up once per line and never iterated (so its order cannot
    // reach a report): a hash map, not a tree of 1,000 names compared on
    // every line, keyed by the trace's own names (no copy) with a hasher
    // made for short names (SipHash was a tenth of this check).
    let mut connections: NameMap<&str, Connection> = NameMap::default();
    let mut start_memo: StartMemo = None;
    let mut seat_memo: Option<SeatMemo> = None;
    for (index, line) in trace.iter().enumerate() {
        let host = line.host.as_str();
        match host {
            "sim" => {
                let words: Vec<&str> = line.text.split(' ').collect();
                match &words[..] {
                    ["restart", "server"] => incarnation += 1,
                    ["restart", client] => {
                        connections.remove(*client);
                    }
                    _ => {}
                }
                continue;
            }
            "server" => continue,
            _ => {}
        }
        let connection = connections.entry(host).or_insert_with(|| Connection {
            server: incarnation,
            ..Connection::default()
        });
        let mut problems = Vec::new();
        // Received lines first: they are most lines (four in five in a
        // 1,000-player room), and no other kind starts with `recv `.
        if let Some(received) = line.text.strip_prefix("recv ") {
            let pre_parsed = parsed
                .next_if(|(parsed_index, _)| *parsed_index == index)
                .map(|(_, message)| message);
            received_line(
                connection,
                received,
                pre_parsed,
                line.time_ms,
                incarnation,
                players_per_game,
                games,
                record,
                &mut problems,
                reached,
                &mut start_memo,
                &mut seat_memo,
            );
            connection.received += 1;
        } else if line.text.starts_with("retry ") {
            reached.insert("connect-retried".to_owned());
            *connection = Connection {
                server: incarnation,
                ..Connection::default()
            };
        } else if let Some(sent) = line.text.strip_prefix("send ") {
            sent_line(connection, sent, record, &mut problems);
        } else if line.text == SENT_INVALID_UTF8 {
            owe(connection, line.text.clone(), Some(vec!["invalid-utf8"]));
        } else if line.text == "half-close" {
            reached.insert("half-closed".to_owned());
        } else if line.text == SENT_OVER_LIMIT {
            owe(connection, line.text.clone(), Some(vec!["line-too-long"]));
        }
        for (property, detail) in problems {
            violations.push(Violation::new(
                property,
                format!("{} at {} ms: {detail}", line.host, line.time_ms),
            ));
        }
    }
}

fn owe(connection: &mut Connection, line: String, codes: Option<Vec<&'static str>>) {
    connection.sent += 1;
    connection.owed.push_back(Owed {
        sent: connection.sent,
        line,
        codes,
    });
}

/// What the server must answer to `sent`, as this client can know it.
fn sent_line(
    connection: &mut Connection,
    sent: &str,
    record: &ServerRecord,
    _problems: &mut Vec<(&'static str, String)>,
) {
    // Copied only into a reply owed: most lines sent (ACK) owe none.
    let line = || sent.to_owned();
    let message = match ClientMessage::parse(sent) {
        Err(refusal) => {
            let code = documented_code(&refusal.code);
            return owe(connection, line(), Some(vec![code]));
        }
        Ok(message) => message,
    };
    match message {
        ClientMessage::Board(_) if connection.board_sent => {
            owe(connection, line(), Some(vec!["already-registered"]))
        }
        ClientMessage::Board(_) => {
            connection.board_sent = true;
            owe(connection, line(), None)
        }
        ClientMessage::Ack(seq) | ClientMessage::Tombola(seq) => {
            let claims = matches!(message, ClientMessage::Tombola(_));
            let current = connection.game.is_some()
                && seq == connection.last_seq
                && seq >= 1
                && connection.answered.get(seq).is_none();
            if current {
                connection.sent += 1;
                connection.answered.insert(seq, connection.sent);
                // The key (with its id copied) is built for claims only.
                let false_claim = claims && {
                    let key = (
                        connection.server,
                        connection.id.clone().unwrap_or_default(),
                        seq,
                    );
                    record.claims.get(&key) == Some(&false)
                };
                if false_claim {
                    connection.sent -= 1;
                    owe(connection, line(), Some(vec!["false-claim"]));
                }
            } else if connection.game.is_none() && connection.registered && seq == 1 {
                // START and DRAW 1 may be on their way: the server may
                // take this as a valid answer. Nothing is owed.
                connection.sent += 1;
            } else if connection.game.is_some() {
                owe(connection, line(), Some(vec!["bad-seq"]));
            } else {
                // Before START arrives the server may already be drawing.
                owe(connection, line(), Some(vec!["not-playing", "bad-seq"]));
            }
        }
    }
}

/// The code the parser's refusal stands for, as a `'static` string (the
/// protocol's codes are a closed set; anything else is kept as
/// `unknown-command`, which then fails to match a wrong reply).
fn documented_code(code: &str) -> &'static str {
    match code {
        "bad-board" => "bad-board",
        "bad-seq" => "bad-seq",
        "unknown-command" => "unknown-command",
        _ => "unexplained-parser-code",
    }
}

/// Every `ERR` code a server sends without a line to answer.
const UNSOLICITED_CODES: &[&str] = &[
    "disqualified",
    "reply-timeout",
    "not-enough-players",
    "server-full",
];

/// The last `START` line parsed, with its text: every player of a game
/// receives the same `START`, and in a room of 1,000 players parsing it
/// again for each would cost more than the rest of the check.
type StartMemo<'a> = Option<(&'a str, ServerMessage)>;

/// The seats of the last `START` judged, on one server incarnation:
/// whether the server seated exactly its players, and those players as a
/// set. Every player of a game receives the same `START`; comparing its
/// 1,000 names again for each of 1,000 players made the check quadratic.
struct SeatMemo<'a> {
    text: &'a str,
    server: u32,
    as_recorded: bool,
    players: std::collections::HashSet<String>,
}

#[allow(clippy::too_many_arguments)]
fn received_line<'a>(
    connection: &mut Connection,
    received: &'a str,
    pre_parsed: Option<&ServerMessage>,
    received_ms: u64,
    incarnation: u32,
    players_per_game: usize,
    games: &BTreeMap<(u32, u64), GameFacts>,
    record: &ServerRecord,
    problems: &mut Vec<(&'static str, String)>,
    reached: &mut BTreeSet<String>,
    start_memo: &mut StartMemo<'a>,
    seat_memo: &mut Option<SeatMemo<'a>>,
) {
    if let Some(final_line) = &connection.ended_by {
        problems.push((
            "nothing-after-final",
            format!("received {received:?} after {final_line:?}"),
        ));
        return;
    }
    let remembered = matches!(start_memo, Some((text, _)) if *text == received);
    let parsed;
    let message = if let Some(message) = pre_parsed {
        message
    } else if remembered {
        &start_memo.as_ref().expect("remembered").1
    } else {
        let Some(message) = ServerMessage::parse(received) else {
            problems.push(("line-explained", format!("{received:?} is no server line")));
            return;
        };
        if matches!(message, ServerMessage::Start { .. }) {
            &start_memo.insert((received, message)).1
        } else {
            parsed = message;
            &parsed
        }
    };
    if connection.disqualifying
        && !matches!(&message, ServerMessage::Err(refusal) if refusal.code == "disqualified")
    {
        problems.push((
            "reply-matches",
            format!("{received:?} where ERR disqualified must follow ERR false-claim"),
        ));
        connection.disqualifying = false;
    }
    let first = connection.received == 0;
    let is_welcome = matches!(message, ServerMessage::Welcome(_));
    let is_full = matches!(&message, ServerMessage::Err(refusal) if refusal.code == "server-full");
    if first && !is_welcome && !is_full {
        problems.push(("welcome-first", format!("first line {received:?}")));
    }
    let game_facts = connection
        .game
        .and_then(|number| games.get(&(connection.server, number)));
    match &message {
        ServerMessage::Welcome(new_id) => {
            if !first {
                problems.push(("welcome-first", format!("a second WELCOME {new_id}")));
            }
            connection.id = Some(new_id.clone());
            connection.server = incarnation;
            connection.registered_ms = None;
        }
        ServerMessage::BoardOk => {
            match connection.owed.pop_front() {
                Some(Owed { codes: None, .. }) => {}
                Some(owed) => problems.push((
                    "reply-matches",
                    format!("BOARD-OK answered {:?}", owed.line),
                )),
                None => problems.push(("reply-matches", "BOARD-OK answers no line".to_owned())),
            }
            connection.registered = true;
        }
        ServerMessage::Waiting { have, need } => {
            if !connection.registered || connection.game.is_some() {
                problems.push((
                    "line-explained",
                    format!("{received:?} to a player not waiting for a game"),
                ));
            }
            // The count of waiting players after some change at the server
            // between this player's registration and now.
            let server = connection.server;
            let registered_ms = *connection.registered_ms.get_or_insert_with(|| {
                let id = connection.id.as_deref()?;
                record.registered_ms.get(&server)?.get(id).copied()
            });
            let counted = registered_ms.is_some_and(|since_ms| {
                record.waiting_became(server, *have, since_ms, received_ms)
            });
            if *need != players_per_game || *have == 0 || !counted {
                problems.push((
                    "waiting-counts",
                    format!("{received:?} with {players_per_game} players per game"),
                ));
            }
        }
        ServerMessage::Start { game, players } => {
            // Cloned only for the lines that need it (once per game), not
            // for every DRAW and WAITING.
            let id = connection.id.clone().unwrap_or_default();
            if !connection.registered || connection.game.is_some() {
                problems.push((
                    "line-explained",
                    format!("{received:?} to a player that is not registered and waiting"),
                ));
            }
            let facts = games.get(&(connection.server, *game));
            let known = matches!(seat_memo, Some(memo) if memo.text == received && memo.server == connection.server);
            if let (Some(facts), false) = (facts, known) {
                *seat_memo = Some(SeatMemo {
                    text: received,
                    server: connection.server,
                    as_recorded: players.iter().eq(facts.players.iter().map(String::as_str)),
                    players: players.iter().map(str::to_owned).collect(),
                });
            }
            let seated = seat_memo
                .as_ref()
                .is_some_and(|memo| memo.as_recorded && memo.players.contains(&id));
            match facts {
                Some(_) if seated => {}
                Some(facts) => problems.push((
                    "start-seats",
                    format!(
                        "{received:?} to {id}, the server seated {:?}",
                        facts.players
                    ),
                )),
                None => problems.push((
                    "start-seats",
                    format!("{received:?} names a game the server never started"),
                )),
            }
            connection.game = Some(*game);
        }
        ServerMessage::Draw { seq, number } => {
            let Some(facts) = game_facts else {
                problems.push(("line-explained", format!("{received:?} outside a game")));
                return;
            };
            if *seq != connection.last_seq.saturating_add(1) {
                problems.push((
                    "draw-matches",
                    format!("{received:?} after DRAW {}", connection.last_seq),
                ));
            } else if facts
                .draws
                .get((*seq as usize).saturating_sub(1))
                .is_none_or(|drawn| drawn != number)
            {
                problems.push((
                    "draw-matches",
                    format!("{received:?}, the server drew {:?}", facts.draws),
                ));
            }
            if *seq >= 2 {
                match connection.answered.get(seq - 1) {
                    None => problems.push((
                        "line-explained",
                        format!("{received:?} before this player answered draw {}", seq - 1),
                    )),
                    Some(answer) => owed_before(connection, answer, received, problems),
                }
            }
            connection.last_seq = *seq;
        }
        ServerMessage::Over { game, winners } => {
            match game_facts {
                Some(facts) if connection.game == Some(*game) => {
                    if facts.winners.as_ref() != Some(winners) {
                        problems.push((
                            "over-matches",
                            format!("{received:?}, the server recorded {:?}", facts.winners),
                        ));
                    }
                }
                _ => problems.push(("line-explained", format!("{received:?} outside its game"))),
            }
            if let Some(answer) = connection.answered.get(connection.last_seq) {
                owed_before(connection, answer, received, problems);
            }
            connection.ended_by = Some(received.to_owned());
        }
        ServerMessage::Err(refusal) => {
            let code = refusal.code.as_str();
            let id = connection.id.clone().unwrap_or_default();
            if UNSOLICITED_CODES.contains(&code) {
                let dropped_for = record.drops.get(&(connection.server, id.clone()));
                let explained = match code {
                    "disqualified" => std::mem::take(&mut connection.disqualifying),
                    "reply-timeout" => {
                        connection.game.is_some() && dropped_for == Some(&DropReason::ReplyTimeout)
                    }
                    "not-enough-players" => {
                        connection.registered
                            && connection.game.is_none()
                            && dropped_for == Some(&DropReason::RegistrationTimeout)
                    }
                    _ => first,
                };
                if explained {
                    reached.insert(format!("refused-{code}"));
                } else {
                    problems.push(("line-explained", format!("{received:?} is unexplained")));
                }
                connection.ended_by = Some(received.to_owned());
                return;
            }
            match connection.owed.pop_front() {
                Some(Owed {
                    codes: Some(codes),
                    line,
                    ..
                }) if codes.contains(&code) => {
                    if code == "false-claim" {
                        connection.disqualifying = true;
                    } else {
                        reached.insert("refused-bad-line".to_owned());
                        reached.insert(format!("refused-{code}"));
                    }
                    if code == "line-too-long" {
                        connection.ended_by = Some(received.to_owned());
                    }
                    let _ = line;
                }
                Some(owed) => problems.push((
                    "reply-matches",
                    format!("{received:?} answered {:?}", owed.line),
                )),
                None => problems.push((
                    "reply-matches",
                    format!("{received:?} answers no line this client sent"),
                )),
            }
        }
    }
}

/// A reply still owed for a line sent before send number `answer` when
/// the server's next step shows it handled `answer`: the reply is missing.
/// Each missing reply is reported once, then forgotten.
fn owed_before(
    connection: &mut Connection,
    answer: usize,
    received: &str,
    problems: &mut Vec<(&'static str, String)>,
) {
    while connection
        .owed
        .front()
        .is_some_and(|owed| owed.sent < answer)
    {
        if let Some(owed) = connection.owed.pop_front() {
            problems.push((
                "missing-reply",
                format!(
                    "{received:?} arrived, but {:?} was never answered",
                    owed.line
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiting_count_counts_only_if_it_was_reached_within_the_window() {
        let mut record = ServerRecord::default();
        record.waiting.insert((1, 2), vec![10, 20]);
        record.waiting.insert((2, 2), vec![50]);
        assert!(record.waiting_became(1, 2, 10, 10), "at the window's start");
        assert!(record.waiting_became(1, 2, 15, 20), "at its end");
        assert!(!record.waiting_became(1, 2, 11, 19), "between two changes");
        assert!(!record.waiting_became(1, 2, 21, 100), "after the last");
        assert!(!record.waiting_became(1, 3, 0, 100), "a count never reached");
        assert!(!record.waiting_became(2, 2, 0, 49), "another incarnation's");
    }
}
