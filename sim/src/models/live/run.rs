//! How one seed of a live spec starts its hosts, on any backend: the
//! server (not waited for; RNG stream `server`, then `server#n` after a
//! restart) and one host per client host (waited for), whose players each
//! run the same session code as the real client.

use std::cell::Cell;
use std::rc::Rc;

use games::env::Env;
use games::live::client::{self, Behaviour, ClientConfig, Ending, Observer, View};
use games::live::game::Port;
use games::live::protocol::ServerMessage;
use games::live::rules::pause_seconds;
use games::live::server;
use games::tombola::rules::Board;
use rand::Rng;

use crate::engine::backend::{classes, HostSpec, Model};
use crate::engine::harness::{host_rng, NetConfig, RunOutcome, Violation};
use crate::engine::trace::TraceLine;
use crate::models::live::{judge, LiveSpec, PlayerSpec, CLAIMS_PORT, NUMBERS_PORT};
use crate::scenario::faults::Fault;

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

impl Model for LiveSpec {
    fn net(&self) -> &NetConfig {
        &self.net
    }

    fn faults(&self) -> &[Fault] {
        &self.faults
    }

    fn swarm(&self) -> bool {
        self.swarm
    }

    /// Swarm faults name clients, as a file's do (so a shrunk swarm run is
    /// a valid file); `on_hosts` puts them on the clients' hosts.
    fn swarm_targets(&self) -> Vec<String> {
        self.players
            .iter()
            .map(|player| player.name.clone())
            .collect()
    }

    fn on_hosts(&self, fault: &Fault) -> Fault {
        LiveSpec::on_hosts(self, fault)
    }

    fn hosts<E: Env>(&self, seed: u64) -> Vec<HostSpec<E>> {
        let mut hosts = Vec::new();
        let config = self.server.clone();
        hosts.push(HostSpec::new("server", false, move |incarnation, host| {
            let env: E = host.env("server");
            let config = config.clone();
            let stream = host.server_stream(&server_rng_name(incarnation));
            Box::pin(async move {
                let numbers = env.bind(&format!("0.0.0.0:{NUMBERS_PORT}")).await?;
                let claims = env.bind(&format!("0.0.0.0:{CLAIMS_PORT}")).await?;
                let rng = host_rng(seed, &stream);
                server::run(env, numbers, claims, config, rng, std::future::pending()).await?;
                Ok(())
            })
        }));
        let per_host: Vec<(String, Vec<PlayerSpec>)> = self
            .hosts()
            .into_iter()
            .map(|host_name| {
                let players = self
                    .players
                    .iter()
                    .filter(|player| player.host == host_name)
                    .cloned()
                    .collect();
                (host_name, players)
            })
            .collect();
        let classes = classes(
            per_host
                .iter()
                .map(|(_, players)| interchangeable(players))
                .collect(),
        );
        for ((host_name, players), class) in per_host.into_iter().zip(classes) {
            let host = HostSpec::new(&host_name, true, move |incarnation, host| {
                // (player, its board, its join time) for each player on this
                // host, from its plan: the seed's own unless a search chose
                // another.
                let players: Vec<(PlayerSpec, Board, u64)> = players
                    .iter()
                    .map(|player| plan_player(seed, player, &host.bot_stream(&player.name)))
                    .collect();
                Box::pin(async move {
                    // A restarted client comes back at once, as a new player.
                    let joins = |join_at_ms: u64| if incarnation == 1 { join_at_ms } else { 0 };
                    if let [(player, board, join_at_ms)] = &players[..] {
                        let env: E = host.env(&player.name);
                        run_player(env, player.clone(), board.clone(), joins(*join_at_ms)).await;
                    } else {
                        let sessions: Vec<_> = players
                            .into_iter()
                            .map(|(player, board, join_at_ms)| {
                                let env: E = host.env(&player.name);
                                host.spawn(run_player(env, player, board, joins(join_at_ms)))
                            })
                            .collect();
                        for session in sessions {
                            session.await?;
                        }
                    }
                    Ok(())
                })
            });
            hosts.push(match class {
                Some(class) => host.interchangeable(class),
                None => host,
            });
        }
        hosts
    }

    fn judge(&self, lines: &[TraceLine], violations: Vec<Violation>) -> RunOutcome {
        let host_of = self.host_of();
        let seconds = pause_seconds(self.server.pause_ms);
        judge(lines, &host_of, seconds, violations)
    }

    fn end_of_run_properties(&self) -> &'static [&'static str] {
        super::END_OF_RUN_PROPERTIES
    }
}

/// A player as it plays one start of its host: its board, its join time
/// and its mischief drawn from the streams named after `plan` (the
/// player's name, or another plan a search chose).
/// A host's key for interchangeability (see `HostSpec::class`): the specs
/// of its players but for their names and host, when every one has a
/// fixed board, no spread in its join time and a behaviour that draws
/// nothing random (not mischief).
fn interchangeable(players: &[PlayerSpec]) -> Option<String> {
    let fixed = players.iter().all(|player| {
        player.board.is_some()
            && player.join_spread_ms == 0
            && !matches!(player.behaviour, Behaviour::Mischief { .. })
    });
    fixed.then(|| {
        let unnamed: Vec<PlayerSpec> = players
            .iter()
            .map(|player| PlayerSpec {
                name: String::new(),
                host: String::new(),
                ..player.clone()
            })
            .collect();
        format!("{unnamed:?}")
    })
}

fn plan_player(seed: u64, player: &PlayerSpec, plan: &str) -> (PlayerSpec, Board, u64) {
    let join_at_ms = player.join_at_ms
        + if player.join_spread_ms > 0 {
            host_rng(seed, &format!("join-{plan}")).random_range(0..=player.join_spread_ms)
        } else {
            0
        };
    let board = match &player.board {
        Some(numbers) => Board::new(numbers).expect("boards are checked when the spec is built"),
        None => Board::random(&mut host_rng(seed, plan)),
    };
    let mut player = player.clone();
    if let Behaviour::Mischief { acts, .. } = player.behaviour {
        player.behaviour = Behaviour::Mischief {
            acts,
            seed: host_rng(seed, &format!("mischief-{plan}")).random(),
        };
    }
    (player, board, join_at_ms)
}

/// Notes when the client last heard from the server, on its clock.
struct Heard<E> {
    env: E,
    last_ms: Rc<Cell<u64>>,
}

impl<E: Env> Observer for Heard<E> {
    fn seen(&mut self, _: Port, _: &ServerMessage, _: &View<'_>) {
        self.last_ms.set(self.env.now_ms());
    }
}

/// One client session: wait for its join time, play until the session ends
/// or the server has been silent for `silence_timeout_ms`, record how it
/// ended.
async fn run_player<E: Env>(env: E, player: PlayerSpec, board: Board, join_at_ms: u64) {
    if join_at_ms > 0 {
        env.sleep_ms(join_at_ms).await;
    }
    let config = ClientConfig {
        numbers_addr: format!("server:{NUMBERS_PORT}"),
        claims_addr: format!("server:{CLAIMS_PORT}"),
        board,
        behaviour: player.behaviour,
    };
    let last_ms = Rc::new(Cell::new(env.now_ms()));
    let mut heard = Heard {
        env: env.clone(),
        last_ms: last_ms.clone(),
    };
    let watchdog = async {
        loop {
            let deadline_ms = last_ms.get() + player.silence_timeout_ms;
            if env.now_ms() >= deadline_ms {
                break;
            }
            env.sleep_until_ms(deadline_ms).await;
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
