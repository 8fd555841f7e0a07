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

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

use games::env::Env;
use games::live::client::{self, Behaviour, ClientConfig, Ending, Observer, View};
use games::live::game::{Port, ServerConfig, PAIRING_TIMEOUT_MS};
use games::live::protocol::ServerMessage;
use games::live::server;
use games::tombola::rules::{Board, NumberSet, NUMBER_MAX};
use rand::Rng;
use serde::Deserialize;

use crate::env::SimEnv;
use crate::faults::{drive, Fault, SessionBook};
use crate::file::ScenarioFile;
use crate::harness::{build_sim, host_rng, NetConfig, RunOptions, RunOutcome, Violation};
use crate::swarm;
use crate::trace::{Trace, TraceLine};

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
false-claim (params.at_draw), quit (params.at_draw), disconnect (params.at_draw), silent";

const PARAMS: &[&str] = &["games", "at_draw", "silence_timeout_ms", "host"];
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
            other => {
                return Err(format!(
                    "{field}.behaviour: unknown behaviour {other:?}; live knows {BEHAVIOURS}"
                ))
            }
        };
        let used: &[&str] = match behaviour {
            Behaviour::Honest { .. } | Behaviour::ClaimAfterOver { .. } => &["games"],
            Behaviour::Silent | Behaviour::Ask => &[],
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

/// The server's RNG stream for its `incarnation`-th start. The first keeps
/// the name it had before servers could restart, so runs without a server
/// restart replay as they did.
fn server_rng_name(incarnation: u32) -> String {
    if incarnation == 1 {
        "server".to_owned()
    } else {
        format!("server#{incarnation}")
    }
}

/// Runs one seed of `spec` and judges it.
pub fn run_spec(spec: &LiveSpec, seed: u64, options: &RunOptions) -> RunOutcome {
    let trace = options.new_trace();
    let hosts = spec.hosts();
    // Swarm faults name clients, as a file's do (so a shrunk swarm run is
    // a valid file); `on_hosts` puts them on the clients' hosts.
    let names: Vec<String> = spec
        .players
        .iter()
        .map(|player| player.name.clone())
        .collect();
    let (net, faults) = if spec.swarm {
        swarm::draw(seed, &spec.net, &spec.faults, &names, &trace)
    } else {
        (spec.net.clone(), spec.faults.clone())
    };
    let faults: Vec<Fault> = faults.iter().map(|fault| spec.on_hosts(fault)).collect();
    let mut sim = build_sim(seed, &net);
    let book = SessionBook::default();

    let server_trace = trace.clone();
    let config = spec.server.clone();
    let server_starts = Rc::new(Cell::new(0u32));
    sim.host("server", move || {
        server_starts.set(server_starts.get() + 1);
        let incarnation = server_starts.get();
        let env = SimEnv::new("server", &server_trace);
        let config = config.clone();
        async move {
            let numbers = env.bind(&format!("0.0.0.0:{NUMBERS_PORT}")).await?;
            let claims = env.bind(&format!("0.0.0.0:{CLAIMS_PORT}")).await?;
            let rng = host_rng(seed, &server_rng_name(incarnation));
            server::run(env, numbers, claims, config, rng, std::future::pending()).await?;
            Ok(())
        }
    });

    for host in hosts {
        // (player, its board, its join time) for each player on this host.
        let players: Vec<(PlayerSpec, Board, u64)> = spec
            .players
            .iter()
            .filter(|player| player.host == host)
            .map(|player| {
                let join_at_ms = player.join_at_ms
                    + if player.join_spread_ms > 0 {
                        host_rng(seed, &format!("join-{}", player.name))
                            .random_range(0..=player.join_spread_ms)
                    } else {
                        0
                    };
                let board = match &player.board {
                    Some(numbers) => {
                        Board::new(numbers).expect("boards are checked when the spec is built")
                    }
                    None => Board::random(&mut host_rng(seed, &player.name)),
                };
                (player.clone(), board, join_at_ms)
            })
            .collect();
        book.expect(&host);
        let (book, trace, host_name) = (book.clone(), trace.clone(), host.clone());
        sim.host(host, move || {
            let incarnation = book.start(&host_name);
            let (book, trace, players, host_name) = (
                book.clone(),
                trace.clone(),
                players.clone(),
                host_name.clone(),
            );
            async move {
                // A restarted client comes back at once, as a new player.
                let joins = |join_at_ms: u64| if incarnation == 1 { join_at_ms } else { 0 };
                if let [(player, board, join_at_ms)] = &players[..] {
                    run_player(player.clone(), board.clone(), joins(*join_at_ms), trace).await;
                } else {
                    let sessions: Vec<_> = players
                        .into_iter()
                        .map(|(player, board, join_at_ms)| {
                            tokio::task::spawn_local(run_player(
                                player,
                                board,
                                joins(join_at_ms),
                                trace.clone(),
                            ))
                        })
                        .collect();
                    for session in sessions {
                        session.await?;
                    }
                }
                book.finish(&host_name);
                Ok(())
            }
        });
    }

    let mut violations = Vec::new();
    if let Err(error) = drive(&mut sim, &faults, &net, &trace, &book) {
        violations.push(Violation::new(
            "liveness",
            format!("the run did not finish: {error}"),
        ));
    }
    let mut outcome = judge(trace.lines(), &spec.host_of(), violations);
    outcome.wire = trace.wire();
    outcome
}

/// Notes when the client last heard from the server.
struct Heard(Rc<Cell<tokio::time::Instant>>);

impl Observer for Heard {
    fn seen(&mut self, _: Port, _: &ServerMessage, _: &View<'_>) {
        self.0.set(tokio::time::Instant::now());
    }
}

/// One client session: wait for its join time, play until the session ends
/// or the server has been silent for `silence_timeout_ms`, record how it
/// ended.
async fn run_player(player: PlayerSpec, board: Board, join_at_ms: u64, trace: Trace) {
    let env = SimEnv::new(&player.name, &trace);
    if join_at_ms > 0 {
        env.sleep_ms(join_at_ms).await;
    }
    let config = ClientConfig {
        numbers_addr: format!("server:{NUMBERS_PORT}"),
        claims_addr: format!("server:{CLAIMS_PORT}"),
        board,
        behaviour: player.behaviour,
    };
    let last = Rc::new(Cell::new(tokio::time::Instant::now()));
    let mut heard = Heard(last.clone());
    let silence = Duration::from_millis(player.silence_timeout_ms);
    let watchdog = async {
        loop {
            let deadline = last.get() + silence;
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep_until(deadline).await;
        }
    };
    let result = tokio::select! {
        result = client::play(&env, &config, &mut heard, None) => Some(result),
        () = watchdog => None,
    };
    match result {
        Some(Ok(report)) => {
            let ending = match report.ending {
                Ending::Quit => "quit",
                Ending::SentAway => "sent-away",
                Ending::Left => "left",
                Ending::Closed => "closed",
            };
            env.record(format_args!("result {ending} games {}", report.games.len()));
        }
        Some(Err(error)) => env.record(format_args!("error {error}")),
        None => env.record(format_args!(
            "gave-up silent {} ms",
            player.silence_timeout_ms
        )),
    }
}

/// A game's key: (server incarnation, game number).
type GameKey = (u32, u64);

/// A claim as the server judged it.
#[derive(Debug, Clone)]
struct ClaimNote {
    id: String,
    verdict: String,
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
}

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
    for line in lines {
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
                    incarnation += 1;
                    latest_started = 0;
                }
                ["crash", host] => {
                    touched.insert(host.to_owned());
                    count(&mut facts, "client-crash");
                    for (name, _) in host_of.iter().filter(|(_, on)| *on == host) {
                        if let Some(&index) = latest.get(name) {
                            let client = &mut facts.clients[index];
                            client.cut_off = true;
                            if let Some(id) = &client.welcome_id {
                                facts.left.insert((client.server, id.clone()));
                            }
                        }
                    }
                }
                ["restart", host] => {
                    for (name, _) in host_of.iter().filter(|(_, on)| *on == host) {
                        latest.remove(name);
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
            match words[..] {
                ["connect", id] => facts
                    .connects
                    .entry(incarnation)
                    .or_default()
                    .push(id.to_owned()),
                ["pair", id] => facts
                    .pairs
                    .entry(incarnation)
                    .or_default()
                    .push(id.to_owned()),
                ["board", id, ..] => match parse_board(&words[2..]) {
                    Some(board) => {
                        facts.boards.insert((incarnation, id.to_owned()), board);
                    }
                    None => violations.push(Violation::new("trace-format", line.text.clone())),
                },
                ["start", game] => {
                    latest_started = number(game);
                    current = Some((incarnation, latest_started));
                    facts
                        .games
                        .insert((incarnation, latest_started), GameFacts::default());
                }
                ["join", id, game, "history", history] => {
                    let game = facts.games.entry((incarnation, number(game))).or_default();
                    game.joins.push(JoinNote {
                        id: id.to_owned(),
                        history: number(history),
                        time_ms: line.time_ms,
                        drawn: game.draws.len(),
                    });
                }
                ["draw", game, seq, drawn] => {
                    let game = facts.games.entry((incarnation, number(game))).or_default();
                    game.draws.push((number(seq), number(drawn), line.time_ms));
                }
                ["claim", id, game, verdict] => {
                    let claimed: u64 = number(game);
                    match facts.games.get_mut(&(incarnation, claimed)) {
                        Some(game) => game.claims.push(ClaimNote {
                            id: id.to_owned(),
                            verdict: verdict.to_owned(),
                            drawn: game.draws.len(),
                            after_end: game.over.is_some() || game.abandoned,
                            superseded: claimed < latest_started,
                        }),
                        None if verdict == "wrong-game" => {}
                        None => violations.push(Violation::new(
                            "claim-verdicts",
                            format!("{id} claimed game {claimed}, which never started, and got {verdict}"),
                        )),
                    }
                    count(&mut facts, verdict);
                }
                ["over", game, "winner", id] => {
                    facts
                        .games
                        .entry((incarnation, number(game)))
                        .or_default()
                        .over = Some(Some(id.to_owned()));
                    current = None;
                }
                ["over", game, "nowinner"] => {
                    facts
                        .games
                        .entry((incarnation, number(game)))
                        .or_default()
                        .over = Some(None);
                    current = None;
                }
                ["abandon", game] => {
                    facts
                        .games
                        .entry((incarnation, number(game)))
                        .or_default()
                        .abandoned = true;
                    current = None;
                }
                ["quit", id] | ["goodbye", id] => {
                    facts.left.insert((incarnation, id.to_owned()));
                    count(&mut facts, words[0]);
                }
                ["drop", id, reason] => {
                    facts.left.insert((incarnation, id.to_owned()));
                    count(&mut facts, reason);
                }
                ["again", _] => count(&mut facts, "again"),
                _ => {}
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
        let client = &mut facts.clients[index];
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
                client.games.entry(number(game)).or_default().history = history;
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

fn parse_board(words: &[&str]) -> Option<Board> {
    let numbers: Option<Vec<u8>> = words.iter().map(|word| word.parse().ok()).collect();
    Board::new(&numbers?).ok()
}

/// The oracles, applied to a finished run, and the races it reached.
fn judge(
    trace: Vec<TraceLine>,
    host_of: &BTreeMap<String, String>,
    mut violations: Vec<Violation>,
) -> RunOutcome {
    let facts = parse_facts(&trace, host_of, &mut violations);
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
                board.is_covered_by(&numbers[..claim.drawn].iter().copied().collect())
            });
        let expected = if claim.superseded {
            "wrong-game"
        } else if winner.is_some() {
            "late"
        } else if claim.after_end {
            "nowinner"
        } else if falsely.contains(claim.id.as_str()) {
            "barred"
        } else if covered {
            "win"
        } else {
            "false"
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
        match claim.verdict.as_str() {
            "win" if winner.is_none() => winner = Some(&claim.id),
            "false" => {
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
///   `client-gave-up` (a client gave up on a silent server).
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
                .and_then(|board| board.completion_draw(&numbers))
        };
        if let Some(Some(winner)) = &game.over {
            let at = completes(winner);
            if game.claims.iter().any(|claim| {
                claim.verdict == "late" && claim.id != *winner && completes(&claim.id) == at
            }) {
                reach("simultaneous-claim");
            }
            let won_from_history = game.joins.iter().any(|join| {
                join.id == *winner
                    && join.history > 0
                    && facts
                        .boards
                        .get(&(incarnation, join.id.clone()))
                        .and_then(|board| board.completion_draw(&numbers[..join.history]))
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
    reached
}
