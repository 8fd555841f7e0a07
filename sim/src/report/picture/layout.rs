//! Where every event of a run sits vertically, and which stretches of the
//! run are folded into one row.
//!
//! A run is cut into steps: a step starts at each millisecond in which the
//! server notes something (a draw, a route) or the harness acts (a fault),
//! and holds everything until the next. A step is kept in full when
//! something a reader looks for happens in it (a claim, a game's start or
//! end, a result, a fault, a line lost, a violation or a rare event), and
//! so is the step just before it (the draw both claimers completed on).
//! Every other run of at least [`FOLD_STEPS_MIN`] steps becomes one folded
//! row that says what it holds and lists it in full on demand: a 90-draw
//! game reads as its start, one row "draws 6-27", and its end.

use std::collections::{BTreeMap, BTreeSet};

use crate::engine::harness::RunOutcome;
use crate::engine::trace::Direction;

use super::{HARNESS_HOST, ROW_PX};

/// Extra space per idle millisecond between two rows...
pub(super) const IDLE_PX_PER_MS: i64 = 1;
/// ...up to this much: longer idle stretches are shortened, so a 100 ms
/// draw interval costs no more than a 14 ms one: about a row, with room
/// for the // mark on the time axis.
pub(super) const IDLE_GAP_MAX_PX: i64 = 14;
/// Height of a folded row: its two summary lines, and a margin of
/// [`FOLD_MARGIN_PX`] above and below so that a fault band or an arrowhead
/// in the next millisecond stays clear of it.
pub(super) const FOLD_ROW_PX: i64 = 2 * ROW_PX + 8 + 2 * FOLD_MARGIN_PX;
pub(super) const FOLD_MARGIN_PX: i64 = 6;
/// A lone uneventful step is drawn: folding it would save a few rows and
/// hide a whole exchange behind a click.
const FOLD_STEPS_MIN: usize = 2;

/// Notes (by their first word) that a reader looks for: the steps that
/// hold them are never folded. Draws, routes, lists, joins and pairings
/// repeat all run long and are what folding is for.
const KEPT_NOTE_VERBS: &[&str] = &["start", "claim", "over", "quit", "goodbye", "again"];
/// Of those, the notes of a race: their step is kept with the one before
/// it (the draw both claimers completed on).
const RACE_NOTE_VERBS: &[&str] = &["claim", "over"];
/// Notes that matter the first time they appear and are repetition after
/// (a client that never reads makes every message to it `busy`).
const FIRST_NOTE_VERBS: &[&str] = &[
    "leave", "busy", "unknown", "result", "end", "error", "silence", "gave-up", "drop",
];

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

/// One drawn event: (time, lane (0 = harness), order within the
/// millisecond, index in its record, what it is).
type Placed = (u64, usize, u8, usize, Mark);

/// A stretch of uneventful steps drawn as one row.
#[derive(Debug, Clone)]
pub(super) struct Fold {
    pub first_ms: u64,
    pub last_ms: u64,
    /// Top of the row.
    pub y: i64,
    pub steps: usize,
    /// The wire events and notes (trace indices) it holds, in time order.
    pub wire: Vec<usize>,
    pub notes: Vec<usize>,
}

impl Fold {
    /// Where arrows into or out of the fold start or end.
    pub(super) fn middle_y(&self) -> i64 {
        self.y + FOLD_ROW_PX / 2
    }
}

/// Where every drawn event sits vertically.
pub(super) struct Layout {
    /// By wire event; `None` when past the cut. A folded event sits on its
    /// fold's row.
    pub wire_y: Vec<Option<i64>>,
    /// By wire event: which fold holds it.
    pub wire_fold: Vec<Option<usize>>,
    /// By trace line; `None` for echoes, harness lines, folded lines and
    /// lines past the cut.
    pub note_y: Vec<Option<i64>>,
    pub harness_y: Vec<Option<i64>>,
    /// (time, y, whether the idle gap before it was shortened), drawn rows only.
    pub ticks: Vec<(u64, i64, bool)>,
    /// The top of each drawn millisecond.
    pub slot_y: BTreeMap<u64, i64>,
    pub folds: Vec<Fold>,
    pub bottom_y: i64,
}

/// What the layout needs to know about the run beyond its records.
pub(super) struct Inputs<'a> {
    pub lanes: &'a BTreeMap<&'a str, usize>,
    pub echoes: &'a [bool],
    /// Wire events of lines lost or whose send was not seen.
    pub unpaired: &'a [bool],
    /// Times of violations and rare events.
    pub anchored_ms: &'a BTreeSet<u64>,
    /// Times of violations only.
    pub violation_ms: &'a BTreeSet<u64>,
    pub cut_ms: u64,
    pub top_y: i64,
}

/// Time flows down. Every millisecond with events gets as many rows as its
/// busiest lifeline needs (one per note or distinct sent line, plus one per
/// harness event, drawn first), so labels in the same millisecond do not
/// overlap; idle time adds [`IDLE_PX_PER_MS`] up to [`IDLE_GAP_MAX_PX`].
/// Within a millisecond a lifeline shows what it received, then its notes,
/// then what it sent: the usual order of a session reacting, since the
/// trace and the wire are separate records and cannot say better. A line
/// sent to several sessions at once (a draw) leaves from one row.
pub(super) fn layout(outcome: &RunOutcome, inputs: &Inputs) -> Layout {
    // (time, lane (0 = harness), order within the millisecond, index, mark)
    let mut marks: Vec<Placed> = Vec::new();
    for (index, event) in outcome.wire.iter().enumerate() {
        let group = match event.direction {
            Direction::Received => RECEIVED_GROUP,
            Direction::Sent => SENT_GROUP,
        };
        let lane = inputs.lanes[event.session.as_str()] + 1;
        marks.push((event.time_ms, lane, group, index, Mark::Wire(index)));
    }
    for (index, line) in outcome.trace.iter().enumerate() {
        if line.host == HARNESS_HOST {
            marks.push((line.time_ms, 0, 0, index, Mark::Harness(index)));
        } else if !inputs.echoes[index] {
            let lane = inputs.lanes[line.host.as_str()] + 1;
            marks.push((line.time_ms, lane, NOTE_GROUP, index, Mark::Note(index)));
        }
    }
    marks.retain(|mark| mark.0 < inputs.cut_ms);
    marks.sort_by_key(|&(time_ms, lane, group, index, _)| (time_ms, lane, group, index));

    let slots: Vec<&[Placed]> = marks.chunk_by(|a, b| a.0 == b.0).collect();
    let folded_steps = folded_slots(outcome, inputs, &slots);

    let mut layout = Layout {
        wire_y: vec![None; outcome.wire.len()],
        wire_fold: vec![None; outcome.wire.len()],
        note_y: vec![None; outcome.trace.len()],
        harness_y: vec![None; outcome.trace.len()],
        ticks: Vec::new(),
        slot_y: BTreeMap::new(),
        folds: Vec::new(),
        bottom_y: inputs.top_y,
    };
    let mut y = inputs.top_y;
    let mut previous_ms: Option<u64> = None;
    let mut slot_index = 0;
    while slot_index < slots.len() {
        let time_ms = slots[slot_index][0].0;
        let mut shortened = false;
        // A folded row stands for its time and has margins: no idle gap
        // before or after it.
        let folds_here = folded_steps.contains_key(&slot_index);
        let after_fold = layout
            .folds
            .last()
            .is_some_and(|fold| Some(fold.last_ms) == previous_ms);
        if let (Some(previous_ms), false, false) = (previous_ms, folds_here, after_fold) {
            let idle_px = (time_ms - previous_ms - 1).saturating_mul(IDLE_PX_PER_MS as u64);
            shortened = idle_px > IDLE_GAP_MAX_PX as u64;
            y += idle_px.min(IDLE_GAP_MAX_PX as u64) as i64;
        }
        if let Some(&(end_slot, steps)) = folded_steps.get(&slot_index) {
            let fold_index = layout.folds.len();
            let mut fold = Fold {
                first_ms: time_ms,
                last_ms: slots[end_slot - 1][0].0,
                y,
                steps,
                wire: Vec::new(),
                notes: Vec::new(),
            };
            for &(_, _, _, _, mark) in slots[slot_index..end_slot].iter().copied().flatten() {
                match mark {
                    Mark::Wire(index) => {
                        layout.wire_y[index] = Some(fold.middle_y());
                        layout.wire_fold[index] = Some(fold_index);
                        fold.wire.push(index);
                    }
                    Mark::Note(index) => fold.notes.push(index),
                    Mark::Harness(_) => unreachable!("steps with harness events are kept"),
                }
            }
            layout.ticks.push((time_ms, y, shortened));
            y += FOLD_ROW_PX;
            previous_ms = Some(fold.last_ms);
            layout.folds.push(fold);
            slot_index = end_slot;
            continue;
        }
        let slot = slots[slot_index];
        layout.ticks.push((time_ms, y, shortened));
        layout.slot_y.insert(time_ms, y);
        let harness_rows = slot.iter().filter(|mark| mark.1 == 0).count() as i64;
        let lanes_with_notes: BTreeSet<usize> = slot
            .iter()
            .filter(|mark| mark.2 == NOTE_GROUP)
            .map(|mark| mark.1)
            .collect();
        // Rows used so far by notes and sent lines, by lane.
        let mut rows_by_lane: BTreeMap<usize, i64> = BTreeMap::new();
        // The line each lane sent last, and its row: the same line to
        // several sessions leaves from one row.
        let mut last_sent: BTreeMap<usize, (&str, i64)> = BTreeMap::new();
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
                let line = match mark {
                    Mark::Wire(index) => Some(outcome.wire[index].line.as_str()),
                    _ => None,
                };
                match (line, last_sent.get(&lane)) {
                    (Some(line), Some(&(last_line, last_y))) if line == last_line => last_y,
                    _ => {
                        let rows = rows_by_lane.entry(lane).or_default();
                        *rows += 1;
                        let row_y = y + (harness_rows + *rows - 1) * ROW_PX;
                        if let Some(line) = line {
                            last_sent.insert(lane, (line, row_y));
                        }
                        row_y
                    }
                }
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
        slot_index += 1;
    }
    layout.bottom_y = y + ROW_PX;
    layout
}

/// The folded stretches: first slot -> (slot after the last, steps).
fn folded_slots(
    outcome: &RunOutcome,
    inputs: &Inputs,
    slots: &[&[Placed]],
) -> BTreeMap<usize, (usize, usize)> {
    let server_lane = inputs.lanes.get("server").map(|lane| lane + 1);
    // Steps as (first slot, slot after the last).
    let mut steps: Vec<(usize, usize)> = Vec::new();
    for (index, slot) in slots.iter().enumerate() {
        let starts_step = slot.iter().any(|&(_, lane, group, _, _)| {
            lane == 0 || (Some(lane) == server_lane && group == NOTE_GROUP) || server_lane.is_none()
        });
        match steps.last_mut() {
            Some(step) if !starts_step => step.1 = index + 1,
            _ => steps.push((index, index + 1)),
        }
    }
    // Why each step is kept: for what it holds, and whether a reader also
    // wants the step before it (the draw a claim answers, not the draw
    // before a fault).
    let mut first_verbs_seen: BTreeSet<&str> = BTreeSet::new();
    let eventful: Vec<Eventful> = steps
        .iter()
        .map(|&(first, end)| {
            slots[first..end]
                .iter()
                .flat_map(|slot| slot.iter())
                .map(|mark| eventful(outcome, inputs, mark, &mut first_verbs_seen))
                .max()
                .unwrap_or(Eventful::No)
        })
        .collect();
    let kept: Vec<bool> = (0..steps.len())
        .map(|index| {
            eventful[index] != Eventful::No
                || eventful.get(index + 1) == Some(&Eventful::WithTheStepBefore)
        })
        .collect();
    let mut folded = BTreeMap::new();
    let mut index = 0;
    while index < steps.len() {
        if kept[index] {
            index += 1;
            continue;
        }
        let run_end = (index..steps.len())
            .find(|&next| kept[next])
            .unwrap_or(steps.len());
        if run_end - index >= FOLD_STEPS_MIN {
            folded.insert(steps[index].0, (steps[run_end - 1].1, run_end - index));
        }
        index = run_end;
    }
    folded
}

/// Whether a step is kept for what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Eventful {
    No,
    /// A fault, a first lost line, a game's start, a rare event: kept alone.
    Alone,
    /// A claim, a game's end, a violation: kept with the step that led to it.
    WithTheStepBefore,
}

fn eventful<'a>(
    outcome: &'a RunOutcome,
    inputs: &Inputs,
    mark: &Placed,
    first_verbs_seen: &mut BTreeSet<&'a str>,
) -> Eventful {
    if inputs.violation_ms.contains(&mark.0) {
        return Eventful::WithTheStepBefore;
    }
    if inputs.anchored_ms.contains(&mark.0) {
        return Eventful::Alone;
    }
    match mark.4 {
        Mark::Harness(_) => Eventful::Alone,
        Mark::Wire(index) if inputs.unpaired[index] => Eventful::Alone,
        Mark::Wire(_) => Eventful::No,
        Mark::Note(index) => {
            let verb = outcome.trace[index].text.split(' ').next().unwrap_or("");
            if RACE_NOTE_VERBS.contains(&verb) {
                Eventful::WithTheStepBefore
            } else if KEPT_NOTE_VERBS.contains(&verb)
                || (FIRST_NOTE_VERBS.contains(&verb) && first_verbs_seen.insert(verb))
            {
                Eventful::Alone
            } else {
                Eventful::No
            }
        }
    }
}
