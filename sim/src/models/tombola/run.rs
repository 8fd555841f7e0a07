//! How one seed of a lock-step spec starts its hosts, on any backend: the
//! server (not waited for; its `n`-th start draws from `server#n`) and one
//! host per player (waited for), each running the same session code as the
//! real binaries.


use games::env::Env;
use games::tombola::client::{self, Behaviour, ClientSettings};
use games::tombola::rules::Board;
use games::tombola::server;
use rand::Rng;

use crate::engine::backend::{classes, HostSpec, Model};
use crate::engine::harness::{host_rng, NetConfig, RunOutcome, Violation};
use crate::engine::trace::TraceLine;
use crate::models::tombola::{
    session_behaviour, PlayerSpec, TombolaSpec, REJOIN_WAIT_MS, SERVER_PORT,
};
use crate::scenario::faults::Fault;

/// Each player's class when it is interchangeable with another (see
/// `HostSpec::class`): the same spec but for the name, with a fixed board,
/// no spread in its join time and a behaviour that draws nothing random
/// (not mischief). Players with their own boards from the seed are never
/// interchangeable.
fn interchangeable(players: &[PlayerSpec]) -> Vec<Option<String>> {
    let key = |player: &PlayerSpec| -> Option<String> {
        let fixed = player.board.is_some()
            && player.join_spread_ms == 0
            && !matches!(player.behaviour, Behaviour::Mischief { .. });
        fixed.then(|| {
            let unnamed = PlayerSpec {
                name: String::new(),
                ..player.clone()
            };
            format!("{unnamed:?}")
        })
    };
    classes(players.iter().map(key).collect())
}

impl Model for TombolaSpec {
    fn net(&self) -> &NetConfig {
        &self.net
    }

    fn faults(&self) -> &[Fault] {
        &self.faults
    }

    fn swarm(&self) -> bool {
        self.swarm
    }

    fn swarm_targets(&self) -> Vec<String> {
        self.players
            .iter()
            .map(|player| player.name.clone())
            .collect()
    }

    fn hosts<E: Env>(&self, seed: u64) -> Vec<HostSpec<E>> {
        let mut hosts = Vec::new();
        let config = self.server.clone();
        hosts.push(HostSpec::new("server", false, move |incarnation, host| {
            let env: E = host.env("server");
            let config = config.clone();
            let stream = host.server_stream(&format!("server#{incarnation}"));
            Box::pin(async move {
                let listener = env.bind(&format!("0.0.0.0:{SERVER_PORT}")).await?;
                let rng = host_rng(seed, &stream);
                server::run(env, listener, config, rng, std::future::pending()).await?;
                Ok(())
            })
        }));
        let classes = interchangeable(&self.players);
        for (player, class) in self.players.iter().zip(classes) {
            let player = player.clone();
            let host = HostSpec::new(
                &player.name.clone(),
                true,
                move |incarnation, host| {
                    let env: E = host.env(&player.name);
                    // The player's board, join delay and behaviour come
                    // from its plan: the seed's own unless a search chose
                    // another.
                    let plan = host.bot_stream(&player.name);
                    let mut join_rng = host_rng(seed, &format!("join-{plan}"));
                    let join_at_ms =
                        player.join_at_ms + join_rng.random_range(0..=player.join_spread_ms);
                    let board = match &player.board {
                        Some(numbers) => Board::new(numbers)
                            .expect("boards are checked when the spec is built"),
                        None => Board::random(&mut host_rng(seed, &plan)),
                    };
                    let player = player.clone();
                    Box::pin(async move {
                        if incarnation == 1 && join_at_ms > 0 {
                            env.sleep_ms(join_at_ms).await;
                        }
                        let settings = ClientSettings {
                            behaviour: session_behaviour(player.behaviour, seed, &plan),
                            silence_timeout_ms: player.silence_timeout_ms,
                            start_timeout_ms: player.start_timeout_ms,
                            ..ClientSettings::default()
                        };
                        let addr = format!("server:{SERVER_PORT}");
                        let mut quiet = ();
                        let play = client::play(&env, &addr, board, settings, &mut quiet);
                        let result = if incarnation == 1 {
                            Some(play.await)
                        } else {
                            // As `tokio::time::timeout` would, but on the
                            // backend's clock.
                            let give_up = env.sleep_ms(REJOIN_WAIT_MS);
                            tokio::select! {
                                biased;
                                result = play => Some(result),
                                () = give_up => None,
                            }
                        };
                        match result {
                            Some(Ok(report)) => {
                                env.record(format_args!("result {}", report.outcome))
                            }
                            Some(Err(error)) => env.record(format_args!("error {error}")),
                            None => env.record(format_args!(
                                "gave-up waiting {REJOIN_WAIT_MS} ms for a game"
                            )),
                        }
                        Ok(())
                    })
                },
            );
            hosts.push(match class {
                Some(class) => host.interchangeable(class),
                None => host,
            });
        }
        hosts
    }

    fn judge(&self, lines: &[TraceLine], violations: Vec<Violation>) -> RunOutcome {
        super::judge_unguarded(self, lines, violations)
    }

    fn end_of_run_properties(&self) -> &'static [&'static str] {
        super::END_OF_RUN_PROPERTIES
    }
}

/// Runs one seed of a lock-step spec on the fast backend and judges it
/// with the same oracles as on turmoil.
#[cfg(test)]
pub fn run_spec_fast(
    spec: &TombolaSpec,
    seed: u64,
    options: &crate::engine::harness::RunOptions,
) -> RunOutcome {
    crate::engine::backend::run(spec, &crate::engine::fast_hosts::Fast, seed, options)
}

/// The lock-step spec of a built-in tombola scenario file, by name.
#[cfg(test)]
pub fn builtin_spec(name: &str) -> Option<TombolaSpec> {
    let file = crate::scenario::file::builtin(name)?;
    crate::models::tombola::spec_from_file(&file).ok()
}
