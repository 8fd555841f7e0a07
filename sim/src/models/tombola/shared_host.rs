//! A lock-step spec on turmoil with every player on one shared host, for
//! `sim bench`: turmoil's cost per step grows with the number of hosts
//! (DESIGN.md), so this measures what sharing buys.

use games::env::Env;
use games::tombola::client::{self, ClientSettings};
use games::tombola::rules::Board;
use games::tombola::server;
use rand::Rng;

use crate::engine::harness::{build_sim, host_rng, RunOptions, RunOutcome, Violation};
use crate::engine::turmoil_env::SimEnv;
use crate::models::tombola::{judge, session_behaviour, TombolaSpec, SERVER_PORT};

/// Runs one seed of a lock-step spec on turmoil with every player on one
/// shared host (`players`), each session with its own trace name and
/// connection: turmoil's cost per step grows with the number of hosts
/// (DESIGN.md), so this measures what sharing buys. Faults are not
/// supported here either.
pub fn run_spec_shared_host(spec: &TombolaSpec, seed: u64, options: &RunOptions) -> RunOutcome {
    let trace = options.new_trace();
    if spec.swarm || !spec.faults.is_empty() {
        let violation = Violation::new(
            "unsupported",
            "the shared-host runner injects no faults; run this scenario with run_spec",
        );
        return judge(spec, trace.take_lines(), vec![violation]);
    }
    let mut sim = build_sim(seed, &spec.net);

    let server_trace = trace.clone();
    let config = spec.server.clone();
    sim.host("server", move || {
        let env = SimEnv::new("server", &server_trace);
        let config = config.clone();
        async move {
            let listener = env.bind(&format!("0.0.0.0:{SERVER_PORT}")).await?;
            let rng = host_rng(seed, "server#1");
            server::run(env, listener, config, rng, std::future::pending()).await?;
            Ok(())
        }
    });

    let mut sessions = Vec::new();
    for player in &spec.players {
        let mut join_rng = host_rng(seed, &format!("join-{}", player.name));
        let join_at_ms = player.join_at_ms + join_rng.random_range(0..=player.join_spread_ms);
        let board = match &player.board {
            Some(numbers) => {
                Board::new(numbers).expect("boards are checked when the spec is built")
            }
            None => Board::random(&mut host_rng(seed, &player.name)),
        };
        let settings = ClientSettings {
            behaviour: session_behaviour(player.behaviour, seed, &player.name),
            silence_timeout_ms: player.silence_timeout_ms,
            start_timeout_ms: player.start_timeout_ms,
            ..ClientSettings::default()
        };
        sessions.push((
            SimEnv::new(&player.name, &trace),
            join_at_ms,
            board,
            settings,
        ));
    }
    sim.client("players", async move {
        let mut running = Vec::new();
        for (env, join_at_ms, board, settings) in sessions {
            running.push(tokio::spawn(async move {
                env.sleep_until_ms(join_at_ms).await;
                let addr = format!("server:{SERVER_PORT}");
                let mut quiet = ();
                match client::play(&env, &addr, board, settings, &mut quiet).await {
                    Ok(report) => env.record(format_args!("result {}", report.outcome)),
                    Err(error) => env.record(format_args!("error {error}")),
                }
            }));
        }
        for session in running {
            session.await?;
        }
        Ok(())
    });

    let mut violations = Vec::new();
    if let Err(error) = sim.run() {
        violations.push(Violation::new(
            "liveness",
            format!("the run did not finish: {error}"),
        ));
    }
    let mut outcome = judge(spec, trace.take_lines(), violations);
    outcome.wire = trace.wire();
    outcome
}
