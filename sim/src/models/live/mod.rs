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

mod run;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use games::live::client::Behaviour;
use games::live::game::{InjectedBug, ServerConfig, PAIRING_TIMEOUT_MS};
use games::live::notes::{is_shell_line, ClaimVerdict, DropReason, Note};
use games::tombola::rules::{Board, NumberSet, NUMBER_MAX};
use serde::Deserialize;

use crate::engine::harness::{NetConfig, RunOptions, RunOutcome, Violation};
use crate::engine::trace::TraceLine;
use crate::engine::turmoil_backend::Turmoil;
use crate::scenario::faults::Fault;
use crate::scenario::file::ScenarioFile;

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

/// Runs one seed of a `game = "live"` scenario file.
pub fn run_file(
    file: &ScenarioFile,
    seed: u64,
    options: &RunOptions,
) -> Result<RunOutcome, String> {
    Ok(run_spec(&spec_from_file(file)?, seed, options))
}

/// Runs one seed of `spec` on turmoil and judges it.
pub fn run_spec(spec: &LiveSpec, seed: u64, options: &RunOptions) -> RunOutcome {
    crate::engine::backend::run(spec, &Turmoil, seed, options)
}

/// A game's key: (server incarnation, game number).
type GameKey = (u32, u64);

/// A claim as the server judged it.
#[derive(Debug, Clone)]
struct ClaimNote {
    id: String,
    verdict: ClaimVerdict,
    /// How many numbers of the game had been drawn when it was judged.
    drawn: usize,
    /// The game had ended (`over` or `abandon`) when it was judged.
    after_end: bool,
    /// A later game had started when it was judged.
    superseded: bool,
}

/// A registration into a running game.
#[derive(Debug, Clone)]
struct JoinNote {
    id: String,
    history: usize,
    time_ms: u64,
    /// Draws of the game the server had noted when the join was noted.
    drawn: usize,
}

/// One game as the server's notes tell it.
#[derive(Debug, Default, Clone)]
struct GameFacts {
    /// `(seq, number, time_ms)` in the order drawn.
    draws: Vec<(u32, u8, u64)>,
    /// The trace index of each draw's note, in the same order.
    draw_at: Vec<usize>,
    /// The trace index of the `over` note.
    over_at: Option<usize>,
    joins: Vec<JoinNote>,
    claims: Vec<ClaimNote>,
    /// `Some(winner)` once over.
    over: Option<Option<String>>,
    abandoned: bool,
    /// The server crashed while this game ran.
    interrupted: bool,
}

impl GameFacts {
    fn numbers(&self) -> Vec<u8> {
        self.draws.iter().map(|&(_, number, _)| number).collect()
    }

    fn ended(&self) -> bool {
        self.over.is_some() || self.abandoned || self.interrupted
    }
}

/// One game as one client incarnation saw it.
#[derive(Debug, Default, Clone)]
struct SeenGame {
    /// It received `GAME <game> HISTORY ...`: it played this game. `OVER`
    /// and `NEXT` go to every numbers connection, so a client can see the
    /// end of a game it never entered.
    entered: bool,
    history: Vec<u8>,
    /// `(seq, number)` of each `DRAW` after the history.
    draws: Vec<(u32, u8)>,
    over: Option<Option<String>>,
    /// Winners named by `LATE` answers.
    late_winners: Vec<String>,
}

/// What one client incarnation's lines say.
#[derive(Debug, Default, Clone)]
struct ClientFacts {
    name: String,
    /// The server incarnation it talked to.
    server: u32,
    welcome_id: Option<String>,
    hello_id: Option<String>,
    games: BTreeMap<u64, SeenGame>,
    /// Claims it sent after it had seen `OVER` for that game.
    claims_after_over: usize,
    error: Option<String>,
    /// It ended without the server's word: it gave up on a silent server,
    /// or it crashed.
    cut_off: bool,
    /// A crash or a partition touched it (or the server) before its end.
    faulted: bool,
    /// Its `send`, `recv`, `recv#`, `leave` and `result` lines with their
    /// trace index, for the line-by-line oracle.
    lines: Vec<(usize, String)>,
}

/// A server note with its index in the trace.
type IndexedNote = (usize, Note);

/// What the trace says, parsed once for every oracle.
#[derive(Debug, Default)]
struct Facts {
    boards: BTreeMap<(u32, String), Board>,
    games: BTreeMap<GameKey, GameFacts>,
    clients: Vec<ClientFacts>,
    /// Per server incarnation: numbers connections in arrival order, and
    /// players in the order they were paired.
    connects: BTreeMap<u32, Vec<String>>,
    pairs: BTreeMap<u32, Vec<String>>,
    /// Players who quit, were sent away or dropped, or whose client was
    /// cut off: (server incarnation, id).
    left: BTreeSet<(u32, String)>,
    /// `(game, seq)` -> the latest time a client received that draw.
    draw_received_ms: BTreeMap<(GameKey, u32), u64>,
    /// Counts of notable server decisions and harness events.
    decisions: BTreeMap<String, usize>,
    /// Per (server incarnation, player id): the server's notes naming it
    /// (`connect`, `pair`, `board`, `join`, `claim`, `again`, `wait`,
    /// `quit`, `goodbye`, `drop`), with their trace index.
    notes_by_id: BTreeMap<(u32, String), Vec<IndexedNote>>,
}

fn number<T: std::str::FromStr + Default>(word: &str) -> T {
    word.parse().unwrap_or_default()
}

fn count(facts: &mut Facts, decision: &str) {
    *facts.decisions.entry(decision.to_owned()).or_default() += 1;
}

/// `host_of` names each client's host: a crash or restart of a host is one
/// of every client on it.
fn parse_facts(
    lines: &[TraceLine],
    host_of: &BTreeMap<String, String>,
    violations: &mut Vec<Violation>,
) -> Facts {
    let mut facts = Facts::default();
    let mut incarnation = 1u32;
    let mut latest_started: u64 = 0;
    // The game running on the current server incarnation.
    let mut current: Option<GameKey> = None;
    // Client name -> index in facts.clients of its current incarnation.
    let mut latest: BTreeMap<String, usize> = BTreeMap::new();
    // Hosts a crash or partition has touched so far.
    let mut touched: BTreeSet<String> = BTreeSet::new();
    for (at, line) in lines.iter().enumerate() {
        let words: Vec<&str> = line.text.split(' ').collect();
        if line.host == "sim" {
            match words[..] {
                ["crash", "server"] => {
                    touched.insert("server".to_owned());
                    if let Some(game) = current.and_then(|key| facts.games.get_mut(&key)) {
                        game.interrupted = true;
                    }
                    current = None;
                }
                ["restart", "server"] => {
                    // Restarting a server that is still up (a second crash
                    // fault that fell while it was down, then its restart)
                    // crashes it first: the running game is cut.
                    touched.insert("server".to_owned());
                    if let Some(game) = current.and_then(|key| facts.games.get_mut(&key)) {
                        game.interrupted = true;
                    }
                    current = None;
                    incarnation += 1;
                    latest_started = 0;
                }
                ["crash", host] => {
                    touched.insert(host.to_owned());
                    count(&mut facts, "client-crash");
                    for (name, _) in host_of.iter().filter(|(_, on)| *on == host) {
                        if let Some(client) = latest
                            .get(name)
                            .and_then(|&index| facts.clients.get_mut(index))
                        {
                            client.cut_off = true;
                            if let Some(id) = &client.welcome_id {
                                facts.left.insert((client.server, id.clone()));
                            }
                        }
                    }
                }
                ["restart", host] => {
                    // A restart of a host still up cuts its clients off,
                    // as a crash does.
                    touched.insert(host.to_owned());
                    for (name, _) in host_of.iter().filter(|(_, on)| *on == host) {
                        if let Some(index) = latest.remove(name) {
                            if let Some(client) = facts.clients.get_mut(index) {
                                client.cut_off = true;
                                if let Some(id) = &client.welcome_id {
                                    facts.left.insert((client.server, id.clone()));
                                }
                            }
                        }
                    }
                }
                ["partition", a, b] => {
                    touched.insert(a.to_owned());
                    touched.insert(b.to_owned());
                }
                ["heal", ..] if current.is_some() => count(&mut facts, "healed-mid-game"),
                ["release", ..] if current.is_some() => count(&mut facts, "released-mid-game"),
                _ => {}
            }
            continue;
        }
        if line.host == "server" {
            let note = match line.text.parse::<Note>() {
                Ok(note) => note,
                Err(_) if is_shell_line(&line.text) => continue,
                // The server writes nothing else: a line that is neither a
                // note nor the shell's is a broken note.
                Err(_) => {
                    violations.push(Violation::new("trace-format", line.text.clone()));
                    continue;
                }
            };
            if let Some(id) = note.player() {
                let key = (incarnation, id.to_owned());
                if matches!(note, Note::Connect { .. })
                    && facts.notes_by_id.get(&key).is_some_and(|notes| {
                        notes
                            .iter()
                            .any(|(_, note)| matches!(note, Note::Connect { .. }))
                    })
                {
                    violations.push(Violation::new(
                        "ids-unique",
                        format!("the server gave the id {id} to a second numbers connection"),
                    ));
                }
                facts
                    .notes_by_id
                    .entry(key)
                    .or_default()
                    .push((at, note.clone()));
            }
            match note {
                Note::Connect { player } => {
                    facts.connects.entry(incarnation).or_default().push(player)
                }
                Note::Pair { player } => facts.pairs.entry(incarnation).or_default().push(player),
                Note::Board { player, board } => {
                    facts.boards.insert((incarnation, player), board);
                }
                Note::Start { game } => {
                    latest_started = game;
                    current = Some((incarnation, latest_started));
                    facts
                        .games
                        .insert((incarnation, latest_started), GameFacts::default());
                }
                Note::Join {
                    player,
                    game,
                    history,
                } => {
                    let game = facts.games.entry((incarnation, game)).or_default();
                    game.joins.push(JoinNote {
                        id: player,
                        history,
                        time_ms: line.time_ms,
                        drawn: game.draws.len(),
                    });
                }
                Note::Draw { game, seq, number } => {
                    let game = facts.games.entry((incarnation, game)).or_default();
                    game.draws.push((seq, number, line.time_ms));
                    game.draw_at.push(at);
                }
                Note::Claim {
                    player,
                    game: claimed,
                    verdict,
                } => {
                    match facts.games.get_mut(&(incarnation, claimed)) {
                        Some(game) => game.claims.push(ClaimNote {
                            id: player,
                            verdict,
                            drawn: game.draws.len(),
                            after_end: game.over.is_some() || game.abandoned,
                            superseded: claimed < latest_started,
                        }),
                        None if verdict == ClaimVerdict::WrongGame => {}
                        None => violations.push(Violation::new(
                            "claim-verdicts",
                            format!("{player} claimed game {claimed}, which never started, and got {verdict}"),
                        )),
                    }
                    count(&mut facts, verdict.as_str());
                }
                Note::Over { game, winner } => {
                    let game = facts.games.entry((incarnation, game)).or_default();
                    game.over = Some(winner);
                    game.over_at = Some(at);
                    current = None;
                }
                Note::Abandon { game } => {
                    facts
                        .games
                        .entry((incarnation, game))
                        .or_default()
                        .abandoned = true;
                    current = None;
                }
                Note::Quit { player } => {
                    facts.left.insert((incarnation, player));
                    count(&mut facts, "quit");
                }
                Note::Goodbye { player } => {
                    facts.left.insert((incarnation, player));
                    count(&mut facts, "goodbye");
                }
                Note::Drop { player, reason } => {
                    facts.left.insert((incarnation, player));
                    count(&mut facts, reason.as_str());
                }
                Note::Again { .. } => count(&mut facts, "again"),
                Note::Wait { .. } | Note::DropClaims { .. } | Note::Pause | Note::Idle => {}
            }
            continue;
        }
        let index = *latest.entry(line.host.clone()).or_insert_with(|| {
            facts.clients.push(ClientFacts {
                name: line.host.clone(),
                server: incarnation,
                ..ClientFacts::default()
            });
            facts.clients.len() - 1
        });
        let Some(client) = facts.clients.get_mut(index) else {
            continue;
        };
        client.lines.push((at, line.text.clone()));
        let host = host_of.get(&client.name).unwrap_or(&client.name);
        if touched.contains(host) || touched.contains("server") {
            client.faulted = true;
        }
        let server = client.server;
        match words[..] {
            ["recv#", "WELCOME", id, _token] => client.welcome_id = Some(id.to_owned()),
            ["recv", "HELLO", id] => client.hello_id = Some(id.to_owned()),
            ["recv#", "GAME", game, "HISTORY", ..] => {
                let history = words[4..].iter().map(|word| number(word)).collect();
                let seen = client.games.entry(number(game)).or_default();
                seen.entered = true;
                seen.history = history;
            }
            ["recv#", "DRAW", game, seq, drawn] => {
                let (game, seq): (u64, u32) = (number(game), number(seq));
                let seen = client.games.entry(game).or_default();
                seen.draws.push((seq, number(drawn)));
                let latest = facts
                    .draw_received_ms
                    .entry(((server, game), seq))
                    .or_default();
                *latest = (*latest).max(line.time_ms);
            }
            ["recv#", "OVER", game, "WINNER", id] => {
                client.games.entry(number(game)).or_default().over = Some(Some(id.to_owned()));
            }
            ["recv#", "OVER", game, "NOWINNER"] => {
                client.games.entry(number(game)).or_default().over = Some(None);
            }
            ["recv", "LATE", game, id] => client
                .games
                .entry(number(game))
                .or_default()
                .late_winners
                .push(id.to_owned()),
            ["send", "TOMBOLA", game] => {
                let over = client
                    .games
                    .get(&number(game))
                    .is_some_and(|seen| seen.over.is_some());
                if over {
                    client.claims_after_over += 1;
                }
            }
            ["error", ..] => client.error = Some(line.text.clone()),
            ["gave-up", ..] => {
                client.cut_off = true;
                if let Some(id) = client.welcome_id.clone() {
                    facts.left.insert((server, id));
                }
                count(&mut facts, "gave-up");
            }
            _ => {}
        }
    }
    facts
}

/// `numbers` without those outside 1..=90: a broken trace may note any
/// number (check_draws reports it), and the board and number-set helpers
/// take only numbers in range.
fn in_range(numbers: &[u8]) -> Vec<u8> {
    numbers
        .iter()
        .copied()
        .filter(|number| (1..=NUMBER_MAX).contains(number))
        .collect()
}

/// The oracles, applied to a finished run, and the races it reached.
fn judge(
    trace: Vec<TraceLine>,
    host_of: &BTreeMap<String, String>,
    pause_seconds: u64,
    mut violations: Vec<Violation>,
) -> RunOutcome {
    let facts = parse_facts(&trace, host_of, &mut violations);
    check_lines_explained(&facts, pause_seconds, &mut violations);
    check_never_seated_after_leaving(&facts, &mut violations);
    let mut outcome = RunOutcome::default();
    let liveness_failed = violations
        .iter()
        .any(|violation| violation.property == "liveness");
    for (&(incarnation, number), game) in &facts.games {
        check_draws(number, game, &mut violations);
        check_claims(incarnation, number, game, &facts.boards, &mut violations);
        if !liveness_failed {
            check_game_ends(incarnation, number, game, &facts.left, &mut violations);
        }
        if let Some(winner) = &game.over {
            outcome.games += 1;
            outcome.winners_per_game.push(usize::from(winner.is_some()));
        }
    }
    check_pairing(&facts, &mut violations);
    check_clients_saw_their_games(&facts, &mut violations);
    outcome.reached = races(&facts);
    outcome.trace = trace;
    outcome.violations = violations;
    outcome
}

/// Each game's draws are numbered 1, 2, 3, ..., distinct, in 1..=90.
fn check_draws(number: u64, game: &GameFacts, violations: &mut Vec<Violation>) {
    let mut seen = NumberSet::default();
    for (index, &(seq, drawn, _)) in game.draws.iter().enumerate() {
        if seq as usize != index + 1 {
            violations.push(Violation::new(
                "draws-in-sequence",
                format!("game {number}: draw {} is numbered {seq}", index + 1),
            ));
        }
        if !(1..=NUMBER_MAX).contains(&drawn) || !seen.insert(drawn) {
            violations.push(Violation::new(
                "draws-distinct",
                format!("game {number}: draw {seq} is {drawn}, out of range or repeated"),
            ));
        }
    }
}
/// Every claim got the verdict the draws so far justify: the first valid
/// claim wins, a claim on an uncovered board is false, everything after the
/// win is late; the game's `over` names the winner.
fn check_claims(
    incarnation: u32,
    number: u64,
    game: &GameFacts,
    boards: &BTreeMap<(u32, String), Board>,
    violations: &mut Vec<Violation>,
) {
    let numbers = game.numbers();
    let mut winner: Option<&str> = None;
    let mut falsely: BTreeSet<&str> = BTreeSet::new();
    for claim in &game.claims {
        let covered = boards
            .get(&(incarnation, claim.id.clone()))
            .is_some_and(|board| {
                let drawn = numbers.get(..claim.drawn).unwrap_or(&numbers);
                board.is_covered_by(&in_range(drawn).into_iter().collect())
            });
        let expected = if claim.superseded {
            ClaimVerdict::WrongGame
        } else if winner.is_some() {
            ClaimVerdict::Late
        } else if claim.after_end {
            ClaimVerdict::NoWinner
        } else if falsely.contains(claim.id.as_str()) {
            ClaimVerdict::Barred
        } else if covered {
            ClaimVerdict::Win
        } else {
            ClaimVerdict::False
        };
        if claim.verdict != expected {
            violations.push(Violation::new(
                "claim-verdicts",
                format!(
                    "game {number}: {} claimed after {} draws (board covered: {covered}) and got {}, expected {expected}",
                    claim.id, claim.drawn, claim.verdict
                ),
            ));
        }
        match claim.verdict {
            ClaimVerdict::Win if winner.is_none() => winner = Some(&claim.id),
            ClaimVerdict::False => {
                falsely.insert(&claim.id);
            }
            _ => {}
        }
    }
    if let Some(over) = &game.over {
        if over.as_deref() != winner {
            violations.push(Violation::new(
                "one-winner",
                format!("game {number}: over names {over:?}, the winning claim was {winner:?}"),
            ));
        }
        if over.is_none()
            && !game.abandoned
            && !game.interrupted
            && numbers.len() < usize::from(NUMBER_MAX)
        {
            violations.push(Violation::new(
                "one-winner",
                format!(
                    "game {number} ended with no winner after {} draws",
                    numbers.len()
                ),
            ));
        }
    }
}

/// A game ends (`over` or `abandon`, or cut by a server crash) unless
/// every player in it left, or was cut off (its client crashed or gave up
/// on a dead link) before the run ended.
fn check_game_ends(
    incarnation: u32,
    number: u64,
    game: &GameFacts,
    left: &BTreeSet<(u32, String)>,
    violations: &mut Vec<Violation>,
) {
    if game.ended() {
        return;
    }
    let staying: Vec<&str> = game
        .joins
        .iter()
        .map(|join| join.id.as_str())
        .filter(|id| !left.contains(&(incarnation, (*id).to_owned())))
        .collect();
    if !staying.is_empty() {
        violations.push(Violation::new(
            "game-ends",
            format!("game {number} never ended; still in it: {staying:?}"),
        ));
    }
}

/// Each client's claims connection was paired with its own numbers
/// connection: the id in `WELCOME` is the id in `HELLO`.
///
/// A client ends in an error only where a fault explains it: a connection
/// that failed or closed after a crash or partition touched the client or
/// the server. A broken protocol or a refusal is always a violation.
fn check_pairing(facts: &Facts, violations: &mut Vec<Violation>) {
    for client in &facts.clients {
        let name = &client.name;
        if let (Some(welcome), Some(hello)) = (&client.welcome_id, &client.hello_id) {
            if welcome != hello {
                violations.push(Violation::new(
                    "paired-by-token",
                    format!("{name} was welcomed as {welcome} but paired as {hello}"),
                ));
            }
        }
        if let Some(error) = &client.error {
            let connection = error.starts_with("error connection failed")
                || error.starts_with("error server closed the connection");
            if connection && client.faulted {
                continue;
            }
            violations.push(Violation::new("client-error", format!("{name}: {error}")));
        }
    }
}

/// Every client saw each number of each of its games exactly once and in
/// order (history, then draws with no gap), all of them if it saw the end,
/// and the same winner as everyone else.
fn check_clients_saw_their_games(facts: &Facts, violations: &mut Vec<Violation>) {
    for client in &facts.clients {
        let name = &client.name;
        for (&number, seen) in &client.games {
            let Some(game) = facts.games.get(&(client.server, number)) else {
                violations.push(Violation::new(
                    "same-draws",
                    format!("{name} saw game {number}, which the server never started"),
                ));
                continue;
            };
            let server: Vec<u8> = game.numbers();
            let mut numbers = seen.history.clone();
            let mut in_order = true;
            for (index, &(seq, drawn)) in seen.draws.iter().enumerate() {
                in_order &= seq as usize == seen.history.len() + index + 1;
                numbers.push(drawn);
            }
            if !seen.entered {
                // It saw only the end of a game it was not in (`OVER` goes
                // to every numbers connection); a `DRAW` without a `GAME`
                // is judged line by line.
                if let (Some(told), Some(over)) = (&seen.over, &game.over) {
                    if told != over {
                        violations.push(Violation::new(
                            "same-winner",
                            format!("{name} was told {told:?} for game {number}, the server ended it with {over:?}"),
                        ));
                    }
                }
                continue;
            }
            let complete = seen.over.is_none() || numbers == server;
            if !in_order || !server.starts_with(&numbers) || !complete {
                violations.push(Violation::new(
                    "same-draws",
                    format!(
                        "{name} in game {number} saw history {:?} then draws {:?}; the server drew {server:?}",
                        seen.history, seen.draws
                    ),
                ));
            }
            if let (Some(told), Some(over)) = (&seen.over, &game.over) {
                if told != over {
                    violations.push(Violation::new(
                        "same-winner",
                        format!("{name} was told {told:?} for game {number}, the server ended it with {over:?}"),
                    ));
                }
            }
            for late in &seen.late_winners {
                if game.over.as_ref().and_then(Option::as_ref) != Some(late) {
                    violations.push(Violation::new(
                        "same-winner",
                        format!(
                            "{name} was told LATE {number} {late}, the server ended it with {:?}",
                            game.over
                        ),
                    ));
                }
            }
        }
    }
    for game in facts.games.values() {
        for join in &game.joins {
            if join.history != join.drawn {
                violations.push(Violation::new(
                    "history-is-the-draws-so-far",
                    format!(
                        "{} joined with a history of {} after {} draws",
                        join.id, join.history, join.drawn
                    ),
                ));
            }
        }
    }
}

/// The client sent malformed input on purpose (a mischief client).
fn client_sent_mischief(client: &ClientFacts) -> bool {
    client.lines.iter().any(|(_, text)| {
        text.starts_with("send-")
            || text == "half-close"
            || text
                .strip_prefix("send ")
                .is_some_and(|sent| grammar_refusal(sent, true).is_some())
    })
}

/// The rare events this run reached, defined from the trace:
/// - `simultaneous-claim`: a game's winner and a late claimer whose boards
///   completed on the same draw;
/// - `join-during-draw`: a registration into a running game noted at the
///   same simulated ms as a draw of that game, or while the last draw of
///   its history was still on its way to some client;
/// - `late-joiner-wins-from-history`: a player whose board was already
///   complete in the history it joined with wins that game;
/// - `claim-during-pause`: a client claimed a game after it had seen that
///   game's `OVER`;
/// - `pairing-out-of-order`: claims connections were paired in another
///   order than their numbers connections arrived (arrival-order pairing
///   would have crossed them);
/// - `server-crash-mid-game`: the server crashed while a game ran;
/// - and plain counts of decisions and harness events: `false-claim`,
///   `claim-barred`, `quit`, `sent-away`, `disconnect`, `again`,
///   `several-games`, `client-crash`, `partition-healed-mid-game`,
///   `hold-released-mid-game` (a heal or release while a game ran),
///   `client-gave-up` (a client gave up on a silent server);
/// - malformed input: `refused-bad-line` (a mischief client's bad line got
///   its grammar refusal), `refused-invalid-utf8`, `refused-line-too-long`,
///   `line-in-pieces` (a line written in many small pieces), `half-close`.
fn races(facts: &Facts) -> BTreeSet<String> {
    let mut reached = BTreeSet::new();
    let mut reach = |name: &str| {
        reached.insert(name.to_owned());
    };
    for (&(incarnation, number), game) in &facts.games {
        let numbers = game.numbers();
        let completes = |id: &str| {
            facts
                .boards
                .get(&(incarnation, id.to_owned()))
                .and_then(|board| board.completion_draw(&in_range(&numbers)))
        };
        if let Some(Some(winner)) = &game.over {
            let at = completes(winner);
            if game.claims.iter().any(|claim| {
                claim.verdict == ClaimVerdict::Late
                    && claim.id != *winner
                    && completes(&claim.id) == at
            }) {
                reach("simultaneous-claim");
            }
            let won_from_history = game.joins.iter().any(|join| {
                join.id == *winner
                    && join.history > 0
                    && facts
                        .boards
                        .get(&(incarnation, join.id.clone()))
                        .and_then(|board| {
                            // A wrong history note may count more numbers
                            // than were drawn: judged elsewhere, never a panic.
                            board.completion_draw(&in_range(numbers.get(..join.history)?))
                        })
                        .is_some()
            });
            if won_from_history {
                reach("late-joiner-wins-from-history");
            }
        }
        for join in game.joins.iter().filter(|join| join.history > 0) {
            let same_ms = game
                .draws
                .iter()
                .any(|&(_, _, time_ms)| time_ms == join.time_ms);
            let in_flight = facts
                .draw_received_ms
                .get(&((incarnation, number), join.history as u32))
                .is_some_and(|&received_ms| received_ms >= join.time_ms);
            if same_ms || in_flight {
                reach("join-during-draw");
            }
        }
    }
    if facts
        .clients
        .iter()
        .any(|client| client.claims_after_over > 0)
    {
        reach("claim-during-pause");
    }
    for (incarnation, pairs) in &facts.pairs {
        let paired: BTreeSet<&String> = pairs.iter().collect();
        let arrival: Vec<&String> = facts
            .connects
            .get(incarnation)
            .into_iter()
            .flatten()
            .filter(|id| paired.contains(id))
            .collect();
        if arrival != pairs.iter().collect::<Vec<_>>() {
            reach("pairing-out-of-order");
        }
    }
    if facts.games.values().any(|game| game.interrupted) {
        reach("server-crash-mid-game");
    }
    for (decision, race) in [
        ("false", "false-claim"),
        ("barred", "claim-barred"),
        ("quit", "quit"),
        ("goodbye", "sent-away"),
        ("numbers-closed", "disconnect"),
        ("claims-closed", "disconnect"),
        ("again", "again"),
        ("client-crash", "client-crash"),
        ("healed-mid-game", "partition-healed-mid-game"),
        ("released-mid-game", "hold-released-mid-game"),
        ("gave-up", "client-gave-up"),
    ] {
        if facts
            .decisions
            .get(decision)
            .is_some_and(|&count| count > 0)
        {
            reach(race);
        }
    }
    if facts
        .games
        .values()
        .filter(|game| game.over.is_some())
        .count()
        >= 2
    {
        reach("several-games");
    }
    // Malformed input and the refusals it got.
    for client in &facts.clients {
        for (_, text) in &client.lines {
            match text.split(' ').collect::<Vec<_>>()[..] {
                ["recv", "ERR", "invalid-utf8", ..] => reach("refused-invalid-utf8"),
                ["recv", "ERR", "line-too-long", ..] => reach("refused-line-too-long"),
                ["recv", "ERR", code, ..]
                    if GRAMMAR_REFUSALS.contains(&code) && client_sent_mischief(client) =>
                {
                    reach("refused-bad-line")
                }
                ["send-in-pieces", ..] => reach("line-in-pieces"),
                ["half-close"] => reach("half-close"),
                _ => {}
            }
        }
    }
    reached
}

/// The refusal codes a line that is no valid command in the client's state
/// may get (see docs/protocol.md): grammar, pairing and framing refusals.
const GRAMMAR_REFUSALS: &[&str] = &[
    "unknown-command",
    "bad-arguments",
    "bad-board",
    "bad-game",
    "bad-token",
    "not-paired",
    "already-paired",
    "already-registered",
    "not-registered",
    "not-paused",
    "invalid-utf8",
    "line-too-long",
];

/// Stands in the pending lines for a line that was not UTF-8.
const INVALID_UTF8: &str = "\u{1}invalid-utf8";
/// Stands in the pending lines for a line over the length limit.
const OVER_LIMIT: &str = "\u{1}over-limit";

/// The refusal the protocol's grammar gives `line` on a claims connection
/// (paired or not), or `None` for a well-formed command, whose answer
/// depends on the game. Written from docs/protocol.md, not from the
/// server's parser: it judges the parser too.
fn grammar_refusal(line: &str, paired: bool) -> Option<&'static str> {
    let (keyword, rest) = line.split_once(' ').unwrap_or((line, ""));
    let decimal = |word: &str| {
        !word.is_empty()
            && word.bytes().all(|byte| byte.is_ascii_digit())
            && (word == "0" || !word.starts_with('0'))
    };
    match keyword {
        "HELLO" if paired => Some("already-paired"),
        "HELLO" => {
            let token = rest.len() == 16 && rest.bytes().all(|byte| byte.is_ascii_hexdigit());
            (!token).then_some("bad-token")
        }
        "BOARD" => {
            let numbers: Vec<&str> = rest.split(' ').collect();
            let mut seen = NumberSet::default();
            let valid = numbers.len() == 15
                && numbers.iter().all(|word| {
                    decimal(word)
                        && word.parse::<u8>().is_ok_and(|number| {
                            (1..=NUMBER_MAX).contains(&number) && seen.insert(number)
                        })
                });
            (!valid).then_some("bad-board")
        }
        "TOMBOLA" => (!(decimal(rest) && rest.parse::<u64>().is_ok())).then_some("bad-game"),
        "AGAIN" | "QUIT" => (!rest.is_empty()).then_some("bad-arguments"),
        _ => Some("unknown-command"),
    }
}

/// The server's notes naming one player, consumed in order as the client's
/// lines are explained.
#[derive(Default)]
struct PlayerNotes {
    connected: bool,
    paired: bool,
    boards: usize,
    joins: VecDeque<(usize, u64, usize)>,
    claims: VecDeque<(u64, ClaimVerdict)>,
    agains: usize,
    /// The trace index of its first `quit`, `goodbye` or `drop`.
    left_at: Option<usize>,
    sent_away: bool,
    pairing_timeout: bool,
}

fn player_notes(facts: &Facts, key: &(u32, String)) -> PlayerNotes {
    let mut notes = PlayerNotes::default();
    for (at, note) in facts.notes_by_id.get(key).into_iter().flatten() {
        match note {
            Note::Connect { .. } => notes.connected = true,
            Note::Pair { .. } => notes.paired = true,
            Note::Board { .. } => notes.boards += 1,
            Note::Join { game, history, .. } => notes.joins.push_back((*at, *game, *history)),
            Note::Claim { game, verdict, .. } => notes.claims.push_back((*game, *verdict)),
            Note::Again { .. } => notes.agains += 1,
            Note::Quit { .. } | Note::Goodbye { .. } | Note::Drop { .. } => {
                notes.left_at.get_or_insert(*at);
                notes.sent_away |= matches!(note, Note::Goodbye { .. });
                notes.pairing_timeout |= matches!(
                    note,
                    Note::Drop {
                        reason: DropReason::PairingTimeout,
                        ..
                    }
                );
            }
            _ => {}
        }
    }
    notes
}

/// Every line every client received is explained by what it sent and what
/// the server recorded (`line-explained`):
/// - numbers port: `WELCOME <id> <token>` first, for an id the server
///   connected; `GAME <g> HISTORY ...` for a `join` of this player, equal to
///   the server's first draws of that game; `DRAW <g> <seq> <n>` only in a
///   game it entered, equal to the server's draw `seq`, drawn after its join;
///   `OVER` as the server ended that game; `NEXT <g+1> IN <pause>` right
///   after `OVER <g>`; `GOODBYE` only to a player sent away; nothing but
///   lines the server sent before the player left, nothing after `GOODBYE`;
/// - claims port: one reply per line sent, in order: `HELLO <own id>` when
///   paired, `BOARD-OK` for a recorded board, to `TOMBOLA` the reply that
///   matches the verdict the server recorded for that claim (`WIN` only for
///   `win`, `LATE <g> <recorded winner>`, `ERR false-claim|claim-barred|
///   game-over|wrong-game <g>`), `AGAIN-OK` for a recorded `again`,
///   `GOODBYE` to `QUIT`, a grammar refusal to anything else; nothing after
///   `GOODBYE`, nothing unasked but a sent-away `GOODBYE` or a
///   `pairing-timeout`.
///
/// A session the server closed without a fault, with a line still
/// unanswered and no `GOODBYE`, broke `reply-missing`.
fn check_lines_explained(facts: &Facts, pause_seconds: u64, violations: &mut Vec<Violation>) {
    for client in &facts.clients {
        let name = &client.name;
        let mut fail = |property: &str, detail: String| {
            violations.push(Violation::new(property, format!("{name}: {detail}")));
        };
        let id = client.welcome_id.clone().unwrap_or_default();
        let key = (client.server, id.clone());
        let mut notes = player_notes(facts, &key);
        let game_of = |game: u64| facts.games.get(&(client.server, game));
        let mut numbers_lines = 0usize;
        let mut numbers_goodbye = false;
        let mut claims_goodbye = false;
        // The game entered and the trace index of its join note.
        let mut entered: BTreeMap<u64, usize> = BTreeMap::new();
        let mut previous_numbers: Vec<String> = Vec::new();
        let mut pending: VecDeque<String> = VecDeque::new();
        let mut left_on_purpose = false;
        // The claims connection was paired (a `HELLO <id>` came back).
        let mut paired = false;
        let mut closed = false;
        for (at, text) in &client.lines {
            let left_before = |noted_at: usize| notes.left_at.is_none_or(|left| noted_at < left);
            if let Some(sent) = text
                .strip_prefix("send ")
                .or_else(|| text.strip_prefix("send-in-pieces "))
            {
                if !sent.is_empty() {
                    pending.push_back(sent.to_owned());
                }
                continue;
            }
            if text.starts_with("send-invalid-utf8 ") {
                pending.push_back(INVALID_UTF8.to_owned());
                continue;
            }
            if text.starts_with("send-over-limit ") {
                pending.push_back(OVER_LIMIT.to_owned());
                continue;
            }
            if text == "half-close" {
                continue;
            }
            if text == "leave" {
                left_on_purpose = true;
                continue;
            }
            if text.starts_with("result closed") || text.starts_with("error server closed") {
                closed = true;
                continue;
            }
            if let Some(line) = text.strip_prefix("recv# ") {
                let words: Vec<&str> = line.split(' ').collect();
                numbers_lines += 1;
                if numbers_goodbye {
                    fail(
                        "line-explained",
                        format!("numbers port got {line:?} after GOODBYE"),
                    );
                    continue;
                }
                let after_over = previous_numbers.clone();
                previous_numbers = words.iter().map(|word| (*word).to_owned()).collect();
                if numbers_lines == 1 {
                    let welcomed = matches!(words[..], ["WELCOME", welcome_id, token]
                        if welcome_id == id && token.len() == 16
                            && token.bytes().all(|byte| byte.is_ascii_hexdigit()));
                    if !welcomed || !notes.connected {
                        fail(
                            "line-explained",
                            format!("the first line on the numbers port is {line:?}, not the WELCOME of a connected id"),
                        );
                    }
                    continue;
                }
                let explained = match words[..] {
                    ["GAME", game, "HISTORY", ..] => {
                        let game: u64 = number(game);
                        let history: Vec<u8> = words[3..].iter().map(|word| number(word)).collect();
                        match notes.joins.pop_front() {
                            Some((join_at, joined, count))
                                if joined == game
                                    && count == history.len()
                                    && left_before(join_at) =>
                            {
                                let server =
                                    game_of(game).map(GameFacts::numbers).unwrap_or_default();
                                entered.insert(game, join_at);
                                server.get(..count) == Some(&history[..])
                            }
                            _ => false,
                        }
                    }
                    ["DRAW", game, seq, drawn] => {
                        let (game, seq, drawn): (u64, usize, u8) =
                            (number(game), number(seq), number(drawn));
                        match (entered.get(&game), game_of(game)) {
                            (Some(&join_at), Some(facts_of_game)) => {
                                let index = seq.wrapping_sub(1);
                                let noted =
                                    facts_of_game.draws.get(index).map(|&(_, number, _)| number);
                                let noted_at =
                                    facts_of_game.draw_at.get(index).copied().unwrap_or(0);
                                seq >= 1
                                    && noted == Some(drawn)
                                    && noted_at > join_at
                                    && left_before(noted_at)
                            }
                            _ => false,
                        }
                    }
                    ["OVER", game, "WINNER", _] | ["OVER", game, "NOWINNER"] => {
                        let told = words.get(3).map(|winner| (*winner).to_owned());
                        game_of(number(game)).is_some_and(|game| {
                            game.over == Some(told) && game.over_at.is_some_and(left_before)
                        })
                    }
                    ["NEXT", next, "IN", seconds] => {
                        let next: u64 = number(next);
                        after_over.first().map(String::as_str) == Some("OVER")
                            && after_over.get(1).map(|game| number::<u64>(game) + 1) == Some(next)
                            && number::<u64>(seconds) == pause_seconds
                            && *seconds == number::<u64>(seconds).to_string()
                    }
                    ["GOODBYE"] => {
                        numbers_goodbye = true;
                        notes.sent_away
                    }
                    ["ERR", "pairing-timeout", ..] => notes.pairing_timeout,
                    _ => false,
                };
                if !explained {
                    fail(
                        "line-explained",
                        format!("numbers port got {line:?} (trace line {at}), which the server's notes do not explain"),
                    );
                }
                continue;
            }
            let Some(line) = text.strip_prefix("recv ") else {
                continue;
            };
            if claims_goodbye {
                fail(
                    "line-explained",
                    format!("claims port got {line:?} after GOODBYE"),
                );
                continue;
            }
            let words: Vec<&str> = line.split(' ').collect();
            let quitting = pending.front().is_some_and(|sent| sent == "QUIT");
            if line == "GOODBYE" && !quitting && notes.sent_away {
                // Sent away at the end of the pause: whatever it still had
                // in flight is never answered.
                claims_goodbye = true;
                pending.clear();
                continue;
            }
            if words.first() == Some(&"ERR") && words.get(1) == Some(&"pairing-timeout") {
                if !notes.pairing_timeout {
                    fail(
                        "line-explained",
                        format!("claims port got {line:?} with no pairing timeout noted"),
                    );
                }
                continue;
            }
            let Some(sent) = pending.pop_front() else {
                fail(
                    "line-explained",
                    format!("claims port got {line:?} (trace line {at}) with no line of its own to answer"),
                );
                continue;
            };
            let asked: Vec<&str> = sent.split(' ').collect();
            let refusal =
                |codes: &[&str]| matches!(words[..], ["ERR", code, ..] if codes.contains(&code));
            let expected_refusal = if sent == INVALID_UTF8 {
                Some("invalid-utf8")
            } else if sent == OVER_LIMIT {
                // The server ends the connection after this refusal.
                claims_goodbye = true;
                Some("line-too-long")
            } else {
                grammar_refusal(&sent, paired)
            };
            let explained = match (expected_refusal, &asked[..]) {
                (Some(code), _) => refusal(&[code]),
                (None, asked) => match asked {
                    ["HELLO", _] => match words[..] {
                        ["HELLO", hello_id] => {
                            paired = hello_id == id && notes.paired;
                            paired
                        }
                        _ => refusal(&["bad-token", "already-paired"]),
                    },
                    ["BOARD", ..] => match words[..] {
                        ["BOARD-OK"] if notes.boards > 0 => {
                            notes.boards -= 1;
                            true
                        }
                        _ => refusal(&["bad-board", "already-registered", "not-paired"]),
                    },
                    ["TOMBOLA", claimed] => {
                        let claimed: u64 = number(claimed);
                        match notes.claims.pop_front() {
                            Some((game, verdict)) if game == claimed => {
                                match (verdict, &words[..]) {
                                    (ClaimVerdict::Win, ["WIN", won]) => number::<u64>(won) == game,
                                    (ClaimVerdict::Late, ["LATE", late, winner]) => {
                                        number::<u64>(late) == game
                                            && game_of(game).and_then(|game| game.over.clone())
                                                == Some(Some((*winner).to_owned()))
                                    }
                                    (ClaimVerdict::False, ["ERR", "false-claim", refused])
                                    | (
                                        ClaimVerdict::Barred,
                                        ["ERR", "claim-barred", refused, ..],
                                    )
                                    | (ClaimVerdict::NoWinner, ["ERR", "game-over", refused, ..])
                                    | (
                                        ClaimVerdict::WrongGame,
                                        ["ERR", "wrong-game", refused, ..],
                                    ) => number::<u64>(refused) == game,
                                    _ => false,
                                }
                            }
                            Some(other) => {
                                notes.claims.push_front(other);
                                false
                            }
                            None => refusal(&["not-registered", "not-paired", "bad-game"]),
                        }
                    }
                    ["AGAIN"] => match words[..] {
                        ["AGAIN-OK"] if notes.agains > 0 => {
                            notes.agains -= 1;
                            true
                        }
                        _ => refusal(&["not-paused", "not-registered", "not-paired"]),
                    },
                    ["QUIT"] => {
                        claims_goodbye = line == "GOODBYE";
                        claims_goodbye
                    }
                    _ => refusal(GRAMMAR_REFUSALS),
                },
            };
            if !explained {
                fail(
                    "line-explained",
                    format!("claims port got {line:?} (trace line {at}) in answer to {sent:?}, which the server's notes do not explain"),
                );
            }
        }
        let ended_by_server = closed && !numbers_goodbye && !claims_goodbye;
        if ended_by_server && !left_on_purpose && !client.faulted && !client.cut_off {
            if let Some(sent) = pending.front() {
                fail(
                    "reply-missing",
                    format!(
                        "the server closed the session with {sent:?} unanswered and no GOODBYE"
                    ),
                );
            }
        }
    }
}

/// A player who quit, was sent away or dropped is never seated, registered
/// or judged again (`never-seated-after-leaving`).
fn check_never_seated_after_leaving(facts: &Facts, violations: &mut Vec<Violation>) {
    for ((_, id), notes) in &facts.notes_by_id {
        let mut left = false;
        for (_, note) in notes {
            let seats = matches!(
                note,
                Note::Join { .. }
                    | Note::Wait { .. }
                    | Note::Board { .. }
                    | Note::Claim { .. }
                    | Note::Again { .. }
                    | Note::Pair { .. }
            );
            if left && seats {
                violations.push(Violation::new(
                    "never-seated-after-leaving",
                    format!("{id} left, then the server noted {:?}", note.to_string()),
                ));
                break;
            }
            left |= note.is_leaving();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::OnceLock;

    /// One real run of live-mischief (every kind of line a client can
    /// receive or send), made once and shared by the tests below.
    fn real_trace() -> &'static Vec<TraceLine> {
        static TRACE: OnceLock<Vec<TraceLine>> = OnceLock::new();
        TRACE.get_or_init(|| {
            let file =
                crate::scenario::file::builtin("live-mischief").expect("a built-in scenario");
            run_file(&file, 1, &RunOptions::default())
                .expect("the scenario is valid")
                .trace
        })
    }

    fn host_of() -> BTreeMap<String, String> {
        let file = crate::scenario::file::builtin("live-mischief").expect("a built-in scenario");
        spec_from_file(&file)
            .expect("the scenario is valid")
            .host_of()
    }

    fn line(time_ms: u64, host: &str, text: &str) -> TraceLine {
        TraceLine {
            time_ms,
            host: host.to_owned(),
            text: text.to_owned(),
        }
    }

    #[test]
    fn the_real_trace_passes_every_oracle() {
        let outcome = judge(real_trace().clone(), &host_of(), 0, Vec::new());
        assert!(outcome.violations.is_empty(), "{:?}", outcome.violations);
    }

    #[test]
    fn a_history_note_longer_than_the_draws_is_a_violation_not_a_panic() {
        let trace = vec![
            line(0, "server", "connect p1"),
            line(1, "c1", "recv# WELCOME p1 0123456789abcdef"),
            line(2, "server", "board p1 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15"),
            line(2, "server", "start 1"),
            line(3, "server", "draw 1 1 7"),
            line(4, "server", "join p1 1 history 5"),
            line(5, "c1", "recv# GAME 1 HISTORY 7 8 9 10 11"),
            line(6, "server", "over 1 winner p1"),
        ];
        let outcome = judge(trace, &BTreeMap::new(), 0, Vec::new());
        let broken: Vec<&str> = outcome
            .violations
            .iter()
            .map(|violation| violation.property.as_str())
            .collect();
        assert!(
            broken.contains(&"history-is-the-draws-so-far"),
            "{broken:?}"
        );
        assert!(broken.contains(&"line-explained"), "{broken:?}");
    }

    #[test]
    fn a_win_answering_a_false_claim_is_a_violation() {
        let mut trace = real_trace().clone();
        let (false_claim, mut note) = trace
            .iter()
            .enumerate()
            .filter(|(_, line)| line.host == "server")
            .find_map(|(at, line)| match line.text.parse::<Note>() {
                Ok(note @ Note::Claim { .. }) => Some((at, note)),
                _ => None,
            })
            .expect("the run has a claim");
        // The server's note says the claim was false; the client got WIN.
        if let Note::Claim { verdict, .. } = &mut note {
            *verdict = ClaimVerdict::False;
        }
        trace[false_claim].text = note.to_string();
        let outcome = judge(trace, &host_of(), 0, Vec::new());
        assert!(
            outcome
                .violations
                .iter()
                .any(|violation| violation.property == "line-explained"),
            "{:?}",
            outcome.violations
        );
    }

    #[test]
    fn a_server_line_that_is_not_a_note_is_a_trace_format_violation() {
        let mut trace = real_trace().clone();
        let claim = trace
            .iter()
            .position(|line| line.host == "server" && line.text.starts_with("claim "))
            .expect("the run has a claim");
        trace[claim].text.push_str(" twice");
        let outcome = judge(trace, &host_of(), 0, Vec::new());
        assert!(
            outcome
                .violations
                .iter()
                .any(|violation| violation.property == "trace-format"),
            "{:?}",
            outcome.violations
        );
    }

    /// A mutation of a real trace: drop, duplicate, swap or alter lines.
    #[derive(Debug, Clone)]
    enum Mutation {
        Drop(usize),
        Duplicate(usize),
        Swap(usize, usize),
        /// Replace a word of a line with another string.
        Alter(usize, usize, String),
        Insert(usize, String, String),
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        let word = prop_oneof![
            "[A-Za-z0-9#-]{0,6}",
            Just("99999999999999999999999".to_owned()),
            Just("0".to_owned()),
            Just(String::new()),
        ];
        prop_oneof![
            any::<usize>().prop_map(Mutation::Drop),
            any::<usize>().prop_map(Mutation::Duplicate),
            (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Swap(a, b)),
            (any::<usize>(), 0usize..6, word.clone())
                .prop_map(|(at, index, word)| Mutation::Alter(at, index, word)),
            (
                any::<usize>(),
                prop_oneof![Just("server"), Just("sim"), Just("c1"), Just("m1")],
                "[ -~]{0,40}"
            )
                .prop_map(|(at, host, text)| Mutation::Insert(
                    at,
                    host.to_owned(),
                    text
                )),
        ]
    }

    fn mutate(trace: &mut Vec<TraceLine>, mutation: &Mutation) {
        if trace.is_empty() {
            return;
        }
        let len = trace.len();
        match mutation {
            Mutation::Drop(at) => {
                trace.remove(at % len);
            }
            Mutation::Duplicate(at) => {
                let copy = trace[at % len].clone();
                trace.insert(at % len, copy);
            }
            Mutation::Swap(a, b) => trace.swap(a % len, b % len),
            Mutation::Alter(at, index, word) => {
                let line = &mut trace[at % len];
                let mut words: Vec<&str> = line.text.split(' ').collect();
                let index = index % words.len();
                words[index] = word;
                line.text = words.join(" ");
            }
            Mutation::Insert(at, host, text) => trace.insert(
                at % len,
                TraceLine {
                    time_ms: 0,
                    host: host.clone(),
                    text: text.clone(),
                },
            ),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn the_judge_returns_on_any_mutated_real_trace(
            mutations in proptest::collection::vec(mutation(), 1..12)
        ) {
            let mut trace = real_trace().clone();
            for mutation in &mutations {
                mutate(&mut trace, mutation);
            }
            let _ = judge(trace, &host_of(), 0, Vec::new());
        }

        #[test]
        fn the_judge_returns_on_arbitrary_traces(
            lines in proptest::collection::vec(
                (
                    0u64..100,
                    prop_oneof![Just("server"), Just("sim"), Just("c1"), Just("m1")],
                    prop_oneof![
                        "[ -~]{0,30}",
                        "(recv#|recv|send|claim|join|draw|over|start|board|connect|restart|crash) [A-Za-z0-9 ]{0,30}",
                    ],
                ),
                0..60,
            )
        ) {
            let trace = lines
                .into_iter()
                .map(|(time_ms, host, text)| TraceLine { time_ms, host: host.to_owned(), text })
                .collect();
            let _ = judge(trace, &host_of(), 0, Vec::new());
        }
    }
}
