//! Unit tests of the picture's parts: label room, folding, lifelines.

use super::*;
use crate::engine::trace::{Direction, TraceLine};

fn event(
    time_ms: u64,
    session: &str,
    local: &str,
    peer: &str,
    direction: Direction,
    line: &str,
) -> WireEvent {
    WireEvent {
        time_ms,
        session: session.to_owned(),
        local: local.to_owned(),
        peer: peer.to_owned(),
        direction,
        line: line.to_owned(),
    }
}

#[test]
fn a_reused_address_pair_does_not_pair_lines_across_connections() {
    use Direction::{Received, Sent};
    // The first connection breaks with "B" in flight; a new one reuses
    // the same addresses and carries "C".
    let wire = vec![
        event(1, "s", "a:1", "b:2", Sent, "A"),
        event(2, "c", "b:2", "a:1", Received, "A"),
        event(3, "s", "a:1", "b:2", Sent, "B"),
        event(9, "s", "a:1", "b:2", Sent, "C"),
        event(11, "c", "b:2", "a:1", Received, "C"),
    ];
    let pairs: Vec<(Option<usize>, Option<usize>)> = messages(&wire)
        .iter()
        .map(|message| (message.sent, message.received))
        .collect();
    assert_eq!(
        pairs,
        vec![(Some(0), Some(1)), (Some(2), None), (Some(3), Some(4))]
    );
    let lost = &messages(&wire)[1];
    assert_eq!((lost.from.as_str(), lost.to.as_deref()), ("s", Some("c")));
}

#[test]
fn a_run_past_the_drawing_limit_is_cut_and_says_so() {
    use Direction::{Received, Sent};
    let lines = WIRE_EVENTS_DRAWN_MAX; // twice as many wire events
    let mut outcome = RunOutcome::default();
    for index in 0..lines as u64 {
        let line = format!("PING {index}");
        outcome
            .wire
            .push(event(10 * index, "server", "a:1", "b:2", Sent, &line));
        outcome
            .wire
            .push(event(10 * index + 1, "c1", "b:2", "a:1", Received, &line));
    }
    outcome.trace.push(TraceLine {
        time_ms: 0,
        host: "server".into(),
        text: "listen".to_owned(),
    });
    let svg = svg(&outcome, "long");
    assert!(svg.contains(&format!(
        "Only the first {WIRE_EVENTS_DRAWN_MAX} wire events are drawn"
    )));
    let arrows = svg.matches("<path class=\"m ").count();
    assert_eq!(arrows, WIRE_EVENTS_DRAWN_MAX / 2);
}
