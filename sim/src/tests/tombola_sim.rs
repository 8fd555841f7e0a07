//! The lock-step scenarios under the simulation: every scenario passes its
//! oracles on a range of seeds, runs are deterministic, pinned seeds match
//! their snapshots, and a sweep whose size comes from `SIM_SEEDS` reports
//! any failing seed with its replay command.

use crate::engine::harness::{failure_report, RunOptions, Runnable};
use crate::report::sweep::{sweep_builtins, SweepOptions};
use crate::scenario::registry;

fn scenario(name: &str) -> Box<dyn Runnable> {
    registry::lookup(name).unwrap_or_else(|error| panic!("{error}"))
}

fn lockstep_scenarios() -> Vec<Box<dyn Runnable>> {
    registry::everything()
        .into_iter()
        .filter(|scenario| scenario.name().starts_with("tombola-"))
        .collect()
}

fn snapshot(name: &str, text: String) {
    insta::with_settings!({snapshot_path => "../../../fixtures/snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!(name, text);
    });
}

#[test]
fn every_lockstep_scenario_passes_its_oracles_on_the_first_seeds() {
    let lockstep = lockstep_scenarios();
    assert!(
        lockstep.len() >= 7,
        "the built-in tombola scenarios are registered"
    );
    for scenario in lockstep {
        for seed in 0..3 {
            let outcome = scenario.run(seed, &RunOptions::default());
            assert!(
                outcome.passed(),
                "{}",
                failure_report(scenario.name(), seed, &outcome)
            );
            // A swarm seed may crash the game away; every other scenario ends one.
            if !scenario.name().contains("swarm") {
                assert!(
                    outcome.games >= 1,
                    "{} seed {seed} finished no game",
                    scenario.name()
                );
            }
        }
    }
}

#[test]
fn the_same_seed_twice_gives_the_identical_trace() {
    let scenario = scenario("tombola-four-players-latency");
    for seed in [1, 42] {
        let first = scenario.run(seed, &RunOptions::default()).report();
        let second = scenario.run(seed, &RunOptions::default()).report();
        assert_eq!(first, second, "seed {seed} replayed differently");
    }
}

#[test]
fn different_seeds_give_different_traces() {
    let scenario = scenario("tombola-two-players");
    let traces: Vec<String> = (0..4)
        .map(|seed| scenario.run(seed, &RunOptions::default()).trace_text())
        .collect();
    for (index, trace) in traces.iter().enumerate() {
        for other in &traces[index + 1..] {
            assert_ne!(trace, other, "two seeds gave the same trace");
        }
    }
}

#[test]
fn simultaneous_claims_on_the_same_draw_all_win() {
    let outcome = scenario("tombola-simultaneous-claims").run(7, &RunOptions::default());
    assert!(
        outcome.passed(),
        "{}",
        failure_report("tombola-simultaneous-claims", 7, &outcome)
    );
    assert_eq!(outcome.winners_per_game, vec![2]);
    assert!(outcome.reached.contains("simultaneous-claim"));
}

#[test]
fn pinned_seed_of_the_simultaneous_claim_scenario_matches_its_snapshot() {
    snapshot(
        "tombola_simultaneous_claims_seed_1",
        scenario("tombola-simultaneous-claims")
            .run(1, &RunOptions::default())
            .report(),
    );
}

#[test]
fn pinned_seed_of_the_misbehaving_players_scenario_matches_its_snapshot() {
    snapshot(
        "tombola_misbehaving_players_seed_3",
        scenario("tombola-misbehaving-players")
            .run(3, &RunOptions::default())
            .report(),
    );
}

#[test]
fn pinned_seed_of_the_two_player_scenario_matches_its_snapshot() {
    snapshot(
        "tombola_two_players_seed_1",
        scenario("tombola-two-players")
            .run(1, &RunOptions::default())
            .report(),
    );
}

/// `SIM_SEEDS=500 cargo test -p sim tombola_sim::a_seed_sweep` for a longer sweep.
#[test]
fn a_seed_sweep_of_every_lockstep_scenario_finds_no_violation() {
    let failures = sweep_builtins("tombola-", &SweepOptions::from_env(16, 1000));
    assert!(
        failures.is_empty(),
        "sweep failures (each with its replay command):\n{failures}"
    );
}

#[test]
fn the_mischief_scenario_gives_the_identical_trace_twice_from_one_seed() {
    let scenario = scenario("tombola-mischief");
    for seed in [0, 7] {
        let first = scenario.run(seed, &RunOptions::default());
        let second = scenario.run(seed, &RunOptions::default());
        assert!(
            first.passed(),
            "{}",
            failure_report("tombola-mischief", seed, &first)
        );
        assert_eq!(
            first.report(),
            second.report(),
            "seed {seed} replayed differently"
        );
    }
}

#[test]
fn every_planted_lockstep_bug_has_a_recorded_seed_that_must_fail() {
    for (name, _) in games::tombola::game::INJECTED_BUGS {
        let path = format!("../fixtures/seeds/tombola-{name}-bug.toml");
        let entry = crate::scenario::seeds::SeedEntry::load(std::path::Path::new(&path))
            .unwrap_or_else(|error| panic!("planted bug {name} has no recorded seed: {error}"));
        assert_eq!(entry.expect, crate::scenario::seeds::Expect::Fail, "{path}");
        entry
            .replay()
            .unwrap_or_else(|error| panic!("{path}: {error}"));
    }
}

#[test]
fn a_registered_player_whose_start_was_lost_gives_up_waiting_instead_of_hanging() {
    // tombola-swarm seed 937 on the fast backend: c3 registered, then a
    // partition swallowed its START and the server's close, so its
    // connection was dead and it waited for START forever (liveness). A
    // registered client now gives up after the server's registration
    // timeout plus its silence timeout without a line.
    let scenario = crate::engine::fast::OnFastBackend::lookup("tombola-swarm")
        .unwrap_or_else(|error| panic!("{error}"));
    let outcome = scenario.run(937, &RunOptions::default());
    assert!(
        outcome.passed(),
        "{}",
        failure_report("tombola-swarm", 937, &outcome)
    );
    let text = outcome.trace_text();
    assert!(
        text.contains("c3       result dropped (no START within 15000 ms of silence)"),
        "{text}"
    );
}
