//! A failing run names the first trace line after which a safety property
//! was broken: for every planted bug of the three games (the recorded
//! seeds `fixtures/seeds/*-bug.toml`), the line found breaks the property
//! and the line before it does not, and a run watched as searches run it
//! is the same run up to where it stops, soon after that line. Safety properties are safety properties:
//! no prefix of a passing run breaks one.

use std::collections::BTreeSet;

use crate::engine::harness::{RunOptions, RunOutcome, SafetyChecks};
use crate::scenario::seeds::{entries, SeedEntry};

#[test]
fn every_planted_bug_names_the_first_trace_line_that_broke_its_safety_property() {
    let (mut placed, mut stopped) = (0, 0);
    for path in entries(std::path::Path::new("../fixtures/seeds")).expect("the seeds folder") {
        if !path.to_string_lossy().ends_with("-bug.toml") {
            continue;
        }
        let entry = SeedEntry::load(&path).expect("a recorded seed");
        let outcome = entry.replay().expect("the recorded seed runs");
        let name = path.display();
        assert!(!outcome.passed(), "{name}: the planted bug is caught");
        let property = entry
            .property
            .clone()
            .expect("a planted bug names its property");
        let game = entry.scenario.game;
        let judge = |length: usize| {
            game.judge_lines(
                &entry.scenario,
                entry.seed,
                outcome.trace[..length].to_vec(),
            )
            .violations
            .into_iter()
            .map(|violation| violation.property)
            .collect::<Vec<_>>()
        };
        let Some(first) = &outcome.first_break else {
            panic!("{name}: {property} is a safety property, but no line was found to break it");
        };
        assert!(
            outcome
                .violations
                .iter()
                .any(|violation| violation.property == first.property),
            "{name}: {} is not among the run's violations",
            first.property
        );
        assert!(
            judge(first.line + 1).contains(&first.property),
            "{name}: the prefix up to line {} does not break {}",
            first.line,
            first.property
        );
        assert!(
            !judge(first.line).contains(&first.property),
            "{name}: the prefix before line {} already breaks {}",
            first.line,
            first.property
        );
        // Watched (as searches run), the run stops at its first step
        // after that line, the same up to there, with the same safety
        // violations and the same first broken line.
        let watched = entry.run_with(&RunOptions {
            safety_checks: SafetyChecks::AsTraceDoubles,
            ..RunOptions::default()
        });
        // (A check comes once the trace has grown by a fraction since the
        // last: a run may end first, and then it is judged whole.)
        if watched.stopped_at_first_break {
            stopped += 1;
        } else {
            assert_eq!(
                watched.trace, outcome.trace,
                "{name}: not stopped, not changed"
            );
        }
        assert!(
            watched.trace.len() > first.line && outcome.trace.starts_with(&watched.trace),
            "{name}: the watched run is the run up to where it stopped"
        );
        let broken = |outcome: &RunOutcome| -> BTreeSet<String> {
            outcome
                .violations
                .iter()
                .map(|violation| violation.property.clone())
                .collect()
        };
        assert!(broken(&watched).contains(&first.property), "{name}");
        assert!(
            broken(&watched).is_subset(&broken(&outcome)),
            "{name}: the watched run broke {:?}, the whole run {:?}",
            broken(&watched),
            broken(&outcome)
        );
        assert_eq!(watched.first_break.as_ref(), Some(first), "{name}");
        // Checked after every step, it stops in the step (so the ms) of
        // that line.
        let exact = entry.run_with(&RunOptions {
            safety_checks: SafetyChecks::EveryStep,
            ..RunOptions::default()
        });
        let broken_at_ms = outcome.trace[first.line].time_ms;
        assert!(
            outcome.trace.starts_with(&exact.trace)
                && exact.trace.len() > first.line
                && exact.trace[first.line + 1..]
                    .iter()
                    .all(|line| line.time_ms == broken_at_ms),
            "{name}: checked after every step, the run goes on past the ms of its first break"
        );
        assert_eq!(exact.first_break.as_ref(), Some(first), "{name}");
        placed += 1;
    }
    assert!(placed >= 20, "only {placed} planted bugs were placed");
    // Checks come as the trace doubles, so a bug that shows in the second
    // half of its run may be judged at the end: 10 of 24 stop before.
    assert!(
        stopped >= 5,
        "only {stopped} of {placed} watched runs stopped before their end"
    );
}

/// Seeds per built-in scenario in the prefix tests below.
const PREFIX_SEEDS: u64 = 2;
/// Prefixes judged per run at most (spread evenly over its milliseconds):
/// each judges the whole prefix, so judging all of a long run's would be
/// quadratic.
const PREFIXES_PER_RUN_MAX: usize = 120;

/// A safety property is one that no prefix of a passing run breaks: a
/// property that waits for a line still to come (a reply, a greeting) is
/// an end-of-run property. Prefixes that end a millisecond of passing
/// runs of every built-in scenario (fast backend) are judged; the same
/// runs watched (safety checked as they go) are not stopped or changed.
#[test]
fn no_prefix_of_a_passing_run_breaks_a_safety_property() {
    use crate::engine::fast_hosts::Fast;
    use crate::engine::harness::RunOptions;
    use crate::scenario::file::{builtin, BUILTIN_FILES};
    let mut judged = 0;
    // The first prefix found for each scenario and property broken.
    let mut found = std::collections::BTreeMap::new();
    for (name, _) in BUILTIN_FILES {
        let file = builtin(name).expect("built in");
        for seed in 0..PREFIX_SEEDS {
            let outcome = file.run_on(&Fast, seed, &RunOptions::default());
            if !outcome.passed() {
                continue;
            }
            // Watched, a passing run is not stopped and not changed.
            let watched = file.run_on(
                &Fast,
                seed,
                &RunOptions {
                    safety_checks: SafetyChecks::AsTraceDoubles,
                    ..RunOptions::default()
                },
            );
            assert!(
                watched.passed() && watched.trace == outcome.trace,
                "{name} seed {seed}: watching the run changed it: {:?}",
                watched.violations
            );
            let trace = &outcome.trace;
            let ends: Vec<usize> = (1..trace.len())
                .filter(|&end| trace[end].time_ms != trace[end - 1].time_ms)
                .collect();
            let step = ends.len().div_ceil(PREFIXES_PER_RUN_MAX).max(1);
            for &end in ends.iter().step_by(step) {
                let broken = file.game.safety_broken(&file, seed, trace[..end].to_vec());
                for property in broken {
                    found.entry((*name, property)).or_insert_with(|| {
                        format!(
                            "seed {seed}, the prefix up to line {end} ({})",
                            trace[end - 1]
                        )
                    });
                }
                judged += 1;
            }
        }
    }
    assert!(
        found.is_empty(),
        "safety properties broken by prefixes of passing runs:\n{}",
        found
            .iter()
            .map(|((name, property), example)| format!("{name}: {property}: {example}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(judged > 1_000, "only {judged} prefixes judged");
}
