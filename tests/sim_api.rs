//! The harness used as a library, as a user's own test would: a scenario
//! file or a built-in name, a range of seeds, a backend, and a panic with
//! the standard failure report when something breaks. `SIM_SEED=N` replays
//! one seed of any of these tests; `SIM_SEEDS=M` sizes them.

use sim::Check;

const TWO_PLAYERS_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/fixtures/scenarios/tombola-two-players.toml"
);

#[test]
fn a_scenario_file_checked_by_path_on_the_fast_backend_passes_every_seed() {
    let summary = Check::scenario(TWO_PLAYERS_FILE).seeds(0..50).fast().run();
    assert!(summary.passed());
    assert!(summary.games >= summary.seeds, "every seed plays a game");
}

#[test]
fn a_built_in_scenario_run_twice_per_seed_on_turmoil_gives_identical_traces() {
    let summary = Check::scenario("live-simultaneous-claims")
        .seeds(0..4)
        .twice()
        .run();
    assert_eq!(summary.identical_traces, Some(summary.seeds));
}

#[test]
fn a_recorded_failing_seed_is_reported_with_its_replay_command() {
    let failing = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/seeds/tombola-skip-seq-bug.toml"
    );
    let summary = Check::scenario(failing)
        .seeds(0..1)
        .fast()
        .try_run()
        .expect("the file resolves");
    assert!(!summary.passed());
    let failure = &summary.failures[0];
    assert!(
        failure.replay.contains("tombola-skip-seq-bug.toml") && failure.replay.contains("--seed 0"),
        "{}",
        failure.replay
    );
}
