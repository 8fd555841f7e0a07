//! Live tombola under the simulation: scenario specs, how one seed of a spec
//! runs on turmoil, the oracles that judge its trace, and the races a run
//! reached.
//!
//! The server and every client run the same session code as the real
//! binaries (`games::live::{server, client}`), over [`SimEnv`]. Several
//! client sessions may share one turmoil host (a host costs more than a
//! session). The oracles read only the trace: the server's notes
//! (`connect`, `pair`, `board`, `start`, `join`, `draw`, `claim`, `over`,
//! `again`, `quit`, `goodbye`, `drop`, `abandon`) and the clients' lines
//! (`send ...`, `recv ...` for the claims port, `recv# ...` for the numbers
//! port, and a final `result ...` or `error ...`).

use std::collections::{BTreeMap, BTreeSet};

use games::env::Env;
use games::live::client::{self, Behaviour, ClientConfig, Ending};
use games::live::game::ServerConfig;
use games::live::server;
use games::tombola::rules::{Board, NumberSet, NUMBER_MAX};
use rand::Rng;

use crate::env::SimEnv;
use crate::harness::{
    build_sim, host_rng, liveness, NetConfig, RunOptions, RunOutcome, Scenario, Violation,
};
use crate::trace::{Trace, TraceLine};

/// The simulated server's numbers port.
pub const NUMBERS_PORT: u16 = 2004;
/// The simulated server's claims port.
pub const CLAIMS_PORT: u16 = 2005;

/// One simulated player.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayerSpec {
    /// Its name in the trace.
    pub name: String,
    /// The turmoil host it runs on; players naming the same host share it.
    pub host: String,
    pub behaviour: Behaviour,
    /// Simulated time at which it connects.
    pub join_at_ms: u64,
    /// A fixed board (to force a race); otherwise drawn from the seed.
    pub board: Option<Vec<u8>>,
}

impl PlayerSpec {
    /// An honest player of `games` games on its own host, joining at 0.
    pub fn honest(name: &str, games: u32) -> PlayerSpec {
        PlayerSpec {
            name: name.to_owned(),
            host: name.to_owned(),
            behaviour: Behaviour::Honest { games },
            join_at_ms: 0,
            board: None,
        }
    }
}

/// A whole live run: server settings, players, network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveSpec {
    pub server: ServerConfig,
    pub players: Vec<PlayerSpec>,
    pub net: NetConfig,
}

/// Runs one seed of `spec` and judges it.
pub fn run_spec(spec: &LiveSpec, seed: u64, options: &RunOptions) -> RunOutcome {
    let trace = options.new_trace();
    let mut sim = build_sim(seed, &spec.net);

    let server_trace = trace.clone();
    let config = spec.server.clone();
    sim.host("server", move || {
        let env = SimEnv::new("server", &server_trace);
        let config = config.clone();
        async move {
            let numbers = env.bind(&format!("0.0.0.0:{NUMBERS_PORT}")).await?;
            let claims = env.bind(&format!("0.0.0.0:{CLAIMS_PORT}")).await?;
            let rng = host_rng(seed, "server");
            server::run(env, numbers, claims, config, rng, std::future::pending()).await?;
            Ok(())
        }
    });

    let mut hosts: BTreeMap<String, Vec<PlayerSpec>> = BTreeMap::new();
    for player in &spec.players {
        hosts
            .entry(player.host.clone())
            .or_default()
            .push(player.clone());
    }
    for (host, players) in hosts {
        let trace = trace.clone();
        sim.client(host, async move {
            let sessions: Vec<_> = players
                .into_iter()
                .map(|player| tokio::spawn(run_player(seed, player, trace.clone())))
                .collect();
            for session in sessions {
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

/// One client session: wait for its join time, play, record how it ended.
async fn run_player(seed: u64, player: PlayerSpec, trace: Trace) {
    let env = SimEnv::new(&player.name, &trace);
    let board = match &player.board {
        Some(numbers) => Board::new(numbers).expect("scenario boards are valid"),
        None => Board::random(&mut host_rng(seed, &player.name)),
    };
    if player.join_at_ms > 0 {
        env.sleep_ms(player.join_at_ms).await;
    }
    let config = ClientConfig {
        numbers_addr: format!("server:{NUMBERS_PORT}"),
        claims_addr: format!("server:{CLAIMS_PORT}"),
        board,
        behaviour: player.behaviour,
    };
    match client::play(&env, &config, &mut (), None).await {
        Ok(report) => {
            let ending = match report.ending {
                Ending::Quit => "quit",
                Ending::SentAway => "sent-away",
                Ending::Left => "left",
                Ending::Closed => "closed",
            };
            env.record(format_args!("result {ending} games {}", report.games.len()));
        }
        Err(error) => env.record(format_args!("error {error}")),
    }
}

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
}

impl GameFacts {
    fn numbers(&self) -> Vec<u8> {
        self.draws.iter().map(|&(_, number, _)| number).collect()
    }
}

/// One game as one client saw it.
#[derive(Debug, Default, Clone)]
struct SeenGame {
    history: Vec<u8>,
    /// `(seq, number)` of each `DRAW` after the history.
    draws: Vec<(u32, u8)>,
    over: Option<Option<String>>,
    /// Winners named by `LATE` answers.
    late_winners: Vec<String>,
}

/// What one client session's lines say.
#[derive(Debug, Default, Clone)]
struct ClientFacts {
    welcome_id: Option<String>,
    hello_id: Option<String>,
    games: BTreeMap<u64, SeenGame>,
    /// Claims it sent after it had seen `OVER` for that game.
    claims_after_over: usize,
    error: Option<String>,
}

/// What the trace says, parsed once for every oracle.
#[derive(Debug, Default)]
struct Facts {
    boards: BTreeMap<String, Board>,
    games: BTreeMap<u64, GameFacts>,
    clients: BTreeMap<String, ClientFacts>,
    connects: Vec<String>,
    pairs: Vec<String>,
    /// Players who quit, were sent away or dropped.
    left: BTreeSet<String>,
    /// `(game, seq)` -> the latest time a client received that draw.
    draw_received_ms: BTreeMap<(u64, u32), u64>,
    /// Counts of notable server decisions (`false`, `barred`, `quit`, ...).
    decisions: BTreeMap<String, usize>,
}

fn number<T: std::str::FromStr + Default>(word: &str) -> T {
    word.parse().unwrap_or_default()
}

fn count(facts: &mut Facts, decision: &str) {
    *facts.decisions.entry(decision.to_owned()).or_default() += 1;
}

fn parse_facts(lines: &[TraceLine], violations: &mut Vec<Violation>) -> Facts {
    let mut facts = Facts::default();
    let mut latest_started: u64 = 0;
    for line in lines {
        let words: Vec<&str> = line.text.split(' ').collect();
        if line.host == "server" {
            match words[..] {
                ["connect", id] => facts.connects.push(id.to_owned()),
                ["pair", id] => facts.pairs.push(id.to_owned()),
                ["board", id, ..] => match parse_board(&words[2..]) {
                    Some(board) => {
                        facts.boards.insert(id.to_owned(), board);
                    }
                    None => violations.push(Violation::new("trace-format", line.text.clone())),
                },
                ["start", game] => {
                    latest_started = number(game);
                    facts.games.insert(latest_started, GameFacts::default());
                }
                ["join", id, game, "history", history] => {
                    let game = facts.games.entry(number(game)).or_default();
                    game.joins.push(JoinNote {
                        id: id.to_owned(),
                        history: number(history),
                        time_ms: line.time_ms,
                        drawn: game.draws.len(),
                    });
                }
                ["draw", game, seq, drawn] => {
                    let game = facts.games.entry(number(game)).or_default();
                    game.draws.push((number(seq), number(drawn), line.time_ms));
                }
                ["claim", id, game, verdict] => {
                    let claimed: u64 = number(game);
                    match facts.games.get_mut(&claimed) {
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
                    facts.games.entry(number(game)).or_default().over = Some(Some(id.to_owned()));
                }
                ["over", game, "nowinner"] => {
                    facts.games.entry(number(game)).or_default().over = Some(None);
                }
                ["abandon", game] => {
                    facts.games.entry(number(game)).or_default().abandoned = true;
                }
                ["quit", id] | ["goodbye", id] => {
                    facts.left.insert(id.to_owned());
                    count(&mut facts, words[0]);
                }
                ["drop", id, reason] => {
                    facts.left.insert(id.to_owned());
                    count(&mut facts, reason);
                }
                ["again", _] => count(&mut facts, "again"),
                _ => {}
            }
            continue;
        }
        let client = facts.clients.entry(line.host.clone()).or_default();
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
                let latest = facts.draw_received_ms.entry((game, seq)).or_default();
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
fn judge(trace: Vec<TraceLine>, mut violations: Vec<Violation>) -> RunOutcome {
    let facts = parse_facts(&trace, &mut violations);
    let mut outcome = RunOutcome::default();
    for (&number, game) in &facts.games {
        check_draws(number, game, &mut violations);
        check_claims(number, game, &facts.boards, &mut violations);
        check_game_ends(number, game, &facts.left, &mut violations);
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
    number: u64,
    game: &GameFacts,
    boards: &BTreeMap<String, Board>,
    violations: &mut Vec<Violation>,
) {
    let numbers = game.numbers();
    let mut winner: Option<&str> = None;
    let mut falsely: BTreeSet<&str> = BTreeSet::new();
    for claim in &game.claims {
        let covered = boards.get(&claim.id).is_some_and(|board| {
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
        if over.is_none() && !game.abandoned && numbers.len() < usize::from(NUMBER_MAX) {
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

/// A game ends (`over` or `abandon`) unless every player in it left.
fn check_game_ends(
    number: u64,
    game: &GameFacts,
    left: &BTreeSet<String>,
    violations: &mut Vec<Violation>,
) {
    if game.over.is_some() || game.abandoned {
        return;
    }
    let staying: Vec<&str> = game
        .joins
        .iter()
        .map(|join| join.id.as_str())
        .filter(|id| !left.contains(*id))
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
fn check_pairing(facts: &Facts, violations: &mut Vec<Violation>) {
    for (name, client) in &facts.clients {
        if let (Some(welcome), Some(hello)) = (&client.welcome_id, &client.hello_id) {
            if welcome != hello {
                violations.push(Violation::new(
                    "paired-by-token",
                    format!("{name} was welcomed as {welcome} but paired as {hello}"),
                ));
            }
        }
        if let Some(error) = &client.error {
            violations.push(Violation::new("client-error", format!("{name}: {error}")));
        }
    }
}

/// Every client saw each number of each of its games exactly once and in
/// order (history, then draws with no gap), all of them if it saw the end,
/// and the same winner as everyone else.
fn check_clients_saw_their_games(facts: &Facts, violations: &mut Vec<Violation>) {
    for (name, client) in &facts.clients {
        for (&number, seen) in &client.games {
            let Some(game) = facts.games.get(&number) else {
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
/// - and plain counts of decisions: `false-claim`, `claim-barred`, `quit`,
///   `sent-away`, `disconnect`, `again`, `several-games`.
fn races(facts: &Facts) -> BTreeSet<String> {
    let mut reached = BTreeSet::new();
    let mut reach = |name: &str| {
        reached.insert(name.to_owned());
    };
    for (&number, game) in &facts.games {
        let numbers = game.numbers();
        let completes = |id: &str| {
            facts
                .boards
                .get(id)
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
                        .get(&join.id)
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
                .get(&(number, join.history as u32))
                .is_some_and(|&received_ms| received_ms >= join.time_ms);
            if same_ms || in_flight {
                reach("join-during-draw");
            }
        }
    }
    if facts
        .clients
        .values()
        .any(|client| client.claims_after_over > 0)
    {
        reach("claim-during-pause");
    }
    let paired: BTreeSet<&String> = facts.pairs.iter().collect();
    let arrival: Vec<&String> = facts
        .connects
        .iter()
        .filter(|id| paired.contains(id))
        .collect();
    if arrival != facts.pairs.iter().collect::<Vec<_>>() {
        reach("pairing-out-of-order");
    }
    for (decision, race) in [
        ("false", "false-claim"),
        ("barred", "claim-barred"),
        ("quit", "quit"),
        ("goodbye", "sent-away"),
        ("numbers-closed", "disconnect"),
        ("claims-closed", "disconnect"),
        ("again", "again"),
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

/// Live scenarios draw every 50 ms: long against the 1 ms tick and the
/// 1-5 ms latencies (claims race each other, not the draws), short enough
/// that a whole game costs about 4 simulated seconds.
pub const SCENARIO_INTERVAL_MS: u64 = 50;
/// The pause between games: long enough for `AGAIN` to cross the network
/// many times over, short enough to cost little.
pub const SCENARIO_PAUSE_MS: u64 = 200;

fn fast_server() -> ServerConfig {
    ServerConfig {
        interval_ms: SCENARIO_INTERVAL_MS,
        pause_ms: SCENARIO_PAUSE_MS,
        ..ServerConfig::default()
    }
}

/// A host shared by several players: `hosts` hosts for `index` players,
/// round robin.
fn shared_host(index: usize, hosts: usize) -> String {
    format!("h{}", index % hosts + 1)
}

/// One player from the start, five more joining at seeded random times
/// during the first 30 draws: each must see every number of its game once,
/// in order, history first.
pub fn late_joiners(seed: u64) -> LiveSpec {
    let mut schedule = host_rng(seed, "schedule");
    let players = (1..=6)
        .map(|index| {
            let mut player = PlayerSpec::honest(&format!("c{index}"), 1);
            player.host = shared_host(index, 3);
            if index > 1 {
                player.join_at_ms =
                    schedule.random_range(SCENARIO_INTERVAL_MS..30 * SCENARIO_INTERVAL_MS);
            }
            player
        })
        .collect();
    LiveSpec {
        server: fast_server(),
        players,
        net: NetConfig::default(),
    }
}

/// The bag draws 1..=15 first. c1 (board 76..=90) plays from the start; c2
/// (board 1..=15) joins after draw 15 and must claim, and win, from its
/// history alone.
pub fn late_joiner_wins_from_history() -> LiveSpec {
    let mut server = fast_server();
    server.draw_prefix = (1..=15).collect();
    let mut first = PlayerSpec::honest("c1", 1);
    first.board = Some((76..=90).collect());
    let mut late = PlayerSpec::honest("c2", 1);
    late.board = Some((1..=15).collect());
    late.join_at_ms = 16 * SCENARIO_INTERVAL_MS + 20;
    LiveSpec {
        server,
        players: vec![first, late],
        net: NetConfig::default(),
    }
}

/// Two fixed boards that both complete on draw 29: board A is 1..=15, board
/// B is 15..=29, and the bag draws 1..=14, then 16..=29, then 15. Exactly
/// one of them wins; the other is told `LATE` with the same winner.
pub fn simultaneous_claims() -> LiveSpec {
    let mut server = fast_server();
    server.draw_prefix = (1..=14).chain(16..=29).chain([15]).collect();
    let mut players: Vec<PlayerSpec> = (1..=3)
        .map(|index| PlayerSpec::honest(&format!("c{index}"), 1))
        .collect();
    players[0].board = Some((1..=15).collect());
    players[1].board = Some((15..=29).collect());
    players[2].board = Some((76..=90).collect());
    LiveSpec {
        server,
        players,
        net: NetConfig::default(),
    }
}

/// Six players on two hosts connect both ports at the same instant; the
/// bag is rigged so the game is short. Nobody may be paired with another's
/// connection.
pub fn pairing_race() -> LiveSpec {
    let mut server = fast_server();
    server.draw_prefix = (1..=15).collect();
    let players = (1..=6)
        .map(|index| {
            let mut player = PlayerSpec::honest(&format!("c{index}"), 1);
            player.host = shared_host(index, 2);
            player
        })
        .collect();
    LiveSpec {
        server,
        players,
        net: NetConfig::default(),
    }
}

/// Three games in a row: a player who plays all three, one who claims each
/// game it lost during the pause, a false claimer, a quitter, one who
/// disconnects mid-game and one who never answers `AGAIN`.
pub fn mixed_players() -> LiveSpec {
    let behaviours = [
        Behaviour::Honest { games: 3 },
        Behaviour::ClaimAfterOver { games: 2 },
        Behaviour::FalseClaim { seq: 5 },
        Behaviour::QuitAt { numbers: 10 },
        Behaviour::DisconnectAt { numbers: 12 },
        Behaviour::Silent,
    ];
    let players = behaviours
        .into_iter()
        .enumerate()
        .map(|(index, behaviour)| PlayerSpec {
            name: format!("c{}", index + 1),
            host: shared_host(index, 3),
            behaviour,
            join_at_ms: 0,
            board: None,
        })
        .collect();
    LiveSpec {
        server: fast_server(),
        players,
        net: NetConfig::default(),
    }
}

/// The built-in live scenarios.
pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "live-late-joiners",
            summary: "five players join a running game at random times; each sees every number once, in order",
            must_reach: &["join-during-draw"],
            run: |seed, options| run_spec(&late_joiners(seed), seed, options),
        },
        Scenario {
            name: "live-late-joiner-wins-from-history",
            summary: "a player whose board is complete in the history it joins with claims at once and wins",
            must_reach: &["late-joiner-wins-from-history"],
            run: |seed, options| run_spec(&late_joiner_wins_from_history(), seed, options),
        },
        Scenario {
            name: "live-simultaneous-claims",
            summary: "two boards complete on the same draw: one WIN, one LATE naming the same winner",
            must_reach: &["simultaneous-claim"],
            run: |seed, options| run_spec(&simultaneous_claims(), seed, options),
        },
        Scenario {
            name: "live-pairing-race",
            summary: "six players connect both ports at the same instant; each is paired with its own connection",
            must_reach: &["pairing-out-of-order"],
            run: |seed, options| run_spec(&pairing_race(), seed, options),
        },
        Scenario {
            name: "live-mixed-players",
            summary: "three games with AGAIN, a claim in the pause, a false claim, a quitter, a disconnect, a silent player",
            must_reach: &["claim-during-pause", "false-claim", "claim-barred", "quit", "sent-away", "disconnect", "several-games"],
            run: |seed, options| run_spec(&mixed_players(), seed, options),
        },
    ]
}

/// Checks a `game = "live"` scenario file without running it.
pub fn check_file(_file: &crate::file::ScenarioFile) -> Result<(), String> {
    Err("live scenario files are not supported yet".to_owned())
}

/// Runs one seed of a `game = "live"` scenario file.
pub fn run_file(
    file: &crate::file::ScenarioFile,
    _seed: u64,
    _options: &RunOptions,
) -> Result<RunOutcome, String> {
    check_file(file).map(|()| RunOutcome::default())
}
