//! Scenario files: the TOML schema every game shares, loading with errors
//! that name the field and the problem, and the built-in scenario files
//! compiled into the binary from `fixtures/scenarios/`.
//!
//! A file says which game, the server's settings (a table each game
//! checks), groups of clients with a behaviour and join times, faults, the
//! network, and the rare events the scenario must reach. The schema is
//! documented in `docs/scenarios.md`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::engine::harness::{NetConfig, RunOptions, RunOutcome};
use crate::scenario::faults::Fault;

/// Which game a scenario plays: the games are declared once, in the
/// registry of `crate::models`.
pub use crate::models::GameKind;

/// A scenario file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    /// Defaults to the file name without `.toml`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub game: GameKind,
    #[serde(default)]
    pub summary: String,
    /// Rare events a sweep of this scenario must reach at least once.
    #[serde(default)]
    pub must_reach: Vec<String>,
    #[serde(default)]
    pub net: NetConfig,
    /// Server settings; which keys are allowed depends on the game.
    #[serde(default)]
    pub server: toml::Table,
    #[serde(default)]
    pub clients: Vec<ClientGroup>,
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// Each seed draws its own faults and network settings on top of these.
    #[serde(default)]
    pub swarm: bool,
}

/// `count` clients that behave alike.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientGroup {
    /// The client's host name, or with `count` > 1 the prefix of
    /// `name1`, `name2`, ...
    pub name: String,
    #[serde(default = "one")]
    pub count: u32,
    /// What the clients do; the game lists the behaviours it knows.
    #[serde(default = "honest")]
    pub behaviour: String,
    /// Simulated time at which the group joins.
    #[serde(default)]
    pub join_at_ms: u64,
    /// Each member joins at a time drawn from the seed in
    /// `join_at_ms ..= join_at_ms + join_spread_ms`.
    #[serde(default)]
    pub join_spread_ms: u64,
    /// A fixed board (tombola games, `count` = 1 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub board: Option<Vec<u8>>,
    /// Parameters of the behaviour, e.g. `{ at_draw = 5 }`.
    #[serde(default, skip_serializing_if = "toml::Table::is_empty")]
    pub params: toml::Table,
}

fn one() -> u32 {
    1
}

fn honest() -> String {
    "honest".to_owned()
}

/// Most clients one group may hold.
pub const GROUP_CLIENTS_MAX: u32 = 256;

impl ClientGroup {
    /// The host names of this group's members.
    pub fn member_names(&self) -> Vec<String> {
        if self.count == 1 {
            vec![self.name.clone()]
        } else {
            (1..=self.count)
                .map(|index| format!("{}{index}", self.name))
                .collect()
        }
    }
}

impl ScenarioFile {
    /// Parses a file's text; `fallback_name` names it when it has no `name`.
    pub fn parse(text: &str, fallback_name: &str) -> Result<ScenarioFile, String> {
        let mut file: ScenarioFile = toml::from_str(text).map_err(|error| error.to_string())?;
        if file.name.is_none() {
            file.name = Some(fallback_name.to_owned());
        }
        file.validate()?;
        Ok(file)
    }

    /// Reads and parses a scenario file from disk.
    pub fn load(path: &Path) -> Result<ScenarioFile, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|error| format!("{}: {error}", path.display()))?;
        let stem = path
            .file_stem()
            .and_then(|stem| stem.to_str())
            .unwrap_or("scenario");
        ScenarioFile::parse(&text, stem).map_err(|error| format!("{}: {error}", path.display()))
    }

    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("scenario")
    }

    /// Every client host name, in file order.
    pub fn client_names(&self) -> Vec<String> {
        self.clients
            .iter()
            .flat_map(ClientGroup::member_names)
            .collect()
    }

    /// Checks what does not depend on the game.
    fn validate(&self) -> Result<(), String> {
        if self.net.tick_ms == 0 {
            return Err("net.tick_ms: must be at least 1".to_owned());
        }
        if self.net.latency_min_ms > self.net.latency_max_ms {
            return Err(format!(
                "net.latency_min_ms: {} is above latency_max_ms {}",
                self.net.latency_min_ms, self.net.latency_max_ms
            ));
        }
        if self.clients.is_empty() {
            return Err("clients: a scenario needs at least one [[clients]] group".to_owned());
        }
        let mut seen = std::collections::BTreeSet::new();
        for (index, group) in self.clients.iter().enumerate() {
            let field = format!("clients[{index}]");
            if group.count == 0 || group.count > GROUP_CLIENTS_MAX {
                return Err(format!(
                    "{field}.count: {} is not in 1..={GROUP_CLIENTS_MAX}",
                    group.count
                ));
            }
            let valid = !group.name.is_empty()
                && group
                    .name
                    .bytes()
                    .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
                && group.name.as_bytes()[0].is_ascii_lowercase();
            if !valid {
                return Err(format!(
                    "{field}.name: {:?} must be lower-case letters, digits and '-', starting with a letter",
                    group.name
                ));
            }
            if group.board.is_some() && group.count != 1 {
                return Err(format!("{field}.board: a fixed board needs count = 1"));
            }
            for member in group.member_names() {
                if member == "server" || member == "sim" || !seen.insert(member.clone()) {
                    return Err(format!("{field}.name: host name {member:?} is taken"));
                }
            }
        }
        let hosts: Vec<String> = ["server".to_owned()]
            .into_iter()
            .chain(self.client_names())
            .collect();
        for (index, fault) in self.faults.iter().enumerate() {
            fault
                .validate()
                .map_err(|problem| format!("faults[{index}]: {problem}"))?;
            for host in fault.hosts() {
                if !hosts.iter().any(|known| known == host) {
                    return Err(format!(
                        "faults[{index}]: unknown host {host:?}; hosts are {}",
                        hosts.join(", ")
                    ));
                }
            }
        }
        Ok(())
    }

    /// Decodes the `[server]` table into a game's settings type, naming the
    /// table in errors.
    pub fn server_settings<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
        toml::Value::Table(self.server.clone())
            .try_into()
            .map_err(|error: toml::de::Error| format!("server: {}", error.message()))
    }

    /// Runs one seed of this scenario with its game, on turmoil.
    pub fn run(&self, seed: u64, options: &RunOptions) -> RunOutcome {
        self.run_on(&crate::engine::turmoil_backend::Turmoil, seed, options)
    }

    /// Runs one seed of this scenario with its game, on `backend`.
    pub fn run_on<B: crate::engine::backend::Backend>(
        &self,
        backend: &B,
        seed: u64,
        options: &RunOptions,
    ) -> RunOutcome {
        self.game
            .run_on(self, backend, seed, options)
            .unwrap_or_else(|error| invalid(self, &error))
    }

    /// Checks the game-specific parts (server table, behaviours) without
    /// running anything.
    pub fn check(&self) -> Result<(), String> {
        self.game.check(self)
    }
}

impl crate::engine::harness::Runnable for ScenarioFile {
    fn name(&self) -> &str {
        ScenarioFile::name(self)
    }

    fn summary(&self) -> &str {
        &self.summary
    }

    fn must_reach(&self) -> Vec<String> {
        self.must_reach.clone()
    }

    fn run(&self, seed: u64, options: &RunOptions) -> RunOutcome {
        ScenarioFile::run(self, seed, options)
    }
}

fn invalid(file: &ScenarioFile, error: &str) -> RunOutcome {
    RunOutcome {
        violations: vec![crate::engine::harness::Violation::new(
            "scenario-file",
            format!("{}: {error}", file.name()),
        )],
        ..RunOutcome::default()
    }
}

/// The scenario files built into the binary: (file stem, text).
pub const BUILTIN_FILES: &[(&str, &str)] = &[
    (
        "tombola-two-players",
        include_str!("../../../fixtures/scenarios/tombola-two-players.toml"),
    ),
    (
        "tombola-four-players-latency",
        include_str!("../../../fixtures/scenarios/tombola-four-players-latency.toml"),
    ),
    (
        "tombola-simultaneous-claims",
        include_str!("../../../fixtures/scenarios/tombola-simultaneous-claims.toml"),
    ),
    (
        "tombola-misbehaving-players",
        include_str!("../../../fixtures/scenarios/tombola-misbehaving-players.toml"),
    ),
    (
        "tombola-faults",
        include_str!("../../../fixtures/scenarios/tombola-faults.toml"),
    ),
    (
        "tombola-server-restart",
        include_str!("../../../fixtures/scenarios/tombola-server-restart.toml"),
    ),
    (
        "tombola-swarm",
        include_str!("../../../fixtures/scenarios/tombola-swarm.toml"),
    ),
    (
        "tombola-mischief",
        include_str!("../../../fixtures/scenarios/tombola-mischief.toml"),
    ),
    (
        "live-late-joiners",
        include_str!("../../../fixtures/scenarios/live-late-joiners.toml"),
    ),
    (
        "live-late-joiner-wins-from-history",
        include_str!("../../../fixtures/scenarios/live-late-joiner-wins-from-history.toml"),
    ),
    (
        "live-simultaneous-claims",
        include_str!("../../../fixtures/scenarios/live-simultaneous-claims.toml"),
    ),
    (
        "live-join-at-the-win",
        include_str!("../../../fixtures/scenarios/live-join-at-the-win.toml"),
    ),
    (
        "live-pairing-race",
        include_str!("../../../fixtures/scenarios/live-pairing-race.toml"),
    ),
    (
        "live-mixed-players",
        include_str!("../../../fixtures/scenarios/live-mixed-players.toml"),
    ),
    (
        "live-faults",
        include_str!("../../../fixtures/scenarios/live-faults.toml"),
    ),
    (
        "live-swarm",
        include_str!("../../../fixtures/scenarios/live-swarm.toml"),
    ),
    (
        "live-mischief",
        include_str!("../../../fixtures/scenarios/live-mischief.toml"),
    ),
    // live-* files: add them here, in the order `sim list` should show them.
    // chat-* files: add them here, in the order `sim list` should show them.
    (
        "chat-small-room",
        include_str!("../../../fixtures/scenarios/chat-small-room.toml"),
    ),
    (
        "chat-random-talk",
        include_str!("../../../fixtures/scenarios/chat-random-talk.toml"),
    ),
    (
        "chat-join-leave-list",
        include_str!("../../../fixtures/scenarios/chat-join-leave-list.toml"),
    ),
    (
        "chat-never-reads",
        include_str!("../../../fixtures/scenarios/chat-never-reads.toml"),
    ),
    (
        "chat-hangup-with-queued",
        include_str!("../../../fixtures/scenarios/chat-hangup-with-queued.toml"),
    ),
    (
        "chat-faults",
        include_str!("../../../fixtures/scenarios/chat-faults.toml"),
    ),
    (
        "chat-mischief",
        include_str!("../../../fixtures/scenarios/chat-mischief.toml"),
    ),
    (
        "chat-swarm",
        include_str!("../../../fixtures/scenarios/chat-swarm.toml"),
    ),
];

/// A built-in scenario file by name, parsed.
pub fn builtin(name: &str) -> Option<ScenarioFile> {
    BUILTIN_FILES
        .iter()
        .find(|(stem, _)| *stem == name)
        .map(|(stem, text)| {
            ScenarioFile::parse(text, stem)
                .unwrap_or_else(|error| panic!("built-in scenario {stem} is invalid: {error}"))
        })
}
