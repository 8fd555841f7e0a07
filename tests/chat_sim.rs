//! The chat scenarios under the simulation: every scenario passes its
//! oracles on a few seeds, a short sweep reaches every rare event each
//! scenario exists for, runs are deterministic, and a pinned seed matches
//! its snapshot.

use sim::harness::{failure_report, RunOptions, Scenario};
use sim::scenarios;
use sim::sweep::{sweep, SweepOptions};

fn scenario(name: &str) -> Scenario {
    scenarios::find(name).unwrap_or_else(|| panic!("scenario {name} is registered"))
}

fn chat_scenarios() -> Vec<Scenario> {
    scenarios::all()
        .into_iter()
        .filter(|scenario| scenario.name.starts_with("chat-"))
        .collect()
}

fn snapshot(name: &str, text: String) {
    insta::with_settings!({snapshot_path => "../fixtures/snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!(name, text);
    });
}

#[test]
fn there_are_chat_scenarios_and_each_names_what_it_must_reach() {
    let scenarios = chat_scenarios();
    assert!(scenarios.len() >= 5);
    for name in [
        "chat-random-talk",
        "chat-join-leave-list",
        "chat-never-reads",
        "chat-hangup-with-queued",
    ] {
        assert!(
            !scenario(name).must_reach.is_empty(),
            "{name} must reach something"
        );
    }
}

#[test]
fn every_chat_scenario_passes_its_oracles_on_the_first_seeds() {
    for scenario in chat_scenarios() {
        for seed in 0..3 {
            let outcome = (scenario.run)(seed, &RunOptions::default());
            assert!(
                outcome.passed(),
                "{}",
                failure_report(scenario.name, seed, &outcome)
            );
            assert!(
                outcome.games >= 3,
                "{} seed {seed}: only {} sessions ended",
                scenario.name,
                outcome.games
            );
            assert!(outcome.winners_per_game.is_empty());
        }
    }
}

/// `SIM_SEEDS=500 cargo test --test chat_sim sweep` for a longer sweep.
#[test]
fn a_short_sweep_of_every_chat_scenario_reaches_its_rare_events_without_violations() {
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
    for scenario in chat_scenarios() {
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

#[test]
fn the_same_seed_twice_gives_the_identical_chat_trace() {
    for name in ["chat-random-talk", "chat-never-reads"] {
        for seed in [1, 42] {
            let first = (scenario(name).run)(seed, &RunOptions::default()).report();
            let second = (scenario(name).run)(seed, &RunOptions::default()).report();
            assert_eq!(first, second, "{name} seed {seed} replayed differently");
        }
    }
}

#[test]
fn different_seeds_give_different_chat_traces() {
    let run = scenario("chat-small-room").run;
    let traces: Vec<String> = (0..4)
        .map(|seed| run(seed, &RunOptions::default()).trace_text())
        .collect();
    for (index, trace) in traces.iter().enumerate() {
        for other in &traces[index + 1..] {
            assert_ne!(trace, other, "two seeds gave the same trace");
        }
    }
}

#[test]
fn a_client_that_never_reads_makes_messages_to_it_busy_while_the_room_goes_on() {
    let outcome = (scenario("chat-never-reads").run)(7, &RunOptions::default());
    assert!(
        outcome.passed(),
        "{}",
        failure_report("chat-never-reads", 7, &outcome)
    );
    assert!(outcome.reached.contains("recipient-busy"));
    assert!(outcome.reached.contains("routed-after-busy"));
}

#[test]
fn pinned_seed_of_the_small_room_matches_its_snapshot() {
    snapshot(
        "chat_small_room_seed_1",
        (scenario("chat-small-room").run)(1, &RunOptions::default()).report(),
    );
}
