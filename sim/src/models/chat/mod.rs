//! The chat room under the simulation: scenario specs (from scenario
//! files), how one seed of a spec runs on turmoil, and the oracles that
//! judge its trace.
//!
//! The server and every client session run the same code as the real
//! binaries (`games::chat::{server, client}`) over [`SimEnv`]. Several
//! client sessions may share one turmoil host (`params.host` in a file),
//! each with its own connection and its own trace name, because a
//! simulation step costs more with every host. Every host is restartable,
//! so faults can crash and restart it; a fault that names a session lands
//! on its host. The oracles read only the trace: the server's notes
//! (`join`, `leave`, `list`, `route`, `busy`, `unknown`, `refuse`), the
//! clients' `send`, `recv` and `end` lines and the harness's fault lines
//! (host `sim`).
//!
//! Every connection a session makes has its own trace name: `c1` for the
//! first, `c1.2` for its second (a reconnect, `params.reconnects`), `c1#2`
//! for the first one after its host restarted, and so on.
//!
//! For chat, [`RunOutcome::games`] counts the client connections that
//! ended and `winners_per_game` stays empty: there is nothing to win.

mod run;

use std::collections::{BTreeMap, BTreeSet};

use games::chat::client::{Behaviour, Farewell, LastAct, MischiefPlan, TalkPlan};
use games::chat::notes::{is_shell_line, Departure, Note};
use games::chat::protocol::{text_bytes_max, ClientId, ClientMessage, ServerMessage};
use games::chat::room::InjectedBug;
use games::chat::server::{self, ServerConfig};
use games::framing::LINE_BYTES_MAX;
use games::wire::Refusal;
use rand::Rng;
use serde::Deserialize;

use crate::engine::harness::{host_rng, NetConfig, RunOptions, RunOutcome, Violation};
use crate::engine::trace::TraceLine;
use crate::engine::turmoil_backend::Turmoil;
use crate::scenario::faults::Fault;
use crate::scenario::file::ScenarioFile;

/// The port the simulated server listens on.
pub const SERVER_PORT: u16 = 2004;
/// The trace name (and turmoil host) of the server.
pub const SERVER_NAME: &str = "server";
/// Default silence bound of a simulated session: how long it waits for
/// the server while a reply is due before it gives up on the connection.
/// Far above any reply time on a healthy simulated network.
pub const SILENCE_TIMEOUT_MS: u64 = 1_000;
/// Pause before a session reconnects after losing its connection.
pub const RECONNECT_PAUSE_MS: u64 = 100;

/// One simulated client session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSpec {
    /// Its name in the trace; unique.
    pub name: String,
    /// The turmoil host it runs on; sessions may share one.
    pub host: String,
    pub behaviour: Behaviour,
    /// Simulated time at which it first connects.
    pub join_at_ms: u64,
    /// See [`client::run_bounded`].
    pub silence_timeout_ms: u64,
    /// New connections it makes after losing one (closed by the server,
    /// silent past the bound, or failed) before it gives up.
    pub reconnects: u32,
}

/// A whole chat run: server settings, sessions, network, faults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatSpec {
    pub server: ServerConfig,
    /// The server's injected bug, if any.
    pub bug: Option<InjectedBug>,
    pub sessions: Vec<SessionSpec>,
    pub net: NetConfig,
    /// Faults as written: they name sessions (or hosts) and the server.
    pub faults: Vec<Fault>,
    /// Draw extra faults and network settings from each seed.
    pub swarm: bool,
}

impl ChatSpec {
    /// The turmoil hosts of the clients, in order of first appearance.
    fn hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = Vec::new();
        for session in &self.sessions {
            if !hosts.contains(&session.host) {
                hosts.push(session.host.clone());
            }
        }
        hosts
    }

    /// What the oracles need to know beyond the trace.
    fn topology(&self) -> Topology {
        Topology {
            sessions: self
                .sessions
                .iter()
                .map(|session| {
                    (
                        session.name.clone(),
                        (session.host.clone(), session.silence_timeout_ms),
                    )
                })
                .collect(),
        }
    }

    /// `fault` with every session it names replaced by that session's host.
    fn on_hosts(&self, fault: &Fault) -> Fault {
        let host = |name: &String| -> String {
            self.sessions
                .iter()
                .find(|session| session.name == *name)
                .map_or_else(|| name.clone(), |session| session.host.clone())
        };
        match fault {
            Fault::Partition {
                between: [a, b],
                at_ms,
                heal_at_ms,
            } => Fault::Partition {
                between: [host(a), host(b)],
                at_ms: *at_ms,
                heal_at_ms: *heal_at_ms,
            },
            Fault::Hold {
                between: [a, b],
                at_ms,
                release_at_ms,
            } => Fault::Hold {
                between: [host(a), host(b)],
                at_ms: *at_ms,
                release_at_ms: *release_at_ms,
            },
            Fault::Crash {
                host: name,
                at_ms,
                restart_at_ms,
            } => Fault::Crash {
                host: host(name),
                at_ms: *at_ms,
                restart_at_ms: *restart_at_ms,
            },
            spike @ Fault::LatencySpike { .. } => spike.clone(),
        }
    }
}

/// The `[server]` table of a chat scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerSection {
    /// Lines queued per client before messages to it are refused busy.
    #[serde(default = "default_outbox_lines")]
    outbox_lines: usize,
    #[serde(default = "default_connections_max")]
    connections_max: usize,
    /// A deliberate server mistake (see `games::chat::room::InjectedBug`),
    /// to prove the oracles catch it.
    #[serde(default)]
    inject_bug: Option<String>,
}

fn default_outbox_lines() -> usize {
    server::OUTBOX_LINES_MAX
}
fn default_connections_max() -> usize {
    server::CONNECTIONS_MAX
}

/// The behaviours a chat scenario may give its clients.
pub const BEHAVIOURS: &str =
    "talker, hang-up (a talker that hangs up), never-reads (params.stay_ms), mischief (correct play mixed with malformed lines)";

/// The most malformed lines a mischief client pipelines in one burst:
/// well under the server's in-flight bound (`REPLY_HEADROOM_LINES` is the
/// least outbox a scenario may give), so a burst never waits on itself.
const MISCHIEF_BURST_MAX: u64 = 4;

/// Parameters every behaviour takes.
const COMMON_PARAMS: &[&str] = &["host", "silence_timeout_ms", "reconnects"];
/// Parameters of a talker (and of hang-up).
const TALKER_PARAMS: &[&str] = &[
    "commands",
    "pause_min_ms",
    "pause_max_ms",
    "list_percent",
    "duration_ms",
    "linger_ms",
    "quit_percent",
];

/// Reads the `params` of one client group.
struct Params<'a> {
    field: String,
    table: &'a toml::Table,
}

impl Params<'_> {
    fn integer(&self, key: &str, default: u64) -> Result<u64, String> {
        match self.table.get(key) {
            None => Ok(default),
            Some(value) => value
                .as_integer()
                .and_then(|number| u64::try_from(number).ok())
                .ok_or_else(|| {
                    format!(
                        "{}.params.{key}: expected a non-negative integer, got {value}",
                        self.field
                    )
                }),
        }
    }

    /// An integer, or `[low, high]` for one drawn from `rng` per member.
    fn range(&self, key: &str, default: u64) -> Result<(u64, u64), String> {
        match self.table.get(key) {
            Some(toml::Value::Array(bounds)) => {
                let numbers: Option<Vec<u64>> = bounds
                    .iter()
                    .map(|bound| {
                        bound
                            .as_integer()
                            .and_then(|number| u64::try_from(number).ok())
                    })
                    .collect();
                match numbers.as_deref() {
                    Some(&[low, high]) if low <= high => Ok((low, high)),
                    _ => Err(format!(
                        "{}.params.{key}: expected an integer or [low, high] with low <= high, got {}",
                        self.field, self.table[key]
                    )),
                }
            }
            _ => self.integer(key, default).map(|number| (number, number)),
        }
    }

    fn percent(&self, key: &str, default: u64) -> Result<u32, String> {
        let value = self.integer(key, default)?;
        if value > 100 {
            return Err(format!(
                "{}.params.{key}: {value} is not a percentage (0..=100)",
                self.field
            ));
        }
        Ok(value as u32)
    }
}

/// How a group's members behave, before each member's draws.
#[derive(Debug, Clone)]
enum Recipe {
    Talker {
        commands: (u64, u64),
        pause_min_ms: u64,
        pause_max_ms: u64,
        list_percent: u32,
        duration_ms: Option<u64>,
        linger_ms: (u64, u64),
        quit_percent: u32,
    },
    NeverReads {
        stay_ms: u64,
    },
    Mischief {
        turns: (u64, u64),
        pause_min_ms: u64,
        pause_max_ms: u64,
        bad_percent: u32,
        burst_max: u32,
        split_percent: u32,
        /// `None`: each member draws its own.
        last_act: Option<LastAct>,
    },
}

/// Parameters of a mischief client.
const MISCHIEF_PARAMS: &[&str] = &[
    "turns",
    "pause_min_ms",
    "pause_max_ms",
    "bad_percent",
    "burst_max",
    "split_percent",
    "last_act",
];

impl Recipe {
    /// One member's behaviour; its draws come from `rng`.
    fn behaviour<R: Rng>(&self, rng: &mut R) -> Behaviour {
        match self {
            Recipe::Talker {
                commands,
                pause_min_ms,
                pause_max_ms,
                list_percent,
                duration_ms,
                linger_ms,
                quit_percent,
            } => Behaviour::Talker(TalkPlan {
                commands: rng.random_range(commands.0..=commands.1) as u32,
                pause_min_ms: *pause_min_ms,
                pause_max_ms: *pause_max_ms,
                list_percent: *list_percent,
                duration_ms: *duration_ms,
                linger_ms: rng.random_range(linger_ms.0..=linger_ms.1),
                farewell: if rng.random_range(0..100) < *quit_percent {
                    Farewell::Quit
                } else {
                    Farewell::HangUp
                },
            }),
            Recipe::NeverReads { stay_ms } => Behaviour::NeverReads { stay_ms: *stay_ms },
            Recipe::Mischief {
                turns,
                pause_min_ms,
                pause_max_ms,
                bad_percent,
                burst_max,
                split_percent,
                last_act,
            } => Behaviour::Mischief(MischiefPlan {
                turns: rng.random_range(turns.0..=turns.1) as u32,
                pause_min_ms: *pause_min_ms,
                pause_max_ms: *pause_max_ms,
                bad_percent: *bad_percent,
                burst_max: *burst_max,
                split_percent: *split_percent,
                last_act: last_act.unwrap_or_else(|| {
                    [LastAct::Quit, LastAct::LineTooLong, LastAct::HalfClose]
                        [rng.random_range(0..3)]
                }),
            }),
        }
    }
}

fn valid_host_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
        && name.as_bytes()[0].is_ascii_lowercase()
}

/// Builds a spec from a scenario file for one seed (members draw their
/// plans and join times from it), naming the field of any problem.
pub fn spec_from_file(file: &ScenarioFile, seed: u64) -> Result<ChatSpec, String> {
    let section: ServerSection = file.server_settings()?;
    if section.outbox_lines <= games::chat::link::REPLY_HEADROOM_LINES {
        return Err(format!(
            "server.outbox_lines: {} must be more than {} (the lines kept for replies)",
            section.outbox_lines,
            games::chat::link::REPLY_HEADROOM_LINES
        ));
    }
    let rooms_max = games::chat::protocol::ROOM_CLIENTS_MAX;
    if !(1..=rooms_max).contains(&section.connections_max) {
        return Err(format!(
            "server.connections_max: {} is not in 1..={rooms_max}",
            section.connections_max
        ));
    }
    let server = ServerConfig {
        outbox_lines_max: section.outbox_lines,
        connections_max: section.connections_max,
    };
    let names = file.client_names();
    let mut sessions: Vec<SessionSpec> = Vec::new();
    for (index, group) in file.clients.iter().enumerate() {
        let field = format!("clients[{index}]");
        if group.board.is_some() {
            return Err(format!("{field}.board: chat clients have no board"));
        }
        let params = Params {
            field: field.clone(),
            table: &group.params,
        };
        let recipe = match group.behaviour.as_str() {
            "talker" | "honest" | "hang-up" => {
                let hangs_up = group.behaviour == "hang-up";
                let pause_min_ms = params.integer("pause_min_ms", 0)?;
                let pause_max_ms = params.integer("pause_max_ms", 20)?;
                if pause_min_ms > pause_max_ms {
                    return Err(format!("{field}.params.pause_min_ms: {pause_min_ms} is above pause_max_ms {pause_max_ms}"));
                }
                let commands = params.range("commands", 10)?;
                if commands.1 > u64::from(u32::MAX) {
                    return Err(format!(
                        "{field}.params.commands: {} is too many",
                        commands.1
                    ));
                }
                Recipe::Talker {
                    commands,
                    pause_min_ms,
                    pause_max_ms,
                    list_percent: params.percent("list_percent", 20)?,
                    duration_ms: match group.params.get("duration_ms") {
                        None => None,
                        Some(_) => Some(params.integer("duration_ms", 0)?),
                    },
                    linger_ms: params.range("linger_ms", 50)?,
                    quit_percent: if hangs_up {
                        if group.params.contains_key("quit_percent") {
                            return Err(format!(
                                "{field}.params.quit_percent: a hang-up client never quits"
                            ));
                        }
                        0
                    } else {
                        params.percent("quit_percent", 100)?
                    },
                }
            }
            "never-reads" => Recipe::NeverReads {
                stay_ms: params.integer("stay_ms", 2_500)?,
            },
            "mischief" => {
                let pause_min_ms = params.integer("pause_min_ms", 0)?;
                let pause_max_ms = params.integer("pause_max_ms", 20)?;
                if pause_min_ms > pause_max_ms {
                    return Err(format!("{field}.params.pause_min_ms: {pause_min_ms} is above pause_max_ms {pause_max_ms}"));
                }
                let turns = params.range("turns", 20)?;
                if turns.1 > u64::from(u32::MAX) {
                    return Err(format!("{field}.params.turns: {} is too many", turns.1));
                }
                let burst_max = params.integer("burst_max", 4)?;
                if !(1..=MISCHIEF_BURST_MAX).contains(&burst_max) {
                    return Err(format!(
                        "{field}.params.burst_max: {burst_max} is not in 1..={MISCHIEF_BURST_MAX}"
                    ));
                }
                let last_act = match group.params.get("last_act") {
                    None => None,
                    Some(toml::Value::String(act)) => match act.as_str() {
                        "quit" => Some(LastAct::Quit),
                        "line-too-long" => Some(LastAct::LineTooLong),
                        "half-close" => Some(LastAct::HalfClose),
                        "any" => None,
                        _ => return Err(format!("{field}.params.last_act: {act:?} is not quit, line-too-long, half-close or any")),
                    },
                    Some(value) => {
                        return Err(format!("{field}.params.last_act: expected a string, got {value}"))
                    }
                };
                Recipe::Mischief {
                    turns,
                    pause_min_ms,
                    pause_max_ms,
                    bad_percent: params.percent("bad_percent", 50)?,
                    burst_max: burst_max as u32,
                    split_percent: params.percent("split_percent", 20)?,
                    last_act,
                }
            }
            other => {
                return Err(format!(
                    "{field}.behaviour: unknown behaviour {other:?}; chat knows {BEHAVIOURS}"
                ))
            }
        };
        let known: Vec<&str> = match recipe {
            Recipe::Talker { .. } => COMMON_PARAMS.iter().chain(TALKER_PARAMS).copied().collect(),
            Recipe::NeverReads { .. } => COMMON_PARAMS.iter().copied().chain(["stay_ms"]).collect(),
            Recipe::Mischief { .. } => COMMON_PARAMS
                .iter()
                .chain(MISCHIEF_PARAMS)
                .copied()
                .collect(),
        };
        for key in group.params.keys() {
            if !known.contains(&key.as_str()) {
                return Err(format!(
                    "{field}.params: unknown parameter {key:?} for {}; known: {}",
                    group.behaviour,
                    known.join(", ")
                ));
            }
        }
        let host = match group.params.get("host") {
            None => None,
            Some(toml::Value::String(host)) if valid_host_name(host) && host != SERVER_NAME && host != "sim" => {
                Some(host.clone())
            }
            Some(value) => {
                return Err(format!(
                    "{field}.params.host: {value} must be a host name (lower-case letters, digits and '-', not server or sim)"
                ))
            }
        };
        let silence_timeout_ms = params.integer("silence_timeout_ms", SILENCE_TIMEOUT_MS)?;
        if silence_timeout_ms == 0 {
            return Err(format!(
                "{field}.params.silence_timeout_ms: must be at least 1"
            ));
        }
        let reconnects = params.integer("reconnects", 0)?;
        if reconnects > 100 {
            return Err(format!(
                "{field}.params.reconnects: {reconnects} is more than 100"
            ));
        }
        for name in group.member_names() {
            let host = host.clone().unwrap_or_else(|| name.clone());
            // A host named like a session must be that session's own.
            if names.contains(&host) && host != name {
                let owner_host = sessions
                    .iter()
                    .find(|session| session.name == host)
                    .map(|session| &session.host);
                if owner_host != Some(&host) {
                    return Err(format!(
                        "{field}.params.host: {host:?} is the name of another client"
                    ));
                }
            }
            if let Some(other) = sessions
                .iter()
                .find(|session| session.host == name && session.name != name)
            {
                return Err(format!(
                    "{field}.name: {name:?} is the host of client {}",
                    other.name
                ));
            }
            let mut plan_rng = host_rng(seed, &format!("plan-{name}"));
            let mut join_rng = host_rng(seed, &format!("join-{name}"));
            sessions.push(SessionSpec {
                name: name.clone(),
                host,
                behaviour: recipe.behaviour(&mut plan_rng),
                join_at_ms: group.join_at_ms + join_rng.random_range(0..=group.join_spread_ms),
                silence_timeout_ms,
                reconnects: reconnects as u32,
            });
        }
    }
    let bug = match &section.inject_bug {
        None => None,
        Some(name) => Some(
            name.parse::<InjectedBug>()
                .map_err(|error| format!("server.inject_bug: {error}"))?,
        ),
    };
    Ok(ChatSpec {
        server,
        bug,
        sessions,
        net: file.net.clone(),
        faults: file.faults.clone(),
        swarm: file.swarm,
    })
}

/// Checks a `game = "chat"` scenario file without running it.
pub fn check_file(file: &ScenarioFile) -> Result<(), String> {
    spec_from_file(file, 0).map(|_| ())
}

/// Runs one seed of a `game = "chat"` scenario file.
pub fn run_file(
    file: &ScenarioFile,
    seed: u64,
    options: &RunOptions,
) -> Result<RunOutcome, String> {
    let spec = spec_from_file(file, seed)?;
    Ok(run_spec(&spec, seed, options))
}

/// The trace name of a session's `attempt`-th connection in its host's
/// `incarnation`.
pub(crate) fn connection_name(name: &str, incarnation: u32, attempt: u32) -> String {
    match (incarnation, attempt) {
        (1, 1) => name.to_owned(),
        (1, attempt) => format!("{name}.{attempt}"),
        (incarnation, 1) => format!("{name}#{incarnation}"),
        (incarnation, attempt) => format!("{name}#{incarnation}.{attempt}"),
    }
}

/// The session a connection's trace name belongs to.
fn session_of(connection: &str) -> &str {
    connection.split(['#', '.']).next().unwrap_or(connection)
}

/// Runs one seed of `spec` on turmoil and judges it.
pub fn run_spec(spec: &ChatSpec, seed: u64, options: &RunOptions) -> RunOutcome {
    crate::engine::backend::run(spec, &Turmoil, seed, options)
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

    /// Whether this decision answers `command` from the client `from`:
    /// the same kind of command, the same target, and for a message the
    /// length bound (`text_bytes_max` of the sender) on the right side.
    fn answers(&self, command: &Command, from: &str) -> bool {
        let line = match command {
            Command::InvalidUtf8 => {
                return matches!(self, Decision::Refuse { code } if code == "invalid-utf8")
            }
            Command::TooLong => {
                return matches!(self, Decision::Refuse { code } if code == "line-too-long")
            }
            Command::Line(line) => line,
        };
        let fits = |text: &str| {
            from.parse::<ClientId>()
                .is_ok_and(|from| text.len() <= text_bytes_max(from))
        };
        match (ClientMessage::parse(line), self) {
            (Ok(ClientMessage::List), Decision::List(_)) => true,
            (Ok(ClientMessage::Quit), Decision::Quit) => true,
            (
                Ok(ClientMessage::Send { to, text }),
                Decision::Route {
                    to: routed,
                    text: sent,
                },
            ) => to.to_string() == *routed && text == *sent && fits(&text),
            (Ok(ClientMessage::Send { to, text }), Decision::Busy { to: target }) => {
                to.to_string() == *target && fits(&text)
            }
            (Ok(ClientMessage::Send { to, .. }), Decision::Unknown { to: target }) => {
                to.to_string() == *target
            }
            (Ok(ClientMessage::Send { text, .. }), Decision::Refuse { code }) => {
                code == "message-too-long" && !fits(&text)
            }
            (Err(refusal), Decision::Refuse { code }) => refusal.code == *code,
            _ => false,
        }
    }
}

/// Whether `reply` is the refusal the documented rules call for, given the
/// command it answers: the right code, a detail that starts with the
/// target for refusals about a target, and for an unknown command the
/// detail the documented grammar gives (the first token cut to
/// [`games::wire::TOKEN_ECHO_CHARS_MAX`] characters, with the upper-case hint).
fn refusal_fits(reply: &str, command: &Command) -> bool {
    let Some(refusal) = reply.strip_prefix("ERR ").and_then(Refusal::parse) else {
        return false;
    };
    let names = |target: &str| {
        refusal.detail == target || refusal.detail.starts_with(&format!("{target} "))
    };
    match command {
        Command::InvalidUtf8 => refusal.code == "invalid-utf8",
        Command::TooLong => refusal.code == "line-too-long",
        Command::Line(line) => match ClientMessage::parse(line) {
            Ok(ClientMessage::Send { to, .. }) => {
                refusal.code == "message-too-long" && names(&to.to_string())
            }
            Ok(_) => false,
            Err(expected) if expected.code == "unknown-command" => {
                refusal.code == expected.code && refusal.detail == expected.detail
            }
            Err(expected) if expected.code == "empty-message" => {
                refusal.code == expected.code && names(&expected.detail)
            }
            Err(expected) => refusal.code == expected.code,
        },
    }
}

/// One line a client sent, as its trace tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Command {
    /// A UTF-8 line (`send <line>`, or `send-split <line>` for one written
    /// in many small pieces).
    Line(String),
    /// A line that is not UTF-8 (`send-invalid-utf8`).
    InvalidUtf8,
    /// A line over the length limit (`send-too-long`); the last one.
    TooLong,
}

/// What the oracles know beyond the trace: each session's host and
/// silence bound (a run on real TCP has none of this, and no faults).
#[derive(Debug, Clone, Default)]
pub struct Topology {
    /// Session name -> (host, silence bound in ms).
    sessions: BTreeMap<String, (String, u64)>,
}

/// A client as the server knows it: (server incarnation, id). A server
/// restart starts an empty room, and ids of one incarnation mean nothing
/// to the next.
type Key = (u32, String);

/// One client connection as its trace lines tell it.
#[derive(Debug, Default)]
struct Session {
    host: String,
    silence_ms: u64,
    id: Option<Key>,
    /// Trace index and time of its `recv WELCOME`.
    welcomed_at: Option<usize>,
    welcomed_ms: Option<u64>,
    /// Trace index of its `send Q` or of its `end hangup`: from then on it
    /// has left, as far as it knows.
    left_at: Option<usize>,
    commands: Vec<Command>,
    /// Indexes (into `commands`) of lines written in many small pieces.
    split: BTreeSet<usize>,
    /// Whether it shut down its sending side (`half-close`).
    half_closed: bool,
    /// Lines that answer its commands, in order.
    replies: Vec<String>,
    /// `FROM` lines: sender and text, in order, with their trace indexes.
    received: Vec<(String, String)>,
    received_at: Vec<usize>,
    /// Lines received, and the trace index of the last line it may
    /// receive (`BYE`, or the refusal that closes the connection).
    recv_count: usize,
    final_at: Option<usize>,
    end: Option<String>,
    /// Times of its first and last trace lines and of its last `recv`.
    first_ms: u64,
    last_ms: u64,
    last_recv_ms: Option<u64>,
    /// `error` lines: trace index and text.
    errors: Vec<(usize, String)>,
}

/// What a fault did, from its `sim` lines: a crash (one host) or a
/// partition or hold (two hosts), from one time until it was lifted.
#[derive(Debug, Clone)]
struct Span {
    kind: &'static str,
    hosts: Vec<String>,
    from_ms: u64,
    to_ms: Option<u64>,
}

impl Span {
    /// Whether this fault can cut or stall the connections of `host` to
    /// the server: a crash of either, or a partition or hold between them.
    fn touches(&self, host: &str) -> bool {
        match self.kind {
            "crash" => self
                .hosts
                .first()
                .is_some_and(|crashed| crashed == host || crashed == SERVER_NAME),
            _ => {
                self.hosts.iter().any(|h| h == host) && self.hosts.iter().any(|h| h == SERVER_NAME)
            }
        }
    }
}

/// What the trace says, parsed once for every oracle.
#[derive(Debug, Default)]
struct Facts {
    sessions: BTreeMap<String, Session>,
    /// Client -> the server's decisions on its commands, in order.
    decisions: BTreeMap<Key, Vec<Decision>>,
    /// (server incarnation, sender, target) -> texts queued for the
    /// target, in order.
    routed: BTreeMap<(u32, String, String), Vec<String>>,
    /// The same key -> trace indexes of those `route` notes.
    routed_at: BTreeMap<(u32, String, String), Vec<usize>>,
    spans: Vec<Span>,
    /// Client host -> the longest silence bound of its sessions: the hosts
    /// a connection may come from, even one that never wrote a trace line.
    hosts: BTreeMap<String, u64>,
}

impl Facts {
    /// Whether a fault may have cut or stalled `session`'s connection:
    /// one that touches its host was in force at some time between its
    /// connecting (at most its silence bound before its first line) and
    /// its `end` line (the end of the run if it has none).
    fn exposed(&self, session: &Session) -> bool {
        let connect_ms = session.first_ms.saturating_sub(session.silence_ms);
        // A connection with no `end` line was cut short (its host
        // crashed): it lasted as long as the run, as far as we know.
        let last_ms = if session.end.is_some() {
            session.last_ms
        } else {
            u64::MAX
        };
        self.spans.iter().any(|span| {
            span.touches(&session.host)
                && span.from_ms <= last_ms
                && span.to_ms.is_none_or(|to_ms| to_ms >= connect_ms)
        })
    }
}

fn parse_facts(lines: &[TraceLine], topology: &Topology, violations: &mut Vec<Violation>) -> Facts {
    let mut facts = Facts::default();
    for (host, silence_ms) in topology.sessions.values() {
        let longest = facts.hosts.entry(host.clone()).or_default();
        *longest = (*longest).max(*silence_ms);
    }
    let mut incarnation = 1u32;
    // Id -> the server incarnation that last joined it.
    let mut joined: BTreeMap<String, u32> = BTreeMap::new();
    for (index, line) in lines.iter().enumerate() {
        if line.host == "sim" {
            parse_sim_line(&mut facts, line, &mut incarnation);
            continue;
        }
        if line.host == SERVER_NAME {
            match line.text.parse::<Note>() {
                Ok(note) => {
                    if let Note::Join { client } = &note {
                        joined.insert(client.to_string(), incarnation);
                    }
                    record_decision(&mut facts, incarnation, index, note);
                }
                Err(_) if is_shell_line(&line.text) => {}
                // The server writes nothing else: a line that is neither a
                // note nor the shell's is a broken note.
                Err(_) => violations.push(Violation::new(
                    "trace-format",
                    format!("server: {}", line.text),
                )),
            }
            continue;
        }
        let session = facts.sessions.entry(line.host.clone()).or_insert_with(|| {
            let (host, silence_ms) = topology
                .sessions
                .get(session_of(&line.host))
                .cloned()
                .unwrap_or_else(|| (line.host.clone(), 0));
            Session {
                host,
                silence_ms,
                first_ms: line.time_ms,
                ..Session::default()
            }
        });
        session.last_ms = line.time_ms;
        let (kind, rest) = line.text.split_once(' ').unwrap_or((&line.text, ""));
        let command = match kind {
            "send" | "send-split" => Some(Command::Line(rest.to_owned())),
            "send-invalid-utf8" => Some(Command::InvalidUtf8),
            "send-too-long" => Some(Command::TooLong),
            _ => None,
        };
        match kind {
            _ if command.is_some() => {
                if rest == "Q" && kind == "send" {
                    session.left_at.get_or_insert(index);
                }
                if kind == "send-split" {
                    session.split.insert(session.commands.len());
                }
                session.commands.extend(command);
            }
            "half-close" => session.half_closed = true,
            "recv" => {
                session.last_recv_ms = Some(line.time_ms);
                session.recv_count += 1;
                explain_received(session, index, line, rest, &joined, violations);
                let (keyword, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                match keyword {
                    "WELCOME" => {
                        let server = joined.get(tail).copied().unwrap_or(incarnation);
                        session.id.get_or_insert((server, tail.to_owned()));
                        session.welcomed_at.get_or_insert(index);
                        session.welcomed_ms.get_or_insert(line.time_ms);
                    }
                    "FROM" => match tail.split_once(' ') {
                        Some((from, text)) => {
                            session.received.push((from.to_owned(), text.to_owned()));
                            session.received_at.push(index);
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
            "error" => session.errors.push((index, rest.to_owned())),
            _ => violations.push(Violation::new("trace-format", line.to_string())),
        }
    }
    facts
}

/// Whether one received line (`recv <rest>`) could have been sent to this
/// connection at that moment, as far as the client's own trace tells:
/// `WELCOME` first and only once, with an id the server joined; nothing
/// after the line that ends the connection (`BYE`, or a refusal that
/// closes it); a reply only when a command is waiting for one; and no line
/// that is not in the protocol at all. What a reply or a `FROM` says is
/// judged against the server's decisions later (`check_replies`,
/// `check_delivery`).
fn explain_received(
    session: &mut Session,
    index: usize,
    line: &TraceLine,
    rest: &str,
    joined: &BTreeMap<String, u32>,
    violations: &mut Vec<Violation>,
) {
    let unexplained = |why: &str| {
        Violation::new(
            "line-explained",
            format!("at line {index}: {} received {rest:?}: {why}", line.host),
        )
    };
    if let Some(final_at) = session.final_at {
        violations.push(Violation::new(
            "nothing-after-bye",
            format!(
                "at line {index}: {} received {rest:?} after the last line of its connection (line {final_at})",
                line.host
            ),
        ));
    }
    let Some(message) = ServerMessage::parse(rest) else {
        violations.push(unexplained("not a line of the protocol"));
        return;
    };
    let first = session.recv_count == 1;
    match &message {
        ServerMessage::Welcome(id) => {
            if !first {
                violations.push(Violation::new(
                    "welcome-first",
                    format!("at line {index}: {} received a second WELCOME", line.host),
                ));
            }
            // Joined by this server or by an earlier incarnation: a WELCOME
            // in flight when the server restarts still arrives.
            if !joined.contains_key(id.to_string().as_str()) {
                violations.push(Violation::new(
                    "welcome-joined",
                    format!(
                        "at line {index}: {} was welcomed as {id}, which the server had not joined",
                        line.host
                    ),
                ));
            }
        }
        ServerMessage::Err(refusal) if first && refusal.code == "server-full" => {}
        _ if first => violations.push(Violation::new(
            "welcome-first",
            format!(
                "at line {index}: {} received {rest:?} before WELCOME",
                line.host
            ),
        )),
        ServerMessage::From { .. } => {}
        _ => {
            let waiting = session.commands.len().saturating_sub(session.replies.len());
            if waiting == 0 {
                violations.push(unexplained("a reply with no command waiting for one"));
            }
        }
    }
    let closes = match &message {
        ServerMessage::Bye => true,
        ServerMessage::Err(refusal) => {
            refusal.code == "line-too-long" || refusal.code == "server-full"
        }
        _ => false,
    };
    if closes {
        session.final_at.get_or_insert(index);
    }
}

/// A harness line: a fault starts or is lifted.
fn parse_sim_line(facts: &mut Facts, line: &TraceLine, incarnation: &mut u32) {
    let words: Vec<&str> = line.text.split(' ').collect();
    let (kind, lifted) = match words.first() {
        Some(&"crash") => ("crash", false),
        Some(&"restart") => ("crash", true),
        Some(&"partition") => ("partition", false),
        Some(&"heal") => ("partition", true),
        Some(&"hold") => ("hold", false),
        Some(&"release") => ("hold", true),
        _ => return,
    };
    let hosts: Vec<String> = words[1..].iter().map(|word| word.to_string()).collect();
    if kind == "crash" && lifted && hosts.first().map(String::as_str) == Some(SERVER_NAME) {
        *incarnation += 1;
    }
    if lifted {
        let same = |span: &Span| {
            span.kind == kind
                && span.to_ms.is_none()
                && (span.hosts == hosts || span.hosts.iter().rev().eq(hosts.iter()))
        };
        if let Some(span) = facts.spans.iter_mut().rev().find(|span| same(span)) {
            span.to_ms = Some(line.time_ms);
        }
    } else {
        facts.spans.push(Span {
            kind,
            hosts,
            from_ms: line.time_ms,
            to_ms: None,
        });
    }
}

/// The server's decision on a client's line, from its note (trace line
/// `index`); `join` and the leaves other than `quit` answer no line.
fn record_decision(facts: &mut Facts, incarnation: u32, index: usize, note: Note) {
    let decision = match &note {
        Note::List { listed, .. } => {
            Decision::List(listed.iter().map(ToString::to_string).collect())
        }
        Note::Route { from, to, text } => {
            let key = (incarnation, from.to_string(), to.to_string());
            facts
                .routed
                .entry(key.clone())
                .or_default()
                .push(text.clone());
            facts.routed_at.entry(key).or_default().push(index);
            Decision::Route {
                to: to.to_string(),
                text: text.clone(),
            }
        }
        Note::Busy { to, .. } => Decision::Busy { to: to.to_string() },
        Note::Unknown { to, .. } => Decision::Unknown { to: to.to_string() },
        Note::Refuse { code, .. } => Decision::Refuse { code: code.clone() },
        Note::Leave {
            departure: Departure::Quit,
            ..
        } => Decision::Quit,
        Note::Join { .. } | Note::Leave { .. } => return,
    };
    facts
        .decisions
        .entry((incarnation, note.client().to_string()))
        .or_default()
        .push(decision);
}

/// The oracles, applied to a finished run's trace. Public so that a run on
/// real TCP, traced the same way, is judged by the very same code.
pub fn judge(trace: Vec<TraceLine>, violations: Vec<Violation>) -> RunOutcome {
    judge_with(trace, violations, &Topology::default())
}

/// [`judge`] for a simulated run, which knows the sessions' hosts (to
/// tell which faults touched which connection).
pub fn judge_with(
    trace: Vec<TraceLine>,
    mut violations: Vec<Violation>,
    topology: &Topology,
) -> RunOutcome {
    let facts = parse_facts(&trace, topology, &mut violations);
    let mut outcome = RunOutcome::default();
    check_membership(&trace, &facts, &mut violations, &mut outcome);
    check_replies(&facts, &mut violations);
    check_delivery(&facts, &mut violations, &mut outcome);
    check_faults(&facts, &mut violations, &mut outcome);
    reach_mischief(&facts, &mut outcome);
    outcome.games = facts
        .sessions
        .values()
        .filter(|session| session.end.is_some())
        .count() as u64;
    outcome.trace = trace;
    outcome.violations = violations;
    outcome
}

/// The rare events of malformed input: each kind of bad line answered
/// (the replies themselves are judged by `check_replies`).
fn reach_mischief(facts: &Facts, outcome: &mut RunOutcome) {
    for session in facts.sessions.values() {
        let Some((_, id)) = &session.id else {
            continue;
        };
        let text_max = id.parse::<ClientId>().ok().map(text_bytes_max);
        let mut bad_in_a_row = 0;
        for (index, (command, reply)) in session.commands.iter().zip(&session.replies).enumerate() {
            let refused = reply.starts_with("ERR ");
            if session.split.contains(&index) {
                outcome.reached.insert("split-line-answered".to_owned());
            }
            let bad = match command {
                Command::InvalidUtf8 if refused => {
                    outcome.reached.insert("refused-invalid-utf8".to_owned());
                    true
                }
                Command::TooLong if refused => {
                    outcome.reached.insert("refused-line-too-long".to_owned());
                    true
                }
                Command::Line(line) => match ClientMessage::parse(line) {
                    Err(_) if refused => {
                        outcome.reached.insert("refused-bad-line".to_owned());
                        if line.len() == LINE_BYTES_MAX {
                            outcome.reached.insert("line-at-limit-answered".to_owned());
                        }
                        true
                    }
                    Ok(ClientMessage::Send { text, .. }) if Some(text.len()) == text_max => {
                        if reply.starts_with("SENT ") {
                            outcome.reached.insert("message-at-max-routed".to_owned());
                        }
                        false
                    }
                    Ok(ClientMessage::Send { .. })
                        if reply.starts_with("ERR message-too-long ") =>
                    {
                        outcome
                            .reached
                            .insert("message-too-long-refused".to_owned());
                        false
                    }
                    _ => false,
                },
                _ => false,
            };
            bad_in_a_row = if bad { bad_in_a_row + 1 } else { 0 };
            if bad_in_a_row >= 3 {
                outcome.reached.insert("burst-of-bad-lines".to_owned());
            }
        }
        if session.half_closed && session.end.as_deref() == Some("closed") {
            outcome.reached.insert("half-closed".to_owned());
        }
    }
}

/// A connection gives up (`end timeout`) or fails (`error`) only when a
/// fault touched it; and the rare events of a run with faults.
fn check_faults(facts: &Facts, violations: &mut Vec<Violation>, outcome: &mut RunOutcome) {
    for (name, session) in &facts.sessions {
        let exposed = facts.exposed(session);
        for (index, error) in &session.errors {
            if !exposed {
                violations.push(Violation::new(
                    "client-error",
                    format!("{name} at line {index}: {error}"),
                ));
            }
        }
        if session.end.as_deref() == Some("timeout") {
            if exposed {
                outcome.reached.insert("silence-timeout".to_owned());
            } else {
                violations.push(Violation::new(
                    "replies-within-silence",
                    format!(
                        "{name} heard nothing for {} ms with no fault on its way",
                        session.silence_ms
                    ),
                ));
            }
        }
        if let Some((server, _)) = &session.id {
            if *server > 1 {
                outcome.reached.insert("server-restart-rejoined".to_owned());
            }
            if name.contains('#') {
                outcome.reached.insert("client-restart".to_owned());
            }
        }
    }
    let on_host = |host: &String| -> Vec<&Session> {
        facts
            .sessions
            .values()
            .filter(|session| session.host == *host)
            .collect()
    };
    for span in &facts.spans {
        let client = span.hosts.iter().find(|host| *host != SERVER_NAME);
        match (span.kind, client, span.to_ms) {
            ("crash", Some(_), _) => {
                outcome.reached.insert("client-crash".to_owned());
            }
            ("partition", Some(host), Some(to_ms)) => {
                // The partition cut a connection of the host, and after
                // the heal the host is in the room again.
                let cut = on_host(host)
                    .into_iter()
                    .any(|session| session.first_ms <= to_ms && session.last_ms >= span.from_ms);
                let back = on_host(host)
                    .into_iter()
                    .any(|session| session.welcomed_ms.is_some_and(|at| at >= to_ms));
                if cut && back {
                    outcome.reached.insert("partition-healed".to_owned());
                }
            }
            // A connection that was up when the hold began heard the
            // server again after the release.
            ("hold", Some(host), Some(to_ms))
                if on_host(host).into_iter().any(|session| {
                    session.welcomed_ms.is_some_and(|at| at <= span.from_ms)
                        && session.last_recv_ms.is_some_and(|at| at >= to_ms)
                }) =>
            {
                outcome.reached.insert("hold-released".to_owned());
            }
            _ => {}
        }
    }
}

/// Replays joins and leaves in trace order: `L` lists exactly the clients
/// connected at that moment, a message is routed (or refused as busy) only
/// to a connected client, `no-such-client` only for one that is not, and
/// every id the server names belongs to a session that was welcomed. A
/// server crash empties the room: its restart starts with nobody in it.
fn check_membership(
    trace: &[TraceLine],
    facts: &Facts,
    violations: &mut Vec<Violation>,
    outcome: &mut RunOutcome,
) {
    // Session by client, for the races that need the client's view.
    let mut by_id: BTreeMap<&Key, &Session> = BTreeMap::new();
    for (name, session) in &facts.sessions {
        if let Some(key) = &session.id {
            if by_id.insert(key, session).is_some() {
                violations.push(Violation::new(
                    "ids-unique",
                    format!(
                        "{name} was welcomed as {}, an id another session had",
                        key.1
                    ),
                ));
            }
        }
    }
    let mut incarnation = 1u32;
    let mut connected: BTreeSet<ClientId> = BTreeSet::new();
    let mut ever_joined: BTreeSet<ClientId> = BTreeSet::new();
    let mut busy_seen = false;
    for (index, line) in trace.iter().enumerate() {
        if line.host == "sim" {
            if line.text == format!("crash {SERVER_NAME}") {
                connected.clear();
            } else if line.text == format!("restart {SERVER_NAME}") {
                // A restart of a server that is up (two crash faults
                // overlapping) bounces it: it too starts an empty room.
                incarnation += 1;
                connected.clear();
                ever_joined.clear();
            }
            continue;
        }
        if line.host != SERVER_NAME {
            continue;
        }
        // A line that is not a note was reported by parse_facts.
        let Ok(note) = line.text.parse::<Note>() else {
            continue;
        };
        let key = |id: &ClientId| (incarnation, id.to_string());
        match note {
            Note::Join { client: id } => {
                if !by_id.contains_key(&key(&id))
                    && !welcome_lost_to_fault(facts, &id.to_string(), line.time_ms)
                {
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
            Note::Leave { client: id, .. } if !connected.remove(&id) => {
                violations.push(Violation::new(
                    "membership",
                    format!("{id} left without being in the room"),
                ));
            }
            Note::List {
                client: from,
                listed,
            } => {
                // Exactly the connected clients, sorted by address (the
                // set's order).
                if !listed.iter().eq(connected.iter()) {
                    let listed: Vec<String> = listed.iter().map(ToString::to_string).collect();
                    let expected: Vec<String> = connected.iter().map(ToString::to_string).collect();
                    violations.push(Violation::new(
                        "list-exact",
                        format!("at line {index} {from} was listed {listed:?}, connected were {expected:?}"),
                    ));
                }
                for id in &listed {
                    let Some(session) = by_id.get(&key(id)) else {
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
            Note::Route { from, to, .. } | Note::Busy { from, to } => {
                if !connected.contains(&to) || !connected.contains(&from) {
                    violations.push(Violation::new(
                        "route-to-connected",
                        format!(
                            "at line {index}: {} while {to} or {from} was not connected",
                            line.text
                        ),
                    ));
                }
                if matches!(note, Note::Busy { .. }) {
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
            Note::Unknown { to, .. } => {
                if connected.contains(&to) {
                    violations.push(Violation::new(
                        "no-such-client-exact",
                        format!("at line {index}: {} while {to} was connected", line.text),
                    ));
                }
                if ever_joined.contains(&to) {
                    outcome.reached.insert("send-to-departed".to_owned());
                }
            }
            Note::Leave { .. } | Note::Refuse { .. } => {}
        }
    }
}

/// Whether the server may have joined `id` (at `join_ms`) for a connection
/// whose `WELCOME` never arrived because of a fault. Either a connection
/// that was never welcomed but left trace lines was touched by a fault, or
/// the connection was cut before it wrote any trace line at all: a fault
/// touching a client host with that address (or with no known address,
/// none of its connections having been welcomed) was in force between the
/// join and the end of that host's silence bound after it, when the
/// connection would have given up on a `WELCOME` that was on its way. A
/// join no fault could have cut is never excused.
fn welcome_lost_to_fault(facts: &Facts, id: &str, join_ms: u64) -> bool {
    let ip = id.rsplit_once(':').map_or(id, |(ip, _)| ip);
    let host_ip = |host: &str| {
        facts
            .sessions
            .values()
            .find_map(|session| match &session.id {
                Some((_, known)) if session.host == host => {
                    known.rsplit_once(':').map(|(ip, _)| ip.to_owned())
                }
                _ => None,
            })
    };
    let traced = facts.sessions.values().any(|session| {
        session.id.is_none()
            && facts.exposed(session)
            && host_ip(&session.host).is_none_or(|known| known == ip)
    });
    let cut_silently = facts.hosts.iter().any(|(host, silence_ms)| {
        host_ip(host).is_none_or(|known| known == ip)
            && facts.spans.iter().any(|span| {
                span.touches(host)
                    && span.from_ms <= join_ms.saturating_add(*silence_ms)
                    && span.to_ms.is_none_or(|to_ms| to_ms >= join_ms)
            })
    });
    traced || cut_silently
}

/// Every command gets exactly one reply, in order, and that reply is the
/// one the server's decision on that command calls for: `SENT` only for a
/// message the server queued, the same list the server noted, and so on.
fn check_replies(facts: &Facts, violations: &mut Vec<Violation>) {
    for (name, session) in &facts.sessions {
        let Some(key) = &session.id else {
            continue;
        };
        let id = &key.1;
        let decisions = facts.decisions.get(key).map(Vec::as_slice).unwrap_or(&[]);
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
            if !decision.answers(command, id) {
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
        for ((reply, decision), command) in
            session.replies.iter().zip(decisions).zip(&session.commands)
        {
            let matches = match decision {
                Decision::Refuse { .. } => refusal_fits(reply, command),
                _ => *reply == decision.reply(),
            };
            if !matches {
                violations.push(Violation::new(
                    "replies-match-decisions",
                    format!(
                        "{name} ({id}) got {reply:?} to {command:?} where the server decided {decision:?}"
                    ),
                ));
            }
        }
        // The server closes a connection only after `BYE`, after the
        // refusal of a line that is too long, or when the client closed
        // its side; any other close needs a fault to explain it.
        if session.end.as_deref() == Some("closed")
            && session.final_at.is_none()
            && !session.half_closed
            && !facts.exposed(session)
        {
            violations.push(Violation::new(
                "closed-with-cause",
                format!("{name} ({id}) was closed by the server with no BYE, no line-too-long and no fault"),
            ));
        }
        // A `Q` that no fault touched is answered `BYE` before the close.
        let quit = session
            .commands
            .iter()
            .any(|command| *command == Command::Line("Q".to_owned()));
        if quit && session.end.as_deref() == Some("closed") && !facts.exposed(session) {
            violations.push(Violation::new(
                "bye-after-quit",
                format!("{name} ({id}) sent Q and the connection closed without BYE"),
            ));
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
    // (sender, target id, text) -> how many times the sender sent it:
    // a `FROM` names exactly the session that sent that very message.
    let mut sent: BTreeMap<(&Key, &str, &str), usize> = BTreeMap::new();
    for session in facts.sessions.values() {
        let Some(key) = &session.id else {
            continue;
        };
        for command in &session.commands {
            if let Command::Line(line) = command {
                if let Some((to, text)) = line.split_once(' ') {
                    *sent.entry((key, to, text)).or_default() += 1;
                }
            }
        }
    }
    for (name, session) in &facts.sessions {
        let Some((server, id)) = &session.id else {
            continue;
        };
        let mut received: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        let mut copies: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for (from, text) in &session.received {
            received.entry(from).or_default().push(text);
            *copies.entry((from, text)).or_default() += 1;
        }
        for ((from, text), count) in &copies {
            let sender = (*server, from.to_string());
            let times = sent
                .get(&(&sender, id.as_str(), *text))
                .copied()
                .unwrap_or(0);
            if *count > times {
                violations.push(Violation::new(
                    "true-sender",
                    format!(
                        "{name} ({id}) received {text:?} from {from} {count} times, and {from} sent it to {id} {times} times"
                    ),
                ));
            }
        }
        // The k-th message from one sender arrives after the server
        // queued the k-th one, never before.
        let mut nth: BTreeMap<&str, usize> = BTreeMap::new();
        for ((from, _), at) in session.received.iter().zip(&session.received_at) {
            let k = nth.entry(from).or_default();
            let routed_at = facts
                .routed_at
                .get(&(*server, from.clone(), id.clone()))
                .and_then(|indexes| indexes.get(*k));
            if routed_at.is_some_and(|routed_at| routed_at > at) {
                violations.push(Violation::new(
                    "delivered-after-routed",
                    format!("{name} ({id}) received message {k} from {from} at line {at}, before the server queued it"),
                ));
            }
            *k += 1;
        }
        for (from, texts) in &received {
            let routed = facts
                .routed
                .get(&(*server, from.to_string(), id.clone()))
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
        for ((routed_by, from, to), routed) in &facts.routed {
            if routed_by != server || to != id {
                continue;
            }
            let got = received.get(from.as_str()).map_or(0, Vec::len);
            if got < routed.len() {
                // Only a connection that heard BYE and the close has read
                // everything; one that hung up, or that a fault cut, has not.
                match session.end.as_deref() {
                    Some("bye") => violations.push(Violation::new(
                        "delivered-all",
                        format!(
                            "{name} ({id}) quit having received {got} of the {} messages queued for it by {from}",
                            routed.len()
                        ),
                    )),
                    Some("hangup") => {
                        outcome.reached.insert("lost-on-hangup".to_owned());
                    }
                    _ if facts.exposed(session) => {
                        outcome.reached.insert("lost-to-fault".to_owned());
                    }
                    _ => {
                        outcome.reached.insert("lost-on-close".to_owned());
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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
    fn a_server_line_that_is_not_a_note_is_a_trace_format_violation() {
        let mut trace = clean();
        trace[0] = line("server", "join 1.0.0.1");
        assert!(
            properties(trace).contains(&"trace-format".to_owned()),
            "a join without a port is no note"
        );
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
    fn at(time_ms: u64, host: &str, text: &str) -> TraceLine {
        TraceLine {
            time_ms,
            host: host.to_owned(),
            text: text.to_owned(),
        }
    }

    /// `a` talks to a server that crashes and restarts; `a.2` reconnects.
    fn crashed() -> Vec<TraceLine> {
        vec![
            at(1, "server", "join 1.0.0.1:1"),
            at(2, "a", "recv WELCOME 1.0.0.1:1"),
            at(3, "a", "send L"),
            at(10, "sim", "crash server"),
            at(11, "a", "end closed"),
            at(20, "sim", "restart server"),
            at(30, "server", "join 1.0.0.1:2"),
            at(31, "a.2", "recv WELCOME 1.0.0.1:2"),
            at(32, "a.2", "send L"),
            at(33, "server", "list 1.0.0.1:2 1.0.0.1:2"),
            at(34, "a.2", "recv CLIENTS 1.0.0.1:2"),
            at(35, "a.2", "send Q"),
            at(36, "server", "leave 1.0.0.1:2 quit"),
            at(37, "a.2", "recv BYE"),
            at(38, "a.2", "end bye"),
        ]
    }

    #[test]
    fn a_server_restart_empties_the_room_and_starts_an_incarnation() {
        let outcome = judge(crashed(), Vec::new());
        assert_eq!(outcome.violations, []);
        assert!(outcome.reached.contains("server-restart-rejoined"));
        let mut trace = crashed();
        trace[9] = at(33, "server", "list 1.0.0.1:2 1.0.0.1:1 1.0.0.1:2");
        trace[10] = at(34, "a.2", "recv CLIENTS 1.0.0.1:1 1.0.0.1:2");
        assert_eq!(properties(trace), ["list-exact"]);
    }

    #[test]
    fn giving_up_or_failing_is_a_violation_unless_a_fault_touched_the_connection() {
        let topology = Topology {
            sessions: [("a".to_owned(), ("h".to_owned(), 100))]
                .into_iter()
                .collect(),
        };
        let mut trace = crashed();
        trace[4] = at(11, "a", "end timeout");
        trace.insert(5, at(12, "a.2", "error connection failed"));
        assert_eq!(
            judge_with(trace.clone(), Vec::new(), &topology).violations,
            []
        );
        // The same lines with no crash: nothing excuses them.
        trace.retain(|line| line.host != "sim");
        let found: Vec<String> = judge_with(trace, Vec::new(), &topology)
            .violations
            .into_iter()
            .map(|violation| violation.property)
            .collect();
        assert!(
            found.contains(&"replies-within-silence".to_owned()),
            "{found:?}"
        );
        assert!(found.contains(&"client-error".to_owned()), "{found:?}");
    }

    #[test]
    fn a_line_after_bye_a_late_welcome_a_stray_reply_and_an_unknown_line_are_each_caught() {
        let mut after_bye = clean();
        after_bye.insert(14, line("b", "recv CLIENTS 1.0.0.1:1"));
        assert!(properties(after_bye).contains(&"nothing-after-bye".to_owned()));

        let mut welcome_late = clean();
        welcome_late.insert(1, line("a", "recv CLIENTS 1.0.0.1:1"));
        let found = properties(welcome_late);
        assert!(found.contains(&"welcome-first".to_owned()), "{found:?}");

        let mut stray = clean();
        stray.insert(4, line("a", "recv SENT 1.0.0.2:2"));
        assert!(properties(stray).contains(&"line-explained".to_owned()));

        let mut unknown = clean();
        unknown.insert(4, line("a", "recv HELLO"));
        assert!(properties(unknown).contains(&"line-explained".to_owned()));
    }

    #[test]
    fn a_join_cut_before_its_first_line_is_explained_only_by_a_fault_on_that_host() {
        let topology = Topology {
            sessions: [
                ("a".to_owned(), ("ha".to_owned(), 1000)),
                ("c".to_owned(), ("hc".to_owned(), 1000)),
            ]
            .into_iter()
            .collect(),
        };
        let trace = vec![
            at(1, "server", "join 1.0.0.1:1"),
            at(2, "a", "recv WELCOME 1.0.0.1:1"),
            at(3, "server", "join 1.0.0.3:1"),
            at(5, "sim", "crash hc"),
            at(6, "server", "leave 1.0.0.3:1 closed"),
            at(9, "a", "end hangup"),
            at(10, "server", "leave 1.0.0.1:1 closed"),
        ];
        assert_eq!(
            judge_with(trace.clone(), Vec::new(), &topology).violations,
            []
        );
        let mut untouched = trace;
        untouched.retain(|line| line.host != "sim");
        let found: Vec<String> = judge_with(untouched, Vec::new(), &topology)
            .violations
            .into_iter()
            .map(|violation| violation.property)
            .collect();
        assert_eq!(found, ["joins-are-sessions"]);
    }

    #[test]
    fn a_from_naming_another_session_than_the_sender_is_caught_by_true_sender() {
        // b hears the message a sent, but named as coming from b itself,
        // and the server's note agrees: only the senders' own lines show it.
        let mut trace = clean();
        trace[8] = line("server", "route 1.0.0.2:2 1.0.0.2:2 hi  there");
        trace[10] = line("b", "recv FROM 1.0.0.2:2 hi  there");
        let found = properties(trace);
        assert!(found.contains(&"true-sender".to_owned()), "{found:?}");
    }

    /// One real trace of the adversarial scenario, made once.
    fn real_trace() -> &'static [TraceLine] {
        static TRACE: std::sync::OnceLock<Vec<TraceLine>> = std::sync::OnceLock::new();
        TRACE.get_or_init(|| {
            let scenario = crate::scenario::registry::lookup("chat-mischief").expect("a built-in");
            scenario.run(3, &RunOptions::default()).trace
        })
    }

    /// A way to damage a trace.
    #[derive(Debug, Clone)]
    enum Mutation {
        Drop(usize),
        Duplicate(usize),
        Swap(usize, usize),
        Text(usize, String),
        Host(usize, String),
        Cut(usize, usize),
        Insert(usize, String, String),
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        let host = prop_oneof![
            Just("server".to_owned()),
            Just("sim".to_owned()),
            Just("m1".to_owned()),
            Just("t1".to_owned()),
            "[a-z#.0-9]{0,6}",
        ];
        let text = prop_oneof![
            "(send|recv|end|join|leave|list|route|busy|unknown|refuse|crash|restart|partition|heal|hold|release|half-close|send-split|send-invalid-utf8|send-too-long|full|error)( [ -~]{0,30}){0,4}",
            "recv (WELCOME|CLIENTS|FROM|SENT|BYE|ERR)( [0-9.:]{0,20}){0,3}",
            ".{0,40}",
        ];
        prop_oneof![
            any::<usize>().prop_map(Mutation::Drop),
            any::<usize>().prop_map(Mutation::Duplicate),
            (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Swap(a, b)),
            (any::<usize>(), text.clone()).prop_map(|(at, text)| Mutation::Text(at, text)),
            (any::<usize>(), host.clone()).prop_map(|(at, host)| Mutation::Host(at, host)),
            (any::<usize>(), any::<usize>()).prop_map(|(at, keep)| Mutation::Cut(at, keep)),
            (any::<usize>(), host, text)
                .prop_map(|(at, host, text)| Mutation::Insert(at, host, text)),
        ]
    }

    fn mutate(trace: &mut Vec<TraceLine>, mutation: &Mutation) {
        let len = trace.len();
        if len == 0 {
            return;
        }
        match mutation {
            Mutation::Drop(at) => {
                trace.remove(at % len);
            }
            Mutation::Duplicate(at) => {
                let copy = trace[at % len].clone();
                trace.insert(at % len, copy);
            }
            Mutation::Swap(a, b) => trace.swap(a % len, b % len),
            Mutation::Text(at, text) => trace[at % len].text = text.clone(),
            Mutation::Host(at, host) => trace[at % len].host = host.clone(),
            Mutation::Cut(at, keep) => {
                let line = &mut trace[at % len];
                let chars: String = line.text.chars().take(keep % 40).collect();
                line.text = chars;
            }
            Mutation::Insert(at, host, text) => {
                let time_ms = trace[at % len].time_ms;
                trace.insert(at % len, at_line(time_ms, host, text));
            }
        }
    }

    fn at_line(time_ms: u64, host: &str, text: &str) -> TraceLine {
        TraceLine {
            time_ms,
            host: host.to_owned(),
            text: text.to_owned(),
        }
    }

    fn any_line() -> impl Strategy<Value = TraceLine> {
        (any::<u64>(), "[a-z#.0-9]{0,8}", ".{0,60}")
            .prop_map(|(time_ms, host, text)| at_line(time_ms, &host, &text))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn the_oracles_return_on_a_real_trace_damaged_in_any_way(
            mutations in proptest::collection::vec(mutation(), 1..12),
        ) {
            let mut trace = real_trace().to_vec();
            for mutation in &mutations {
                mutate(&mut trace, mutation);
            }
            let topology = Topology {
                sessions: [("m1".to_owned(), ("m1".to_owned(), 1000))].into_iter().collect(),
            };
            let _ = judge_with(trace, Vec::new(), &topology);
        }

        #[test]
        fn the_oracles_return_on_arbitrary_traces(
            trace in proptest::collection::vec(any_line(), 0..40),
        ) {
            let _ = judge(trace, Vec::new());
        }
    }

    #[test]
    fn an_undamaged_real_trace_passes() {
        let outcome = judge(real_trace().to_vec(), Vec::new());
        assert_eq!(outcome.violations, []);
    }

    #[test]
    fn a_lost_message_to_a_client_that_heard_bye_is_caught_even_under_faults() {
        let mut trace = clean();
        trace.insert(0, line("sim", "partition b server"));
        trace.remove(11);
        assert_eq!(properties(trace), ["delivered-all"]);
    }
}
