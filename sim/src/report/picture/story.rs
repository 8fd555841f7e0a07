//! What the header of a picture tells before the diagram: who each
//! lifeline is (the player ids and addresses its session was given), and
//! where in time the violations and the rare events of the run happened, so
//! that the diagram can mark them in place.
//!
//! The oracles judge a finished run and report a violation or a rare event
//! without a time; this module finds the trace line each one is about from
//! the trace's own words (a violation naming `game 2` is about the server's
//! `over 2`; `client-crash` is the harness's `crash c3`). What it cannot
//! place is listed in the header as not located, never marked at a guess.

use std::collections::{BTreeMap, BTreeSet};

use crate::engine::harness::RunOutcome;

use super::HARNESS_HOST;

/// One lifeline's identity: the ids the server gave it, in order
/// (`p3`, or an address in chat), and the socket addresses it used.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Identity {
    pub ids: Vec<String>,
    pub addresses: Vec<String>,
}

/// Each session's identity, from its `recv WELCOME <id>` notes (`recv#`
/// in live) and the local addresses of its wire events.
pub(super) fn identities(outcome: &RunOutcome) -> BTreeMap<String, Identity> {
    let mut identities: BTreeMap<String, Identity> = BTreeMap::new();
    for line in &outcome.trace {
        let mut words = line.text.split(' ');
        let welcome =
            matches!(words.next(), Some("recv" | "recv#")) && words.next() == Some("WELCOME");
        if let (true, Some(id)) = (welcome, words.next()) {
            let ids = &mut identities.entry(line.host.to_string()).or_default().ids;
            if ids.last().map(String::as_str) != Some(id) {
                ids.push(id.to_owned());
            }
        }
    }
    for event in &outcome.wire {
        let addresses = &mut identities
            .entry(event.session.clone())
            .or_default()
            .addresses;
        if !addresses.contains(&event.local) {
            addresses.push(event.local.clone());
        }
    }
    identities
}

/// What a mark in the diagram is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AnchorKind {
    Violation,
    RareEvent,
}

/// A violation or a rare event, placed at the trace line it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Anchor {
    pub kind: AnchorKind,
    /// `winners-exact`, `simultaneous-claim`.
    pub name: String,
    /// The violation's detail; empty for rare events.
    pub detail: String,
    /// Where it happened: the trace line's time and host; `None` when the
    /// trace does not say.
    pub at: Option<(u64, String)>,
}

/// The violations, then the rare events, each located when the trace says
/// where.
pub(super) fn anchors(outcome: &RunOutcome, first_lost_ms: Option<u64>) -> Vec<Anchor> {
    let mut anchors: Vec<Anchor> = outcome
        .violations
        .iter()
        .map(|violation| Anchor {
            kind: AnchorKind::Violation,
            name: violation.property.clone(),
            detail: violation.detail.clone(),
            at: locate_violation(outcome, &violation.property, &violation.detail),
        })
        .collect();
    anchors.extend(outcome.reached.iter().map(|name| Anchor {
        kind: AnchorKind::RareEvent,
        name: name.clone(),
        detail: String::new(),
        at: locate_rare_event(outcome, name, first_lost_ms),
    }));
    anchors
}

fn at(outcome: &RunOutcome, index: usize) -> (u64, String) {
    let line = &outcome.trace[index];
    (line.time_ms, line.host.to_string())
}

/// A violation is about the draw it names, else the end of the game it
/// names (the server's `over N`, or the end of the run for a game that
/// never ended), else the last line of the session its detail starts with;
/// a bad trace line is about itself; a run that did not finish is about
/// its end.
fn locate_violation(outcome: &RunOutcome, property: &str, detail: &str) -> Option<(u64, String)> {
    let trace = &outcome.trace;
    if property == "trace-format" {
        return trace
            .iter()
            .position(|line| detail.ends_with(line.text.as_str()))
            .map(|index| at(outcome, index));
    }
    if property == "liveness" {
        return trace.len().checked_sub(1).map(|index| at(outcome, index));
    }
    let words: Vec<&str> = detail
        .split([' ', ':', ','])
        .filter(|word| !word.is_empty())
        .collect();
    // A draw the oracle names: `drew 69 twice` (tombola: its second
    // `draw _ 69`), `drew 91` (its first), `draw 12 is 69` (live: the
    // server's `draw <game> 12 69`).
    let draw_line = |matches: &dyn Fn(&[&str]) -> bool, nth: usize| {
        trace
            .iter()
            .enumerate()
            .filter(|(_, line)| {
                let words: Vec<&str> = line.text.split(' ').collect();
                line.host == "server" && words[0] == "draw" && matches(&words)
            })
            .nth(nth)
            .map(|(index, _)| at(outcome, index))
    };
    if let Some(position) = words.iter().position(|word| *word == "drew") {
        if let Some(&number) = words.get(position + 1) {
            let twice = words.get(position + 2) == Some(&"twice");
            let found = draw_line(
                &|draw: &[&str]| draw.last() == Some(&number),
                usize::from(twice),
            );
            if found.is_some() {
                return found;
            }
        }
    }
    if let Some(position) = words
        .windows(3)
        .position(|triple| triple[0] == "draw" && triple[2] == "is")
    {
        let (sequence, number) = (words[position + 1], words.get(position + 3).copied());
        let found = draw_line(
            &|draw: &[&str]| draw.len() == 4 && draw[2] == sequence && Some(draw[3]) == number,
            0,
        );
        if found.is_some() {
            return found;
        }
    }
    let game = words
        .windows(2)
        .find(|pair| pair[0] == "game" && pair[1].parse::<u64>().is_ok())
        .map(|pair| pair[1]);
    if let Some(game) = game {
        let of_game = |line: &crate::engine::trace::TraceLine, verb: &str| {
            let mut words = line.text.split(' ');
            line.host == "server" && words.next() == Some(verb) && words.next() == Some(game)
        };
        // A game that never ended is about the end of the run.
        let end = trace
            .iter()
            .position(|line| of_game(line, "over"))
            .or(trace.len().checked_sub(1));
        if let Some(index) = end {
            return Some(at(outcome, index));
        }
    }
    let host = words.first()?;
    trace
        .iter()
        .rposition(|line| line.host == *host)
        .map(|index| at(outcome, index))
}

/// The first trace line that shows the rare event `name`, for the events
/// the trace names in words; `None` for the rest (races the oracles find
/// by comparing many lines, such as `join-during-draw`), which the header
/// lists as not located.
fn locate_rare_event(
    outcome: &RunOutcome,
    name: &str,
    first_lost_ms: Option<u64>,
) -> Option<(u64, String)> {
    let server_note = |verb: &'static str, test: fn(&[&str]) -> bool| {
        move |host: &str, words: &[&str]| host == "server" && words[0] == verb && test(words)
    };
    let harness = |verb: &'static str, server: bool| {
        move |host: &str, words: &[&str]| {
            host == HARNESS_HOST && words[0] == verb && (words.get(1) == Some(&"server")) == server
        }
    };
    type Test<'a> = Box<dyn Fn(&str, &[&str]) -> bool + 'a>;
    let test: Test = match name {
        // tombola: `over 1 winners p1 p3`; live: a `late` claim.
        "simultaneous-claim" => Box::new(|host: &str, words: &[&str]| {
            host == "server"
                && ((words[0] == "over" && words.get(2) == Some(&"winners") && words.len() >= 5)
                    || (words[0] == "claim" && words.last() == Some(&"late")))
        }),
        "no-winner" => Box::new(server_note("over", |words| {
            words.get(2) == Some(&"winners") && words.len() == 3
        })),
        "false-claim" => Box::new(server_note("claim", |words| {
            matches!(words.last(), Some(&"false" | &"invalid"))
        })),
        "claim-barred" => Box::new(server_note("claim", |words| {
            words.last() == Some(&"barred")
        })),
        "quit" => Box::new(server_note("quit", |_| true)),
        "sent-away" => Box::new(server_note("goodbye", |_| true)),
        "disconnect" => Box::new(server_note("drop", |words| {
            matches!(words.last(), Some(&"numbers-closed" | &"claims-closed"))
        })),
        "client-gave-up" => {
            Box::new(|host: &str, words: &[&str]| host != "server" && words[0] == "gave-up")
        }
        "again" => Box::new(server_note("again", |_| true)),
        "recipient-busy" => Box::new(server_note("busy", |_| true)),
        "send-to-departed" => Box::new(server_note("unknown", |_| true)),
        "message-to-self" => Box::new(server_note("route", |words| {
            words.len() > 2 && words[1] == words[2]
        })),
        // chat: a client that heard nothing ends `end timeout`.
        "silence-timeout" => Box::new(|host: &str, words: &[&str]| {
            host != "server" && words[0] == "end" && words.get(1) == Some(&"timeout")
        }),
        "client-crash" => Box::new(harness("crash", false)),
        "server-crash" | "server-crash-mid-game" => Box::new(harness("crash", true)),
        "client-restart" => Box::new(harness("restart", false)),
        "server-restart-rejoined" => Box::new(harness("restart", true)),
        "partition-healed" | "partition-healed-mid-game" => {
            Box::new(|host: &str, words: &[&str]| host == HARNESS_HOST && words[0] == "heal")
        }
        "hold-released" | "hold-released-mid-game" => {
            Box::new(|host: &str, words: &[&str]| host == HARNESS_HOST && words[0] == "release")
        }
        "several-games" => {
            let second_over = outcome
                .trace
                .iter()
                .enumerate()
                .filter(|(_, line)| line.host == "server" && line.text.starts_with("over "))
                .nth(1)
                .map(|(index, _)| index);
            return second_over.map(|index| at(outcome, index));
        }
        "lost-to-fault" | "lost-on-hangup" | "lost-on-close" => {
            // The first line that never arrived.
            return first_lost_ms.map(|time_ms| (time_ms, String::new()));
        }
        // A rare event named after a harness action or a note's first
        // word (`partition`, `quit`): its first line.
        _ => Box::new(move |_: &str, words: &[&str]| words[0] == name),
    };
    outcome
        .trace
        .iter()
        .position(|line| {
            let words: Vec<&str> = line.text.split(' ').collect();
            test(&line.host, &words)
        })
        .map(|index| at(outcome, index))
}

/// The times at which something (of `kind`, or of any kind) is marked,
/// for the folding to keep.
pub(super) fn anchored_times(anchors: &[Anchor], kind: Option<AnchorKind>) -> BTreeSet<u64> {
    anchors
        .iter()
        .filter(|anchor| kind.is_none_or(|kind| anchor.kind == kind))
        .filter_map(|anchor| anchor.at.as_ref().map(|(time_ms, _)| *time_ms))
        .collect()
}
