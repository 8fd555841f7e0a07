//! Pictures of a run (`crate::report::picture`): the SVG is well-formed XML with one
//! lifeline per session and every line that crossed the wire either drawn
//! as an arrow or listed in a folded row; lost lines, harness events,
//! violations (in place) and awkward text are drawn; every built-in
//! scenario's picture stays short enough to browse, with no overlapping
//! labels and no Rust debug formatting; the output is stable (snapshots),
//! and the JSON reads back with the trace, the wire events and the verdict.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::engine::harness::{RunOptions, RunOutcome, Violation};
use crate::engine::trace::{Direction, TraceLine, WireEvent};
use crate::report::picture::{self, JsonValue};
use crate::scenario::seeds::SeedEntry;

use super::xml_check::check_well_formed;

/// The smallest built-in run with wire events: two sessions on two ports
/// each, 38 lines.
const SMALL_SCENARIO: &str = "live-late-joiner-wins-from-history";
/// A long run (7 sessions, about 1400 wire events).
const LONG_SCENARIO: &str = "live-mixed-players";

fn run_with_wire(name: &str, seed: u64) -> RunOutcome {
    let scenario =
        crate::scenario::registry::lookup(name).unwrap_or_else(|error| panic!("{error}"));
    scenario.run(
        seed,
        &RunOptions {
            keep_wire: true,
            ..RunOptions::default()
        },
    )
}

fn snapshot(name: &str, text: String) {
    insta::with_settings!({snapshot_path => "../../../fixtures/snapshots", prepend_module_to_snapshot => false}, {
        insta::assert_snapshot!(name, text);
    });
}

// ---------------------------------------------------------------------------
// A run made by hand: every kind of mark, and text that needs escaping.

const SERVER: &str = "10.0.0.1:8000";
const C1: &str = "10.0.0.2:49152";
const C2: &str = "10.0.0.3:49152";
const AWKWARD_LINE: &str = "SAY <b>fish & chips</b> \"x\" \u{1} città 🎲";

fn note(time_ms: u64, host: &str, text: &str) -> TraceLine {
    TraceLine {
        time_ms,
        host: host.into(),
        text: text.to_owned(),
    }
}

fn wire(
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

/// Five delivered lines, one lost during a partition (server to c1), one
/// received whose send was never seen, two harness events, and a violation.
fn hand_made_run() -> RunOutcome {
    use Direction::{Received, Sent};
    let trace = vec![
        note(0, "server", "listen 0.0.0.0:8000"),
        note(3, "c1", "recv WELCOME p1"),
        note(4, "c2", "recv WELCOME p2"),
        note(5, "c1", &format!("send {AWKWARD_LINE}")),
        note(10, "sim", "partition c1 server"),
        note(12, "server", "draw 1 7"),
        note(14, "c2", "recv DRAW 1 7"),
        note(14, "c2", "send ACK 1"),
        note(20, "sim", "heal c1 server"),
        note(25, "server", "over 1 winners p2 & \"friends\" <all>"),
        note(31, "c2", "result Won { winners: [\"p2\"] }"),
    ];
    let wire = vec![
        wire(1, "server", SERVER, C1, Sent, "WELCOME p1"),
        wire(2, "server", SERVER, C2, Sent, "WELCOME p2"),
        wire(3, "c1", C1, SERVER, Received, "WELCOME p1"),
        wire(4, "c2", C2, SERVER, Received, "WELCOME p2"),
        wire(5, "c1", C1, SERVER, Sent, AWKWARD_LINE),
        wire(7, "server", SERVER, C1, Received, AWKWARD_LINE),
        wire(12, "server", SERVER, C1, Sent, "DRAW 1 7"),
        wire(12, "server", SERVER, C2, Sent, "DRAW 1 7"),
        wire(14, "c2", C2, SERVER, Received, "DRAW 1 7"),
        wire(14, "c2", C2, SERVER, Sent, "ACK 1"),
        wire(16, "server", SERVER, C2, Received, "ACK 1"),
        wire(30, "c2", C2, SERVER, Received, "OVER 1 WINNERS p2"),
    ];
    RunOutcome {
        trace,
        wire,
        violations: vec![Violation::new(
            "same-draws",
            "c1 <p1> received [] & the server drew [7]",
        )],
        games: 1,
        winners_per_game: vec![1],
        reached: BTreeSet::from(["partition".to_owned()]),
        first_break: None,
        stopped_at_first_break: false,
    }
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[test]
fn the_picture_of_a_hand_made_run_is_well_formed_and_escapes_every_text() {
    let svg = picture::svg(&hand_made_run(), "hand made <run> & co");
    assert_eq!(check_well_formed(&svg), Ok("svg".to_owned()));
    assert!(svg.contains("&lt;b&gt;fish &amp; chips&lt;/b&gt;"), "{svg}");
    assert!(svg.contains("hand made &lt;run&gt; &amp; co"));
    assert!(!svg.contains("<b>") && !svg.contains("<all>"));
    assert!(!svg.contains('\u{1}'));
}

#[test]
fn the_picture_marks_lost_lines_unseen_sends_harness_events_and_the_verdict() {
    let svg = picture::svg(&hand_made_run(), "hand made");
    assert_eq!(count(&svg, "<path class=\"m "), 5, "delivered lines");
    assert_eq!(count(&svg, "<path class=\"lost "), 1, "lost lines");
    assert_eq!(count(&svg, "<path class=\"x\""), 1, "the lost line's x");
    assert_eq!(
        count(&svg, "<path class=\"found "),
        1,
        "lines whose send was not seen"
    );
    assert_eq!(count(&svg, "<line class=\"f\""), 2, "harness bands");
    // partition and heal each name c1 and the server.
    assert_eq!(
        count(&svg, "<path class=\"fd\""),
        4,
        "marks on named lifelines"
    );
    assert!(svg.contains(">FAIL</text>"));
    // In words, in the header, placed at the last line of the session the
    // detail names.
    assert!(
        svg.contains("violation same-draws at 5 ms (⚠ in the diagram): c1 &lt;p1&gt; received none &amp; the server drew [7]"),
        "{svg}"
    );
    assert_eq!(count(&svg, "<g class=\"violation\">"), 1);
    // Notes are drawn; trace lines that repeat a wire line are not.
    assert!(svg.contains(">draw 1 7</text>"));
    assert!(!svg.contains(">recv WELCOME p1<"));
    assert!(!svg.contains(">send ACK 1<"));
}

#[test]
fn lifelines_stand_server_first_then_in_order_of_first_appearance() {
    let mut outcome = hand_made_run();
    // c2 now speaks before anyone, the server last.
    outcome.trace.insert(0, note(0, "c2", "wake up"));
    outcome.trace.retain(|line| line.host != "server");
    outcome.trace.push(note(40, "server", "late"));
    outcome.wire.retain(|event| event.session != "server");
    let svg = picture::svg(&outcome, "order");
    let position = |name: &str| {
        svg.find(&format!("</title>{name}</text>"))
            .unwrap_or_else(|| panic!("no head for {name}"))
    };
    assert!(position("server") < position("c2"));
    assert!(position("c2") < position("c1"));
    assert_eq!(count(&svg, "<line class=\"life\""), 3);
}

#[test]
fn the_picture_of_a_hand_made_run_matches_its_snapshot() {
    snapshot(
        "picture_hand_made_run",
        picture::svg(&hand_made_run(), "hand made run"),
    );
}

#[test]
fn the_json_of_a_hand_made_run_reads_back_with_trace_wire_messages_and_verdict() {
    let outcome = hand_made_run();
    let text = picture::json(&outcome);
    let value: JsonValue = text.parse().expect("the JSON parses");
    assert_eq!(value["verdict"], "FAIL");
    assert_eq!(value["violations"][0]["property"], "same-draws");
    assert_eq!(value["games"], 1);
    let trace = value["trace"].as_array().expect("trace is an array");
    assert_eq!(trace.len(), outcome.trace.len());
    assert_eq!(
        trace[9]["text"], "over 1 winners p2 & \"friends\" <all>",
        "text survives the round trip"
    );
    let wire = value["wire"].as_array().expect("wire is an array");
    assert_eq!(wire.len(), outcome.wire.len());
    assert_eq!(wire[4]["line"], AWKWARD_LINE);
    assert_eq!(wire[4]["direction"], "sent");
    let messages = value["messages"].as_array().expect("messages is an array");
    assert_eq!(messages.len(), 7);
    let lost: Vec<&JsonValue> = messages
        .iter()
        .filter(|message| message["received_ms"].is_null())
        .collect();
    assert_eq!(lost.len(), 1);
    assert_eq!(lost[0]["from"], "server");
    assert_eq!(lost[0]["to"], "c1");
    assert_eq!(lost[0]["line"], "DRAW 1 7");
}

// ---------------------------------------------------------------------------
// Real runs.

/// The sessions of a run, counted without the picture's code.
fn sessions(outcome: &RunOutcome) -> BTreeSet<String> {
    outcome
        .trace
        .iter()
        .map(|line| line.host.to_string())
        .filter(|host| host != "sim")
        .chain(outcome.wire.iter().map(|event| event.session.clone()))
        .collect()
}

/// How many lines were both sent and received, counted per connection
/// without the picture's code: the k-th sent on (A, B) pairs with the k-th
/// received on (B, A).
fn paired_lines(outcome: &RunOutcome) -> (usize, usize) {
    let mut sent: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    let mut received: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for event in &outcome.wire {
        match event.direction {
            Direction::Sent => *sent.entry((&event.local, &event.peer)).or_default() += 1,
            Direction::Received => *received.entry((&event.peer, &event.local)).or_default() += 1,
        }
    }
    let paired: usize = sent
        .iter()
        .map(|(connection, &count)| count.min(received.get(connection).copied().unwrap_or(0)))
        .sum();
    let sent_total: usize = sent.values().sum();
    (paired, sent_total - paired)
}

/// The numbers in every `name="N"` attribute of `svg`, summed.
fn attribute_sum(svg: &str, name: &str) -> usize {
    let needle = format!(" {name}=\"");
    svg.match_indices(&needle)
        .map(|(at, _)| {
            let rest = &svg[at + needle.len()..];
            rest[..rest.find('"').expect("closed")]
                .parse::<usize>()
                .expect("a number")
        })
        .sum()
}

/// Lines drawn as arrows (delivered, lost, send not seen) and lines listed
/// in folded rows.
fn drawn_and_folded(svg: &str) -> (usize, usize) {
    let drawn = count(svg, "<path class=\"m ")
        + count(svg, "<path class=\"lost ")
        + count(svg, "<path class=\"found ");
    (drawn, attribute_sum(svg, "data-lines"))
}

#[test]
fn the_picture_of_a_small_run_shows_every_line_once_and_one_lifeline_per_session() {
    let outcome = run_with_wire(SMALL_SCENARIO, 1);
    let svg = picture::svg(&outcome, "small run");
    assert_eq!(check_well_formed(&svg), Ok("svg".to_owned()));
    let (paired, lost) = paired_lines(&outcome);
    assert!(paired > 10, "the run crossed the wire only {paired} times");
    // A delivered line is two wire events; a lost or unmatched one is one.
    let (drawn, folded) = drawn_and_folded(&svg);
    assert_eq!(drawn + folded, outcome.wire.len() - paired);
    assert!(count(&svg, "<path class=\"m ") <= paired);
    assert!(count(&svg, "<path class=\"lost ") <= lost);
    let sessions = sessions(&outcome);
    assert_eq!(count(&svg, "<line class=\"life\""), sessions.len());
    for session in &sessions {
        assert!(
            svg.contains(&format!("</title>{session}</text>")),
            "no lifeline head for {session}"
        );
    }
}

#[test]
fn the_picture_of_a_small_run_matches_its_snapshot() {
    let outcome = run_with_wire(SMALL_SCENARIO, 1);
    snapshot(
        "picture_live_late_joiner_wins_from_history_seed_1",
        picture::svg(&outcome, &format!("{SMALL_SCENARIO} seed 1")),
    );
}

#[test]
fn the_same_seed_gives_the_same_picture_and_json() {
    let first = run_with_wire(SMALL_SCENARIO, 2);
    let second = run_with_wire(SMALL_SCENARIO, 2);
    assert_eq!(picture::svg(&first, "a"), picture::svg(&second, "a"));
    assert_eq!(picture::json(&first), picture::json(&second));
}

#[test]
fn the_json_of_a_real_run_holds_its_trace_wire_events_and_verdict() {
    let outcome = run_with_wire(SMALL_SCENARIO, 1);
    let value: JsonValue = picture::json(&outcome).parse().expect("the JSON parses");
    assert_eq!(
        value["verdict"],
        if outcome.passed() { "PASS" } else { "FAIL" }
    );
    assert_eq!(
        value["trace"].as_array().map(Vec::len),
        Some(outcome.trace.len())
    );
    assert_eq!(
        value["wire"].as_array().map(Vec::len),
        Some(outcome.wire.len())
    );
    // A delivered line is two wire events; a lost or unmatched one is one.
    let (paired, _) = paired_lines(&outcome);
    assert_eq!(
        value["messages"].as_array().map(Vec::len),
        Some(outcome.wire.len() - paired),
        "every wire event is in exactly one message"
    );
}

#[test]
fn the_picture_of_a_long_run_shows_every_line_and_stays_a_few_hundred_kilobytes() {
    let outcome = run_with_wire(LONG_SCENARIO, 1);
    let svg = picture::svg(&outcome, "long run");
    assert_eq!(check_well_formed(&svg), Ok("svg".to_owned()));
    let (paired, _) = paired_lines(&outcome);
    assert!(paired > 500, "only {paired} lines: not a long run");
    let (drawn, folded) = drawn_and_folded(&svg);
    assert_eq!(drawn + folded, outcome.wire.len() - paired);
    assert!(folded > drawn, "a long run is mostly folded");
    assert!(
        svg.len() < 400_000,
        "{} bytes for {paired} lines",
        svg.len()
    );
}

// ---------------------------------------------------------------------------
// What a person reads: every built-in scenario, seed 1.

/// The tallest picture a person still browses: three screens of about
/// 1,000 px. Past it the race and the verdict scroll out of reach, which is
/// what folding uneventful steps is for; the tallest built-in run today
/// (live-faults, ten faults and four games) is about 2,900 px.
const PICTURE_HEIGHT_PX_MAX: usize = 3000;

/// The height an SVG declares on its root element.
fn declared_height_px(svg: &str) -> usize {
    let root = &svg[svg.find("<svg ").expect("an svg root")..];
    let at = root.find(" height=\"").expect("a height") + " height=\"".len();
    root[at..at + root[at..].find('"').expect("closed")]
        .parse()
        .expect("a number")
}

/// The label boxes (`<rect class="bg" …>`) of a picture: x, y, width, height.
fn label_boxes(svg: &str) -> Vec<(i64, i64, i64, i64)> {
    svg.match_indices("<rect class=\"bg\" ")
        .map(|(at, _)| {
            let tag = &svg[at..at + svg[at..].find("/>").expect("closed")];
            let value = |name: &str| -> i64 {
                let needle = format!(" {name}=\"");
                let start = tag.find(&needle).expect("attribute") + needle.len();
                tag[start..start + tag[start..].find('"').expect("closed")]
                    .parse()
                    .expect("a number")
            };
            (value("x"), value("y"), value("width"), value("height"))
        })
        .collect()
}

#[test]
fn every_built_in_scenario_draws_a_picture_short_enough_to_browse_with_no_overlapping_labels() {
    for scenario in crate::scenario::registry::everything() {
        let name = scenario.name().to_owned();
        let outcome = scenario.run(
            1,
            &RunOptions {
                keep_wire: true,
                ..RunOptions::default()
            },
        );
        let svg = picture::svg(&outcome, &format!("{name} seed 1"));
        assert_eq!(check_well_formed(&svg), Ok("svg".to_owned()), "{name}");
        let height = declared_height_px(&svg);
        assert!(
            height <= PICTURE_HEIGHT_PX_MAX,
            "{name} seed 1 is {height} px tall, over {PICTURE_HEIGHT_PX_MAX}"
        );
        let mut boxes = label_boxes(&svg);
        assert!(!boxes.is_empty(), "{name}: no labels");
        boxes.sort_unstable_by_key(|&(x, y, _, _)| (y, x));
        for (index, &(x, y, width, height)) in boxes.iter().enumerate() {
            for &(other_x, other_y, other_width, _) in boxes[index + 1..]
                .iter()
                .take_while(|&&(_, other_y, _, _)| other_y < y + height)
            {
                let apart = x + width <= other_x || other_x + other_width <= x;
                assert!(
                    apart,
                    "{name}: labels at ({x}, {y}) and ({other_x}, {other_y}) overlap"
                );
            }
        }
        // Client notes carry Rust debug forms; the picture puts them in words.
        for debug_form in ["Won {", "Lost {", "Dropped {", "winners: [", "&quot;p"] {
            assert!(
                !svg.contains(debug_form),
                "{name}: {debug_form:?} in the picture"
            );
        }
    }
}

#[test]
fn lifelines_say_which_player_or_address_each_session_was_given() {
    let outcome = run_with_wire("tombola-simultaneous-claims", 1);
    let svg = picture::svg(&outcome, "ids");
    // The run's own notes say who is who: `c1 recv WELCOME p3`.
    for line in &outcome.trace {
        if let Some(id) = line.text.strip_prefix("recv WELCOME ") {
            let head = format!("</title>{}</text>\n<text class=\"who\"", line.host);
            let at = svg
                .find(&head)
                .unwrap_or_else(|| panic!("no head for {}", line.host));
            let who = &svg[at + head.len()..];
            let who = &who[..who.find("</text>").expect("closed")];
            assert!(who.ends_with(&format!(">{id}")), "{}: {who}", line.host);
        }
    }
    let chat = run_with_wire("chat-small-room", 1);
    let svg = picture::svg(&chat, "addresses");
    let welcomed = chat
        .trace
        .iter()
        .find_map(|line| line.text.strip_prefix("recv WELCOME "))
        .expect("a chat client is welcomed with its address");
    assert!(svg.contains(&format!(">{welcomed}</text>")));
    assert!(svg.contains("lifeline  given id"), "the who-is-who table");
}

#[test]
fn a_violation_is_marked_where_it_happens_and_named_in_the_header() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/seeds/tombola-first-claim-only-bug.toml");
    let entry = SeedEntry::load(&path).expect("the recorded seed loads");
    let outcome = entry.scenario.run(
        entry.seed,
        &RunOptions {
            keep_wire: true,
            ..RunOptions::default()
        },
    );
    assert!(!outcome.passed());
    let svg = picture::svg(&outcome, "failing seed");
    // The game ends (the server's `over 1`) where the oracle finds it wrong.
    let over = outcome
        .trace
        .iter()
        .find(|line| line.host == "server" && line.text.starts_with("over 1"))
        .expect("game 1 ends");
    let violation = &outcome.violations[0];
    let marked = format!(
        "{} ms ⚠ VIOLATION {}</text>",
        format_thousands(over.time_ms),
        violation.property
    );
    assert!(svg.contains(&marked), "no {marked:?} in the picture");
    // The mark sits in the diagram at the row of that millisecond: its
    // line is drawn just above the time axis label of `over 1` (whose
    // baseline is 3 px below the row's top; the line 7 px above it).
    let tick = format!(">{}</text>", over.time_ms);
    let tick_at = svg
        .find(&tick)
        .expect("the time axis shows the end of game 1");
    let tick_y = number_before(&svg[..tick_at], " y=\"");
    let group_at = svg
        .find("<g class=\"violation\">")
        .expect("a violation mark");
    let line_y = number_after(&svg[group_at..], " y1=\"");
    assert_eq!(
        line_y,
        tick_y - 10,
        "the mark is not at {} ms",
        over.time_ms
    );
    // The header says it first, in words, with the time.
    let header_at = svg
        .find(&format!(
            "violation {} at {}",
            violation.property,
            format_thousands(over.time_ms)
        ))
        .expect("the header names the violation");
    assert!(header_at < group_at);
    assert!(svg.contains("FAIL: 1 violation"));
}

fn format_thousands(number: u64) -> String {
    let digits = number.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// The number in the last `needle"N"` of `text`.
fn number_before(text: &str, needle: &str) -> i64 {
    let at = text.rfind(needle).expect("attribute") + needle.len();
    text[at..at + text[at..].find('"').expect("closed")]
        .parse()
        .expect("a number")
}

/// The number in the first `needle"N"` of `text`.
fn number_after(text: &str, needle: &str) -> i64 {
    let at = text.find(needle).expect("attribute") + needle.len();
    text[at..at + text[at..].find('"').expect("closed")]
        .parse()
        .expect("a number")
}

#[test]
fn folded_rows_keep_every_line_and_note_they_hide() {
    let outcome = run_with_wire("tombola-four-players-latency", 1);
    let svg = picture::svg(&outcome, "folded");
    let folds: Vec<&str> = svg
        .match_indices("<g class=\"folded\"")
        .map(|(at, _)| &svg[at..at + svg[at..].find("</g>").expect("closed")])
        .collect();
    assert!(!folds.is_empty(), "a 4-player game folds its middle draws");
    let tooltips: String = folds
        .iter()
        .map(|fold| {
            let start = fold.find("<title>").expect("a tooltip") + "<title>".len();
            &fold[start..start + fold[start..].find("</title>").expect("closed")]
        })
        .collect::<Vec<&str>>()
        .join("\n");
    let (drawn, folded) = drawn_and_folded(&svg);
    let (paired, _) = paired_lines(&outcome);
    assert_eq!(drawn + folded, outcome.wire.len() - paired);
    // Every folded line is listed with its sender, receiver and times; the
    // count of listed lines matches what the rows say they hold.
    let listed_lines = tooltips.lines().filter(|line| line.contains(" → ")).count();
    assert_eq!(listed_lines, folded);
    // Every server draw is either drawn as a note or listed in a fold.
    for line in outcome
        .trace
        .iter()
        .filter(|line| line.text.starts_with("draw "))
    {
        let drawn = svg.contains(&format!(">{}</text>", line.text));
        let listed = tooltips.contains(&format!("{} ms server note: {}", line.time_ms, line.text));
        assert!(
            drawn != listed,
            "{} ms {}: drawn {drawn}, listed {listed}",
            line.time_ms,
            line.text
        );
    }
    // Each fold opens a list in place: a link to an element with its id.
    for index in 1..=folds.len() {
        assert!(svg.contains(&format!("<a href=\"#fold-{index}\">")));
        assert!(svg.contains(&format!("<g class=\"list\" id=\"fold-{index}\">")));
    }
}
