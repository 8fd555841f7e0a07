//! Proof that searching a run's choices finds what random seeds do not: a
//! planted lock-step bug, `start-over-running-game` (a missing guard: a
//! table that fills while a game runs starts its game in place of the
//! running one), that no seed of any standard lock-step scenario reaches,
//! is found by `sim explore` in its first run, and by `sim hunt` within a
//! few hundred runs.
//!
//! Why seeds miss it: the only standard scenario whose table fills while a
//! game runs is tombola-server-restart, and a seeded run always fires the
//! scenario's crash of the server before the late players come. A search's
//! default run has no fault (whether a fault happens is one of its
//! choices), so there the late pair registers while game 1 still runs.

use rayon::prelude::*;

use crate::engine::fast_hosts::Fast;
use crate::engine::harness::RunOptions;
use crate::report::explore::{explore, ExploreOptions};
use crate::report::hunt::{hunt, HuntOptions};
use crate::scenario::file::{ScenarioFile, BUILTIN_FILES};

/// Seeds per scenario here; `SIM_SEEDS=10000` for the full measurement
/// (0 of 80,000 runs fail).
const SEEDS_DEFAULT: u64 = 2_000;

fn with_bug(file: &ScenarioFile) -> ScenarioFile {
    let mut file = file.clone();
    file.server.insert(
        "inject_bug".to_owned(),
        toml::Value::String("start-over-running-game".to_owned()),
    );
    file.check().expect("the bug is a known one");
    file
}

#[test]
fn a_planted_bug_that_random_seeds_of_every_lockstep_scenario_miss_is_found_by_exploration_and_hunt(
) {
    let seeds = std::env::var("SIM_SEEDS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(SEEDS_DEFAULT);
    let lockstep: Vec<ScenarioFile> = BUILTIN_FILES
        .iter()
        .filter(|(name, _)| name.starts_with("tombola-"))
        .map(|(name, _)| with_bug(&crate::scenario::file::builtin(name).expect("built in")))
        .collect();
    assert_eq!(lockstep.len(), 8);
    for file in &lockstep {
        let failing: Vec<u64> = (0..seeds)
            .into_par_iter()
            .filter(|&seed| !file.run_on(&Fast, seed, &RunOptions::default()).passed())
            .collect();
        assert!(
            failing.is_empty(),
            "{} with the bug: random seeds found it after all: {failing:?}",
            file.name()
        );
    }
    let file =
        with_bug(&crate::scenario::file::builtin("tombola-server-restart").expect("built in"));
    let explored = explore(
        &file,
        &ExploreOptions {
            seed: 0,
            bound: 1,
            max_runs: 10_000,
            budget: None,
            jobs: 1,
            progress: false,
            prune: true,
            symmetry: true,
            safety_checks: crate::engine::harness::SafetyChecks::AsTraceDoubles,
        },
    );
    let (deviations, outcome) = explored
        .violation
        .expect("a bounded exploration finds the planted bug");
    assert!(
        deviations.is_empty(),
        "the default run (no fault) breaks it: {deviations:?}"
    );
    assert_eq!(explored.runs, 1, "found in the first run");
    let broken: Vec<&str> = outcome
        .violations
        .iter()
        .map(|violation| violation.property.as_str())
        .collect();
    // The running game was replaced: its players heard a refusal of a line
    // they never sent, the first broken line. The search stopped the run
    // soon after it; replayed whole, the replaced game never ends either.
    assert!(broken.contains(&"reply-matches"), "{broken:?}");
    assert!(outcome.stopped_at_first_break);
    let (whole, _) = crate::engine::fast::choice::drive(&deviations, || {
        file.run_on(&Fast, 0, &RunOptions::default())
    });
    assert!(whole.trace.starts_with(&outcome.trace));
    assert!(
        whole
            .violations
            .iter()
            .any(|violation| violation.property == "game-ends"),
        "{:?}",
        whole.violations
    );
    let first = outcome
        .first_break
        .as_ref()
        .expect("a safety property broke");
    assert_eq!(first.property, "reply-matches");
    assert!(
        outcome.trace[first.line]
            .text
            .starts_with("recv ERR not-playing"),
        "{}",
        outcome.trace[first.line]
    );
    // The hunt starts from seeded runs, which all crash the server; one
    // of its mutations takes the crash away, and then the bug shows.
    let hunted = hunt(
        &file,
        &HuntOptions {
            seed: 0,
            budget: std::time::Duration::from_secs(600),
            max_runs: 2_000,
            jobs: 0,
            compare: false,
            progress: false,
            safety_checks: crate::engine::harness::SafetyChecks::AsTraceDoubles,
        },
    );
    let (input, outcome) = hunted
        .hunt
        .violation
        .expect("a coverage-guided hunt finds the planted bug");
    let deviations = input.deviations.expect("a hunt's run names its choices");
    assert!(
        !deviations.iter().any(|&(position, _)| position == 0),
        "the run's first choice, the server's crash, is the default: no crash"
    );
    assert!(outcome
        .violations
        .iter()
        .any(|violation| violation.property == "reply-matches"));
}
