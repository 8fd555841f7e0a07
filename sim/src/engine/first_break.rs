//! Where a failing run first went wrong: the first trace line after which
//! one of its safety properties is broken.
//!
//! The oracles judge a whole trace. A safety property, once broken by a
//! prefix of the trace, stays broken in every longer prefix (a draw made
//! twice stays made twice), so the first line that breaks it can be found
//! by bisection over prefixes: about log2(lines) judgements, and only for
//! runs that fail. Properties that only a whole run can be judged by (a
//! game must end, a reply must come) are each game's
//! `end_of_run_properties` and are not looked for; neither are the
//! harness's own (`liveness`, `harness-error`, ...). A property that does
//! not stay broken from the line found to the end of the trace is not
//! reported as broken there, so a misfiled property gives no answer rather
//! than a wrong one.

use crate::engine::backend::Model;
use crate::engine::harness::RunOutcome;
use crate::engine::trace::TraceLine;

/// Properties of the harness itself, judged on the whole run.
const HARNESS_PROPERTIES: &[&str] = &[
    "liveness",
    "harness-error",
    "scenario-file",
    "determinism",
    "unsupported",
    "trace-format",
];

/// The first trace line after which a safety property is broken.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FirstBreak {
    /// Index of the line in the run's trace (from 0).
    pub line: usize,
    /// The property that line broke (the first in the oracles' order, if
    /// it broke several).
    pub property: String,
}

/// Whether `property` is a safety property of `model`: not one only a
/// whole run can be judged by, nor one of the harness's own.
pub fn is_safety<M: Model>(model: &M, property: &str) -> bool {
    !model.end_of_run_properties().contains(&property) && !HARNESS_PROPERTIES.contains(&property)
}

/// Whether `lines`, the trace of a run so far, break a safety property of
/// `model`: what a run that stops at its first broken safety property
/// checks between two steps (see [`crate::engine::backend::run`]).
pub fn breaks_safety<M: Model>(model: &M, lines: &[TraceLine]) -> bool {
    // An oracle that panics breaks no safety property here: the run goes
    // on, and its judgement at the end reports the panic.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        model
            .judge(lines, Vec::new())
            .violations
            .iter()
            .any(|violation| is_safety(model, &violation.property))
    }))
    .unwrap_or(false)
}

/// Whether the prefix of `outcome.trace` with `length` lines breaks
/// `property`.
fn breaks<M: Model>(model: &M, outcome: &RunOutcome, length: usize, property: &str) -> bool {
    model
        .judge_lines(outcome.trace[..length].to_vec(), Vec::new())
        .violations
        .iter()
        .any(|violation| violation.property == property)
}

/// The first line after which one of the failing run's safety properties
/// is broken, if any of its broken properties is a safety property.
pub fn find<M: Model>(model: &M, outcome: &RunOutcome) -> Option<FirstBreak> {
    // Each property once, in the oracles' order.
    let mut seen = std::collections::BTreeSet::new();
    let properties: Vec<&str> = outcome
        .violations
        .iter()
        .map(|violation| violation.property.as_str())
        .filter(|property| is_safety(model, property))
        .filter(|property| seen.insert(*property))
        .collect();
    let total = outcome.trace.len();
    let mut first: Option<FirstBreak> = None;
    for property in properties {
        // The whole trace breaks it (the run failed on it), so the first
        // prefix that does is at most `total` lines long: bisect on
        // (low, high] for the shortest. Only prefixes shorter than the
        // best found so far matter.
        let limit = first.as_ref().map_or(total, |found| found.line + 1);
        if !breaks(model, outcome, limit, property) {
            continue;
        }
        let (mut low, mut high) = (0, limit);
        while high - low > 1 {
            let middle = low + (high - low) / 2;
            if breaks(model, outcome, middle, property) {
                high = middle;
            } else {
                low = middle;
            }
        }
        // A safety property stays broken: check it halfway to the end and
        // at the end of the trace, or say nothing.
        let stays = breaks(model, outcome, high + (total - high) / 2, property)
            && breaks(model, outcome, total, property);
        if stays && high > 0 {
            first = Some(FirstBreak {
                line: high - 1,
                property: property.to_owned(),
            });
        }
    }
    first
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::harness::{NetConfig, Violation};
    use crate::scenario::faults::Fault;

    /// A model whose only oracles: `twice` breaks once a line says `bad`
    /// twice (a safety property), `ends` while no line says `end` (an
    /// end-of-run property), and `flaky` only while the last line says
    /// `odd` (misfiled: it does not stay broken).
    struct Lines(NetConfig);

    impl Model for Lines {
        fn net(&self) -> &NetConfig {
            &self.0
        }
        fn faults(&self) -> &[Fault] {
            &[]
        }
        fn swarm(&self) -> bool {
            false
        }
        fn swarm_targets(&self) -> Vec<String> {
            Vec::new()
        }
        fn hosts<E: games::env::Env>(
            &self,
            _seed: u64,
        ) -> Vec<crate::engine::backend::HostSpec<E>> {
            Vec::new()
        }
        fn judge(&self, lines: &[TraceLine], _: Vec<Violation>) -> RunOutcome {
            let mut violations = Vec::new();
            if lines.iter().filter(|line| line.text == "bad").count() >= 2 {
                violations.push(Violation::new("twice", "bad twice"));
            }
            if !lines.iter().any(|line| line.text == "end") {
                violations.push(Violation::new("ends", "no end"));
            }
            if lines.last().is_some_and(|line| line.text == "odd") {
                violations.push(Violation::new("flaky", "odd last"));
            }
            RunOutcome {
                violations,
                ..RunOutcome::default()
            }
        }
        fn end_of_run_properties(&self) -> &'static [&'static str] {
            &["ends"]
        }
    }

    fn judged(texts: &[&str]) -> RunOutcome {
        let lines = texts
            .iter()
            .enumerate()
            .map(|(index, text)| TraceLine {
                time_ms: index as u64,
                host: "server".into(),
                text: (*text).to_owned(),
            })
            .collect();
        Lines(NetConfig::default()).judge_lines(lines, Vec::new())
    }

    #[test]
    fn the_first_line_after_which_a_safety_property_stays_broken_is_found() {
        let outcome = judged(&["a", "bad", "b", "c", "bad", "d", "bad", "e", "f"]);
        assert_eq!(
            find(&Lines(NetConfig::default()), &outcome),
            Some(FirstBreak {
                line: 4,
                property: "twice".to_owned()
            })
        );
    }

    #[test]
    fn end_of_run_properties_and_properties_that_do_not_stay_broken_are_not_placed() {
        let model = Lines(NetConfig::default());
        // Only `ends` is broken: a prefix breaks it from the first line.
        let outcome = judged(&["a", "b", "c"]);
        assert_eq!(outcome.violations.len(), 1);
        assert_eq!(find(&model, &outcome), None);
        // `flaky` is broken at the end and by the 4-line prefix bisection
        // tries first, but not halfway from there to the end: no answer
        // rather than a wrong one.
        let outcome = judged(&["a", "b", "c", "odd", "end", "x", "y", "z", "odd"]);
        assert_eq!(outcome.violations[0].property, "flaky");
        assert_eq!(find(&model, &outcome), None);
    }
}
