//! Proof that searching a run's choices finds what random seeds do not:
//! planted bugs that no seed of any standard scenario of their game
//! reaches, found by a bounded `sim explore`. Lock-step:
//! `start-over-running-game` (a missing guard: a table that fills while a
//! game runs starts its game in place of the running one), found by
//! `sim explore` in its first run and by `sim hunt` within a few hundred
//! runs. Chat: `roster-cached-per-ms` and live: `over-list-cached-per-ms`
//! (below), each found at bound 1 (see docs/scenarios.md, "Where a search
//! reaches what seeds do not").
//!
//! Why seeds miss the lock-step one: the only standard scenario whose table fills while a
//! game runs is tombola-server-restart, and a seeded run always fires the
//! scenario's crash of the server before the late players come. A search's
//! default run has no fault (whether a fault happens is one of its
//! choices), so there the late pair registers while game 1 still runs.

use rayon::prelude::*;

use crate::engine::fast_hosts::Fast;
use crate::engine::harness::{RunOptions, RunOutcome};
use crate::engine::trace::TraceLine;
use crate::report::explore::{explore, ExploreOptions};
use crate::report::hunt::{hunt, HuntOptions, Input as HuntInput};
use crate::scenario::file::{ScenarioFile, BUILTIN_FILES};

/// Seeds per scenario here; `SIM_SEEDS=10000` for the full measurement
/// (0 of 80,000 runs fail, for each game's bug).
const SEEDS_DEFAULT: u64 = 2_000;

/// Seeds per scenario: `SIM_SEEDS`, else [`SEEDS_DEFAULT`].
fn seeds() -> u64 {
    std::env::var("SIM_SEEDS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(SEEDS_DEFAULT)
}

fn with_bug(file: &ScenarioFile, bug: &str) -> ScenarioFile {
    let mut file = file.clone();
    file.server
        .insert("inject_bug".to_owned(), toml::Value::String(bug.to_owned()));
    file.check().expect("the bug is a known one");
    file
}

/// The built-in scenario `name` with `bug` switched on.
fn builtin_with_bug(name: &str, bug: &str) -> ScenarioFile {
    with_bug(
        &crate::scenario::file::builtin(name).expect("built in"),
        bug,
    )
}

/// Every standard scenario of a game (its built-in files named
/// `<prefix>*`), with `bug` switched on.
fn standard_with_bug(prefix: &str, bug: &str) -> Vec<ScenarioFile> {
    BUILTIN_FILES
        .iter()
        .filter(|(name, _)| name.starts_with(prefix))
        .map(|(name, _)| builtin_with_bug(name, bug))
        .collect()
}

/// The first line of `outcome`'s trace that broke a safety property
/// (which must be `property`), with its index.
fn first_broken_line<'a>(outcome: &'a RunOutcome, property: &str) -> (usize, &'a TraceLine) {
    let first = outcome
        .first_break
        .as_ref()
        .expect("a safety property broke");
    assert_eq!(first.property, property);
    (first.line, &outcome.trace[first.line])
}

/// Runs `seeds` seeds of each scenario on the fast backend and asserts
/// that none fails.
fn assert_seeds_miss_it(files: &[ScenarioFile], seeds: u64) {
    for file in files {
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
}

/// Explores `file` at bound 1 (one job, seed 0) and asserts that it finds
/// a violation within `runs_max` runs, one order choice away from the
/// default run: the order of two tasks within one millisecond, nothing
/// else. Returns the failing run and the properties it broke.
fn found_by_one_order_choice(file: &ScenarioFile, runs_max: u64) -> (RunOutcome, Vec<String>) {
    let explored = explore(
        file,
        &ExploreOptions {
            max_runs: 10_000,
            jobs: 1,
            ..ExploreOptions::new(0, 1)
        },
    );
    let (deviations, outcome) = explored
        .violation
        .expect("a bounded exploration finds the planted bug");
    assert_eq!(deviations.len(), 1, "one choice away from the default");
    assert!(explored.runs <= runs_max, "found in run {}", explored.runs);
    let (_, log) = crate::engine::fast::choice::drive(&deviations, || {
        file.run_on(&Fast, 0, &RunOptions::default())
    });
    assert_eq!(
        log[deviations[0].0 as usize].kind,
        crate::engine::fast::choice::ChoiceKind::Order
    );
    let broken = outcome
        .violations
        .iter()
        .map(|violation| violation.property.clone())
        .collect();
    (outcome, broken)
}

/// Hunts `file` from seed 0 for at most 2,000 runs and asserts that the
/// hunt finds a run that breaks `property`; returns what it found.
fn hunt_finds(file: &ScenarioFile, property: &str) -> (HuntInput, RunOutcome) {
    let hunted = hunt(
        file,
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
    assert!(
        outcome
            .violations
            .iter()
            .any(|violation| violation.property == property),
        "{:?}",
        outcome.violations
    );
    (input, outcome)
}

#[test]
fn a_planted_bug_that_random_seeds_of_every_lockstep_scenario_miss_is_found_by_exploration_and_hunt(
) {
    let lockstep = standard_with_bug("tombola-", "start-over-running-game");
    assert_eq!(lockstep.len(), 8);
    assert_seeds_miss_it(&lockstep, seeds());
    let file = builtin_with_bug("tombola-server-restart", "start-over-running-game");
    let explored = explore(
        &file,
        &ExploreOptions {
            max_runs: 10_000,
            jobs: 1,
            ..ExploreOptions::new(0, 1)
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
    let (_, refused) = first_broken_line(&outcome, "reply-matches");
    assert!(
        refused.text.starts_with("recv ERR not-playing"),
        "{refused}"
    );
    // The hunt starts from seeded runs, which all crash the server; one
    // of its mutations takes the crash away, and then the bug shows.
    let (input, _) = hunt_finds(&file, "reply-matches");
    let deviations = input.deviations.expect("a hunt's run names its choices");
    assert!(
        !deviations.iter().any(|&(position, _)| position == 0),
        "the run's first choice, the server's crash, is the default: no crash"
    );
}

/// Chat: `roster-cached-per-ms` answers `L` from a roster taken at the
/// first event of each millisecond and refreshed on leaves only, trusting
/// that a join is always the last event of its millisecond. In a seeded
/// run it is: a new connection wakes the server loop one hop after the
/// readers of the lines that arrive in the same millisecond, and the first
/// ready task always runs first, so the loop reads those lines before it
/// accepts. A search polls the loop before a reader (one order choice),
/// the join comes first, and the `L` after it leaves the joiner out.
#[test]
fn a_chat_bug_that_random_seeds_of_every_chat_scenario_miss_is_found_by_a_bound_1_exploration_and_hunt(
) {
    let chat = standard_with_bug("chat-", "roster-cached-per-ms");
    assert_eq!(chat.len(), 8);
    assert_seeds_miss_it(&chat, seeds());
    let file = builtin_with_bug("chat-small-room", "roster-cached-per-ms");
    let (outcome, broken) = found_by_one_order_choice(&file, 200);
    assert_eq!(broken, ["list-exact"]);
    // The first broken line is the server's list, made after a join of
    // the same millisecond and leaving that joiner out.
    let (list_index, list) = first_broken_line(&outcome, "list-exact");
    assert!(list.text.starts_with("list "), "{list}");
    let join = outcome.trace[..list_index]
        .iter()
        .rev()
        .find(|line| line.text.starts_with("join "))
        .expect("a join before the list");
    assert_eq!(join.time_ms, list.time_ms, "{join} / {list}");
    let joiner = join.text.trim_start_matches("join ");
    assert!(!list.text.contains(joiner), "{list} names {joiner}");
    // The coverage-guided hunt finds it too, within a few hundred runs
    // (its random half, seeds in order, finds nothing in 30 s: 125,600
    // seeds).
    hunt_finds(&file, "list-exact");
}

/// Live: `over-list-cached-per-ms` sends `OVER` and `NEXT` to the numbers
/// connections as they stood at the first event of the millisecond
/// (rebuilt when a player leaves, not when one connects), trusting that a
/// connection is always accepted after the lines of its millisecond. In a
/// seeded run it is, as in chat. live-join-at-the-win opens a numbers
/// connection in the very millisecond of a winning claim in every run;
/// seeds take the claim first, and the connection rightly misses the end
/// of a game it was not there for. A search takes the connection first
/// (one order choice): the server has connected it before the game
/// ended, yet it never hears `OVER`, and the `GAME 2 HISTORY` it gets
/// later shows the gap (`over-to-every-connection`).
#[test]
fn a_live_bug_that_random_seeds_of_every_live_scenario_miss_is_found_by_a_bound_1_exploration_and_hunt(
) {
    let live = standard_with_bug("live-", "over-list-cached-per-ms");
    assert_eq!(live.len(), 9);
    assert_seeds_miss_it(&live, seeds());
    let file = builtin_with_bug("live-join-at-the-win", "over-list-cached-per-ms");
    let (outcome, broken) = found_by_one_order_choice(&file, 200);
    assert_eq!(broken, ["over-to-every-connection"]);
    assert!(outcome.reached.contains("connect-before-win-in-its-ms"));
    // The first broken line is the joiner's next game, heard without the
    // end of the game it was connected for: the server connected it, then
    // ended game 1, in one millisecond.
    let (_, heard) = first_broken_line(&outcome, "over-to-every-connection");
    assert!(heard.text.starts_with("recv# GAME 2 HISTORY"), "{heard}");
    let over = outcome
        .trace
        .iter()
        .position(|line| line.text.starts_with("over 1 winner"))
        .expect("game 1 was won");
    let connect = outcome.trace[..over]
        .iter()
        .rev()
        .find(|line| line.text.starts_with("connect "))
        .expect("a connection before the end");
    assert_eq!(connect.time_ms, outcome.trace[over].time_ms, "{connect}");
    assert!(!outcome
        .trace
        .iter()
        .any(|line| line.host == heard.host && line.text.starts_with("recv# OVER 1 ")));
    hunt_finds(&file, "over-to-every-connection");
}
