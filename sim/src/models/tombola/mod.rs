//! Lock-step tombola under the simulation: scenario specs (from scenario
//! files), how one seed of a spec runs on turmoil, and the oracles that
//! judge its trace.
//!
//! The server and every client run the same session code as the real
//! binaries (`games::tombola::{server, client}`), over [`SimEnv`]. Each
//! session is a turmoil host, so faults can crash and restart it. The
//! oracles read only the trace: the server's notes (`start`, `draw`,
//! `board`, `claim`, `drop`, `over`), the clients' `recv` lines and the
//! harness's fault lines (host `sim`).

pub mod lines;
mod run;
mod shared_host;

#[cfg(test)]
pub use run::{builtin_spec, run_spec_fast};
pub use shared_host::run_spec_shared_host;

use std::collections::{BTreeMap, BTreeSet};

use games::tombola::client::Behaviour;
use games::tombola::game::ServerConfig;
use games::tombola::notes::{is_shell_line, DropReason, Note};
use games::tombola::protocol::ServerMessage;
use games::tombola::rules::{Board, NUMBER_MAX};
use rand::Rng;
use serde::Deserialize;

use crate::engine::harness::{host_rng, NetConfig, RunOutcome, Violation};
use crate::engine::trace::TraceLine;
use crate::models::tombola::lines::NameMap;

/// The properties only a whole run is judged by: a game must end, and a
/// player who stayed must have received every draw and the winners (on a
/// prefix, they may still be on their way).
pub const END_OF_RUN_PROPERTIES: &[&str] = &["game-ends", "same-draws", "same-winners"];
use crate::scenario::faults::Fault;
use crate::scenario::file::ScenarioFile;

/// The port the simulated server listens on.
pub const SERVER_PORT: u16 = 8000;

/// Lock-step scenarios default to a 100 ms draw interval: long against the
/// 1 ms tick and the few-ms latencies (so answers race each other, not the
/// draws), short enough that a game costs about 8 simulated seconds.
pub const SCENARIO_INTERVAL_MS: u64 = 100;
/// Default answer deadline in scenarios.
pub const SCENARIO_REPLY_TIMEOUT_MS: u64 = 500;
/// Default registration timeout in scenarios: longer than a client's
/// whole connect-retry span (about 8 s, see
/// `games::tombola::client::CONNECT_ATTEMPTS_MAX`), so a player that
/// retries through a partition still gets its seat, and short against the
/// 120 s a swarm run may take.
pub const SCENARIO_REGISTRATION_TIMEOUT_MS: u64 = 10_000;
/// How long a client that restarted after a crash waits for a game before
/// it gives up (the server may never gather enough players again).
pub const REJOIN_WAIT_MS: u64 = 5_000;

/// One simulated player.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayerSpec {
    pub name: String,
    pub behaviour: Behaviour,
    /// Simulated time at which it connects...
    pub join_at_ms: u64,
    /// ...plus a time drawn from the seed in `0..=join_spread_ms`.
    pub join_spread_ms: u64,
    /// A fixed board (to force a race); otherwise drawn from the seed.
    pub board: Option<Vec<u8>>,
    /// See `games::tombola::client::SILENCE_TIMEOUT_MS`.
    pub silence_timeout_ms: u64,
    /// See `games::tombola::client::START_TIMEOUT_MS`: the server's
    /// registration timeout plus the silence timeout, so a client gives up
    /// waiting for `START` only once the server must have started or
    /// refused it.
    pub start_timeout_ms: u64,
}

/// A whole lock-step run: server settings, players, network, faults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TombolaSpec {
    pub server: ServerConfig,
    pub players: Vec<PlayerSpec>,
    pub net: NetConfig,
    pub faults: Vec<Fault>,
    /// Draw extra faults and network settings from each seed.
    pub swarm: bool,
}

/// The `[server]` table of a tombola scenario file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerSection {
    #[serde(default = "default_players")]
    players: usize,
    #[serde(default = "default_interval_ms")]
    interval_ms: u64,
    #[serde(default = "default_reply_timeout_ms")]
    reply_timeout_ms: u64,
    #[serde(default = "default_registration_timeout_ms")]
    registration_timeout_ms: u64,
    #[serde(default)]
    draw_prefix: Vec<u8>,
    /// A deliberate bug (see `games::tombola::game::INJECTED_BUGS`) to
    /// prove the oracles catch it.
    #[serde(default)]
    inject_bug: Option<String>,
}

fn default_players() -> usize {
    2
}
fn default_interval_ms() -> u64 {
    SCENARIO_INTERVAL_MS
}
fn default_reply_timeout_ms() -> u64 {
    SCENARIO_REPLY_TIMEOUT_MS
}
fn default_registration_timeout_ms() -> u64 {
    SCENARIO_REGISTRATION_TIMEOUT_MS
}

/// The behaviours a tombola scenario may give its clients.
pub const BEHAVIOURS: &str =
    "honest, silent, false-claim (params.at_draw), leave (params.after_draws), mischief";

/// The behaviour a player's session runs with in one seed: a mischievous
/// player draws its own mischief from the seed and its name.
pub fn session_behaviour(behaviour: Behaviour, seed: u64, name: &str) -> Behaviour {
    match behaviour {
        Behaviour::Mischief { .. } => Behaviour::Mischief {
            seed: host_rng(seed, &format!("mischief-{name}")).random(),
        },
        other => other,
    }
}

/// The registry's entry point (see `crate::models`): lock-step specs do
/// not depend on the seed.
pub(crate) fn scenario_spec(file: &ScenarioFile, _seed: u64) -> Result<TombolaSpec, String> {
    spec_from_file(file)
}

/// Checks a lock-step file's game part without running it.
pub(crate) fn check_file(file: &ScenarioFile) -> Result<(), String> {
    spec_from_file(file).map(|_| ())
}

/// Builds a spec from a scenario file, naming the field of any problem.
pub fn spec_from_file(file: &ScenarioFile) -> Result<TombolaSpec, String> {
    let section: ServerSection = file.server_settings()?;
    if !(1..=games::tombola::game::PLAYERS_MAX).contains(&section.players) {
        return Err(format!(
            "server.players: {} is not in 1..={}",
            section.players,
            games::tombola::game::PLAYERS_MAX
        ));
    }
    if section.interval_ms == 0
        || section.reply_timeout_ms == 0
        || section.registration_timeout_ms == 0
    {
        return Err("server.interval_ms, server.reply_timeout_ms and server.registration_timeout_ms must be at least 1".to_owned());
    }
    if let Some(bad) = section
        .draw_prefix
        .iter()
        .find(|n| !(1..=NUMBER_MAX).contains(*n))
    {
        return Err(format!("server.draw_prefix: {bad} is not in 1..=90"));
    }
    let server = ServerConfig {
        players: section.players,
        interval_ms: section.interval_ms,
        reply_timeout_ms: section.reply_timeout_ms,
        registration_timeout_ms: section.registration_timeout_ms,
        draw_prefix: section.draw_prefix,
        injected_bug: match &section.inject_bug {
            None => None,
            Some(name) => Some(
                name.parse()
                    .map_err(|error| format!("server.inject_bug: {error}"))?,
            ),
        },
    };
    let default_silence_ms = 10 * server.interval_ms.max(server.reply_timeout_ms);
    let mut players = Vec::new();
    for (index, group) in file.clients.iter().enumerate() {
        let field = format!("clients[{index}]");
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
        for key in group.params.keys() {
            if !["at_draw", "after_draws", "silence_timeout_ms"].contains(&key.as_str()) {
                return Err(format!("{field}.params: unknown parameter {key:?} (known: at_draw, after_draws, silence_timeout_ms)"));
            }
        }
        let behaviour = match group.behaviour.as_str() {
            "honest" => Behaviour::Honest,
            "silent" => Behaviour::Silent,
            "false-claim" => Behaviour::FalseClaimAt(param("at_draw", 5)? as u32),
            "leave" => Behaviour::LeaveAfter(param("after_draws", 10)? as u32),
            "mischief" => Behaviour::Mischief { seed: 0 },
            other => {
                return Err(format!(
                    "{field}.behaviour: unknown behaviour {other:?}; tombola knows {BEHAVIOURS}"
                ))
            }
        };
        if let Some(board) = &group.board {
            Board::new(board).map_err(|error| format!("{field}.board: {error}"))?;
        }
        let silence_timeout_ms = param("silence_timeout_ms", default_silence_ms)?;
        for name in group.member_names() {
            players.push(PlayerSpec {
                name,
                behaviour,
                join_at_ms: group.join_at_ms,
                join_spread_ms: group.join_spread_ms,
                board: group.board.clone(),
                silence_timeout_ms,
                start_timeout_ms: server.registration_timeout_ms + silence_timeout_ms,
            });
        }
    }
    Ok(TombolaSpec {
        server,
        players,
        net: file.net.clone(),
        faults: file.faults.clone(),
        swarm: file.swarm,
    })
}

/// One game as the server's notes tell it.
#[derive(Debug, Default, Clone)]
struct GameRecord {
    players: Vec<String>,
    draws: Vec<u8>,
    /// `None` while the game has not ended.
    winners: Option<Vec<String>>,
    /// Players dropped (timeout, false claim, disconnect) during the game.
    dropped: BTreeSet<String>,
    abandoned: bool,
    /// The server crashed while this game ran.
    interrupted: bool,
}

/// What one client incarnation saw.
#[derive(Debug, Default, Clone)]
struct ClientView {
    name: String,
    /// The server incarnation it talked to, and the id it was given there.
    server: Option<(u32, String)>,
    draws: Vec<(u32, u8)>,
    told: Option<Vec<String>>,
}

/// A game's key: (server incarnation, game number).
type GameKey = (u32, u64);

/// What the trace says, parsed once for every oracle.
#[derive(Debug, Default)]
struct Facts {
    boards: BTreeMap<(u32, String), Board>,
    games: BTreeMap<GameKey, GameRecord>,
    views: Vec<ClientView>,
    false_claims: usize,
    timeouts: usize,
    /// Faults that were lifted while a game was running.
    healed_mid_game: usize,
    released_mid_game: usize,
    client_crashes: usize,
    /// The `recv` lines parsed here, as (index in the trace, message), for
    /// the line oracle not to parse them again.
    received: Vec<(usize, ServerMessage)>,
}

/// The trace's facts, and the server's record for the line oracle, from
/// one walk that parses each line once.
fn parse_facts(
    lines: &[TraceLine],
    violations: &mut Vec<Violation>,
) -> (Facts, crate::models::tombola::lines::ServerRecord) {
    let mut facts = Facts::default();
    let mut recorder = crate::models::tombola::lines::ServerRecorder::new();
    let mut server_incarnation = 1u32;
    let mut current: Option<GameKey> = None;
    // Client name -> index in facts.views of its current incarnation.
    // Looked up for every client line and never iterated: a hash map of
    // the trace's own names (a tree of 1,000 names compared strings on
    // each of a full room's 600,000 lines).
    let mut latest_view: NameMap<&str, usize> = NameMap::default();
    for (line_index, line) in lines.iter().enumerate() {
        match line.host.as_str() {
            "sim" => match line.text.split(' ').collect::<Vec<&str>>()[..] {
                ["crash", "server"] => {
                    if let Some(game) = current.and_then(|key| facts.games.get_mut(&key)) {
                        game.interrupted = true;
                    }
                    current = None;
                }
                ["restart", "server"] => {
                    server_incarnation += 1;
                    recorder.restart_server();
                }
                ["crash", _] => facts.client_crashes += 1,
                ["restart", host] => {
                    latest_view.remove(host);
                }
                ["heal", ..] if current.is_some() => facts.healed_mid_game += 1,
                ["release", ..] if current.is_some() => facts.released_mid_game += 1,
                _ => {}
            },
            "server" => match line.text.parse::<Note>().inspect(|note| recorder.note(line.time_ms, note)) {
                Ok(Note::Board { player, board }) => {
                    facts.boards.insert((server_incarnation, player), board);
                }
                Ok(Note::Start { game, players }) => {
                    let key = (server_incarnation, game);
                    current = Some(key);
                    facts.games.insert(
                        key,
                        GameRecord {
                            players,
                            ..Default::default()
                        },
                    );
                }
                Ok(Note::Draw { number, .. }) => {
                    if let Some(game) = current.and_then(|key| facts.games.get_mut(&key)) {
                        game.draws.push(number);
                    }
                }
                Ok(Note::Drop { player, reason }) => {
                    if let Some(game) = current.and_then(|key| facts.games.get_mut(&key)) {
                        if game.players.contains(&player) {
                            game.dropped.insert(player);
                        }
                    }
                    match reason {
                        DropReason::FalseClaim => facts.false_claims += 1,
                        DropReason::ReplyTimeout => facts.timeouts += 1,
                        DropReason::Disconnected | DropReason::RegistrationTimeout => {}
                    }
                }
                Ok(Note::Over { game, winners }) => {
                    if let Some(record) = facts.games.get_mut(&(server_incarnation, game)) {
                        record.winners = Some(winners);
                    }
                    current = None;
                }
                Ok(Note::Abandon { game }) => {
                    if let Some(record) = facts.games.get_mut(&(server_incarnation, game)) {
                        record.abandoned = true;
                    }
                    current = None;
                }
                Ok(Note::Connect { .. } | Note::Claim { .. }) => {}
                Err(_) if is_shell_line(&line.text) => {}
                // The server writes nothing else: a line that is neither a
                // note nor the shell's is a broken note.
                Err(_) => violations.push(Violation::new("trace-format", line.text.clone())),
            },
            client => {
                let Some(received) = line.text.strip_prefix("recv ") else {
                    continue;
                };
                // Looked up before inserting: the key is a new String.
                let index = match latest_view.get(client) {
                    Some(&index) => index,
                    None => {
                        facts.views.push(ClientView {
                            name: client.to_owned(),
                            ..Default::default()
                        });
                        latest_view.insert(client, facts.views.len() - 1);
                        facts.views.len() - 1
                    }
                };
                let view = &mut facts.views[index];
                // A line that is not a server message is the line
                // oracle's to report (`lines::check_every_line_explained`).
                // Nothing here needs `START`, the longest line by far, nor
                // `WAITING`, half a million lines in a 1,000-player room.
                if received.starts_with("START ") || received.starts_with("WAITING ") {
                    continue;
                }
                let Some(message) = ServerMessage::parse(received) else {
                    continue;
                };
                match &message {
                    ServerMessage::Welcome(id) => {
                        view.server = Some((server_incarnation, id.clone()));
                    }
                    ServerMessage::Draw { seq, number } => view.draws.push((*seq, *number)),
                    ServerMessage::Over { winners, .. } => view.told = Some(winners.clone()),
                    _ => {}
                }
                facts.received.push((line_index, message));
            }
        }
    }
    (facts, recorder.finish())
}

impl Facts {
    /// What the line oracle needs of each game: seated players, draws and
    /// winners, by (server incarnation, game number).
    fn games_view(&self) -> BTreeMap<GameKey, crate::models::tombola::lines::GameFacts> {
        self.games
            .iter()
            .map(|(&key, game)| {
                let facts = crate::models::tombola::lines::GameFacts {
                    players: game.players.clone(),
                    draws: game.draws.clone(),
                    winners: game.winners.clone(),
                };
                (key, facts)
            })
            .collect()
    }
}

/// The oracles, applied to a finished run. A panic in one (a bug in the
/// harness) is reported as a `harness-error` violation with the trace.
pub fn judge(spec: &TombolaSpec, trace: Vec<TraceLine>, violations: Vec<Violation>) -> RunOutcome {
    crate::engine::harness::judge_safely(trace, |trace| judge_unguarded(spec, trace, violations))
}

pub(crate) fn judge_unguarded(
    spec: &TombolaSpec,
    trace: &[TraceLine],
    mut violations: Vec<Violation>,
) -> RunOutcome {
    let (facts, record) = parse_facts(trace, &mut violations);
    let mut outcome = RunOutcome::default();
    let liveness_failed = violations
        .iter()
        .any(|violation| violation.property == "liveness");

    for (&(incarnation, number), game) in &facts.games {
        check_draws(number, game, &mut violations);
        let Some(winners) = &game.winners else {
            if game.interrupted {
                outcome.reached.insert("server-crash-mid-game".to_owned());
            } else if !game.abandoned && !liveness_failed {
                violations.push(Violation::new(
                    "game-ends",
                    format!("game {number} never ended"),
                ));
            }
            continue;
        };
        outcome.games += 1;
        outcome.winners_per_game.push(winners.len());
        if winners.len() >= 2 {
            outcome.reached.insert("simultaneous-claim".to_owned());
        }
        if winners.is_empty() {
            outcome.reached.insert("no-winner".to_owned());
        }
        check_winners(
            incarnation,
            number,
            game,
            winners,
            &facts.boards,
            &mut violations,
        );
    }
    let counted = [
        (facts.false_claims, "false-claim"),
        (facts.timeouts, "reply-timeout"),
        (facts.healed_mid_game, "partition-healed-mid-game"),
        (facts.released_mid_game, "hold-released-mid-game"),
        (facts.client_crashes, "client-crash"),
    ];
    for (count, event) in counted {
        if count > 0 {
            outcome.reached.insert(event.to_owned());
        }
    }
    check_players_saw_the_draws(&facts, &mut violations);
    crate::models::tombola::lines::check_every_line_explained(
        spec.server.players,
        trace,
        &facts.games_view(),
        &record,
        &facts.received,
        &mut violations,
        &mut outcome.reached,
    );

    outcome.violations = violations;
    outcome
}

/// Draws are distinct, in 1..=90, and a game ends by draw 90.
fn check_draws(number: u64, game: &GameRecord, violations: &mut Vec<Violation>) {
    let mut seen = BTreeSet::new();
    for &draw in &game.draws {
        if !(1..=NUMBER_MAX).contains(&draw) {
            violations.push(Violation::new(
                "draws-in-range",
                format!("game {number} drew {draw}"),
            ));
        }
        if !seen.insert(draw) {
            violations.push(Violation::new(
                "draws-distinct",
                format!("game {number} drew {draw} twice"),
            ));
        }
    }
    if game.draws.len() > usize::from(NUMBER_MAX) {
        violations.push(Violation::new(
            "ends-by-draw-90",
            format!("game {number} made {} draws", game.draws.len()),
        ));
    }
}

/// Every winner's board is covered, the winners are exactly the players
/// still in the game whose boards completed on the last draw, and a game
/// ends with no winner only after its 90th draw (`OVER NOWINNER`: every
/// number drawn and nobody claimed).
fn check_winners(
    incarnation: u32,
    number: u64,
    game: &GameRecord,
    winners: &[String],
    boards: &BTreeMap<(u32, String), Board>,
    violations: &mut Vec<Violation>,
) {
    let last_draw = game.draws.len();
    let board_of = |id: &String| boards.get(&(incarnation, id.clone()));
    let expected: Vec<&String> = game
        .players
        .iter()
        .filter(|id| !game.dropped.contains(*id))
        .filter(|id| {
            board_of(id).and_then(|board| board.completion_draw(&game.draws)) == Some(last_draw)
        })
        .collect();
    for winner in winners {
        if board_of(winner)
            .and_then(|board| board.completion_draw(&game.draws))
            .is_none()
        {
            violations.push(Violation::new(
                "winner-covered",
                format!("game {number}: winner {winner}'s board is not covered by the {last_draw} draws"),
            ));
        }
    }
    if winners.is_empty() && last_draw < usize::from(NUMBER_MAX) {
        violations.push(Violation::new(
            "no-winner-only-after-90",
            format!("game {number} ended with no winner after {last_draw} draws"),
        ));
    }
    let actual: Vec<&String> = winners.iter().collect();
    if actual != expected {
        violations.push(Violation::new(
            "winners-exact",
            format!("game {number}: winners {actual:?}, but the boards completing on draw {last_draw} were {expected:?}"),
        ));
    }
}

/// Every player received the same draw sequence: the game's, in order,
/// with consecutive sequence numbers, complete unless the player left the
/// game early; and everyone who stayed was told the same winners.
fn check_players_saw_the_draws(facts: &Facts, violations: &mut Vec<Violation>) {
    // Each player's first game (in game order) on each server incarnation,
    // indexed once: searching every game's seats for each player was
    // quadratic in a 1,000-player room.
    let mut first_game: NameMap<(u32, &str), GameKey> = NameMap::default();
    for (&key, game) in &facts.games {
        for player in &game.players {
            first_game.entry((key.0, player.as_str())).or_insert(key);
        }
    }
    for view in &facts.views {
        let Some((incarnation, id)) = &view.server else {
            continue;
        };
        let game = first_game
            .get(&(*incarnation, id.as_str()))
            .and_then(|key| facts.games.get_key_value(key));
        let Some((&(_, number), game)) = game else {
            if !view.draws.is_empty() {
                violations.push(Violation::new(
                    "same-draws",
                    format!("{} ({id}) received draws outside any game", view.name),
                ));
            }
            continue;
        };
        let numbers: Vec<u8> = view.draws.iter().map(|&(_, n)| n).collect();
        let seqs_ok = view
            .draws
            .iter()
            .enumerate()
            .all(|(index, &(seq, _))| seq as usize == index + 1);
        let prefix_ok = game.draws.starts_with(&numbers);
        let stayed = !game.dropped.contains(id) && game.winners.is_some();
        if !seqs_ok || !prefix_ok || (stayed && numbers != game.draws) {
            violations.push(Violation::new(
                "same-draws",
                format!(
                    "{} ({id}) in game {number} received {numbers:?}, the server drew {:?}",
                    view.name, game.draws
                ),
            ));
        }
        if let (true, Some(winners)) = (stayed, &game.winners) {
            if view.told.as_ref() != Some(winners) {
                violations.push(Violation::new(
                    "same-winners",
                    format!(
                        "{} was told {:?}, the server announced {winners:?}",
                        view.name, view.told
                    ),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests;
