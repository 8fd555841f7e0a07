//! Live tombola under the simulation: scenario specs (from scenario files),
//! how one seed of a spec runs on turmoil, the oracles that judge its trace,
//! and the races a run reached.
//!
//! The server and every client run the same session code as the real
//! binaries (`games::live::{server, client}`), over [`SimEnv`]. Each client
//! session is a turmoil host of its own name, so faults can partition,
//! hold, crash and restart it; the server is the host `server`. The oracles
//! read only the trace: the server's notes (`connect`, `pair`, `board`,
//! `start`, `join`, `draw`, `claim`, `over`, `again`, `quit`, `goodbye`,
//! `drop`, `abandon`), the clients' lines (`send ...`, `recv ...` for the
//! claims port, `recv# ...` for the numbers port, and a final `result ...`,
//! `gave-up ...` or `error ...`) and the harness's fault lines (host `sim`:
//! `crash server`, `restart c1`, `partition c1 server`, `heal ...`, ...).
//! A `sim restart server` line starts a new server incarnation: games,
//! boards and ids are keyed by it.

mod facts;
mod lines;
mod oracles;
mod run;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use games::live::client::Behaviour;
use games::live::game::{InjectedBug, ServerConfig, PAIRING_TIMEOUT_MS};
use games::live::notes::{is_shell_line, ClaimVerdict, DropReason, Note};
use games::tombola::rules::{Board, NumberSet, NUMBER_MAX};
use serde::Deserialize;

use crate::engine::harness::{NetConfig, RunOutcome, Violation};
use crate::engine::trace::TraceLine;
use crate::scenario::faults::Fault;
use crate::scenario::file::ScenarioFile;

use facts::*;
use lines::*;
use oracles::*;

/// The properties only a whole run is judged by: a game must end, and a
/// client must have received every draw of its games and their winner (on
/// a prefix, they may still be on their way).
pub const END_OF_RUN_PROPERTIES: &[&str] = &["game-ends", "same-draws", "same-winner"];

/// The simulated server's numbers port.
pub const NUMBERS_PORT: u16 = 2004;
/// The simulated server's claims port.
pub const CLAIMS_PORT: u16 = 2005;

/// Live scenarios draw every 50 ms by default: long against the 1 ms tick
/// and the 1-5 ms latencies (claims race each other, not the draws), short
/// enough that a whole game costs about 4 simulated seconds.
pub const SCENARIO_INTERVAL_MS: u64 = 50;
/// The default pause between games: long enough for `AGAIN` to cross the
/// network many times over, short enough to cost little.
pub const SCENARIO_PAUSE_MS: u64 = 200;
/// A client hears from the server at least every draw interval while it is
/// in a game and every pause between games; after this many of the longer
/// of the two without a line, it gives up on a dead link (a partition that
/// killed its connection, a server that went silent). The default of a
/// client's `params.silence_timeout_ms`.
pub const SILENCE_INTERVALS: u64 = 10;

/// One simulated player.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayerSpec {
    /// Its name in the trace.
    pub name: String,
    /// The turmoil host it runs on (`params.host`, default its name);
    /// players naming the same host share it, and a fault naming any of
    /// them hits the host.
    pub host: String,
    pub behaviour: Behaviour,
    /// Simulated time at which it connects...
    pub join_at_ms: u64,
    /// ...plus a time drawn from the seed in `0..=join_spread_ms`.
    pub join_spread_ms: u64,
    /// A fixed board (to force a race); otherwise drawn from the seed.
    pub board: Option<Vec<u8>>,
    /// How long it waits for a line from the server before it gives up.
    pub silence_timeout_ms: u64,
}

/// A whole live run: server settings, players, network, faults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSpec {
    pub server: ServerConfig,
    pub players: Vec<PlayerSpec>,
    pub net: NetConfig,
    pub faults: Vec<Fault>,
    /// Draw extra faults and network settings from each seed.
    pub swarm: bool,
}

/// The `[server]` table of a live scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerSection {
    #[serde(default = "default_interval_ms")]
    interval_ms: u64,
    #[serde(default = "default_pause_ms")]
    pause_ms: u64,
    #[serde(default = "default_pairing_timeout_ms")]
    pairing_timeout_ms: u64,
    #[serde(default)]
    draw_prefix: Vec<u8>,
    /// A deliberate server bug (see [`games::live::game::InjectedBug`]).
    #[serde(default)]
    inject_bug: Option<String>,
}

fn default_interval_ms() -> u64 {
    SCENARIO_INTERVAL_MS
}
fn default_pause_ms() -> u64 {
    SCENARIO_PAUSE_MS
}
fn default_pairing_timeout_ms() -> u64 {
    PAIRING_TIMEOUT_MS
}

/// The behaviours a live scenario may give its clients, with their
/// parameters.
pub const BEHAVIOURS: &str = "honest (params.games), claim-after-over (params.games), \
false-claim (params.at_draw), quit (params.at_draw), disconnect (params.at_draw), silent, \
mischief (params.acts)";

const PARAMS: &[&str] = &["games", "at_draw", "acts", "silence_timeout_ms", "host"];
/// Parameters every behaviour takes.
const COMMON_PARAMS: &[&str] = &["silence_timeout_ms", "host"];

/// The registry's entry point (see `crate::models`): live specs do not
/// depend on the seed.
pub(crate) fn scenario_spec(file: &ScenarioFile, _seed: u64) -> Result<LiveSpec, String> {
    spec_from_file(file)
}

/// Builds a spec from a scenario file, naming the field of any problem.
pub fn spec_from_file(file: &ScenarioFile) -> Result<LiveSpec, String> {
    let section: ServerSection = file.server_settings()?;
    if section.interval_ms == 0 {
        return Err("server.interval_ms: must be at least 1".to_owned());
    }
    if section.pairing_timeout_ms == 0 {
        return Err("server.pairing_timeout_ms: must be at least 1".to_owned());
    }
    let mut prefix = NumberSet::default();
    for &number in &section.draw_prefix {
        if !(1..=NUMBER_MAX).contains(&number) {
            return Err(format!(
                "server.draw_prefix: {number} is not in 1..={NUMBER_MAX}"
            ));
        }
        if !prefix.insert(number) {
            return Err(format!("server.draw_prefix: {number} appears twice"));
        }
    }
    let server = ServerConfig {
        interval_ms: section.interval_ms,
        pause_ms: section.pause_ms,
        pairing_timeout_ms: section.pairing_timeout_ms,
        draw_prefix: section.draw_prefix,
        injected_bug: match &section.inject_bug {
            None => None,
            Some(name) => Some(
                name.parse::<InjectedBug>()
                    .map_err(|error| format!("server.inject_bug: {error}"))?,
            ),
        },
    };
    let default_silence_ms = SILENCE_INTERVALS * server.interval_ms.max(server.pause_ms);
    let mut players = Vec::new();
    for (index, group) in file.clients.iter().enumerate() {
        let field = format!("clients[{index}]");
        for key in group.params.keys() {
            if !PARAMS.contains(&key.as_str()) {
                return Err(format!(
                    "{field}.params: unknown parameter {key:?} (known: {})",
                    PARAMS.join(", ")
                ));
            }
        }
        let param = |key: &str, default: u64| -> Result<u64, String> {
            match group.params.get(key) {
                None => Ok(default),
                Some(value) => value
                    .as_integer()
                    .and_then(|number| u64::try_from(number).ok())
                    .ok_or_else(|| {
                        format!(
                            "{field}.params.{key}: expected a non-negative integer, got {value}"
                        )
                    }),
            }
        };
        let count = |key: &str, default: u64| -> Result<u32, String> {
            let value = param(key, default)?;
            match u32::try_from(value) {
                Ok(value) if value >= 1 => Ok(value),
                _ => Err(format!(
                    "{field}.params.{key}: {value} is not in 1..={}",
                    u32::MAX
                )),
            }
        };
        let behaviour = match group.behaviour.as_str() {
            "honest" => Behaviour::Honest {
                games: count("games", 1)?,
            },
            "claim-after-over" => Behaviour::ClaimAfterOver {
                games: count("games", 1)?,
            },
            "false-claim" => Behaviour::FalseClaim {
                seq: count("at_draw", 5)?,
            },
            "quit" => Behaviour::QuitAt {
                numbers: count("at_draw", 10)?,
            },
            "disconnect" => Behaviour::DisconnectAt {
                numbers: count("at_draw", 12)?,
            },
            "silent" => Behaviour::Silent,
            // The seed is drawn per run, from the run's seed and the
            // client's name (see `run_spec`).
            "mischief" => Behaviour::Mischief {
                acts: count("acts", 6)?,
                seed: 0,
            },
            other => {
                return Err(format!(
                    "{field}.behaviour: unknown behaviour {other:?}; live knows {BEHAVIOURS}"
                ))
            }
        };
        let used: &[&str] = match behaviour {
            Behaviour::Honest { .. } | Behaviour::ClaimAfterOver { .. } => &["games"],
            Behaviour::Silent | Behaviour::Ask => &[],
            Behaviour::Mischief { .. } => &["acts"],
            _ => &["at_draw"],
        };
        if let Some(key) = group
            .params
            .keys()
            .find(|key| !COMMON_PARAMS.contains(&key.as_str()) && !used.contains(&key.as_str()))
        {
            return Err(format!(
                "{field}.params.{key}: behaviour {:?} takes no such parameter",
                group.behaviour
            ));
        }
        if let Some(board) = &group.board {
            Board::new(board).map_err(|error| format!("{field}.board: {error}"))?;
        }
        let silence_timeout_ms = param("silence_timeout_ms", default_silence_ms)?;
        if silence_timeout_ms == 0 {
            return Err(format!(
                "{field}.params.silence_timeout_ms: must be at least 1"
            ));
        }
        let host = match group.params.get("host") {
            None => None,
            Some(toml::Value::String(host)) if valid_host(host) => Some(host.clone()),
            Some(value) => {
                return Err(format!(
                    "{field}.params.host: {value} must be a host name (lower-case letters, digits and '-', starting with a letter; not server or sim)"
                ))
            }
        };
        for name in group.member_names() {
            let host = host.clone().unwrap_or_else(|| name.clone());
            if host != name && file.client_names().contains(&host) {
                return Err(format!(
                    "{field}.params.host: {host:?} is the name of another client"
                ));
            }
            players.push(PlayerSpec {
                name,
                host,
                behaviour,
                join_at_ms: group.join_at_ms,
                join_spread_ms: group.join_spread_ms,
                board: group.board.clone(),
                silence_timeout_ms,
            });
        }
    }
    Ok(LiveSpec {
        server,
        players,
        net: file.net.clone(),
        faults: file.faults.clone(),
        swarm: file.swarm,
    })
}

fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && host.as_bytes()[0].is_ascii_lowercase()
        && host
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
        && host != "server"
        && host != "sim"
}

impl LiveSpec {
    /// The client hosts, in order of first appearance.
    fn hosts(&self) -> Vec<String> {
        let mut hosts: Vec<String> = Vec::new();
        for player in &self.players {
            if !hosts.contains(&player.host) {
                hosts.push(player.host.clone());
            }
        }
        hosts
    }

    /// Each player's host.
    fn host_of(&self) -> BTreeMap<String, String> {
        self.players
            .iter()
            .map(|player| (player.name.clone(), player.host.clone()))
            .collect()
    }

    /// `fault` with every player it names replaced by that player's host.
    fn on_hosts(&self, fault: &Fault) -> Fault {
        let hosts = self.host_of();
        let host = |name: &String| hosts.get(name).cloned().unwrap_or_else(|| name.clone());
        match fault.clone() {
            Fault::Partition {
                between: [a, b],
                at_ms,
                heal_at_ms,
            } => Fault::Partition {
                between: [host(&a), host(&b)],
                at_ms,
                heal_at_ms,
            },
            Fault::Hold {
                between: [a, b],
                at_ms,
                release_at_ms,
            } => Fault::Hold {
                between: [host(&a), host(&b)],
                at_ms,
                release_at_ms,
            },
            Fault::Crash {
                host: crashed,
                at_ms,
                restart_at_ms,
            } => Fault::Crash {
                host: host(&crashed),
                at_ms,
                restart_at_ms,
            },
            spike @ Fault::LatencySpike { .. } => spike,
        }
    }
}

/// Checks a `game = "live"` scenario file without running it.
pub fn check_file(file: &ScenarioFile) -> Result<(), String> {
    spec_from_file(file).map(|_| ())
}
