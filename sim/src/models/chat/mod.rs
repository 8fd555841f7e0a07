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

mod facts;
mod oracles;
mod run;
#[cfg(test)]
mod tests;

pub use facts::Topology;
#[cfg(test)]
pub use oracles::judge;
pub use oracles::judge_with;

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

use crate::engine::harness::{host_rng, NetConfig, RunOutcome, Violation};
use crate::engine::trace::TraceLine;
use crate::scenario::faults::Fault;
use crate::scenario::file::ScenarioFile;

use facts::*;

/// The properties only a whole run is judged by: a session that heard
/// `BYE` must have received every message queued for it, and every client
/// the server noted as joined must be a session that was welcomed as it
/// (on a prefix, the messages and the `WELCOME` may still be on their
/// way).
pub const END_OF_RUN_PROPERTIES: &[&str] = &["delivered-all", "joins-are-sessions"];

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
    /// Its behaviour, as the seed's own plan draws it.
    pub behaviour: Behaviour,
    /// Simulated time at which it first connects, as the seed's own plan
    /// draws it.
    pub join_at_ms: u64,
    /// What its behaviour and join time are drawn from, for another plan
    /// ([`SessionSpec::planned`]).
    pub(crate) recipe: Recipe,
    pub(crate) join_base_ms: u64,
    pub(crate) join_spread_ms: u64,
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Recipe {
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

impl SessionSpec {
    /// Its behaviour and join time under `plan`: the seed's own (`plan` is
    /// its name) or another plan a search chose, drawn as the seed's own
    /// is but from the streams named after `plan`.
    pub(crate) fn planned(&self, seed: u64, plan: &str) -> (Behaviour, u64) {
        if plan == self.name {
            return (self.behaviour.clone(), self.join_at_ms);
        }
        draw_plan(
            &self.recipe,
            self.join_base_ms,
            self.join_spread_ms,
            seed,
            plan,
        )
    }
}

/// A member's behaviour and join time, drawn from the streams named after
/// `plan` (`plan-<plan>`, `join-<plan>`; `plan` is the member's name for
/// the seed's own plan).
fn draw_plan(
    recipe: &Recipe,
    join_base_ms: u64,
    join_spread_ms: u64,
    seed: u64,
    plan: &str,
) -> (Behaviour, u64) {
    let mut plan_rng = host_rng(seed, &format!("plan-{plan}"));
    let mut join_rng = host_rng(seed, &format!("join-{plan}"));
    (
        recipe.behaviour(&mut plan_rng),
        join_base_ms + join_rng.random_range(0..=join_spread_ms),
    )
}

fn valid_host_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
        && name.as_bytes()[0].is_ascii_lowercase()
}

/// The registry's entry point (see `crate::models`).
pub(crate) fn scenario_spec(file: &ScenarioFile, seed: u64) -> Result<ChatSpec, String> {
    spec_from_file(file, seed)
}

/// Builds a spec from a scenario file for one seed (members draw their
/// plans and join times from it), naming the field of any problem.
pub fn spec_from_file(file: &ScenarioFile, seed: u64) -> Result<ChatSpec, String> {
    let section: ServerSection = file.server_settings()?;
    if section.outbox_lines <= games::chat::server::REPLY_HEADROOM_LINES {
        return Err(format!(
            "server.outbox_lines: {} must be more than {} (the lines kept for replies)",
            section.outbox_lines,
            games::chat::server::REPLY_HEADROOM_LINES
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
            let (behaviour, join_at_ms) =
                draw_plan(&recipe, group.join_at_ms, group.join_spread_ms, seed, &name);
            sessions.push(SessionSpec {
                name: name.clone(),
                host,
                behaviour,
                join_at_ms,
                recipe: recipe.clone(),
                join_base_ms: group.join_at_ms,
                join_spread_ms: group.join_spread_ms,
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
