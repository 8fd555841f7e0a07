//! Pairs the lines that crossed the wire into messages (a send with its
//! receive) and prints a run as one JSON document.

use std::collections::{BTreeMap, BTreeSet};

use crate::engine::harness::RunOutcome;
use crate::engine::trace::{Direction, WireEvent};

/// One line that crossed the wire, as both ends saw it. Indices point into
/// [`RunOutcome::wire`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Message {
    /// The sending session; when the send was not seen, the session that
    /// owns the receiver's peer address, else that address.
    pub from: String,
    /// The receiving session, when known.
    pub to: Option<String>,
    pub line: String,
    pub sent_ms: Option<u64>,
    /// `None`: the line was sent but never arrived (the connection broke).
    pub received_ms: Option<u64>,
    /// Index of the `sent` wire event.
    pub sent: Option<usize>,
    /// Index of the `received` wire event.
    pub received: Option<usize>,
}

/// Pairs the k-th line sent on a connection (local A, peer B) with the
/// k-th line received on its other end (local B, peer A). A received line
/// must match the sent one's text and not arrive before it; when it does
/// not, the connection's address pair was reused after a break, so the
/// sent line is taken as lost. Sorted by the first wire event of each.
pub fn messages(wire: &[WireEvent]) -> Vec<Message> {
    // Both keyed by the sender's (local, peer).
    let mut sent: BTreeMap<(&str, &str), Vec<usize>> = BTreeMap::new();
    let mut received: BTreeMap<(&str, &str), Vec<usize>> = BTreeMap::new();
    for (index, event) in wire.iter().enumerate() {
        match event.direction {
            Direction::Sent => sent
                .entry((event.local.as_str(), event.peer.as_str()))
                .or_default()
                .push(index),
            Direction::Received => received
                .entry((event.peer.as_str(), event.local.as_str()))
                .or_default()
                .push(index),
        }
    }
    let sessions = sessions_by_address(wire);
    let connections: BTreeSet<(&str, &str)> = sent.keys().chain(received.keys()).copied().collect();
    let mut pairs: Vec<(Option<usize>, Option<usize>)> = Vec::new();
    for connection in connections {
        let sent = sent.get(&connection).map(Vec::as_slice).unwrap_or(&[]);
        let received = received.get(&connection).map(Vec::as_slice).unwrap_or(&[]);
        let (mut next_sent, mut next_received) = (0, 0);
        while next_sent < sent.len() && next_received < received.len() {
            let send = &wire[sent[next_sent]];
            let receive = &wire[received[next_received]];
            if send.line == receive.line && receive.time_ms >= send.time_ms {
                pairs.push((Some(sent[next_sent]), Some(received[next_received])));
                next_sent += 1;
                next_received += 1;
            } else if receive.time_ms < send.time_ms {
                pairs.push((None, Some(received[next_received])));
                next_received += 1;
            } else {
                pairs.push((Some(sent[next_sent]), None));
                next_sent += 1;
            }
        }
        pairs.extend(sent[next_sent..].iter().map(|&index| (Some(index), None)));
        pairs.extend(
            received[next_received..]
                .iter()
                .map(|&index| (None, Some(index))),
        );
    }
    pairs.sort_by_key(|&(sent, received)| sent.or(received));
    pairs
        .into_iter()
        .map(|(sent, received)| {
            let (from, to, line) = match (sent, received) {
                (Some(sent), received) => {
                    let event = &wire[sent];
                    let to = match received {
                        Some(received) => Some(wire[received].session.clone()),
                        None => sessions.get(event.peer.as_str()).map(|s| s.to_string()),
                    };
                    (event.session.clone(), to, event.line.clone())
                }
                (None, Some(received)) => {
                    let event = &wire[received];
                    let from = sessions
                        .get(event.peer.as_str())
                        .map_or_else(|| event.peer.clone(), |s| s.to_string());
                    (from, Some(event.session.clone()), event.line.clone())
                }
                (None, None) => unreachable!("every pair has an end"),
            };
            Message {
                from,
                to,
                line,
                sent_ms: sent.map(|index| wire[index].time_ms),
                received_ms: received.map(|index| wire[index].time_ms),
                sent,
                received,
            }
        })
        .collect()
}

/// Which session owns each socket address (the first one seen with it).
pub(super) fn sessions_by_address(wire: &[WireEvent]) -> BTreeMap<&str, &str> {
    let mut sessions = BTreeMap::new();
    for event in wire {
        sessions
            .entry(event.local.as_str())
            .or_insert(event.session.as_str());
    }
    sessions
}

/// The run as one JSON document: `verdict` (`PASS` or `FAIL`), every field
/// of [`RunOutcome`] (`trace`, `wire`, `violations`, `games`, ...) and
/// `messages`, the wire events paired as by [`messages`]. One line.
pub fn json(outcome: &RunOutcome) -> String {
    #[derive(serde::Serialize)]
    struct Document<'a> {
        verdict: &'static str,
        #[serde(flatten)]
        outcome: &'a RunOutcome,
        messages: Vec<Message>,
    }
    let document = Document {
        verdict: verdict(outcome),
        outcome,
        messages: messages(&outcome.wire),
    };
    let mut text = serde_json::to_string(&document).expect("a run outcome always serializes");
    text.push('\n');
    text
}

fn verdict(outcome: &RunOutcome) -> &'static str {
    if outcome.passed() {
        "PASS"
    } else {
        "FAIL"
    }
}
