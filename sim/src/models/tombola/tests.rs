//! Tests of the lock-step model: spec files, facts and oracles.

use super::*;
use crate::engine::harness::HARNESS_ERROR;
use proptest::prelude::*;
use std::sync::OnceLock;

/// One real trace of the mischief scenario (every kind of line), made
/// once for all cases.
fn real_trace() -> &'static Vec<TraceLine> {
    static TRACE: OnceLock<Vec<TraceLine>> = OnceLock::new();
    TRACE.get_or_init(|| {
        let file = crate::scenario::file::builtin("tombola-mischief").expect("built in");
        file.run(3, &crate::engine::harness::RunOptions::default())
            .trace
    })
}

fn spec() -> TombolaSpec {
    let file = crate::scenario::file::builtin("tombola-mischief").expect("built in");
    spec_from_file(&file).expect("a valid scenario")
}

/// A mutation of a trace: drop, duplicate, swap or alter one line.
#[derive(Debug, Clone)]
enum Mutation {
    Drop(usize),
    Duplicate(usize),
    Swap(usize, usize),
    Alter(usize, String),
    Host(usize, String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::Drop),
        any::<usize>().prop_map(Mutation::Duplicate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Swap(a, b)),
        (
            any::<usize>(),
            prop_oneof![
                "\\PC{0,40}",
                "(recv|send) (WELCOME|BOARD-OK|WAITING|START|DRAW|OVER|ERR|ACK|TOMBOLA|BOARD)( [0-9a-z-]{0,12}){0,4}",
                "(start|draw|drop|over|claim|board|abandon)( [0-9a-z]{0,4}){0,5}",
                "(crash|restart|heal|release) (server|c1|imp)",
            ]
        )
            .prop_map(|(index, text)| Mutation::Alter(index, text)),
        (any::<usize>(), "(sim|server|c1|c2|imp)")
            .prop_map(|(index, host)| Mutation::Host(index, host)),
    ]
}

fn mutate(trace: &mut Vec<TraceLine>, mutation: &Mutation) {
    let len = trace.len().max(1);
    match mutation {
        Mutation::Drop(index) if !trace.is_empty() => {
            trace.remove(index % len);
        }
        Mutation::Duplicate(index) if !trace.is_empty() => {
            let line = trace[index % len].clone();
            trace.insert(index % len, line);
        }
        Mutation::Swap(a, b) if !trace.is_empty() => trace.swap(a % len, b % len),
        Mutation::Alter(index, text) if !trace.is_empty() => {
            trace[index % len].text = text.clone()
        }
        Mutation::Host(index, host) if !trace.is_empty() => {
            trace[index % len].host = host.clone().into()
        }
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn the_judge_returns_on_any_mutation_of_a_real_trace(
        mutations in proptest::collection::vec(mutation(), 1..20)
    ) {
        let mut trace = real_trace().clone();
        for mutation in &mutations {
            mutate(&mut trace, mutation);
        }
        let outcome = judge(&spec(), trace, Vec::new());
        prop_assert!(
            outcome.violations.iter().all(|violation| violation.property != HARNESS_ERROR),
            "{:?}",
            outcome.violations
        );
    }

    #[test]
    fn the_judge_returns_on_an_arbitrary_trace(
        lines in proptest::collection::vec(
            ("(sim|server|c1|imp)", "\\PC{0,60}"),
            0..60,
        )
    ) {
        let trace: Vec<TraceLine> = lines
            .into_iter()
            .enumerate()
            .map(|(time_ms, (host, text))| TraceLine { time_ms: time_ms as u64, host: host.into(), text })
            .collect();
        let outcome = judge(&spec(), trace, Vec::new());
        prop_assert!(
            outcome.violations.iter().all(|violation| violation.property != HARNESS_ERROR),
            "{:?}",
            outcome.violations
        );
    }
}

#[test]
fn the_real_trace_passes_every_oracle() {
    let outcome = judge(&spec(), real_trace().clone(), Vec::new());
    assert!(outcome.violations.is_empty(), "{:?}", outcome.violations);
}

#[test]
fn a_server_line_that_is_not_a_note_is_a_trace_format_violation() {
    let mut trace = real_trace().clone();
    let draw = trace
        .iter()
        .position(|line| line.host == "server" && line.text.starts_with("draw "))
        .expect("the run draws");
    trace[draw].text = "draw 1 x".to_owned();
    let outcome = judge(&spec(), trace, Vec::new());
    assert!(
        outcome
            .violations
            .iter()
            .any(|violation| violation.property == "trace-format"),
        "{:?}",
        outcome.violations
    );
}
