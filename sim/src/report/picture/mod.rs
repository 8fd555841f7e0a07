//! Pictures of one simulated run, for people and for tools. [`svg`] draws a
//! message-sequence diagram a browser opens and a person reads in seconds:
//! a header with the verdict, the violations and the rare events (each with
//! its time) and a table of who each lifeline is (player ids, addresses);
//! then one lifeline per session, an arrow per line that crossed the wire
//! (from the sender at its send time to the receiver at its receive time,
//! labelled on its middle), lost lines as arrows ending in an x, the
//! sessions' notes as small marks, harness events (faults) as dashed bands,
//! and the violations and rare events marked where they happen. Repeated
//! uneventful stretches are folded into one row that lists what it holds
//! (see [`layout`]). [`json`] prints the same run as one JSON document: the
//! outcome, the verdict and the paired messages. Both depend only on the
//! outcome, so a seed always gives the same picture.

mod arrow;
mod fold;
mod header;
mod labels;
mod layout;
mod pairing;
mod story;
mod words;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::engine::harness::RunOutcome;
use crate::engine::trace::WireEvent;

use arrow::*;
use fold::*;
use header::*;
use labels::*;
use layout::{Fold, Inputs, Layout, FOLD_MARGIN_PX, FOLD_ROW_PX, IDLE_GAP_MAX_PX};
use pairing::sessions_by_address;
pub use pairing::{json, messages, Message};
use story::{Anchor, AnchorKind};
use words::{escape, escape_lines, in_words, shorten};

/// serde_json's value type, so that readers of [`json`] (such as the
/// workspace's integration tests, which do not depend on serde_json) parse
/// it with the library that wrote it.
#[cfg(test)]
pub use serde_json::Value as JsonValue;

/// The trace host the harness records its own events (faults) under.
const HARNESS_HOST: &str = "sim";

/// Vertical space of one event row; fits one 10 px label.
const ROW_PX: i64 = 13;
/// Horizontal distance between two lifelines: room for one arrow label.
const LIFELINE_SPACING_PX: i64 = 190;
/// Where the first lifeline stands; the time axis lives left of it.
const FIRST_LIFELINE_X: i64 = 120;
/// Where the time axis labels end.
const AXIS_X: i64 = 44;
/// Where the labels of harness events, violations and rare events start,
/// right of the last lifeline: past the notes drawn beside it.
const RIGHT_COLUMN_OFFSET_PX: i64 = LIFELINE_SPACING_PX;
/// Room right of the last lifeline for those labels.
const RIGHT_COLUMN_PX: i64 = RIGHT_COLUMN_OFFSET_PX + 330;
/// Characters of a label drawn in full; longer ones are cut at a word
/// (with an ellipsis) and shown whole in the mark's tooltip. Centred on an
/// arrow between two neighbouring lifelines, 25 characters of the 10 px
/// monospace font end 20 px short of either lifeline, clear of the
/// arrowheads that land there.
const LABEL_CHARS_MAX: usize = 25;
/// Characters of a lifeline's name or identity in its head box.
const NAME_CHARS_MAX: usize = 20;
/// Characters of one header line (a violation can be long).
const HEADER_CHARS_MAX: usize = 170;
/// Past this many wire events the rest of the run is left out, so that a
/// browser still opens the file and it stays a few hundred KB.
const WIRE_EVENTS_DRAWN_MAX: usize = 6000;
/// Lifeline names are repeated this often down a long diagram.
const NAME_REPEAT_PX: i64 = 1000;
/// How far a lost line travels toward its receiver before its x.
const LOST_FRACTION_PERCENT: i64 = 55;
/// Lines of a folded row's list shown when it is opened (clicked); the
/// row's tooltip holds them all. 40 lines of 12 px fit on one screen.
const FOLD_LIST_LINES_MAX: usize = 40;
/// A violation's or rare event's band runs this far above the first row
/// of its millisecond: between that row's labels and the row before.
const ANCHOR_ABOVE_ROW_PX: i64 = 7;
/// Height of one header line.
const HEADER_LINE_PX: i64 = 15;

/// Colours of the sessions' arrows, by lifeline. Red, orange and purple
/// are kept for faults, lost lines, violations and rare events.
const PALETTE: [&str; 8] = [
    "#1f77b4", "#2ca02c", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22", "#393b79",
];
const FAULT_COLOUR: &str = "#e6550d";
const FAIL_COLOUR: &str = "#d62728";
const PASS_COLOUR: &str = "#2ca02c";
const RARE_COLOUR: &str = "#7b2fbe";

/// A trace line that only repeats a wire event (`recv WELCOME p1` beside
/// the received `WELCOME p1`): the arrow already shows it. Matched by
/// session, time and text after the first word (`recv`, `send`, `recv#`),
/// each wire event excusing at most one trace line.
fn wire_echoes(outcome: &RunOutcome) -> Vec<bool> {
    let mut unmatched: BTreeMap<(u64, &str, &str), usize> = BTreeMap::new();
    for event in &outcome.wire {
        *unmatched
            .entry((event.time_ms, event.session.as_str(), event.line.as_str()))
            .or_default() += 1;
    }
    outcome
        .trace
        .iter()
        .map(|line| {
            let Some((_, rest)) = line.text.split_once(' ') else {
                return false;
            };
            match unmatched.get_mut(&(line.time_ms, line.host.as_str(), rest)) {
                Some(count) if *count > 0 => {
                    *count -= 1;
                    true
                }
                _ => false,
            }
        })
        .collect()
}

/// The sessions, left to right: the server first if there is one, then in
/// order of first appearance in the trace or on the wire.
fn lifelines(outcome: &RunOutcome) -> Vec<String> {
    // (first time, trace before wire, index in its record)
    let mut first_seen: BTreeMap<&str, (u64, usize, usize)> = BTreeMap::new();
    let trace = outcome
        .trace
        .iter()
        .enumerate()
        .filter(|(_, line)| line.host != HARNESS_HOST)
        .map(|(index, line)| (line.host.as_str(), (line.time_ms, 0, index)));
    let wire = outcome
        .wire
        .iter()
        .enumerate()
        .map(|(index, event)| (event.session.as_str(), (event.time_ms, 1, index)));
    for (session, seen) in trace.chain(wire) {
        let earliest = first_seen.entry(session).or_insert(seen);
        *earliest = (*earliest).min(seen);
    }
    let mut names: Vec<(&str, (u64, usize, usize))> = first_seen.into_iter().collect();
    names.sort_by_key(|&(name, seen)| (name != "server", seen));
    names.into_iter().map(|(name, _)| name.to_owned()).collect()
}

fn lifeline_x(lane: usize) -> i64 {
    FIRST_LIFELINE_X + lane as i64 * LIFELINE_SPACING_PX
}

fn colour_class(lane: usize) -> usize {
    lane % PALETTE.len()
}

/// Shared by every element, so that an arrow costs its coordinates and a
/// class, not its looks: a 90-draw game stays a few hundred KB. A folded
/// row's list (`.list`) shows when the row's link targets it (`:target`),
/// which works in a browser with no script.
const STYLE: &str = "text{font:10px ui-monospace,Menlo,Consolas,monospace;fill:#222}.bg{fill:#fff;fill-opacity:.9}\
.e{text-anchor:end}.mid{text-anchor:middle}.t{font-size:16px;font-weight:bold}.v{font-size:18px;font-weight:bold}.h{font-size:11px}\
.pass{fill:PASS}.fail{fill:FAIL}.rare{fill:RARE}.k{fill:#666}\
.life{stroke:#bbb}.head{fill:#f4f4f4;stroke:#888}.name{font-size:11px;font-weight:bold;text-anchor:middle}.who{fill:#555;text-anchor:middle}\
.rep{fill:#999;text-anchor:middle}.axis{stroke:#ccc}.tick{fill:#888;text-anchor:end}.brk{stroke:#888;fill:none}\
.m,.lost,.found{fill:none}.lost,.found{stroke-dasharray:4 3}.x{stroke:FAIL;stroke-width:2;fill:none}.dot{fill:FAIL}\
.nd{fill:#555}.n{fill:#444;font-style:italic}\
.f{stroke:FAULT;stroke-width:1.5;stroke-dasharray:6 3}.fd{fill:FAULT}text.f{fill:FAULT;stroke:none;font-weight:bold}\
.va{stroke:FAIL;stroke-width:3}.vd{fill:FAIL}text.va{fill:FAIL;stroke:none;font-weight:bold;font-size:12px}\
.ra{stroke:RARE;stroke-width:1.5;stroke-dasharray:2 2}.rd{fill:RARE}text.ra{fill:RARE;stroke:none;font-weight:bold}\
.fold{fill:#eef2f7;stroke:#9aa9bd;stroke-dasharray:3 2}.fold:hover{fill:#dfe7f2}.ft{fill:#234}.fs{fill:#567}\
.list{display:none}.list:target{display:inline}.lbox{fill:#fffef4;stroke:#9aa9bd}.close{fill:#a00}\
.bottom{stroke:#888}";

fn style() -> String {
    let mut style = STYLE
        .replace("PASS", PASS_COLOUR)
        .replace("FAIL", FAIL_COLOUR)
        .replace("FAULT", FAULT_COLOUR)
        .replace("RARE", RARE_COLOUR);
    for (index, colour) in PALETTE.iter().enumerate() {
        let _ = write!(
            style,
            "path.c{index}{{stroke:{colour}}}.m.c{index},.found.c{index}{{marker-end:url(#a{index})}}text.c{index}{{fill:{colour}}}"
        );
    }
    style
}

/// `1,234`: times in the header and folded rows are read, not parsed.
fn ms(time_ms: u64) -> String {
    let digits = time_ms.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// The run as an SVG message-sequence diagram titled `title` (say, the
/// scenario and the seed). Draws wire events when the run kept them
/// (`RunOptions::keep_wire`); without them it shows the notes only.
///
/// Each drawn delivered line is a `<path class="m …">`, each lost one a
/// `<path class="lost …">`, each line whose send was not seen a
/// `<path class="found …">`, each session a `<line class="life" …>`; each
/// folded row a `<g class="folded" data-lines="N" data-notes="M">` whose
/// `<title>` lists the N lines and M notes it hides; each violation marked
/// in place a `<g class="violation">`, each located rare event a
/// `<g class="rare-event">`.
pub fn svg(outcome: &RunOutcome, title: &str) -> String {
    let names = lifelines(outcome);
    let lanes: BTreeMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(lane, name)| (name.as_str(), lane))
        .collect();
    let echoes = wire_echoes(outcome);
    let all_messages = messages(&outcome.wire);
    let cut_ms = cut_time_ms(&outcome.wire);
    // The first line lost (or found) on each connection is an event worth
    // drawing; the same loss at every later draw is repetition, folded.
    let mut unpaired = vec![false; outcome.wire.len()];
    let mut connections_seen: BTreeSet<(&str, &str)> = BTreeSet::new();
    for message in &all_messages {
        if message.sent.is_none() || message.received.is_none() {
            for &index in message.sent.iter().chain(&message.received) {
                let event = &outcome.wire[index];
                if connections_seen.insert((event.local.as_str(), event.peer.as_str())) {
                    unpaired[index] = true;
                }
            }
        }
    }
    let first_lost_ms = all_messages
        .iter()
        .filter(|message| message.received.is_none())
        .filter_map(|message| message.sent_ms)
        .min();
    let anchors = story::anchors(outcome, first_lost_ms);
    let anchored_ms = story::anchored_times(&anchors, None);
    let violation_ms = story::anchored_times(&anchors, Some(AnchorKind::Violation));
    let identities = story::identities(outcome);
    let end_ms = outcome
        .trace
        .iter()
        .map(|line| line.time_ms)
        .chain(outcome.wire.iter().map(|event| event.time_ms))
        .max()
        .unwrap_or(0);

    let header = header_lines(outcome, &names, &all_messages, &anchors, cut_ms, end_ms);
    let who = who_is_who(&names, &identities);
    let header_end_y = 60 + (header.len() + who.len()) as i64 * HEADER_LINE_PX;
    let heads_y = header_end_y + 14;
    let top_y = heads_y + 48;
    let layout = layout::layout(
        outcome,
        &Inputs {
            lanes: &lanes,
            echoes: &echoes,
            unpaired: &unpaired,
            anchored_ms: &anchored_ms,
            violation_ms: &violation_ms,
            cut_ms,
            top_y,
        },
    );
    let last_x = lifeline_x(names.len().saturating_sub(1));
    let width = (last_x + RIGHT_COLUMN_PX).max(12 + HEADER_CHARS_MAX as i64 * 7);
    let height = layout.bottom_y + 40;

    let mut out = String::with_capacity(160 * outcome.wire.len() + 8192);
    let _ = write!(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\">\n<title>{}</title>\n<style>{}</style>\n<defs>",
        escape(title),
        style()
    );
    for (index, colour) in PALETTE.iter().enumerate() {
        let _ = write!(
            out,
            "<marker id=\"a{index}\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\"><path d=\"M0 0L10 5L0 10z\" fill=\"{colour}\"/></marker>"
        );
    }
    out.push_str("</defs>\n<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n");

    // Header: title and verdict, violations, rare events, figures, who is
    // who, how to read.
    let (verdict_class, verdict_text) = if outcome.passed() {
        ("pass", "PASS".to_owned())
    } else {
        let count = outcome.violations.len();
        let plural = if count == 1 { "" } else { "s" };
        ("fail", format!("FAIL: {count} violation{plural}"))
    };
    let _ = writeln!(
        out,
        "<text class=\"t\" x=\"12\" y=\"24\">{}</text>\n<text class=\"v {verdict_class}\" x=\"12\" y=\"48\">{verdict_text}</text>",
        escape(&shorten(title, HEADER_CHARS_MAX))
    );
    for (row, (class, line)) in header.iter().chain(&who).enumerate() {
        let text = escape(&shorten(line, HEADER_CHARS_MAX));
        let tooltip = if line.chars().count() > HEADER_CHARS_MAX {
            format!("<title>{}</title>", escape(line))
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "<text class=\"h{class}\" x=\"12\" y=\"{}\" xml:space=\"preserve\">{tooltip}{text}</text>",
            70 + row as i64 * HEADER_LINE_PX
        );
    }

    // Lifelines with their heads (name, and who it is), names repeated down
    // long diagrams, and the time axis.
    let _ = writeln!(
        out,
        "<line class=\"axis\" x1=\"{x}\" y1=\"{top_y}\" x2=\"{x}\" y2=\"{}\"/><text class=\"tick\" x=\"{AXIS_X}\" y=\"{}\">ms</text>",
        layout.bottom_y,
        top_y - 12,
        x = AXIS_X + 6,
    );
    for (lane, name) in names.iter().enumerate() {
        let x = lifeline_x(lane);
        let label = escape(&shorten(name, NAME_CHARS_MAX));
        let identity = identities
            .get(name)
            .map(|identity| identity.ids.join(" → "))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "<line class=\"life\" x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\"/><rect class=\"head\" x=\"{}\" y=\"{heads_y}\" width=\"150\" height=\"34\" rx=\"3\"/><text class=\"name\" x=\"{x}\" y=\"{}\"><title>{}</title>{label}</text>",
            heads_y + 34,
            layout.bottom_y,
            x - 75,
            heads_y + 14,
            escape(name),
        );
        if !identity.is_empty() {
            let _ = writeln!(
                out,
                "<text class=\"who\" x=\"{x}\" y=\"{}\"><title>{}</title>{}</text>",
                heads_y + 27,
                escape(&identity),
                escape(&shorten(&identity, NAME_CHARS_MAX + 4)),
            );
        }
        let mut repeat_y = top_y + NAME_REPEAT_PX;
        while repeat_y + NAME_REPEAT_PX / 2 < layout.bottom_y {
            let _ = writeln!(
                out,
                "<text class=\"rep\" x=\"{x}\" y=\"{repeat_y}\">{label}</text>"
            );
            repeat_y += NAME_REPEAT_PX;
        }
    }
    let mut last_label_y: Option<i64> = None;
    for &(time_ms, tick_y, shortened) in &layout.ticks {
        if shortened {
            let _ = writeln!(
                out,
                "<path class=\"brk\" d=\"M{} {}l8 -4m-8 8l8 -4\"/>",
                AXIS_X + 2,
                tick_y - IDLE_GAP_MAX_PX / 2 - 1
            );
        }
        if last_label_y.is_none_or(|last_y| tick_y - last_y >= ROW_PX) {
            let _ = writeln!(
                out,
                "<text class=\"tick\" x=\"{AXIS_X}\" y=\"{}\">{time_ms}</text>",
                tick_y + 3
            );
            last_label_y = Some(tick_y);
        }
    }

    // The right column's labels (harness events, violations, rare
    // events), placed top to bottom, each at least a row below the last.
    let anchor_y = |anchor: &Anchor| {
        let (time_ms, _) = anchor.at.as_ref()?;
        layout.slot_y.get(time_ms).map(|y| y - ANCHOR_ABOVE_ROW_PX)
    };
    let mut wanted: Vec<(i64, usize)> = Vec::new();
    for (index, mark_y) in layout.harness_y.iter().enumerate() {
        if let Some(mark_y) = mark_y {
            wanted.push((mark_y + 3, index));
        }
    }
    for (index, anchor) in anchors.iter().enumerate() {
        if let Some(mark_y) = anchor_y(anchor) {
            wanted.push((mark_y + 4, outcome.trace.len() + index));
        }
    }
    wanted.sort_unstable();
    let mut right_label_y: BTreeMap<usize, i64> = BTreeMap::new();
    let mut next_free_y = 0;
    for (wanted_y, key) in wanted {
        let y = wanted_y.max(next_free_y);
        right_label_y.insert(key, y);
        next_free_y = y + ROW_PX;
    }

    // Harness events: a band across every lifeline and a mark on each one
    // the event names, labelled in the right column.
    for (index, line) in outcome.trace.iter().enumerate() {
        let Some(mark_y) = layout.harness_y[index] else {
            continue;
        };
        let _ = write!(
            out,
            "<line class=\"f\" x1=\"{}\" y1=\"{mark_y}\" x2=\"{}\" y2=\"{mark_y}\"/>",
            FIRST_LIFELINE_X - 40,
            last_x + RIGHT_COLUMN_OFFSET_PX - 6,
        );
        let named: BTreeSet<&str> = line.text.split(' ').collect();
        for (lane, name) in names.iter().enumerate() {
            if named.contains(name.as_str()) {
                let _ = write!(
                    out,
                    "<path class=\"fd\" d=\"M{} {}l6 6l-6 6l-6 -6z\"/>",
                    lifeline_x(lane),
                    mark_y - 6
                );
            }
        }
        let label_y = right_label_y[&index];
        let text = in_words(&line.text);
        let _ = writeln!(
            out,
            "<text class=\"f\" x=\"{}\" y=\"{label_y}\"><title>{} ms {}</title>{} ms {}</text>",
            last_x + RIGHT_COLUMN_OFFSET_PX,
            line.time_ms,
            escape(&text),
            ms(line.time_ms),
            escape(&shorten(&text, 2 * LABEL_CHARS_MAX)),
        );
    }

    // Violations and rare events, where they happened.
    for (index, anchor) in anchors.iter().enumerate() {
        let (Some((time_ms, host)), Some(mark_y)) = (&anchor.at, anchor_y(anchor)) else {
            continue;
        };
        let (group, line_class, dot_class, text) = match anchor.kind {
            AnchorKind::Violation => (
                "violation",
                "va",
                "vd",
                format!("⚠ VIOLATION {}", anchor.name),
            ),
            AnchorKind::RareEvent => ("rare-event", "ra", "rd", format!("★ {}", anchor.name)),
        };
        let tooltip = if anchor.detail.is_empty() {
            format!("{} at {} ms", anchor.name, ms(*time_ms))
        } else {
            format!(
                "violation {} at {} ms: {}",
                anchor.name,
                ms(*time_ms),
                in_words(&anchor.detail)
            )
        };
        let label_y = right_label_y[&(outcome.trace.len() + index)];
        let _ = write!(
            out,
            "<g class=\"{group}\"><title>{}</title><line class=\"{line_class}\" x1=\"{}\" y1=\"{mark_y}\" x2=\"{}\" y2=\"{mark_y}\"/>",
            escape(&tooltip),
            FIRST_LIFELINE_X - 40,
            last_x + RIGHT_COLUMN_OFFSET_PX - 6,
        );
        if let Some(&lane) = lanes.get(host.as_str()) {
            let _ = write!(
                out,
                "<circle class=\"{dot_class}\" cx=\"{}\" cy=\"{mark_y}\" r=\"5\"/>",
                lifeline_x(lane)
            );
        }
        let _ = writeln!(
            out,
            "<text class=\"{line_class}\" x=\"{}\" y=\"{label_y}\">{} ms {}</text></g>",
            last_x + RIGHT_COLUMN_OFFSET_PX,
            ms(*time_ms),
            escape(&text),
        );
    }

    // Arrows and dots first, all labels after, so that no line is drawn
    // across a label (labels have a white box).
    let mut labels = String::new();
    let mut space = LabelSpace::default();
    for (index, line) in outcome.trace.iter().enumerate() {
        let Some(mark_y) = layout.note_y[index] else {
            continue;
        };
        let x = lifeline_x(lanes[line.host.as_str()]);
        let text = in_words(&line.text);
        let tooltip = format!("{} {} ms: {}", line.host, line.time_ms, text);
        let _ = writeln!(
            out,
            "<circle class=\"nd\" cx=\"{x}\" cy=\"{mark_y}\" r=\"3\"><title>{}</title></circle>",
            escape(&tooltip)
        );
        let label_y = mark_y + 3;
        let label_x = x + LABEL_OFFSET_PX;
        let wanted = text.chars().count().min(NOTE_CHARS_MAX);
        let chars = space.fit(&text, label_x, label_y, false, wanted);
        if chars > 0 {
            let _ = writeln!(
                labels,
                "{}<text class=\"n\" x=\"{}\" y=\"{label_y}\"><title>{}</title>{}</text>",
                label_background(label_x, label_y, false, chars),
                label_x,
                escape(&tooltip),
                escape(&shorten(&text, chars)),
            );
        }
    }
    let address_sessions = sessions_by_address(&outcome.wire);
    for message in &all_messages {
        if hidden_in_fold(message, &layout) {
            continue;
        }
        if let Some(arrow) = arrow(message, outcome, &layout, &lanes, &address_sessions) {
            draw_arrow(
                &mut out,
                &mut labels,
                &mut space,
                message,
                &arrow,
                &layout.folds,
            );
        }
    }
    out.push_str(&labels);

    // Folded rows, over the lifelines, then their lists (shown on click)
    // last of all, so that an open list covers the diagram.
    let mut lists = String::new();
    for (fold_index, fold) in layout.folds.iter().enumerate() {
        draw_fold(
            &mut out,
            &mut lists,
            fold_index,
            fold,
            outcome,
            &all_messages,
            &layout,
            (last_x, height),
        );
    }

    let _ = writeln!(
        out,
        "<line class=\"bottom\" x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\"/><text class=\"v {verdict_class}\" x=\"{}\" y=\"{}\">{}</text><text x=\"{}\" y=\"{}\">end of run at {} ms</text>",
        FIRST_LIFELINE_X - 40,
        last_x + 40,
        FIRST_LIFELINE_X - 40,
        layout.bottom_y + 22,
        if outcome.passed() { "PASS" } else { "FAIL" },
        FIRST_LIFELINE_X + 40,
        layout.bottom_y + 20,
        ms(end_ms),
        y = layout.bottom_y,
    );
    out.push_str(&lists);
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests;
