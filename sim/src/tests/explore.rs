//! Choice-driven runs on the fast backend: a run is a function of its
//! choices (a seeded run driven by the choices it recorded replays byte for
//! byte), and a small bounded exploration of one scenario per game runs
//! every sequence within the bound and says it exhausted the space;
//! bot plans are choices; pruning states already searched keeps what the
//! search covers.

use crate::engine::fast::choice::{self, deviations_of};
use crate::engine::fast_hosts::Fast;
use crate::engine::harness::RunOptions;
use crate::report::explore::{explore, ExploreOptions};
use crate::scenario::file::ScenarioFile;

/// Two lock-step players with fixed boards: c1 completes on draw 15.
const TOMBOLA_SMALL: &str = r#"
game = "tombola"
summary = "two players, c1 completes on draw 15"
[net]
latency_min_ms = 1
latency_max_ms = 2
[server]
players = 2
draw_prefix = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
[[clients]]
name = "c1"
board = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
[[clients]]
name = "c2"
board = [76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90]
"#;

/// Two live players: c1 completes on draw 15 of one game.
const LIVE_SMALL: &str = r#"
game = "live"
summary = "two players, c1 completes on draw 15"
[net]
latency_min_ms = 1
latency_max_ms = 2
[server]
draw_prefix = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
[[clients]]
name = "c1"
board = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
[[clients]]
name = "c2"
board = [76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90]
"#;

/// Two chat sessions of two commands each.
const CHAT_SMALL: &str = r#"
game = "chat"
summary = "two talkers, two commands each"
[net]
latency_min_ms = 1
latency_max_ms = 2
[[clients]]
name = "c"
count = 2
behaviour = "talker"
params = { host = "clients", commands = 2, pause_max_ms = 5 }
"#;

/// Three lock-step players alike but for their names (a fixed board, a
/// false claim at draw 2): interchangeable.
const TOMBOLA_ALIKE: &str = r#"
game = "tombola"
summary = "three players alike: each claims falsely at draw 2"
[net]
latency_min_ms = 1
latency_max_ms = 2
[server]
players = 3
[[clients]]
name = "c1"
behaviour = "false-claim"
params = { at_draw = 2 }
board = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
[[clients]]
name = "c2"
behaviour = "false-claim"
params = { at_draw = 2 }
board = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
[[clients]]
name = "c3"
behaviour = "false-claim"
params = { at_draw = 2 }
board = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
"#;

/// What a search covered: its outcomes and the rare events it reached.
fn keys(explored: &crate::report::explore::Explored) -> (Vec<String>, Vec<String>) {
    (
        explored.outcomes.keys().cloned().collect(),
        explored.reached.keys().cloned().collect(),
    )
}

fn small(text: &str, name: &str) -> ScenarioFile {
    let file = ScenarioFile::parse(text, name).expect("the test scenario parses");
    file.check().expect("the test scenario is valid");
    file
}

#[test]
fn a_seeded_run_driven_by_the_choices_it_made_replays_byte_for_byte() {
    for name in [
        "tombola-four-players-latency",
        "live-late-joiners",
        "chat-random-talk",
        "tombola-faults",
    ] {
        let file = crate::scenario::file::builtin(name).expect("a built-in scenario");
        for seed in [3, 11] {
            let options = RunOptions::default();
            let (seeded, log) = choice::record(|| file.run_on(&Fast, seed, &options));
            let plain = file.run_on(&Fast, seed, &options);
            assert_eq!(
                seeded.report(),
                plain.report(),
                "{name} seed {seed}: recording changed the run"
            );
            let deviations = deviations_of(&log);
            assert!(
                !deviations.is_empty(),
                "{name} seed {seed}: a seeded run draws latencies other than the smallest"
            );
            let (driven, again) = choice::drive(&deviations, || file.run_on(&Fast, seed, &options));
            assert_eq!(
                driven.report(),
                seeded.report(),
                "{name} seed {seed}: the recorded choices did not replay the run"
            );
            assert_eq!(again, log, "{name} seed {seed}: other choices came up");
        }
    }
}

#[test]
fn the_default_run_differs_from_a_seeded_one_and_replays_exactly() {
    let file = crate::scenario::file::builtin("tombola-four-players-latency").expect("built in");
    let options = RunOptions::default();
    let (first, log) = choice::drive(&[], || file.run_on(&Fast, 5, &options));
    let (second, _) = choice::drive(&[], || file.run_on(&Fast, 5, &options));
    assert_eq!(first.report(), second.report());
    assert!(log.iter().all(|made| made.value == 0), "every choice is 0");
    assert_ne!(
        first.report(),
        file.run_on(&Fast, 5, &options).report(),
        "the seed draws other latencies than the smallest"
    );
}

#[test]
fn a_small_exploration_of_one_scenario_per_game_is_exhausted_and_passes() {
    for (text, name) in [
        (TOMBOLA_SMALL, "tombola-small"),
        (LIVE_SMALL, "live-small"),
        (CHAT_SMALL, "chat-small"),
    ] {
        let file = small(text, name);
        let options = ExploreOptions {
            max_runs: 5_000,
            jobs: 2,
            ..ExploreOptions::new(1, 1)
        };
        let explored = explore(&file, &options);
        assert!(
            explored.violation.is_none(),
            "{name}: {:?}",
            explored
                .violation
                .as_ref()
                .map(|(at, outcome)| (at, &outcome.violations))
        );
        assert!(
            explored.exhausted,
            "{name}: not exhausted in {} runs",
            explored.runs
        );
        // One run per other value of each choice of the default run, and
        // the default run itself.
        let options_in_all: u64 = explored.default_choices.values().map(|(_, all)| all).sum();
        let choices: u64 = explored
            .default_choices
            .values()
            .map(|(count, _)| count)
            .sum();
        assert!(choices > 0, "{name}: the default run made no choice");
        assert_eq!(
            explored.runs,
            1 + options_in_all - choices,
            "{name}: {} runs for {choices} choices with {options_in_all} options",
            explored.runs
        );
        assert!(
            explored.distinct_traces > 1,
            "{name}: the choices changed nothing"
        );
        // The same search on one thread finds the same space.
        let alone = explore(&file, &ExploreOptions { jobs: 1, ..options });
        assert_eq!(
            (alone.runs, alone.distinct_traces, &alone.outcomes),
            (explored.runs, explored.distinct_traces, &explored.outcomes),
            "{name}"
        );
    }
}

#[test]
fn a_search_cut_by_its_run_budget_says_it_was_not_exhausted() {
    let file = small(TOMBOLA_SMALL, "tombola-small");
    let explored = explore(
        &file,
        &ExploreOptions {
            max_runs: 50,
            jobs: 1,
            ..ExploreOptions::new(1, 2)
        },
    );
    assert!(!explored.exhausted);
    assert_eq!(explored.runs, 50);
}

#[test]
fn a_failing_seeded_run_shrinks_on_its_choices_to_the_fewest_that_still_break_it() {
    let entry = crate::scenario::seeds::SeedEntry::load(std::path::Path::new(
        "../fixtures/seeds/tombola-first-claim-only-bug.toml",
    ))
    .expect("a recorded seed");
    let property = entry
        .property
        .clone()
        .expect("a planted bug names its property");
    // The recorded scenario was shrunk to a fixed latency; a range gives
    // the seeded run latency choices to shrink.
    let mut file = entry.scenario.clone();
    file.net.latency_max_ms = 5;
    let shrunk = crate::scenario::shrink_choices::shrink_choices(
        &file,
        entry.seed,
        None,
        Some(&property),
        |_| {},
    )
    .expect("the seeded run breaks the property on the fast backend");
    // The seeded run drew a latency other than the smallest for most
    // segments: every one of those choices was a deviation to shrink.
    assert!(shrunk.from > 50, "only {} deviations to start", shrunk.from);
    // Two boards complete on the same draw whatever the timing, so the
    // planted bug needs no choice at all: the default run breaks it.
    assert!(shrunk.deviations.is_empty(), "{:?}", shrunk.deviations);
    assert!(shrunk
        .outcome
        .violations
        .iter()
        .any(|violation| violation.property == property));
    let (replayed, _) = choice::drive(&shrunk.deviations, || {
        file.run_on(&Fast, entry.seed, &RunOptions::default())
    });
    assert_eq!(replayed.report(), shrunk.outcome.report());
}

#[test]
fn shrinking_a_run_that_breaks_nothing_is_an_error_that_says_so() {
    let file = small(TOMBOLA_SMALL, "tombola-small");
    let error =
        crate::scenario::shrink_choices::shrink_choices(&file, 1, Some(Vec::new()), None, |_| {})
            .expect_err("the default run passes");
    assert!(error.contains("breaks no property"), "{error}");
}

#[test]
fn whether_and_when_a_fault_fires_is_a_choice_none_by_default_at_most_a_round_trip_late() {
    let file = crate::scenario::file::builtin("tombola-server-restart").expect("built in");
    let options = RunOptions::default();
    let at = |outcome: &crate::engine::harness::RunOutcome, text: &str| {
        outcome
            .trace
            .iter()
            .find(|line| line.host == "sim" && line.text == text)
            .map(|line| line.time_ms)
    };
    let (default, log) = choice::drive(&[], || file.run_on(&Fast, 0, &options));
    // The scenario's one fault (crash at 3,000 ms, restart at 3,500) makes
    // the run's first choice, before anything runs: not at all (the
    // default), or on time, or up to a round trip late.
    assert_eq!(log[0].kind, choice::ChoiceKind::Fault);
    assert_eq!(log[0].time_ms, 0);
    assert_eq!(u64::from(log[0].options), 2 * file.net.latency_max_ms + 2);
    assert_eq!(at(&default, "crash server"), None);
    assert!(default.passed(), "{}", default.report());
    let (on_time, _) = choice::drive(&[(0, 1)], || file.run_on(&Fast, 0, &options));
    assert_eq!(at(&on_time, "crash server"), Some(3_000));
    assert_eq!(at(&on_time, "restart server"), Some(3_500));
    let (late, _) = choice::drive(&[(0, 8)], || file.run_on(&Fast, 0, &options));
    assert_eq!(at(&late, "crash server"), Some(3_007));
    assert_eq!(at(&late, "restart server"), Some(3_507));
    // A seeded run fires its faults on time, as before faults were choices.
    let (seeded, seeded_log) = choice::record(|| file.run_on(&Fast, 0, &options));
    assert_eq!(seeded_log[0].value, 1);
    assert_eq!(at(&seeded, "crash server"), Some(3_000));
}

#[test]
fn which_stream_a_server_draws_from_is_a_choice_the_seeds_own_by_default() {
    for name in ["tombola-two-players", "live-late-joiners"] {
        let file = crate::scenario::file::builtin(name).expect("built in");
        let options = RunOptions::default();
        let draws = |outcome: &crate::engine::harness::RunOutcome| -> Vec<String> {
            outcome
                .trace
                .iter()
                .filter(|line| line.host == "server" && line.text.starts_with("draw "))
                .map(|line| line.text.clone())
                .collect()
        };
        let (own, log) = choice::drive(&[], || file.run_on(&Fast, 3, &options));
        let position = log
            .iter()
            .position(|made| made.kind == choice::ChoiceKind::ServerDraws)
            .expect("the server's start makes the choice");
        assert_eq!(
            log[position].options,
            crate::engine::backend::SERVER_DRAW_STREAMS
        );
        let (other, _) = choice::drive(&[(position as u32, 5)], || file.run_on(&Fast, 3, &options));
        assert!(other.passed(), "{name}: {}", other.report());
        assert_ne!(
            draws(&own),
            draws(&other),
            "{name}: another stream, other draws"
        );
        let (seeded, seeded_log) = choice::record(|| file.run_on(&Fast, 3, &options));
        let made = seeded_log
            .iter()
            .find(|made| made.kind == choice::ChoiceKind::ServerDraws)
            .expect("a seeded run makes it too");
        assert_eq!(
            made.value, 0,
            "{name}: a seeded run draws from the seed's own stream"
        );
        assert_eq!(
            draws(&seeded),
            draws(&file.run_on(&Fast, 3, &options)),
            "{name}"
        );
    }
}

#[test]
fn what_each_bot_does_is_a_choice_its_seeds_own_plan_by_default() {
    for (name, bots) in [
        ("tombola-two-players", 2),
        ("live-late-joiners", 6),
        ("chat-small-room", 3),
    ] {
        let file = crate::scenario::file::builtin(name).expect("built in");
        let options = RunOptions::default();
        let (own, log) = choice::drive(&[], || file.run_on(&Fast, 3, &options));
        let plans: Vec<usize> = log
            .iter()
            .enumerate()
            .filter(|(_, made)| made.kind == choice::ChoiceKind::BotPlan)
            .map(|(position, _)| position)
            .collect();
        assert_eq!(plans.len(), bots, "{name}: one plan per bot: {plans:?}");
        assert!(plans
            .iter()
            .all(|&position| log[position].options == crate::engine::backend::BOT_PLAN_STREAMS));
        let mut changed = 0;
        for &position in &plans {
            let (other, _) =
                choice::drive(&[(position as u32, 7)], || file.run_on(&Fast, 3, &options));
            assert!(other.passed(), "{name}: {}", other.report());
            if other.trace != own.trace {
                changed += 1;
            }
        }
        assert_eq!(
            changed, bots,
            "{name}: another plan for any one bot changes the run"
        );
        let (seeded, seeded_log) = choice::record(|| file.run_on(&Fast, 3, &options));
        assert!(
            seeded_log
                .iter()
                .filter(|made| made.kind == choice::ChoiceKind::BotPlan)
                .all(|made| made.value == 0),
            "{name}: a seeded run follows each bot's own plan"
        );
        assert_eq!(
            seeded.trace,
            file.run_on(&Fast, 3, &options).trace,
            "{name}: recording changes nothing"
        );
    }
}

#[test]
fn pruning_states_already_searched_covers_the_same_outcomes_and_events_in_fewer_runs() {
    let file = small(CHAT_SMALL, "chat-small");
    let options = ExploreOptions {
        jobs: 1,
        ..ExploreOptions::new(1, 2)
    };
    let pruned = explore(&file, &options);
    let full = explore(
        &file,
        &ExploreOptions {
            prune: false,
            ..options.clone()
        },
    );
    assert!(pruned.exhausted && full.exhausted);
    assert!(pruned.violation.is_none() && full.violation.is_none());
    assert!(
        pruned.pruned > 0,
        "some run came to a state already searched"
    );
    assert!(pruned.states > 0);
    assert!(
        pruned.runs < full.runs,
        "{} runs pruned against {} in full",
        pruned.runs,
        full.runs
    );
    assert_eq!(keys(&pruned), keys(&full), "the same outcomes and events");
    assert!(full.outcomes.len() > 1, "the choices change the outcome");
    // The same pruned search again makes the same runs in the same order.
    let again = explore(&file, &options);
    assert_eq!(
        (again.runs, again.pruned, again.states, &again.outcomes),
        (pruned.runs, pruned.pruned, pruned.states, &pruned.outcomes)
    );
}

#[test]
fn a_moments_fingerprint_is_the_same_for_the_same_run_and_changes_with_a_later_delivery() {
    let file = small(CHAT_SMALL, "chat-small");
    let run = || file.run_on(&Fast, 1, &RunOptions::default());
    let (_, log, first) = choice::drive_fingerprinted(&[], false, run);
    let (_, _, again) = choice::drive_fingerprinted(&[], false, run);
    assert!(first.len() > 10, "a fingerprint per moment left");
    assert_eq!(first, again, "the same run, the same states");
    assert!(
        first
            .windows(2)
            .all(|pair| pair[0].time_ms < pair[1].time_ms),
        "one fingerprint per moment, in time order"
    );
    // The first message's latency one ms longer: from the moment it would
    // have arrived on, the states differ.
    let position = log
        .iter()
        .position(|made| made.kind == choice::ChoiceKind::Latency)
        .expect("messages have latencies");
    let (_, _, later) = choice::drive_fingerprinted(&[(position as u32, 1)], false, run);
    let at_ms = log[position].time_ms;
    let states = |fingerprints: &[choice::Fingerprint]| -> Vec<(u64, u64)> {
        fingerprints
            .iter()
            .filter(|moment| moment.time_ms > at_ms)
            .map(|moment| (moment.time_ms, moment.state))
            .collect()
    };
    assert_ne!(states(&first), states(&later));
    // Only moments after the deviation are fingerprinted.
    assert!(later.iter().all(|moment| moment.position > position as u32));
}

#[test]
fn interchangeable_players_swapped_are_one_state_and_the_search_covers_the_same() {
    let file = small(TOMBOLA_ALIKE, "tombola-alike");
    let options = ExploreOptions {
        jobs: 1,
        ..ExploreOptions::new(0, 2)
    };
    let symmetric = explore(&file, &options);
    let plain = explore(
        &file,
        &ExploreOptions {
            symmetry: false,
            ..options.clone()
        },
    );
    assert!(symmetric.exhausted && plain.exhausted);
    assert!(symmetric.violation.is_none() && plain.violation.is_none());
    // Who of the three connects first, swapped, is one state: fewer runs
    // and fewer distinct traces (the swapped runs' traces differ only by
    // names), the same outcomes and events.
    assert!(
        symmetric.runs < plain.runs && symmetric.distinct_traces < plain.distinct_traces,
        "{} runs and {} traces with symmetry, {} and {} without",
        symmetric.runs,
        symmetric.distinct_traces,
        plain.runs,
        plain.distinct_traces
    );
    assert_eq!(keys(&symmetric), keys(&plain));
    // Players with boards of their own are not alike: there symmetry
    // changes nothing (the first 3,000 runs of the same search).
    let two = small(TOMBOLA_SMALL, "tombola-small");
    let search = |symmetry: bool| {
        let explored = explore(
            &two,
            &ExploreOptions {
                symmetry,
                max_runs: 3_000,
                ..options.clone()
            },
        );
        (
            explored.runs,
            explored.states,
            explored.pruned,
            explored.distinct_traces,
        )
    };
    assert_eq!(search(true), search(false));
}
