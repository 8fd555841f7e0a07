//! Pictures of one simulated run, for people and for tools. [`svg`] draws a
//! message-sequence diagram a browser opens: one lifeline per session, an
//! arrow per line that crossed the wire (from the sender at its send time to
//! the receiver at its receive time), lost lines as arrows ending in an x,
//! the sessions' own notes as small marks, harness events (faults) as
//! coloured bands across the diagram, and the verdict in the header.
//! [`json`] prints the same run as one JSON document: the outcome, the
//! verdict and the paired messages. Both depend only on the outcome, so a
//! seed always gives the same picture.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::harness::RunOutcome;
use crate::trace::{Direction, WireEvent};

/// serde_json's value type, so that readers of [`json`] (such as the
/// workspace's integration tests, which do not depend on serde_json) parse
/// it with the library that wrote it.
pub use serde_json::Value as JsonValue;

/// The trace host the harness records its own events (faults) under.
const HARNESS_HOST: &str = "sim";

/// Vertical space of one event row; fits one 10 px label.
const ROW_PX: i64 = 13;
/// Extra space per idle millisecond between two rows...
const IDLE_PX_PER_MS: i64 = 1;
/// ...up to this much: longer idle stretches are shortened, so a 100 ms
/// draw interval costs no more than a 30 ms one and a game stays scrollable.
const IDLE_GAP_MAX_PX: i64 = 30;
/// Horizontal distance between two lifelines: room for one arrow label.
const LIFELINE_SPACING_PX: i64 = 190;
/// Where the first lifeline stands; the time axis lives left of it.
const FIRST_LIFELINE_X: i64 = 120;
/// Where the time axis labels end.
const AXIS_X: i64 = 44;
/// Room right of the last lifeline for the labels of harness events.
const RIGHT_COLUMN_PX: i64 = 300;
/// Characters of a label drawn in full; longer ones are cut (with an
/// ellipsis) and shown whole in the mark's tooltip. 26 characters of the
/// 10 px monospace font fit between two lifelines.
const LABEL_CHARS_MAX: usize = 26;
/// Characters of a lifeline's name in its head box.
const NAME_CHARS_MAX: usize = 18;
/// Characters of one header line (a violation can be long).
const HEADER_CHARS_MAX: usize = 170;
/// Past this many wire events the rest of the run is left out, so that a
/// browser still opens the file and it stays a few hundred KB.
const WIRE_EVENTS_DRAWN_MAX: usize = 6000;
/// Lifeline names are repeated this often down a long diagram.
const NAME_REPEAT_PX: i64 = 1000;
/// How far a lost line travels toward its receiver before its x.
const LOST_FRACTION_PERCENT: i64 = 55;

/// Colours of the sessions' arrows, by lifeline. Red and orange are kept
/// for faults, lost lines and violations.
const PALETTE: [&str; 8] = [
    "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22",
];
const FAULT_COLOUR: &str = "#e6550d";
const FAIL_COLOUR: &str = "#d62728";
const PASS_COLOUR: &str = "#2ca02c";

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
fn sessions_by_address(wire: &[WireEvent]) -> BTreeMap<&str, &str> {
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

/// What one row of the diagram shows.
#[derive(Debug, Clone, Copy)]
enum Mark {
    Wire(usize),
    Note(usize),
    Harness(usize),
}

/// Within a millisecond on one lifeline: what it received, then its notes,
/// then what it sent.
const RECEIVED_GROUP: u8 = 0;
const NOTE_GROUP: u8 = 1;
const SENT_GROUP: u8 = 2;

/// Where every drawn event sits vertically.
struct Layout {
    /// By wire event; `None` when past the cut.
    wire_y: Vec<Option<i64>>,
    /// By trace line; `None` for echoes, harness lines and lines past the cut.
    note_y: Vec<Option<i64>>,
    harness_y: Vec<Option<i64>>,
    /// (time, y, whether the idle gap before it was shortened).
    ticks: Vec<(u64, i64, bool)>,
    bottom_y: i64,
}

/// Time flows down. Every millisecond with events gets as many rows as its
/// busiest lifeline needs (one per note or sent line, plus one per harness
/// event, drawn first), so labels in the same millisecond do not overlap; idle time adds
/// [`IDLE_PX_PER_MS`] up to [`IDLE_GAP_MAX_PX`]. Within a millisecond a
/// lifeline shows what it received, then its notes, then what it sent: the
/// usual order of a session reacting, since the trace and the wire are
/// separate records and cannot say better.
fn layout(
    outcome: &RunOutcome,
    lanes: &BTreeMap<&str, usize>,
    echoes: &[bool],
    cut_ms: u64,
    top_y: i64,
) -> Layout {
    // (time, lane (0 = harness), order within the millisecond, index, mark)
    let mut marks: Vec<(u64, usize, u8, usize, Mark)> = Vec::new();
    for (index, event) in outcome.wire.iter().enumerate() {
        let group = match event.direction {
            Direction::Received => RECEIVED_GROUP,
            Direction::Sent => SENT_GROUP,
        };
        let lane = lanes[event.session.as_str()] + 1;
        marks.push((event.time_ms, lane, group, index, Mark::Wire(index)));
    }
    for (index, line) in outcome.trace.iter().enumerate() {
        if line.host == HARNESS_HOST {
            marks.push((line.time_ms, 0, 0, index, Mark::Harness(index)));
        } else if !echoes[index] {
            let lane = lanes[line.host.as_str()] + 1;
            marks.push((line.time_ms, lane, NOTE_GROUP, index, Mark::Note(index)));
        }
    }
    marks.retain(|mark| mark.0 < cut_ms);
    marks.sort_by_key(|&(time_ms, lane, group, index, _)| (time_ms, lane, group, index));

    let mut layout = Layout {
        wire_y: vec![None; outcome.wire.len()],
        note_y: vec![None; outcome.trace.len()],
        harness_y: vec![None; outcome.trace.len()],
        ticks: Vec::new(),
        bottom_y: top_y,
    };
    let mut y = top_y;
    let mut previous_ms: Option<u64> = None;
    for slot in marks.chunk_by(|a, b| a.0 == b.0) {
        let time_ms = slot[0].0;
        let mut shortened = false;
        if let Some(previous_ms) = previous_ms {
            let idle_px = (time_ms - previous_ms - 1).saturating_mul(IDLE_PX_PER_MS as u64);
            shortened = idle_px > IDLE_GAP_MAX_PX as u64;
            y += idle_px.min(IDLE_GAP_MAX_PX as u64) as i64;
        }
        layout.ticks.push((time_ms, y, shortened));
        let harness_rows = slot.iter().filter(|mark| mark.1 == 0).count() as i64;
        let lanes_with_notes: BTreeSet<usize> = slot
            .iter()
            .filter(|mark| mark.2 == NOTE_GROUP)
            .map(|mark| mark.1)
            .collect();
        // Rows used so far by notes and sent lines, by lane.
        let mut rows_by_lane: BTreeMap<usize, i64> = BTreeMap::new();
        let mut harness_row = 0;
        for &(_, lane, group, _, mark) in slot {
            let row_y = if lane == 0 {
                harness_row += 1;
                y + (harness_row - 1) * ROW_PX
            } else if group == RECEIVED_GROUP {
                // Received lines need no label at the receiver, so they end
                // on the lane's first row, where the reply leaves; but a
                // note's dot there would sit on the arrowhead, so notes
                // start a row lower.
                let rows = rows_by_lane.entry(lane).or_default();
                if lanes_with_notes.contains(&lane) {
                    *rows = 1;
                }
                y + harness_rows * ROW_PX
            } else {
                let rows = rows_by_lane.entry(lane).or_default();
                *rows += 1;
                y + (harness_rows + *rows - 1) * ROW_PX
            };
            match mark {
                Mark::Wire(index) => layout.wire_y[index] = Some(row_y),
                Mark::Note(index) => layout.note_y[index] = Some(row_y),
                Mark::Harness(index) => layout.harness_y[index] = Some(row_y),
            }
        }
        // A lane that only received still needs its row.
        let busiest = rows_by_lane
            .values()
            .map(|&rows| rows.max(1))
            .max()
            .unwrap_or(0);
        y += (harness_rows + busiest) * ROW_PX;
        previous_ms = Some(time_ms);
    }
    layout.bottom_y = y + ROW_PX;
    layout
}

/// Text made safe for XML: markup characters escaped, and control
/// characters (not allowed in XML 1.0 even escaped) shown as their Unicode
/// control pictures.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\u{0}'..='\u{1f}' => {
                out.push(char::from_u32(0x2400 + character as u32).unwrap_or('\u{fffd}'))
            }
            '\u{7f}' => out.push('\u{2421}'),
            '\u{fffe}' | '\u{ffff}' => out.push('\u{fffd}'),
            other => out.push(other),
        }
    }
    out
}

/// `text` cut to `chars_max` characters, with an ellipsis when cut.
fn shorten(text: &str, chars_max: usize) -> String {
    if text.chars().count() <= chars_max {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(chars_max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

fn lifeline_x(lane: usize) -> i64 {
    FIRST_LIFELINE_X + lane as i64 * LIFELINE_SPACING_PX
}

fn colour_class(lane: usize) -> usize {
    lane % PALETTE.len()
}

/// Shared by every element, so that an arrow costs its coordinates and a
/// class, not its looks: a 90-draw game stays a few hundred KB.
const STYLE: &str = "text{font:10px ui-monospace,Menlo,Consolas,monospace;fill:#222}.bg{fill:#fff;fill-opacity:.85}\
.e{text-anchor:end}.t{font-size:16px;font-weight:bold}.v{font-size:14px;font-weight:bold}.h{font-size:11px}\
.pass{fill:PASS}.fail{fill:FAIL}\
.life{stroke:#bbb}.head{fill:#f4f4f4;stroke:#888}.name{font-size:11px;font-weight:bold;text-anchor:middle}\
.rep{fill:#999;text-anchor:middle}.axis{stroke:#ccc}.tick{fill:#888;text-anchor:end}.brk{stroke:#888;fill:none}\
.m,.lost,.found{fill:none}.lost,.found{stroke-dasharray:4 3}.x{stroke:FAIL;stroke-width:2;fill:none}.dot{fill:FAIL}\
.nd{fill:#555}.n{fill:#444;font-style:italic}\
.f{stroke:FAULT;stroke-width:1.5;stroke-dasharray:6 3}.fd{fill:FAULT}text.f{fill:FAULT;stroke:none;font-weight:bold}\
.bottom{stroke:#888}";

fn style() -> String {
    let mut style = STYLE
        .replace("PASS", PASS_COLOUR)
        .replace("FAIL", FAIL_COLOUR)
        .replace("FAULT", FAULT_COLOUR);
    for (index, colour) in PALETTE.iter().enumerate() {
        let _ = write!(
            style,
            "path.c{index}{{stroke:{colour}}}.m.c{index},.found.c{index}{{marker-end:url(#a{index})}}text.c{index}{{fill:{colour}}}"
        );
    }
    style
}

/// Approximate advance of one character of the 10 px monospace font.
const CHAR_WIDTH_PX: i64 = 6;
/// Labels keep this far from their lifeline, clear of the arrowheads that
/// land there in the same row.
const LABEL_OFFSET_PX: i64 = 10;
/// Two labels whose baselines are closer than this would overlap.
const LABEL_HEIGHT_PX: i64 = 9;
/// A label that cannot keep this many characters is left out (its arrow
/// keeps the tooltip).
const LABEL_CHARS_MIN: usize = 4;

/// The labels placed so far, so that a later one is cut short rather than
/// drawn over an earlier one.
#[derive(Default)]
struct LabelSpace {
    /// Baseline y -> horizontal extents of the labels on it.
    placed: BTreeMap<i64, Vec<(i64, i64)>>,
}

impl LabelSpace {
    /// How many of `wanted_chars` fit at baseline `y` from `x` (rightward)
    /// or up to `x` (leftward, `text-anchor: end`); reserves that room.
    fn fit(&mut self, x: i64, y: i64, rightward: bool, wanted_chars: usize) -> usize {
        let mut room_px = wanted_chars as i64 * CHAR_WIDTH_PX;
        let nearby = self
            .placed
            .range(y - LABEL_HEIGHT_PX + 1..y + LABEL_HEIGHT_PX)
            .flat_map(|(_, extents)| extents.iter());
        for &(start, end) in nearby {
            if start <= x && x <= end {
                room_px = 0;
            } else if rightward && start > x {
                room_px = room_px.min(start - x - CHAR_WIDTH_PX);
            } else if !rightward && end < x {
                room_px = room_px.min(x - end - CHAR_WIDTH_PX);
            }
        }
        let chars = (room_px.max(0) / CHAR_WIDTH_PX) as usize;
        let chars = chars.min(wanted_chars);
        if chars >= LABEL_CHARS_MIN.min(wanted_chars) && chars > 0 {
            let width = chars as i64 * CHAR_WIDTH_PX;
            let extent = if rightward {
                (x, x + width)
            } else {
                (x - width, x)
            };
            self.placed.entry(y).or_default().push(extent);
            chars
        } else {
            0
        }
    }
}

/// A white box under a label of `chars` characters at baseline `y`, so
/// that lines crossing it (spaces have no halo) do not strike it through.
fn label_background(x: i64, y: i64, rightward: bool, chars: usize) -> String {
    let width = chars as i64 * CHAR_WIDTH_PX + 2;
    let left = if rightward { x - 1 } else { x - width + 1 };
    format!(
        "<rect class=\"bg\" x=\"{left}\" y=\"{}\" width=\"{width}\" height=\"9\"/>",
        y - 7
    )
}

/// The run as an SVG message-sequence diagram titled `title` (say, the
/// scenario and the seed). Draws wire events when the run kept them
/// (`RunOptions::keep_wire`); without them it shows the notes only.
///
/// Each delivered line is a `<path class="m …">`, each lost one a
/// `<path class="lost …">`, each line whose send was not seen a
/// `<path class="found …">`, each session a `<line class="life" …>`.
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
    let (verdict_class, verdict_text) = if outcome.passed() {
        ("pass", "PASS")
    } else {
        ("fail", "FAIL")
    };
    let end_ms = outcome
        .trace
        .iter()
        .map(|line| line.time_ms)
        .chain(outcome.wire.iter().map(|event| event.time_ms))
        .max()
        .unwrap_or(0);

    let header = header_lines(outcome, &names, &all_messages, &echoes, cut_ms, end_ms);
    let heads_y = 64 + (header.len() as i64) * 15;
    let top_y = heads_y + 40;
    let layout = layout(outcome, &lanes, &echoes, cut_ms, top_y);
    let last_x = lifeline_x(names.len().saturating_sub(1));
    let width = last_x + RIGHT_COLUMN_PX;
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

    // Header: title, verdict, then violations, summary and how to read.
    let _ = writeln!(
        out,
        "<text class=\"t\" x=\"12\" y=\"24\">{}</text>\n<text class=\"v {verdict_class}\" x=\"12\" y=\"46\">{verdict_text}</text>",
        escape(&shorten(title, HEADER_CHARS_MAX))
    );
    for (row, (class, line)) in header.iter().enumerate() {
        let text = escape(&shorten(line, HEADER_CHARS_MAX));
        let tooltip = if line.chars().count() > HEADER_CHARS_MAX {
            format!("<title>{}</title>", escape(line))
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "<text class=\"h{class}\" x=\"12\" y=\"{}\">{tooltip}{text}</text>",
            64 + row as i64 * 15
        );
    }

    // Lifelines with their heads, names repeated down long diagrams, and
    // the time axis.
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
        let _ = writeln!(
            out,
            "<line class=\"life\" x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\"/><rect class=\"head\" x=\"{}\" y=\"{heads_y}\" width=\"130\" height=\"22\" rx=\"3\"/><text class=\"name\" x=\"{x}\" y=\"{}\"><title>{}</title>{label}</text>",
            heads_y + 22,
            layout.bottom_y,
            x - 65,
            heads_y + 15,
            escape(name),
        );
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
            last_x + 40,
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
        let _ = writeln!(
            out,
            "<text class=\"f\" x=\"{}\" y=\"{}\"><title>{} ms {}</title>{} {}</text>",
            last_x + 46,
            mark_y + 3,
            line.time_ms,
            escape(&line.text),
            line.time_ms,
            escape(&shorten(&line.text, 2 * LABEL_CHARS_MAX)),
        );
    }

    // Arrows and dots first, all labels after, so that no line is drawn
    // across a label (labels have a white halo).
    let mut labels = String::new();
    let mut space = LabelSpace::default();
    for (index, line) in outcome.trace.iter().enumerate() {
        let Some(mark_y) = layout.note_y[index] else {
            continue;
        };
        let x = lifeline_x(lanes[line.host.as_str()]);
        let _ = writeln!(
            out,
            "<circle class=\"nd\" cx=\"{x}\" cy=\"{mark_y}\" r=\"3\"/>"
        );
        let tooltip = format!("{} {} ms: {}", line.host, line.time_ms, line.text);
        let label_y = mark_y + 2;
        let label_x = x + LABEL_OFFSET_PX;
        let wanted = line.text.chars().count().min(LABEL_CHARS_MAX);
        let chars = space.fit(label_x, label_y, true, wanted);
        if chars > 0 {
            let _ = writeln!(
                labels,
                "{}<text class=\"n\" x=\"{}\" y=\"{label_y}\"><title>{}</title>{}</text>",
                label_background(label_x, label_y, true, chars),
                label_x,
                escape(&tooltip),
                escape(&shorten(&line.text, chars)),
            );
        }
    }
    let address_sessions = sessions_by_address(&outcome.wire);
    for message in &all_messages {
        if let Some(arrow) = arrow(message, outcome, &layout, &lanes, &address_sessions) {
            draw_arrow(&mut out, &mut labels, &mut space, message, &arrow);
        }
    }
    out.push_str(&labels);

    let _ = writeln!(
        out,
        "<line class=\"bottom\" x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\"/><text class=\"v {verdict_class}\" x=\"{}\" y=\"{}\">{verdict_text}</text><text x=\"{}\" y=\"{}\">end of run at {end_ms} ms</text>",
        FIRST_LIFELINE_X - 40,
        last_x + 40,
        last_x + 46,
        layout.bottom_y + 5,
        last_x + 96,
        layout.bottom_y + 4,
        y = layout.bottom_y,
    );
    out.push_str("</svg>\n");
    out
}

/// The header below the title and verdict: (extra CSS class, text).
fn header_lines(
    outcome: &RunOutcome,
    names: &[String],
    all_messages: &[Message],
    echoes: &[bool],
    cut_ms: u64,
    end_ms: u64,
) -> Vec<(&'static str, String)> {
    let mut header: Vec<(&'static str, String)> = outcome
        .violations
        .iter()
        .map(|violation| {
            (
                " fail",
                format!("violation {}: {}", violation.property, violation.detail),
            )
        })
        .collect();
    let winners: Vec<String> = outcome
        .winners_per_game
        .iter()
        .map(usize::to_string)
        .collect();
    let mut games = format!(
        "games {} · winners per game [{}]",
        outcome.games,
        winners.join(",")
    );
    if !outcome.reached.is_empty() {
        let reached: Vec<&str> = outcome.reached.iter().map(String::as_str).collect();
        let _ = write!(games, " · reached {}", reached.join(" "));
    }
    header.push(("", games));
    let lost = all_messages
        .iter()
        .filter(|message| message.received.is_none())
        .count();
    let notes = echoes
        .iter()
        .zip(&outcome.trace)
        .filter(|(echo, line)| !**echo && line.host != HARNESS_HOST)
        .count();
    let harness_events = outcome
        .trace
        .iter()
        .filter(|line| line.host == HARNESS_HOST)
        .count();
    header.push((
        "",
        format!(
            "{} sessions · {} messages ({lost} lost) · {notes} notes · {harness_events} harness events · {end_ms} ms simulated",
            names.len(),
            all_messages.len(),
        ),
    ));
    if outcome.wire.is_empty() {
        header.push((
            "",
            "No wire events were kept: run with RunOptions { keep_wire: true } to see the messages."
                .to_owned(),
        ));
    }
    if cut_ms != u64::MAX {
        header.push((
            " fail",
            format!("Only the first {WIRE_EVENTS_DRAWN_MAX} wire events are drawn: the picture stops at {cut_ms} ms (the JSON output has the whole run)."),
        ));
    }
    header.push((
        "",
        format!("Time flows down, a row per note or sent line; idle stretches are shortened to {IDLE_GAP_MAX_PX} px (// on the axis)."),
    ));
    header.push((
        "",
        "Arrow: sender at send time to receiver at receive time · x: never received · ●: a note · dashed band: harness event."
            .to_owned(),
    ));
    header.push(("", "Hover a label for its full text and times.".to_owned()));
    header
}

/// The time from which wire events are no longer drawn, or `u64::MAX`.
fn cut_time_ms(wire: &[WireEvent]) -> u64 {
    if wire.len() <= WIRE_EVENTS_DRAWN_MAX {
        return u64::MAX;
    }
    let mut times: Vec<u64> = wire.iter().map(|event| event.time_ms).collect();
    times.sort_unstable();
    times[WIRE_EVENTS_DRAWN_MAX]
}

/// How one message is drawn.
enum Arrow {
    /// Sender lifeline and y to receiver lifeline and y.
    Delivered {
        from: (usize, i64),
        to: (usize, i64),
    },
    /// Sent, never received: toward the receiver's lifeline when known.
    Lost {
        from: (usize, i64),
        to: Option<usize>,
    },
    /// Received, send not seen: from the sender's lifeline when known.
    Found {
        from: Option<usize>,
        to: (usize, i64),
    },
}

/// Where `message` is drawn, or `None` when it lies past the cut.
fn arrow(
    message: &Message,
    outcome: &RunOutcome,
    layout: &Layout,
    lanes: &BTreeMap<&str, usize>,
    address_sessions: &BTreeMap<&str, &str>,
) -> Option<Arrow> {
    let lane_of_address = |address: &str| {
        address_sessions
            .get(address)
            .and_then(|session| lanes.get(session).copied())
    };
    match (message.sent, message.received) {
        (Some(sent), received) => {
            let send = &outcome.wire[sent];
            let from = (lanes[send.session.as_str()], layout.wire_y[sent]?);
            match received {
                Some(received) => {
                    let receive = &outcome.wire[received];
                    // Past the cut the arrow runs to the bottom of the picture.
                    let receive_y = layout.wire_y[received].unwrap_or(layout.bottom_y);
                    let to = (lanes[receive.session.as_str()], receive_y);
                    Some(Arrow::Delivered { from, to })
                }
                None => Some(Arrow::Lost {
                    from,
                    to: lane_of_address(&send.peer),
                }),
            }
        }
        (None, Some(received)) => {
            let receive = &outcome.wire[received];
            let to = (lanes[receive.session.as_str()], layout.wire_y[received]?);
            Some(Arrow::Found {
                from: lane_of_address(&receive.peer),
                to,
            })
        }
        (None, None) => None,
    }
}

/// How far a lost or found line reaches from its known end toward the
/// other lifeline (or toward the right when that one is unknown).
fn partial_reach_px(known: usize, other: Option<usize>) -> i64 {
    let distance = match other {
        Some(other) if other != known => lifeline_x(other) - lifeline_x(known),
        _ => LIFELINE_SPACING_PX,
    };
    distance * LOST_FRACTION_PERCENT / 100
}

/// Appends `arrow`'s lines to `out` and its label (cut to the room left
/// by earlier labels) to `labels`.
fn draw_arrow(
    out: &mut String,
    labels: &mut String,
    space: &mut LabelSpace,
    message: &Message,
    arrow: &Arrow,
) {
    let times = match (message.sent_ms, message.received_ms) {
        (Some(sent), Some(received)) => format!("sent {sent} ms, received {received} ms"),
        (Some(sent), None) => format!("sent {sent} ms, never received"),
        (None, Some(received)) => format!("received {received} ms, send not seen"),
        (None, None) => String::new(),
    };
    let tooltip = escape(&format!(
        "{} → {}: {} ({times})",
        message.from,
        message.to.as_deref().unwrap_or("?"),
        message.line
    ));
    // The label sits just above where the line starts, on the side it goes.
    let (colour, start_x, start_y, rightward) = match *arrow {
        Arrow::Delivered { from, to } => {
            let from_x = lifeline_x(from.0);
            let to_x = lifeline_x(to.0);
            let colour = colour_class(from.0);
            let path = if from.0 == to.0 {
                // A session talking to itself: a loop out and back.
                format!("M{from_x} {}h30V{}H{to_x}", from.1, to.1)
            } else {
                format!("M{from_x} {}L{to_x} {}", from.1, to.1)
            };
            let _ = write!(out, "<path class=\"m c{colour}\" d=\"{path}\"");
            (colour, from_x, from.1, to.0 >= from.0)
        }
        Arrow::Lost { from, to } => {
            let from_x = lifeline_x(from.0);
            let colour = colour_class(from.0);
            let end_x = from_x + partial_reach_px(from.0, to);
            let end_y = from.1 + ROW_PX;
            let _ = write!(
                out,
                "<path class=\"x\" d=\"M{} {}l8 8m0 -8l-8 8\"/><path class=\"lost c{colour}\" d=\"M{from_x} {}L{end_x} {end_y}\"",
                end_x - 4,
                end_y - 4,
                from.1,
            );
            (colour, from_x, from.1, end_x >= from_x)
        }
        Arrow::Found { from, to } => {
            let to_x = lifeline_x(to.0);
            let colour = colour_class(from.unwrap_or(to.0));
            let start_x = to_x + partial_reach_px(to.0, from);
            let start_y = to.1 - ROW_PX;
            let _ = write!(
                out,
                "<circle class=\"dot\" cx=\"{start_x}\" cy=\"{start_y}\" r=\"3\"/><path class=\"found c{colour}\" d=\"M{start_x} {start_y}L{to_x} {}\"",
                to.1
            );
            (colour, start_x, start_y, to_x >= start_x)
        }
    };
    let (label_x, anchor) = if rightward {
        (start_x + LABEL_OFFSET_PX, "")
    } else {
        (start_x - LABEL_OFFSET_PX, " e")
    };
    let label_y = start_y - 2;
    let wanted = message.line.chars().count().min(LABEL_CHARS_MAX);
    let chars = space.fit(label_x, label_y, rightward, wanted);
    if chars > 0 {
        out.push_str("/>\n");
        let _ = writeln!(
            labels,
            "{}<text class=\"c{colour}{anchor}\" x=\"{label_x}\" y=\"{label_y}\"><title>{tooltip}</title>{}</text>",
            label_background(label_x, label_y, rightward, chars),
            escape(&shorten(&message.line, chars))
        );
    } else {
        // No room for a label: the line itself carries the tooltip.
        let _ = writeln!(out, "><title>{tooltip}</title></path>");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::TraceLine;

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
            host: "server".to_owned(),
            text: "listen".to_owned(),
        });
        let svg = svg(&outcome, "long");
        assert!(svg.contains(&format!(
            "Only the first {WIRE_EVENTS_DRAWN_MAX} wire events are drawn"
        )));
        let arrows = svg.matches("<path class=\"m ").count();
        assert_eq!(arrows, WIRE_EVENTS_DRAWN_MAX / 2);
    }

    #[test]
    fn escaping_leaves_no_markup_and_no_control_characters() {
        assert_eq!(
            escape("a<b>&\"c' \u{1}\u{7f}"),
            "a&lt;b&gt;&amp;&quot;c&#39; \u{2401}\u{2421}"
        );
    }

    #[test]
    fn shortening_counts_characters_not_bytes() {
        assert_eq!(shorten("città🎲", 10), "città🎲");
        assert_eq!(shorten("città🎲abc", 5), "citt…");
    }
}
