//! A failing run names the first trace line after which a safety property
//! was broken: for every planted bug of the three games (the recorded
//! seeds `fixtures/seeds/*-bug.toml`), the line found breaks the property
//! and the line before it does not.

use crate::scenario::seeds::{entries, SeedEntry};

#[test]
fn every_planted_bug_names_the_first_trace_line_that_broke_its_safety_property() {
    let mut placed = 0;
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
        placed += 1;
    }
    assert!(placed >= 20, "only {placed} planted bugs were placed");
}
