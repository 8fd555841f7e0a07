//! Lock-step tombola under the simulation: scenario specs, how one seed of
//! a spec runs on turmoil, and the oracles that judge its trace.
//!
//! The server and every client run the same session code as the real
//! binaries (`games::tombola::{server, client}`), over [`SimEnv`]. The
//! oracles read only the trace: the server's notes (`start`, `draw`,
//! `board`, `claim`, `drop`, `over`) and the clients' `recv`/`send` lines.

use std::collections::{BTreeMap, BTreeSet};

use games::tombola::client::{self, Behaviour};
use games::tombola::game::ServerConfig;
use games::tombola::rules::{Board, NUMBER_MAX};
use games::tombola::server;

use crate::env::SimEnv;
use crate::harness::{
    build_sim, host_rng, liveness, NetConfig, RunOptions, RunOutcome, Scenario, Violation,
};
use crate::trace::TraceLine;

/// The port the simulated server listens on.
pub const SERVER_PORT: u16 = 8000;

/// One simulated player.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayerSpec {
    pub name: String,
    pub behaviour: Behaviour,
    /// Simulated time at which it connects.
    pub join_at_ms: u64,
    /// A fixed board (to force a race); otherwise drawn from the seed.
    pub board: Option<Vec<u8>>,
}

impl PlayerSpec {
    pub fn honest(name: &str) -> PlayerSpec {
        PlayerSpec {
            name: name.to_owned(),
            behaviour: Behaviour::Honest,
            join_at_ms: 0,
            board: None,
        }
    }
}

/// A whole lock-step run: server settings, players, network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TombolaSpec {
    pub server: ServerConfig,
    pub players: Vec<PlayerSpec>,
    pub net: NetConfig,
}

/// Runs one seed of `spec` and judges it.
pub fn run_spec(spec: &TombolaSpec, seed: u64, options: &RunOptions) -> RunOutcome {
    let trace = options.new_trace();
    let mut sim = build_sim(seed, &spec.net);

    let server_trace = trace.clone();
    let config = spec.server.clone();
    sim.host("server", move || {
        let env = SimEnv::new("server", &server_trace);
        let config = config.clone();
        async move {
            let listener = games::env::Env::bind(&env, &format!("0.0.0.0:{SERVER_PORT}")).await?;
            server::run(
                env,
                listener,
                config,
                host_rng(seed, "server"),
                std::future::pending(),
            )
            .await?;
            Ok(())
        }
    });

    for player in &spec.players {
        let env = SimEnv::new(&player.name, &trace);
        let player = player.clone();
        sim.client(player.name.clone(), async move {
            let board = match &player.board {
                Some(numbers) => Board::new(numbers).expect("scenario boards are valid"),
                None => Board::random(&mut host_rng(seed, &player.name)),
            };
            env_sleep(&env, player.join_at_ms).await;
            let addr = format!("server:{SERVER_PORT}");
            match client::play(&env, &addr, board, player.behaviour, &mut ()).await {
                Ok(report) => {
                    games::env::Env::record(&env, format_args!("result {:?}", report.outcome))
                }
                Err(error) => games::env::Env::record(&env, format_args!("error {error}")),
            }
            Ok(())
        });
    }

    let mut violations = Vec::new();
    liveness(sim.run(), &mut violations);
    let mut outcome = judge(spec, trace.lines(), violations);
    outcome.wire = trace.wire();
    outcome
}

async fn env_sleep(env: &SimEnv, duration_ms: u64) {
    if duration_ms > 0 {
        games::env::Env::sleep_ms(env, duration_ms).await;
    }
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
}

/// What the trace says, parsed once for every oracle.
#[derive(Debug, Default)]
struct Facts {
    boards: BTreeMap<String, Board>,
    games: BTreeMap<u64, GameRecord>,
    /// Client host name -> the id the server gave it.
    ids: BTreeMap<String, String>,
    /// Client host name -> the DRAW numbers it received, in order.
    received: BTreeMap<String, Vec<(u32, u8)>>,
    /// Client host name -> the winners it was told.
    told: BTreeMap<String, Vec<String>>,
    false_claims: usize,
    timeouts: usize,
}

fn parse_facts(lines: &[TraceLine], violations: &mut Vec<Violation>) -> Facts {
    let mut facts = Facts::default();
    let mut current: Option<u64> = None;
    for line in lines {
        let words: Vec<&str> = line.text.split(' ').collect();
        if line.host == "server" {
            match words[..] {
                ["board", id, ..] => match parse_board(&words[2..]) {
                    Some(board) => {
                        facts.boards.insert(id.to_owned(), board);
                    }
                    None => violations.push(Violation::new("trace-format", line.text.clone())),
                },
                ["start", game, ..] => {
                    let game: u64 = game.parse().unwrap_or(0);
                    current = Some(game);
                    let record = GameRecord {
                        players: words[2..].iter().map(|s| s.to_string()).collect(),
                        ..Default::default()
                    };
                    facts.games.insert(game, record);
                }
                ["draw", _seq, number] => {
                    if let Some(game) = current.and_then(|game| facts.games.get_mut(&game)) {
                        game.draws.push(number.parse().unwrap_or(0));
                    }
                }
                ["drop", id, reason] => {
                    if let Some(game) = current.and_then(|game| facts.games.get_mut(&game)) {
                        if game.players.iter().any(|player| player == id) {
                            game.dropped.insert(id.to_owned());
                        }
                    }
                    match reason {
                        "false-claim" => facts.false_claims += 1,
                        "reply-timeout" => facts.timeouts += 1,
                        _ => {}
                    }
                }
                ["over", game, "winners", ..] | ["over", game, "nowinner"] => {
                    if let Some(record) = facts.games.get_mut(&game.parse().unwrap_or(0)) {
                        record.winners = Some(words[3..].iter().map(|s| s.to_string()).collect());
                    }
                    current = None;
                }
                ["abandon", game] => {
                    if let Some(record) = facts.games.get_mut(&game.parse().unwrap_or(0)) {
                        record.abandoned = true;
                    }
                    current = None;
                }
                _ => {}
            }
        } else if let Some(received) = line.text.strip_prefix("recv ") {
            let words: Vec<&str> = received.split(' ').collect();
            match words[..] {
                ["WELCOME", id] => {
                    facts.ids.insert(line.host.clone(), id.to_owned());
                }
                ["DRAW", seq, number] => {
                    let draw = (seq.parse().unwrap_or(0), number.parse().unwrap_or(0));
                    facts
                        .received
                        .entry(line.host.clone())
                        .or_default()
                        .push(draw);
                }
                ["OVER", _game, "WINNERS", ..] | ["OVER", _game, "NOWINNER"] => {
                    let winners = words[3..].iter().map(|s| s.to_string()).collect();
                    facts.told.insert(line.host.clone(), winners);
                }
                _ => {}
            }
        }
    }
    facts
}

fn parse_board(words: &[&str]) -> Option<Board> {
    let numbers: Option<Vec<u8>> = words.iter().map(|word| word.parse().ok()).collect();
    Board::new(&numbers?).ok()
}

/// The oracles, applied to a finished run.
fn judge(spec: &TombolaSpec, trace: Vec<TraceLine>, mut violations: Vec<Violation>) -> RunOutcome {
    let facts = parse_facts(&trace, &mut violations);
    let mut outcome = RunOutcome::default();

    for (&number, game) in &facts.games {
        check_draws(number, game, &mut violations);
        let Some(winners) = &game.winners else {
            if !game.abandoned {
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
        check_winners(number, game, winners, &facts.boards, &mut violations);
    }
    if facts.false_claims > 0 {
        outcome.reached.insert("false-claim".to_owned());
    }
    if facts.timeouts > 0 {
        outcome.reached.insert("reply-timeout".to_owned());
    }
    check_players_saw_the_draws(spec, &facts, &mut violations);

    outcome.trace = trace;
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

/// Every winner's board is covered, and the winners are exactly the
/// players still in the game whose boards completed on the last draw.
fn check_winners(
    number: u64,
    game: &GameRecord,
    winners: &[String],
    boards: &BTreeMap<String, Board>,
    violations: &mut Vec<Violation>,
) {
    let last_draw = game.draws.len();
    let expected: Vec<&String> = game
        .players
        .iter()
        .filter(|id| !game.dropped.contains(*id))
        .filter(|id| {
            boards
                .get(*id)
                .and_then(|board| board.completion_draw(&game.draws))
                == Some(last_draw)
        })
        .collect();
    for winner in winners {
        let covered = boards
            .get(winner)
            .and_then(|board| board.completion_draw(&game.draws))
            .is_some();
        if !covered {
            violations.push(Violation::new(
                "winner-covered",
                format!("game {number}: winner {winner}'s board is not covered by the {last_draw} draws"),
            ));
        }
    }
    let actual: Vec<&String> = winners.iter().collect();
    if actual != expected {
        violations.push(Violation::new(
            "winners-exact",
            format!("game {number}: winners {actual:?}, but the boards completing on draw {last_draw} were {expected:?}"),
        ));
    }
    if last_draw < usize::from(NUMBER_MAX) && winners.is_empty() {
        violations.push(Violation::new(
            "winners-exact",
            format!("game {number} ended with no winner after {last_draw} draws"),
        ));
    }
}

/// Every player received the same draw sequence: the game's, in order, with
/// consecutive sequence numbers, complete unless the player left early; and
/// everyone told the winners was told the same ones.
fn check_players_saw_the_draws(spec: &TombolaSpec, facts: &Facts, violations: &mut Vec<Violation>) {
    for player in &spec.players {
        let Some(id) = facts.ids.get(&player.name) else {
            continue;
        };
        let Some((number, game)) = facts
            .games
            .iter()
            .find(|(_, game)| game.players.contains(id))
        else {
            continue;
        };
        let received = facts
            .received
            .get(&player.name)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let numbers: Vec<u8> = received.iter().map(|&(_, n)| n).collect();
        let seqs_ok = received
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
                    player.name, game.draws
                ),
            ));
        }
        if let (true, Some(winners)) = (stayed, &game.winners) {
            if facts.told.get(&player.name) != Some(winners) {
                violations.push(Violation::new(
                    "same-winners",
                    format!(
                        "{} was told {:?}, the server announced {winners:?}",
                        player.name,
                        facts.told.get(&player.name)
                    ),
                ));
            }
        }
    }
}

/// Lock-step scenarios run at a 100 ms draw interval: long against the
/// 1 ms tick and the few-ms latencies (so answers race each other, not the
/// draws), short enough that a game costs about 8 simulated seconds.
pub const SCENARIO_INTERVAL_MS: u64 = 100;

fn fast_server(players: usize) -> ServerConfig {
    ServerConfig {
        players,
        interval_ms: SCENARIO_INTERVAL_MS,
        reply_timeout_ms: 500,
        draw_prefix: Vec::new(),
    }
}

fn players(count: usize) -> Vec<PlayerSpec> {
    (1..=count)
        .map(|index| PlayerSpec::honest(&format!("c{index}")))
        .collect()
}

pub fn two_players() -> TombolaSpec {
    TombolaSpec {
        server: fast_server(2),
        players: players(2),
        net: NetConfig::default(),
    }
}

pub fn four_players_with_latency() -> TombolaSpec {
    let net = NetConfig {
        latency_min_ms: 1,
        latency_max_ms: 30,
        ..NetConfig::default()
    };
    TombolaSpec {
        server: fast_server(4),
        players: players(4),
        net,
    }
}

/// Two fixed boards that both complete on draw 29: board A is 1..=15,
/// board B is 15..=29, and the bag draws 1..=14, then 16..=29, then 15.
pub fn simultaneous_claims() -> TombolaSpec {
    let mut server = fast_server(3);
    server.draw_prefix = (1..=14).chain(16..=29).chain([15]).collect();
    let mut players = players(3);
    players[0].board = Some((1..=15).collect());
    players[1].board = Some((15..=29).collect());
    TombolaSpec {
        server,
        players,
        net: NetConfig::default(),
    }
}

/// A cheater, a silent player and a quitter beside two honest players: the
/// game must go on without them and still end with the right winners.
pub fn misbehaving_players() -> TombolaSpec {
    let mut players = players(5);
    players[2].behaviour = Behaviour::FalseClaimAt(5);
    players[3].behaviour = Behaviour::Silent;
    players[4].behaviour = Behaviour::LeaveAfter(10);
    TombolaSpec {
        server: fast_server(5),
        players,
        net: NetConfig::default(),
    }
}

/// The built-in lock-step scenarios.
pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "tombola-two-players",
            summary: "two honest players, 1-5 ms latency",
            must_reach: &[],
            run: |seed, options| run_spec(&two_players(), seed, options),
        },
        Scenario {
            name: "tombola-four-players-latency",
            summary: "four honest players, 1-30 ms latency",
            must_reach: &[],
            run: |seed, options| run_spec(&four_players_with_latency(), seed, options),
        },
        Scenario {
            name: "tombola-simultaneous-claims",
            summary:
                "fixed boards and draw order: two players complete on draw 29 and must both win",
            must_reach: &["simultaneous-claim"],
            run: |seed, options| run_spec(&simultaneous_claims(), seed, options),
        },
        Scenario {
            name: "tombola-misbehaving-players",
            summary: "a false claim, a silent player and a quitter beside two honest players",
            must_reach: &["false-claim", "reply-timeout"],
            run: |seed, options| run_spec(&misbehaving_players(), seed, options),
        },
    ]
}
