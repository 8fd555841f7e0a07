//! The live scenarios under the simulation: every scenario passes its
//! oracles on a range of seeds and a sweep reaches the races it exists for, runs
//! are deterministic, either player can win the simultaneous claim
//! depending on the seed, pinned seeds match their snapshots, and a sweep
//! whose size comes from `SIM_SEEDS` reports any failing seed with its
//! replay command.

use std::collections::BTreeSet;

use sim::harness::{failure_report, RunOptions, RunOutcome, Scenario};
use sim::scenarios;
use sim::sweep::{sweep, SweepOptions};

fn scenario(name: &str) -> Scenario {
    scenarios::find(name).unwrap_or_else(|| panic!("scenario {name} is registered"))
}

fn live_scenarios() -> Vec<Scenario> {
    scenarios::all()
        .into_iter()
        .filter(|scenario| scenario.name.starts_with("live-"))
        .collect()
}

fn run(scenario: &Scenario, seed: u64) -> RunOutcome {
    (scenario.run)(seed, &RunOptions::default())
}

fn snapshot(name: &str, text: String) {
    insta::with_settings!({snapshot_path => "../fixtures/snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!(name, text);
    });
}

#[test]
fn every_live_scenario_passes_its_oracles_on_the_first_seeds() {
    let scenarios = live_scenarios();
    assert_eq!(scenarios.len(), 5, "the five live scenarios are registered");
    for scenario in &scenarios {
        for seed in 0..3 {
            let outcome = run(scenario, seed);
            assert!(
                outcome.passed(),
                "{}",
                failure_report(scenario.name, seed, &outcome)
            );
            assert!(
                outcome.games >= 1,
                "{} seed {seed} finished no game",
                scenario.name
            );
        }
    }
}

#[test]
fn the_same_seed_twice_gives_the_identical_trace() {
    for (name, seed) in [
        ("live-late-joiners", 1),
        ("live-late-joiners", 42),
        ("live-mixed-players", 2),
    ] {
        let scenario = scenario(name);
        assert_eq!(
            run(&scenario, seed).report(),
            run(&scenario, seed).report(),
            "{name} seed {seed} replayed differently"
        );
    }
}

#[test]
fn either_player_can_win_the_simultaneous_claim_depending_on_the_seed() {
    let scenario = scenario("live-simultaneous-claims");
    let mut winners = BTreeSet::new();
    for seed in 0..20 {
        let outcome = run(&scenario, seed);
        assert!(
            outcome.reached.contains("simultaneous-claim"),
            "seed {seed}"
        );
        for line in &outcome.trace {
            if line.text == "recv WIN 1" {
                winners.insert(line.host.clone());
            }
        }
    }
    let expected: BTreeSet<String> = ["c1".to_owned(), "c2".to_owned()].into();
    assert_eq!(winners, expected, "both racing players won on some seed");
}

#[test]
fn pinned_seed_of_the_simultaneous_claim_scenario_matches_its_snapshot() {
    snapshot(
        "live_simultaneous_claims_seed_1",
        run(&scenario("live-simultaneous-claims"), 1).report(),
    );
}

#[test]
fn pinned_seed_of_the_win_from_history_scenario_matches_its_snapshot() {
    snapshot(
        "live_late_joiner_wins_from_history_seed_1",
        run(&scenario("live-late-joiner-wins-from-history"), 1).report(),
    );
}

/// A sweep fails on any violation and on any race of a scenario's
/// `must_reach` that no seed reached. `SIM_SEEDS=500 cargo test --test
/// live_sim sweep` for a longer one.
#[test]
fn a_seed_sweep_of_every_live_scenario_finds_no_violation_and_reaches_every_race() {
    let seeds: u64 = std::env::var("SIM_SEEDS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(16);
    let start: u64 = std::env::var("SIM_START")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(1000);
    let options = SweepOptions {
        start,
        seeds,
        jobs: 2,
        progress: false,
        check_determinism: false,
        shard: None,
    };
    let mut failures = String::new();
    for scenario in live_scenarios() {
        assert!(
            !scenario.must_reach.is_empty(),
            "{} names its races",
            scenario.name
        );
        let summary = sweep(&scenario, &options);
        if !summary.passed() {
            failures.push_str(&summary.render(0.0));
        }
    }
    assert!(
        failures.is_empty(),
        "sweep failures (each with its replay command):\n{failures}"
    );
}
