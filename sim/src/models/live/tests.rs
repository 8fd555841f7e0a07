//! Tests of the live model: spec files, facts and oracles.

use super::*;
use crate::engine::harness::RunOptions;
use proptest::prelude::*;
use std::sync::OnceLock;

/// One real run of live-mischief (every kind of line a client can
/// receive or send), made once and shared by the tests below.
fn real_trace() -> &'static Vec<TraceLine> {
    static TRACE: OnceLock<Vec<TraceLine>> = OnceLock::new();
    TRACE.get_or_init(|| {
        let file = crate::scenario::file::builtin("live-mischief").expect("a built-in scenario");
        file.run(1, &RunOptions::default()).trace
    })
}

fn host_of() -> BTreeMap<String, String> {
    let file = crate::scenario::file::builtin("live-mischief").expect("a built-in scenario");
    spec_from_file(&file)
        .expect("the scenario is valid")
        .host_of()
}

fn line(time_ms: u64, host: &str, text: &str) -> TraceLine {
    TraceLine {
        time_ms,
        host: host.into(),
        text: text.to_owned(),
    }
}

#[test]
fn the_real_trace_passes_every_oracle() {
    let outcome = judge(real_trace(), &host_of(), 0, Vec::new());
    assert!(outcome.violations.is_empty(), "{:?}", outcome.violations);
}

#[test]
fn a_history_note_longer_than_the_draws_is_a_violation_not_a_panic() {
    let trace = vec![
        line(0, "server", "connect p1"),
        line(1, "c1", "recv# WELCOME p1 0123456789abcdef"),
        line(2, "server", "board p1 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15"),
        line(2, "server", "start 1"),
        line(3, "server", "draw 1 1 7"),
        line(4, "server", "join p1 1 history 5"),
        line(5, "c1", "recv# GAME 1 HISTORY 7 8 9 10 11"),
        line(6, "server", "over 1 winner p1"),
    ];
    let outcome = judge(&trace, &BTreeMap::new(), 0, Vec::new());
    let broken: Vec<&str> = outcome
        .violations
        .iter()
        .map(|violation| violation.property.as_str())
        .collect();
    assert!(
        broken.contains(&"history-is-the-draws-so-far"),
        "{broken:?}"
    );
    assert!(broken.contains(&"line-explained"), "{broken:?}");
}

#[test]
fn a_win_answering_a_false_claim_is_a_violation() {
    let mut trace = real_trace().clone();
    let (false_claim, mut note) = trace
        .iter()
        .enumerate()
        .filter(|(_, line)| line.host == "server")
        .find_map(|(at, line)| match line.text.parse::<Note>() {
            Ok(note @ Note::Claim { .. }) => Some((at, note)),
            _ => None,
        })
        .expect("the run has a claim");
    // The server's note says the claim was false; the client got WIN.
    if let Note::Claim { verdict, .. } = &mut note {
        *verdict = ClaimVerdict::False;
    }
    trace[false_claim].text = note.to_string();
    let outcome = judge(&trace, &host_of(), 0, Vec::new());
    assert!(
        outcome
            .violations
            .iter()
            .any(|violation| violation.property == "line-explained"),
        "{:?}",
        outcome.violations
    );
}

#[test]
fn a_server_line_that_is_not_a_note_is_a_trace_format_violation() {
    let mut trace = real_trace().clone();
    let claim = trace
        .iter()
        .position(|line| line.host == "server" && line.text.starts_with("claim "))
        .expect("the run has a claim");
    trace[claim].text.push_str(" twice");
    let outcome = judge(&trace, &host_of(), 0, Vec::new());
    assert!(
        outcome
            .violations
            .iter()
            .any(|violation| violation.property == "trace-format"),
        "{:?}",
        outcome.violations
    );
}

/// A mutation of a real trace: drop, duplicate, swap or alter lines.
#[derive(Debug, Clone)]
enum Mutation {
    Drop(usize),
    Duplicate(usize),
    Swap(usize, usize),
    /// Replace a word of a line with another string.
    Alter(usize, usize, String),
    Insert(usize, String, String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let word = prop_oneof![
        "[A-Za-z0-9#-]{0,6}",
        Just("99999999999999999999999".to_owned()),
        Just("0".to_owned()),
        Just(String::new()),
    ];
    prop_oneof![
        any::<usize>().prop_map(Mutation::Drop),
        any::<usize>().prop_map(Mutation::Duplicate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Swap(a, b)),
        (any::<usize>(), 0usize..6, word.clone())
            .prop_map(|(at, index, word)| Mutation::Alter(at, index, word)),
        (
            any::<usize>(),
            prop_oneof![Just("server"), Just("sim"), Just("c1"), Just("m1")],
            "[ -~]{0,40}"
        )
            .prop_map(|(at, host, text)| Mutation::Insert(at, host.to_owned(), text)),
    ]
}

fn mutate(trace: &mut Vec<TraceLine>, mutation: &Mutation) {
    if trace.is_empty() {
        return;
    }
    let len = trace.len();
    match mutation {
        Mutation::Drop(at) => {
            trace.remove(at % len);
        }
        Mutation::Duplicate(at) => {
            let copy = trace[at % len].clone();
            trace.insert(at % len, copy);
        }
        Mutation::Swap(a, b) => trace.swap(a % len, b % len),
        Mutation::Alter(at, index, word) => {
            let line = &mut trace[at % len];
            let mut words: Vec<&str> = line.text.split(' ').collect();
            let index = index % words.len();
            words[index] = word;
            line.text = words.join(" ");
        }
        Mutation::Insert(at, host, text) => trace.insert(
            at % len,
            TraceLine {
                time_ms: 0,
                host: host.clone().into(),
                text: text.clone(),
            },
        ),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_judge_returns_on_any_mutated_real_trace(
        mutations in proptest::collection::vec(mutation(), 1..12)
    ) {
        let mut trace = real_trace().clone();
        for mutation in &mutations {
            mutate(&mut trace, mutation);
        }
        let _ = judge(&trace, &host_of(), 0, Vec::new());
    }

    #[test]
    fn the_judge_returns_on_arbitrary_traces(
        lines in proptest::collection::vec(
            (
                0u64..100,
                prop_oneof![Just("server"), Just("sim"), Just("c1"), Just("m1")],
                prop_oneof![
                    "[ -~]{0,30}",
                    "(recv#|recv|send|claim|join|draw|over|start|board|connect|restart|crash) [A-Za-z0-9 ]{0,30}",
                ],
            ),
            0..60,
        )
    ) {
        let trace = lines
            .into_iter()
            .map(|(time_ms, host, text)| TraceLine { time_ms, host: host.into(), text })
            .collect::<Vec<_>>();
        let _ = judge(&trace, &host_of(), 0, Vec::new());
    }
}

/// A trace in which p2 connects before game 1 ends and later enters game
/// 2; `heard` says which of game 1's `OVER` and `NEXT` reached it.
fn joiner_trace(heard: &[&str]) -> Vec<TraceLine> {
    let mut trace = vec![
        line(0, "server", "connect p1"),
        line(1, "c1", "recv# WELCOME p1 0123456789abcdef"),
        line(2, "server", "board p1 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15"),
        line(2, "server", "start 1"),
        line(2, "server", "join p1 1 history 0"),
        line(3, "c1", "recv# GAME 1 HISTORY"),
        line(9, "server", "connect p2"),
        line(9, "server", "over 1 nowinner"),
        line(9, "server", "pause"),
        line(10, "c2", "recv# WELCOME p2 0123456789abcdef"),
    ];
    trace.extend(heard.iter().map(|text| line(10, "c2", text)));
    trace.extend([
        line(12, "server", "board p2 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15"),
        line(12, "server", "wait p2 2"),
        line(20, "server", "start 2"),
        line(20, "server", "join p2 2 history 0"),
        line(21, "c2", "recv# GAME 2 HISTORY"),
    ]);
    trace
}

fn broken(trace: &[TraceLine]) -> Vec<String> {
    judge(trace, &BTreeMap::new(), 0, Vec::new())
        .violations
        .into_iter()
        .map(|violation| violation.property)
        .collect()
}

#[test]
fn a_connection_that_hears_a_later_game_without_the_end_it_was_connected_for_breaks_over_to_every_connection(
) {
    let property = "over-to-every-connection".to_owned();
    assert!(!broken(&joiner_trace(&[
        "recv# OVER 1 NOWINNER",
        "recv# NEXT 2 IN 0"
    ]))
    .contains(&property));
    assert!(broken(&joiner_trace(&[])).contains(&property));
    assert!(broken(&joiner_trace(&["recv# OVER 1 NOWINNER"])).contains(&property));
    // On a prefix that ends before anything later arrived, nothing is
    // missing yet.
    let whole = joiner_trace(&[]);
    assert!(!broken(&whole[..whole.len() - 1]).contains(&property));
}
