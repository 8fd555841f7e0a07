//! Tests of the chat model: spec files, facts and oracles.

use super::*;
use crate::engine::harness::RunOptions;
use proptest::prelude::*;

fn line(host: &str, text: &str) -> TraceLine {
    TraceLine {
        time_ms: 0,
        host: host.into(),
        text: text.to_owned(),
    }
}

/// A clean exchange between two sessions, as the server and clients
/// would trace it.
fn clean() -> Vec<TraceLine> {
    vec![
        line("server", "join 1.0.0.1:1"),
        line("a", "recv WELCOME 1.0.0.1:1"),
        line("server", "join 1.0.0.2:2"),
        line("b", "recv WELCOME 1.0.0.2:2"),
        line("a", "send L"),
        line("server", "list 1.0.0.1:1 1.0.0.1:1 1.0.0.2:2"),
        line("a", "recv CLIENTS 1.0.0.1:1 1.0.0.2:2"),
        line("a", "send 1.0.0.2:2 hi  there"),
        line("server", "route 1.0.0.1:1 1.0.0.2:2 hi  there"),
        line("a", "recv SENT 1.0.0.2:2"),
        line("b", "recv FROM 1.0.0.1:1 hi  there"),
        line("b", "send Q"),
        line("server", "leave 1.0.0.2:2 quit"),
        line("b", "recv BYE"),
        line("b", "end bye"),
        line("a", "send 1.0.0.2:2 still there?"),
        line("server", "unknown 1.0.0.1:1 1.0.0.2:2"),
        line("a", "recv ERR no-such-client 1.0.0.2:2"),
        line("a", "end hangup"),
        line("server", "leave 1.0.0.1:1 closed"),
    ]
}

fn properties(trace: Vec<TraceLine>) -> Vec<String> {
    judge(trace, Vec::new())
        .violations
        .into_iter()
        .map(|violation| violation.property)
        .collect()
}

#[test]
fn a_server_line_that_is_not_a_note_is_a_trace_format_violation() {
    let mut trace = clean();
    trace[0] = line("server", "join 1.0.0.1");
    assert!(
        properties(trace).contains(&"trace-format".to_owned()),
        "a join without a port is no note"
    );
}

#[test]
fn a_clean_trace_passes_and_reaches_send_to_departed() {
    let outcome = judge(clean(), Vec::new());
    assert_eq!(outcome.violations, []);
    assert!(outcome.reached.contains("send-to-departed"));
    assert_eq!(outcome.games, 2);
}

#[test]
fn a_modified_message_is_caught() {
    let mut trace = clean();
    trace[10] = line("b", "recv FROM 1.0.0.1:1 hi there");
    assert!(properties(trace).contains(&"delivered-as-routed".to_owned()));
}

#[test]
fn a_spoofed_sender_is_caught() {
    let mut trace = clean();
    trace[10] = line("b", "recv FROM 1.0.0.9:9 hi  there");
    let found = properties(trace);
    assert!(found.contains(&"true-sender".to_owned()), "{found:?}");
    assert!(found.contains(&"delivered-all".to_owned()), "{found:?}");
}

#[test]
fn a_duplicated_delivery_is_caught() {
    let mut trace = clean();
    trace.insert(11, line("b", "recv FROM 1.0.0.1:1 hi  there"));
    assert!(properties(trace).contains(&"delivered-as-routed".to_owned()));
}

#[test]
fn a_lost_message_to_a_client_that_quit_is_caught() {
    let mut trace = clean();
    trace.remove(10);
    assert_eq!(properties(trace), ["delivered-all"]);
}

#[test]
fn a_stale_list_is_caught() {
    let mut trace = clean();
    trace[5] = line("server", "list 1.0.0.1:1 1.0.0.1:1");
    trace[6] = line("a", "recv CLIENTS 1.0.0.1:1");
    assert_eq!(properties(trace), ["list-exact"]);
}

#[test]
fn no_such_client_for_a_connected_client_is_caught() {
    let mut trace = clean();
    trace[8] = line("server", "unknown 1.0.0.1:1 1.0.0.2:2");
    trace[9] = line("a", "recv ERR no-such-client 1.0.0.2:2");
    trace.remove(10);
    assert!(properties(trace).contains(&"no-such-client-exact".to_owned()));
}

#[test]
fn sent_without_a_route_is_caught() {
    let mut trace = clean();
    trace[9] = line("a", "recv SENT 1.0.0.1:1");
    assert_eq!(properties(trace), ["replies-match-decisions"]);
}
fn at(time_ms: u64, host: &str, text: &str) -> TraceLine {
    TraceLine {
        time_ms,
        host: host.into(),
        text: text.to_owned(),
    }
}

/// `a` talks to a server that crashes and restarts; `a.2` reconnects.
fn crashed() -> Vec<TraceLine> {
    vec![
        at(1, "server", "join 1.0.0.1:1"),
        at(2, "a", "recv WELCOME 1.0.0.1:1"),
        at(3, "a", "send L"),
        at(10, "sim", "crash server"),
        at(11, "a", "end closed"),
        at(20, "sim", "restart server"),
        at(30, "server", "join 1.0.0.1:2"),
        at(31, "a.2", "recv WELCOME 1.0.0.1:2"),
        at(32, "a.2", "send L"),
        at(33, "server", "list 1.0.0.1:2 1.0.0.1:2"),
        at(34, "a.2", "recv CLIENTS 1.0.0.1:2"),
        at(35, "a.2", "send Q"),
        at(36, "server", "leave 1.0.0.1:2 quit"),
        at(37, "a.2", "recv BYE"),
        at(38, "a.2", "end bye"),
    ]
}

#[test]
fn a_server_restart_empties_the_room_and_starts_an_incarnation() {
    let outcome = judge(crashed(), Vec::new());
    assert_eq!(outcome.violations, []);
    assert!(outcome.reached.contains("server-restart-rejoined"));
    let mut trace = crashed();
    trace[9] = at(33, "server", "list 1.0.0.1:2 1.0.0.1:1 1.0.0.1:2");
    trace[10] = at(34, "a.2", "recv CLIENTS 1.0.0.1:1 1.0.0.1:2");
    assert_eq!(properties(trace), ["list-exact"]);
}

#[test]
fn giving_up_or_failing_is_a_violation_unless_a_fault_touched_the_connection() {
    let topology = Topology {
        sessions: [("a".to_owned(), ("h".to_owned(), 100))]
            .into_iter()
            .collect(),
    };
    let mut trace = crashed();
    trace[4] = at(11, "a", "end timeout");
    trace.insert(5, at(12, "a.2", "error connection failed"));
    assert_eq!(
        judge_with(&trace, Vec::new(), &topology).violations,
        []
    );
    // The same lines with no crash: nothing excuses them.
    trace.retain(|line| line.host != "sim");
    let found: Vec<String> = judge_with(&trace, Vec::new(), &topology)
        .violations
        .into_iter()
        .map(|violation| violation.property)
        .collect();
    assert!(
        found.contains(&"replies-within-silence".to_owned()),
        "{found:?}"
    );
    assert!(found.contains(&"client-error".to_owned()), "{found:?}");
}

#[test]
fn a_line_after_bye_a_late_welcome_a_stray_reply_and_an_unknown_line_are_each_caught() {
    let mut after_bye = clean();
    after_bye.insert(14, line("b", "recv CLIENTS 1.0.0.1:1"));
    assert!(properties(after_bye).contains(&"nothing-after-bye".to_owned()));

    let mut welcome_late = clean();
    welcome_late.insert(1, line("a", "recv CLIENTS 1.0.0.1:1"));
    let found = properties(welcome_late);
    assert!(found.contains(&"welcome-first".to_owned()), "{found:?}");

    let mut stray = clean();
    stray.insert(4, line("a", "recv SENT 1.0.0.2:2"));
    assert!(properties(stray).contains(&"line-explained".to_owned()));

    let mut unknown = clean();
    unknown.insert(4, line("a", "recv HELLO"));
    assert!(properties(unknown).contains(&"line-explained".to_owned()));
}

#[test]
fn a_join_cut_before_its_first_line_is_explained_only_by_a_fault_on_that_host() {
    let topology = Topology {
        sessions: [
            ("a".to_owned(), ("ha".to_owned(), 1000)),
            ("c".to_owned(), ("hc".to_owned(), 1000)),
        ]
        .into_iter()
        .collect(),
    };
    let trace = vec![
        at(1, "server", "join 1.0.0.1:1"),
        at(2, "a", "recv WELCOME 1.0.0.1:1"),
        at(3, "server", "join 1.0.0.3:1"),
        at(5, "sim", "crash hc"),
        at(6, "server", "leave 1.0.0.3:1 closed"),
        at(9, "a", "end hangup"),
        at(10, "server", "leave 1.0.0.1:1 closed"),
    ];
    assert_eq!(
        judge_with(&trace, Vec::new(), &topology).violations,
        []
    );
    let mut untouched = trace;
    untouched.retain(|line| line.host != "sim");
    let found: Vec<String> = judge_with(&untouched, Vec::new(), &topology)
        .violations
        .into_iter()
        .map(|violation| violation.property)
        .collect();
    assert_eq!(found, ["joins-are-sessions"]);
}

#[test]
fn a_from_naming_another_session_than_the_sender_is_caught_by_true_sender() {
    // b hears the message a sent, but named as coming from b itself,
    // and the server's note agrees: only the senders' own lines show it.
    let mut trace = clean();
    trace[8] = line("server", "route 1.0.0.2:2 1.0.0.2:2 hi  there");
    trace[10] = line("b", "recv FROM 1.0.0.2:2 hi  there");
    let found = properties(trace);
    assert!(found.contains(&"true-sender".to_owned()), "{found:?}");
}

/// One real trace of the adversarial scenario, made once.
fn real_trace() -> &'static [TraceLine] {
    static TRACE: std::sync::OnceLock<Vec<TraceLine>> = std::sync::OnceLock::new();
    TRACE.get_or_init(|| {
        let scenario = crate::scenario::registry::lookup("chat-mischief").expect("a built-in");
        scenario.run(3, &RunOptions::default()).trace
    })
}

/// A way to damage a trace.
#[derive(Debug, Clone)]
enum Mutation {
    Drop(usize),
    Duplicate(usize),
    Swap(usize, usize),
    Text(usize, String),
    Host(usize, String),
    Cut(usize, usize),
    Insert(usize, String, String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let host = prop_oneof![
        Just("server".to_owned()),
        Just("sim".to_owned()),
        Just("m1".to_owned()),
        Just("t1".to_owned()),
        "[a-z#.0-9]{0,6}",
    ];
    let text = prop_oneof![
        "(send|recv|end|join|leave|list|route|busy|unknown|refuse|crash|restart|partition|heal|hold|release|half-close|send-split|send-invalid-utf8|send-too-long|full|error)( [ -~]{0,30}){0,4}",
        "recv (WELCOME|CLIENTS|FROM|SENT|BYE|ERR)( [0-9.:]{0,20}){0,3}",
        ".{0,40}",
    ];
    prop_oneof![
        any::<usize>().prop_map(Mutation::Drop),
        any::<usize>().prop_map(Mutation::Duplicate),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::Swap(a, b)),
        (any::<usize>(), text.clone()).prop_map(|(at, text)| Mutation::Text(at, text)),
        (any::<usize>(), host.clone()).prop_map(|(at, host)| Mutation::Host(at, host)),
        (any::<usize>(), any::<usize>()).prop_map(|(at, keep)| Mutation::Cut(at, keep)),
        (any::<usize>(), host, text).prop_map(|(at, host, text)| Mutation::Insert(at, host, text)),
    ]
}

fn mutate(trace: &mut Vec<TraceLine>, mutation: &Mutation) {
    let len = trace.len();
    if len == 0 {
        return;
    }
    match mutation {
        Mutation::Drop(at) => {
            trace.remove(at % len);
        }
        Mutation::Duplicate(at) => {
            let copy = trace[at % len].clone();
            trace.insert(at % len, copy);
        }
        Mutation::Swap(a, b) => trace.swap(a % len, b % len),
        Mutation::Text(at, text) => trace[at % len].text = text.clone(),
        Mutation::Host(at, host) => trace[at % len].host = host.clone().into(),
        Mutation::Cut(at, keep) => {
            let line = &mut trace[at % len];
            let chars: String = line.text.chars().take(keep % 40).collect();
            line.text = chars;
        }
        Mutation::Insert(at, host, text) => {
            let time_ms = trace[at % len].time_ms;
            trace.insert(at % len, at_line(time_ms, host, text));
        }
    }
}

fn at_line(time_ms: u64, host: &str, text: &str) -> TraceLine {
    TraceLine {
        time_ms,
        host: host.into(),
        text: text.to_owned(),
    }
}

fn any_line() -> impl Strategy<Value = TraceLine> {
    (any::<u64>(), "[a-z#.0-9]{0,8}", ".{0,60}")
        .prop_map(|(time_ms, host, text)| at_line(time_ms, &host, &text))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn the_oracles_return_on_a_real_trace_damaged_in_any_way(
        mutations in proptest::collection::vec(mutation(), 1..12),
    ) {
        let mut trace = real_trace().to_vec();
        for mutation in &mutations {
            mutate(&mut trace, mutation);
        }
        let topology = Topology {
            sessions: [("m1".to_owned(), ("m1".to_owned(), 1000))].into_iter().collect(),
        };
        let _ = judge_with(&trace, Vec::new(), &topology);
    }

    #[test]
    fn the_oracles_return_on_arbitrary_traces(
        trace in proptest::collection::vec(any_line(), 0..40),
    ) {
        let _ = judge(trace, Vec::new());
    }
}

#[test]
fn an_undamaged_real_trace_passes() {
    let outcome = judge(real_trace().to_vec(), Vec::new());
    assert_eq!(outcome.violations, []);
}

#[test]
fn a_lost_message_to_a_client_that_heard_bye_is_caught_even_under_faults() {
    let mut trace = clean();
    trace.insert(0, line("sim", "partition b server"));
    trace.remove(11);
    assert_eq!(properties(trace), ["delivered-all"]);
}
