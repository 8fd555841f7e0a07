//! The chat room under the simulation: scenario specs, how one seed of a
//! spec runs on turmoil, and the oracles that judge its trace.
//!
//! The server and every client session run the same code as the real
//! binaries (`games::chat::{server, client}`) over [`SimEnv`]. Several
//! client sessions share one turmoil host, each with its own connection
//! and its own trace name, because a simulation step costs more with every
//! host. The oracles read only the trace: the server's notes (`join`,
//! `leave`, `list`, `route`, `busy`, `unknown`, `refuse`) and the clients'
//! `send`, `recv` and `end` lines.
//!
//! For chat, [`RunOutcome::games`] counts the client sessions that ended
//! and `winners_per_game` stays empty: there is nothing to win.

use std::collections::{BTreeMap, BTreeSet};

use games::chat::client::{self, Behaviour, Farewell, TalkPlan};
use games::chat::protocol::ClientMessage;
use games::chat::server::{self, ServerConfig};
use games::env::Env;
use rand::Rng;

use crate::env::SimEnv;
use crate::harness::{
    build_sim, host_rng, liveness, NetConfig, RunOptions, RunOutcome, Scenario, Violation,
};
use crate::trace::TraceLine;

/// The port the simulated server listens on.
pub const SERVER_PORT: u16 = 2004;
/// The trace name (and turmoil host) of the server.
pub const SERVER_NAME: &str = "server";
/// A chat run that has not ended by then has hung: every scenario's
/// sessions end within a few simulated seconds.
pub const CHAT_DURATION_MS: u64 = 30_000;

/// One simulated client session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSpec {
    /// Its name in the trace; unique.
    pub name: String,
    /// The turmoil host it runs on; sessions may share one.
    pub host: String,
    pub behaviour: Behaviour,
    /// Simulated time at which it connects.
    pub join_at_ms: u64,
}

/// A whole chat run: server settings, sessions, network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatSpec {
    pub server: ServerConfig,
    pub sessions: Vec<SessionSpec>,
    pub net: NetConfig,
}

/// Runs one seed of `spec` and judges it.
pub fn run_spec(spec: &ChatSpec, seed: u64, options: &RunOptions) -> RunOutcome {
    let trace = options.new_trace();
    let mut sim = build_sim(seed, &spec.net);

    let server_trace = trace.clone();
    let config = spec.server.clone();
    sim.host(SERVER_NAME, move || {
        let env = SimEnv::new(SERVER_NAME, &server_trace);
        let config = config.clone();
        async move {
            let listener = env.bind(&format!("0.0.0.0:{SERVER_PORT}")).await?;
            server::run(env, listener, config, std::future::pending()).await?;
            Ok(())
        }
    });

    let mut hosts: BTreeMap<&str, Vec<SessionSpec>> = BTreeMap::new();
    for session in &spec.sessions {
        hosts
            .entry(session.host.as_str())
            .or_default()
            .push(session.clone());
    }
    for (host, sessions) in hosts {
        let trace = trace.clone();
        sim.client(host, async move {
            let mut running = Vec::new();
            for session in sessions {
                let env = SimEnv::new(&session.name, &trace);
                running.push(tokio::task::spawn_local(run_session(env, session, seed)));
            }
            for session in running {
                session.await?;
            }
            Ok(())
        });
    }

    let mut violations = Vec::new();
    liveness(sim.run(), &mut violations);
    let mut outcome = judge(trace.lines(), violations);
    outcome.wire = trace.wire();
    outcome
}

async fn run_session(env: SimEnv, session: SessionSpec, seed: u64) {
    if session.join_at_ms > 0 {
        env.sleep_ms(session.join_at_ms).await;
    }
    let mut rng = host_rng(seed, &session.name);
    let addr = format!("{SERVER_NAME}:{SERVER_PORT}");
    if let Err(error) = client::run(&env, &addr, &session.behaviour, &mut rng).await {
        env.record(format_args!("error {error}"));
    }
}

/// One decision of the server about one command of one client.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Decision {
    List(Vec<String>),
    Route { to: String, text: String },
    Busy { to: String },
    Unknown { to: String },
    Refuse { code: String },
    Quit,
}

impl Decision {
    /// The reply this decision must have produced, or for a refusal its
    /// prefix (the detail is free text).
    fn reply(&self) -> String {
        match self {
            Decision::List(ids) if ids.is_empty() => "CLIENTS".to_owned(),
            Decision::List(ids) => format!("CLIENTS {}", ids.join(" ")),
            Decision::Route { to, .. } => format!("SENT {to}"),
            Decision::Busy { to } => format!("ERR recipient-busy {to}"),
            Decision::Unknown { to } => format!("ERR no-such-client {to}"),
            Decision::Refuse { code } => format!("ERR {code}"),
            Decision::Quit => "BYE".to_owned(),
        }
    }

    /// Whether this decision answers the command `line`.
    fn answers(&self, line: &str) -> bool {
        match (ClientMessage::parse(line), self) {
            (Ok(ClientMessage::List), Decision::List(_)) => true,
            (Ok(ClientMessage::Quit), Decision::Quit) => true,
            (
                Ok(ClientMessage::Send { to, text }),
                Decision::Route {
                    to: routed,
                    text: sent,
                },
            ) => to.to_string() == *routed && text == *sent,
            (Ok(ClientMessage::Send { to, .. }), Decision::Busy { to: target })
            | (Ok(ClientMessage::Send { to, .. }), Decision::Unknown { to: target }) => {
                to.to_string() == *target
            }
            (Ok(ClientMessage::Send { .. }), Decision::Refuse { code }) => {
                code == "message-too-long"
            }
            (Err(refusal), Decision::Refuse { code }) => refusal.code == *code,
            _ => false,
        }
    }
}

/// One client session as its trace lines tell it.
#[derive(Debug, Default)]
struct Session {
    id: Option<String>,
    /// Trace index of its `recv WELCOME`.
    welcomed_at: Option<usize>,
    /// Trace index of its `send Q` or of its `end hangup`: from then on it
    /// has left, as far as it knows.
    left_at: Option<usize>,
    commands: Vec<String>,
    /// Lines that answer its commands, in order.
    replies: Vec<String>,
    /// `FROM` lines: sender and text, in order.
    received: Vec<(String, String)>,
    end: Option<String>,
}

/// What the trace says, parsed once for every oracle.
#[derive(Debug, Default)]
struct Facts {
    sessions: BTreeMap<String, Session>,
    /// Client id -> the server's decisions on its commands, in order.
    decisions: BTreeMap<String, Vec<Decision>>,
    /// (sender, target) -> texts queued for the target, in order.
    routed: BTreeMap<(String, String), Vec<String>>,
}

fn parse_facts(lines: &[TraceLine], violations: &mut Vec<Violation>) -> Facts {
    let mut facts = Facts::default();
    for (index, line) in lines.iter().enumerate() {
        if line.host == SERVER_NAME {
            parse_server_note(&mut facts, &line.text, violations);
            continue;
        }
        let session = facts.sessions.entry(line.host.clone()).or_default();
        let (kind, rest) = line.text.split_once(' ').unwrap_or((&line.text, ""));
        match kind {
            "send" => {
                if rest == "Q" {
                    session.left_at.get_or_insert(index);
                }
                session.commands.push(rest.to_owned());
            }
            "recv" => {
                let (keyword, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                match keyword {
                    "WELCOME" => {
                        session.id = Some(tail.to_owned());
                        session.welcomed_at = Some(index);
                    }
                    "FROM" => match tail.split_once(' ') {
                        Some((from, text)) => {
                            session.received.push((from.to_owned(), text.to_owned()))
                        }
                        None => violations.push(Violation::new("trace-format", line.to_string())),
                    },
                    _ => session.replies.push(rest.to_owned()),
                }
            }
            "end" => {
                if rest == "hangup" {
                    session.left_at.get_or_insert(index);
                }
                session.end = Some(rest.to_owned());
            }
            "error" => violations.push(Violation::new(
                "client-error",
                format!("{}: {rest}", line.host),
            )),
            _ => violations.push(Violation::new("trace-format", line.to_string())),
        }
    }
    facts
}

fn parse_server_note(facts: &mut Facts, text: &str, violations: &mut Vec<Violation>) {
    let words: Vec<&str> = text.splitn(4, ' ').collect();
    let decision = match words[..] {
        ["list", from, ..] => {
            let ids = text.split(' ').skip(2).map(str::to_owned).collect();
            Some((from, Decision::List(ids)))
        }
        ["route", from, to, message] => {
            facts
                .routed
                .entry((from.to_owned(), to.to_owned()))
                .or_default()
                .push(message.to_owned());
            Some((
                from,
                Decision::Route {
                    to: to.to_owned(),
                    text: message.to_owned(),
                },
            ))
        }
        ["busy", from, to] => Some((from, Decision::Busy { to: to.to_owned() })),
        ["unknown", from, to] => Some((from, Decision::Unknown { to: to.to_owned() })),
        ["refuse", from, code] => Some((
            from,
            Decision::Refuse {
                code: code.to_owned(),
            },
        )),
        ["leave", from, "quit"] => Some((from, Decision::Quit)),
        ["listen", ..] | ["join", _] | ["leave", _, _] => None,
        _ => {
            violations.push(Violation::new("trace-format", format!("server: {text}")));
            None
        }
    };
    if let Some((from, decision)) = decision {
        facts
            .decisions
            .entry(from.to_owned())
            .or_default()
            .push(decision);
    }
}

/// The oracles, applied to a finished run's trace. Public so that a run on
/// real TCP, traced the same way, is judged by the very same code.
pub fn judge(trace: Vec<TraceLine>, mut violations: Vec<Violation>) -> RunOutcome {
    let facts = parse_facts(&trace, &mut violations);
    let mut outcome = RunOutcome::default();
    check_membership(&trace, &facts, &mut violations, &mut outcome);
    check_replies(&facts, &mut violations);
    check_delivery(&facts, &mut violations, &mut outcome);
    outcome.games = facts
        .sessions
        .values()
        .filter(|session| session.end.is_some())
        .count() as u64;
    outcome.trace = trace;
    outcome.violations = violations;
    outcome
}

/// Replays joins and leaves in trace order: `L` lists exactly the clients
/// connected at that moment, a message is routed (or refused as busy) only
/// to a connected client, `no-such-client` only for one that is not, and
/// every id the server names belongs to a session that was welcomed.
fn check_membership(
    trace: &[TraceLine],
    facts: &Facts,
    violations: &mut Vec<Violation>,
    outcome: &mut RunOutcome,
) {
    // Session name by id, for the races that need the client's view.
    let mut by_id: BTreeMap<&str, &Session> = BTreeMap::new();
    for (name, session) in &facts.sessions {
        if let Some(id) = &session.id {
            if by_id.insert(id, session).is_some() {
                violations.push(Violation::new(
                    "ids-unique",
                    format!("{name} was welcomed as {id}, an id another session had"),
                ));
            }
        }
    }
    let mut connected: BTreeSet<&str> = BTreeSet::new();
    let mut ever_joined: BTreeSet<&str> = BTreeSet::new();
    let mut busy_seen = false;
    for (index, line) in trace.iter().enumerate() {
        if line.host != SERVER_NAME {
            continue;
        }
        let words: Vec<&str> = line.text.splitn(4, ' ').collect();
        match words[..] {
            ["join", id] => {
                if !by_id.contains_key(id) {
                    violations.push(Violation::new(
                        "joins-are-sessions",
                        format!("{id} joined but no session was welcomed as it"),
                    ));
                }
                if !connected.insert(id) {
                    violations.push(Violation::new("membership", format!("{id} joined twice")));
                }
                ever_joined.insert(id);
            }
            ["leave", id, _] if !connected.remove(id) => {
                violations.push(Violation::new(
                    "membership",
                    format!("{id} left without being in the room"),
                ));
            }
            ["list", from, ..] => {
                let listed: Vec<&str> = line.text.split(' ').skip(2).collect();
                // Exactly the connected clients, sorted by address.
                let mut expected: Vec<&str> = connected.iter().copied().collect();
                expected.sort_by_key(|id| id.parse::<std::net::SocketAddr>().ok());
                if listed != expected {
                    violations.push(Violation::new(
                        "list-exact",
                        format!("at line {index} {from} was listed {listed:?}, connected were {expected:?}"),
                    ));
                }
                for id in &listed {
                    let Some(session) = by_id.get(id) else {
                        continue;
                    };
                    if session.welcomed_at.is_some_and(|at| at > index) {
                        outcome.reached.insert("list-during-join".to_owned());
                    }
                    if session.left_at.is_some_and(|at| at < index) {
                        outcome.reached.insert("list-during-leave".to_owned());
                    }
                }
            }
            ["route", from, to, _] | ["busy", from, to] => {
                if !connected.contains(to) || !connected.contains(from) {
                    violations.push(Violation::new(
                        "route-to-connected",
                        format!(
                            "at line {index}: {} while {to} or {from} was not connected",
                            line.text
                        ),
                    ));
                }
                if words[0] == "busy" {
                    busy_seen = true;
                    outcome.reached.insert("recipient-busy".to_owned());
                } else {
                    if busy_seen {
                        outcome.reached.insert("routed-after-busy".to_owned());
                    }
                    if from == to {
                        outcome.reached.insert("message-to-self".to_owned());
                    }
                }
            }
            ["unknown", _, to] => {
                if connected.contains(to) {
                    violations.push(Violation::new(
                        "no-such-client-exact",
                        format!("at line {index}: {} while {to} was connected", line.text),
                    ));
                }
                if ever_joined.contains(to) {
                    outcome.reached.insert("send-to-departed".to_owned());
                }
            }
            _ => {}
        }
    }
}

/// Every command gets exactly one reply, in order, and that reply is the
/// one the server's decision on that command calls for: `SENT` only for a
/// message the server queued, the same list the server noted, and so on.
fn check_replies(facts: &Facts, violations: &mut Vec<Violation>) {
    for (name, session) in &facts.sessions {
        let Some(id) = &session.id else {
            continue;
        };
        let decisions = facts.decisions.get(id).map(Vec::as_slice).unwrap_or(&[]);
        if decisions.len() > session.commands.len() {
            violations.push(Violation::new(
                "decisions-are-commands",
                format!(
                    "{name} ({id}) sent {} commands, the server decided on {}",
                    session.commands.len(),
                    decisions.len()
                ),
            ));
        }
        for (command, decision) in session.commands.iter().zip(decisions) {
            if !decision.answers(command) {
                violations.push(Violation::new(
                    "decisions-are-commands",
                    format!("{name} ({id}) sent {command:?}, the server decided {decision:?}"),
                ));
            }
        }
        if session.replies.len() > decisions.len() {
            violations.push(Violation::new(
                "one-reply-per-command",
                format!(
                    "{name} ({id}) got {} replies to {} decided commands",
                    session.replies.len(),
                    decisions.len()
                ),
            ));
        }
        for (reply, decision) in session.replies.iter().zip(decisions) {
            let expected = decision.reply();
            let matches = match decision {
                Decision::Refuse { .. } => {
                    reply == &expected || reply.starts_with(&format!("{expected} "))
                }
                _ => *reply == expected,
            };
            if !matches {
                violations.push(Violation::new(
                    "replies-match-decisions",
                    format!("{name} ({id}) got {reply:?} where the server decided {decision:?}"),
                ));
            }
        }
        // A session that said goodbye and heard it has read every reply.
        if session.end.as_deref() == Some("bye")
            && (session.replies.len() != session.commands.len()
                || decisions.len() != session.commands.len())
        {
            violations.push(Violation::new(
                "one-reply-per-command",
                format!(
                    "{name} ({id}) quit after {} commands with {} decisions and {} replies",
                    session.commands.len(),
                    decisions.len(),
                    session.replies.len()
                ),
            ));
        }
    }
}

/// What each target received from each sender is what the server queued,
/// in order, unmodified, from the true sender, and nothing else; a target
/// that quit (and so read until `BYE`) received all of it.
fn check_delivery(facts: &Facts, violations: &mut Vec<Violation>, outcome: &mut RunOutcome) {
    let ids: BTreeSet<&str> = facts
        .sessions
        .values()
        .filter_map(|session| session.id.as_deref())
        .collect();
    for (name, session) in &facts.sessions {
        let Some(id) = &session.id else {
            continue;
        };
        let mut received: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (from, text) in &session.received {
            received.entry(from).or_default().push(text);
        }
        for (from, texts) in &received {
            if !ids.contains(from) {
                violations.push(Violation::new(
                    "true-sender",
                    format!("{name} ({id}) received messages from {from}, which no session is"),
                ));
            }
            let routed = facts
                .routed
                .get(&(from.to_string(), id.clone()))
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let is_prefix = texts.len() <= routed.len()
                && texts.iter().zip(routed).all(|(got, sent)| got == sent);
            if !is_prefix {
                violations.push(Violation::new(
                    "delivered-as-routed",
                    format!("{name} ({id}) received {texts:?} from {from}, the server queued {routed:?}"),
                ));
            }
        }
        for ((from, to), routed) in &facts.routed {
            if to != id {
                continue;
            }
            let got = received.get(from.as_str()).map_or(0, Vec::len);
            if got < routed.len() {
                if session.end.as_deref() == Some("bye") {
                    violations.push(Violation::new(
                        "delivered-all",
                        format!("{name} ({id}) quit having received {got} of the {} messages queued for it by {from}", routed.len()),
                    ));
                } else {
                    outcome.reached.insert("lost-on-hangup".to_owned());
                }
            }
        }
    }
}

/// A talker with the given number of commands and pauses; the rest of its
/// plan is drawn from `rng`.
fn talker<R: Rng>(rng: &mut R, commands: u32, pause_max_ms: u64, list_percent: u32) -> Behaviour {
    Behaviour::Talker(TalkPlan {
        commands,
        pause_min_ms: 0,
        pause_max_ms,
        list_percent,
        duration_ms: None,
        linger_ms: rng.random_range(10..=80),
        farewell: if rng.random_range(0..100) < 70 {
            Farewell::Quit
        } else {
            Farewell::HangUp
        },
    })
}

fn session(name: &str, host: &str, behaviour: Behaviour, join_at_ms: u64) -> SessionSpec {
    SessionSpec {
        name: name.to_owned(),
        host: host.to_owned(),
        behaviour,
        join_at_ms,
    }
}

fn chat_net() -> NetConfig {
    NetConfig {
        duration_ms: CHAT_DURATION_MS,
        ..NetConfig::default()
    }
}

/// Three talkers sharing one host, a few commands each: short enough to
/// read whole, and what the snapshot pins.
pub fn small_room(seed: u64) -> ChatSpec {
    let mut rng = host_rng(seed, "spec");
    let sessions = (1..=3)
        .map(|index| {
            let behaviour = talker(&mut rng, 5, 20, 30);
            session(&format!("c{index}"), "clients", behaviour, index * 5)
        })
        .collect();
    ChatSpec {
        server: ServerConfig::default(),
        sessions,
        net: chat_net(),
    }
}

/// Eight talkers on two hosts joining over 200 ms, each sending 15 to 30
/// commands to peers from a list that goes stale as others leave (some
/// quit, some hang up).
pub fn random_talk(seed: u64) -> ChatSpec {
    let mut rng = host_rng(seed, "spec");
    let sessions = (1..=8)
        .map(|index| {
            let commands = rng.random_range(15..=30);
            let behaviour = talker(&mut rng, commands, 30, 25);
            let host = if index <= 4 { "h1" } else { "h2" };
            session(
                &format!("c{index}"),
                host,
                behaviour,
                rng.random_range(0..=200),
            )
        })
        .collect();
    ChatSpec {
        server: ServerConfig::default(),
        sessions,
        net: chat_net(),
    }
}

/// Two clients listing the room every few ms while ten short-lived ones
/// join and leave around them.
pub fn join_leave_list(seed: u64) -> ChatSpec {
    let mut rng = host_rng(seed, "spec");
    let mut sessions: Vec<SessionSpec> = (1..=2)
        .map(|index| {
            let behaviour = talker(&mut rng, 60, 5, 100);
            session(&format!("l{index}"), "listers", behaviour, 0)
        })
        .collect();
    for index in 1..=10 {
        let commands = rng.random_range(1..=3);
        let behaviour = talker(&mut rng, commands, 5, 50);
        let host = if index % 2 == 0 { "h1" } else { "h2" };
        sessions.push(session(
            &format!("j{index}"),
            host,
            behaviour,
            rng.random_range(0..=250),
        ));
    }
    ChatSpec {
        server: ServerConfig::default(),
        sessions,
        net: chat_net(),
    }
}

/// Outbox lines per client in the never-reads scenario: small, so that the
/// silent client's queue fills after a few dozen messages (the simulated
/// TCP buffers 64 writes on top of it).
pub const NEVER_READS_OUTBOX_LINES: usize = 8;

/// A client that reads its `WELCOME` and then nothing, and three talkers
/// who keep messaging everyone, it included: messages to it must turn into
/// `ERR recipient-busy` while the others keep talking.
pub fn never_reads(seed: u64) -> ChatSpec {
    let mut rng = host_rng(seed, "spec");
    let mut sessions = vec![session(
        "deaf",
        "h1",
        Behaviour::NeverReads { stay_ms: 2_500 },
        0,
    )];
    for index in 1..=3 {
        let mut behaviour = talker(&mut rng, 150, 2, 5);
        if let Behaviour::Talker(plan) = &mut behaviour {
            plan.farewell = Farewell::Quit;
        }
        sessions.push(session(&format!("c{index}"), "h2", behaviour, 10 + index));
    }
    ChatSpec {
        server: ServerConfig {
            outbox_lines_max: NEVER_READS_OUTBOX_LINES,
            ..ServerConfig::default()
        },
        sessions,
        net: chat_net(),
    }
}

/// Three fast talkers and two quiet clients that list once, linger a
/// little and hang up: messages are in flight to them as they go.
pub fn hangup_with_queued(seed: u64) -> ChatSpec {
    let mut rng = host_rng(seed, "spec");
    let mut sessions = Vec::new();
    for index in 1..=2 {
        let behaviour = Behaviour::Talker(TalkPlan {
            commands: 1,
            pause_min_ms: 0,
            pause_max_ms: 0,
            list_percent: 100,
            duration_ms: None,
            linger_ms: rng.random_range(40..=120),
            farewell: Farewell::HangUp,
        });
        sessions.push(session(&format!("q{index}"), "h1", behaviour, 0));
    }
    for index in 1..=3 {
        let mut behaviour = talker(&mut rng, 60, 2, 10);
        if let Behaviour::Talker(plan) = &mut behaviour {
            plan.farewell = Farewell::Quit;
        }
        sessions.push(session(&format!("c{index}"), "h2", behaviour, 5));
    }
    ChatSpec {
        server: ServerConfig::default(),
        sessions,
        net: chat_net(),
    }
}

/// The built-in chat scenarios.
pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "chat-small-room",
            summary: "three talkers, five commands each",
            must_reach: &[],
            run: |seed, options| run_spec(&small_room(seed), seed, options),
        },
        Scenario {
            name: "chat-random-talk",
            summary: "eight talkers message random peers from stale lists while others leave",
            must_reach: &["send-to-departed", "message-to-self"],
            run: |seed, options| run_spec(&random_talk(seed), seed, options),
        },
        Scenario {
            name: "chat-join-leave-list",
            summary: "two clients list the room nonstop while ten others join and leave",
            must_reach: &["list-during-join", "list-during-leave"],
            run: |seed, options| run_spec(&join_leave_list(seed), seed, options),
        },
        Scenario {
            name: "chat-never-reads",
            summary:
                "a client that never reads; messages to it become recipient-busy, the room goes on",
            must_reach: &["recipient-busy", "routed-after-busy"],
            run: |seed, options| run_spec(&never_reads(seed), seed, options),
        },
        Scenario {
            name: "chat-hangup-with-queued",
            summary: "clients hang up while messages to them are queued and in flight",
            must_reach: &["lost-on-hangup", "send-to-departed"],
            run: |seed, options| run_spec(&hangup_with_queued(seed), seed, options),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(host: &str, text: &str) -> TraceLine {
        TraceLine {
            time_ms: 0,
            host: host.to_owned(),
            text: text.to_owned(),
        }
    }

    /// A clean exchange between two sessions, as the server and clients
    /// would trace it.
    fn clean() -> Vec<TraceLine> {
        vec![
            line("server", "join 1.0.0.1:1"),
            line("a", "recv WELCOME 1.0.0.1:1"),
            line("server", "join 1.0.0.2:2"),
            line("b", "recv WELCOME 1.0.0.2:2"),
            line("a", "send L"),
            line("server", "list 1.0.0.1:1 1.0.0.1:1 1.0.0.2:2"),
            line("a", "recv CLIENTS 1.0.0.1:1 1.0.0.2:2"),
            line("a", "send 1.0.0.2:2 hi  there"),
            line("server", "route 1.0.0.1:1 1.0.0.2:2 hi  there"),
            line("a", "recv SENT 1.0.0.2:2"),
            line("b", "recv FROM 1.0.0.1:1 hi  there"),
            line("b", "send Q"),
            line("server", "leave 1.0.0.2:2 quit"),
            line("b", "recv BYE"),
            line("b", "end bye"),
            line("a", "send 1.0.0.2:2 still there?"),
            line("server", "unknown 1.0.0.1:1 1.0.0.2:2"),
            line("a", "recv ERR no-such-client 1.0.0.2:2"),
            line("a", "end hangup"),
            line("server", "leave 1.0.0.1:1 closed"),
        ]
    }

    fn properties(trace: Vec<TraceLine>) -> Vec<String> {
        judge(trace, Vec::new())
            .violations
            .into_iter()
            .map(|violation| violation.property)
            .collect()
    }

    #[test]
    fn a_clean_trace_passes_and_reaches_send_to_departed() {
        let outcome = judge(clean(), Vec::new());
        assert_eq!(outcome.violations, []);
        assert!(outcome.reached.contains("send-to-departed"));
        assert_eq!(outcome.games, 2);
    }

    #[test]
    fn a_modified_message_is_caught() {
        let mut trace = clean();
        trace[10] = line("b", "recv FROM 1.0.0.1:1 hi there");
        assert!(properties(trace).contains(&"delivered-as-routed".to_owned()));
    }

    #[test]
    fn a_spoofed_sender_is_caught() {
        let mut trace = clean();
        trace[10] = line("b", "recv FROM 1.0.0.9:9 hi  there");
        let found = properties(trace);
        assert!(found.contains(&"true-sender".to_owned()), "{found:?}");
        assert!(found.contains(&"delivered-all".to_owned()), "{found:?}");
    }

    #[test]
    fn a_duplicated_delivery_is_caught() {
        let mut trace = clean();
        trace.insert(11, line("b", "recv FROM 1.0.0.1:1 hi  there"));
        assert!(properties(trace).contains(&"delivered-as-routed".to_owned()));
    }

    #[test]
    fn a_lost_message_to_a_client_that_quit_is_caught() {
        let mut trace = clean();
        trace.remove(10);
        assert_eq!(properties(trace), ["delivered-all"]);
    }

    #[test]
    fn a_stale_list_is_caught() {
        let mut trace = clean();
        trace[5] = line("server", "list 1.0.0.1:1 1.0.0.1:1");
        trace[6] = line("a", "recv CLIENTS 1.0.0.1:1");
        assert_eq!(properties(trace), ["list-exact"]);
    }

    #[test]
    fn no_such_client_for_a_connected_client_is_caught() {
        let mut trace = clean();
        trace[8] = line("server", "unknown 1.0.0.1:1 1.0.0.2:2");
        trace[9] = line("a", "recv ERR no-such-client 1.0.0.2:2");
        trace.remove(10);
        assert!(properties(trace).contains(&"no-such-client-exact".to_owned()));
    }

    #[test]
    fn sent_without_a_route_is_caught() {
        let mut trace = clean();
        trace[9] = line("a", "recv SENT 1.0.0.1:1");
        assert_eq!(properties(trace), ["replies-match-decisions"]);
    }
}

/// Checks a `game = "chat"` scenario file without running it.
pub fn check_file(_file: &crate::file::ScenarioFile) -> Result<(), String> {
    Err("chat scenario files are not supported yet".to_owned())
}

/// Runs one seed of a `game = "chat"` scenario file.
pub fn run_file(
    file: &crate::file::ScenarioFile,
    _seed: u64,
    _options: &RunOptions,
) -> Result<RunOutcome, String> {
    check_file(file).map(|()| RunOutcome::default())
}
