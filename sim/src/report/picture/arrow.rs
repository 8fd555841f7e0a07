//! Arrows of the picture: one per line that crossed the wire, from the
//! sender at its send time to the receiver at its receive time, with its
//! label placed where it overlaps nothing.

use super::*;

/// The time from which wire events are no longer drawn, or `u64::MAX`.
pub(super) fn cut_time_ms(wire: &[WireEvent]) -> u64 {
    if wire.len() <= WIRE_EVENTS_DRAWN_MAX {
        return u64::MAX;
    }
    let mut times: Vec<u64> = wire.iter().map(|event| event.time_ms).collect();
    times.sort_unstable();
    times[WIRE_EVENTS_DRAWN_MAX]
}

/// How one message is drawn.
pub(super) enum Arrow {
    /// Sender lifeline and y to receiver lifeline and y.
    Delivered {
        from: (usize, i64),
        to: (usize, i64),
        /// Where a folded row hides the arrow's start (the row's bottom) or
        /// end (its top): its label goes on the part left in view.
        hidden_until_y: Option<i64>,
        hidden_from_y: Option<i64>,
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
pub(super) fn arrow(
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
                    let fold_of =
                        |index: usize| layout.wire_fold[index].map(|fold| &layout.folds[fold]);
                    Some(Arrow::Delivered {
                        from,
                        to,
                        hidden_until_y: fold_of(sent).map(|fold| fold.y + FOLD_ROW_PX),
                        hidden_from_y: fold_of(received).map(|fold| fold.y),
                    })
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
pub(super) fn partial_reach_px(known: usize, other: Option<usize>) -> i64 {
    let distance = match other {
        Some(other) if other != known => lifeline_x(other) - lifeline_x(known),
        _ => LIFELINE_SPACING_PX,
    };
    distance * LOST_FRACTION_PERCENT / 100
}

/// Appends `arrow`'s lines to `out` and its label to `labels`. The label
/// sits on the middle of the arrow, on a white box, so that it never reads
/// as belonging to an arrowhead landing beside it; when no room is left
/// there the arrow keeps its text as a tooltip only.
pub(super) fn draw_arrow(
    out: &mut String,
    labels: &mut String,
    space: &mut LabelSpace,
    message: &Message,
    arrow: &Arrow,
    folds: &[Fold],
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
    let (colour, (start_x, start_y), (end_x, end_y)) = match *arrow {
        Arrow::Delivered {
            from,
            to,
            hidden_until_y,
            hidden_from_y,
        } => {
            let from_x = lifeline_x(from.0);
            let to_x = lifeline_x(to.0);
            let colour = colour_class(from.0);
            let (path, middle) = if from.0 == to.0 {
                // A session talking to itself: a loop out and back.
                (
                    format!("M{from_x} {}h30V{}H{to_x}", from.1, to.1),
                    (
                        (from_x + 30, from.1),
                        (from_x + 30 + 2 * LABEL_SELF_LOOP_PX, from.1),
                    ),
                )
            } else {
                // The part of the line a folded row does not cover.
                let at_y = |y: i64| {
                    let (dx, dy) = (to_x - from_x, to.1 - from.1);
                    let x = if dy == 0 {
                        from_x
                    } else {
                        from_x + dx * (y - from.1) / dy
                    };
                    (x, y)
                };
                let start = match hidden_until_y {
                    Some(y) if y > from.1 && y < to.1 => at_y(y),
                    // Nothing in view: no room, so no label.
                    Some(_) => (to_x, to.1),
                    None => (from_x, from.1),
                };
                let end = match hidden_from_y {
                    Some(y) if y < to.1 && y > from.1 => at_y(y),
                    Some(_) => (from_x, from.1),
                    None => (to_x, to.1),
                };
                (
                    format!("M{from_x} {}L{to_x} {}", from.1, to.1),
                    (start, end),
                )
            };
            let _ = write!(out, "<path class=\"m c{colour}\" d=\"{path}\"");
            (colour, middle.0, middle.1)
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
            (colour, (from_x, from.1), (end_x, end_y))
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
            (colour, (start_x, start_y), (to_x, to.1))
        }
    };
    let label_x = (start_x + end_x) / 2;
    let label_y = (start_y + end_y) / 2 - 2;
    // Room between the two ends, less a margin at each for arrowheads; an
    // arrow a folded row cuts short needs room for the label's height too.
    let clipped = matches!(
        *arrow,
        Arrow::Delivered {
            hidden_until_y: Some(_),
            ..
        } | Arrow::Delivered {
            hidden_from_y: Some(_),
            ..
        }
    );
    // A line held across a folded stretch can have its middle under the
    // folded row: a label there would be covered.
    let under_a_fold = folds
        .iter()
        .any(|fold| label_y + 2 > fold.y && label_y - 8 < fold.y + FOLD_ROW_PX);
    let room_chars = if under_a_fold || (clipped && (end_y - start_y).abs() < 2 * LABEL_HEIGHT_PX) {
        0
    } else {
        (((end_x - start_x).abs() - 2 * LABEL_END_MARGIN_PX) / CHAR_WIDTH_PX).max(0)
    };
    let wanted = message
        .line
        .chars()
        .count()
        .min(LABEL_CHARS_MAX)
        .min(room_chars as usize);
    let chars = space.fit(&message.line, label_x, label_y, true, wanted);
    if chars > 0 {
        out.push_str("/>\n");
        let _ = writeln!(
            labels,
            "{}<text class=\"c{colour} mid\" x=\"{label_x}\" y=\"{label_y}\"><title>{tooltip}</title>{}</text>",
            label_background(label_x, label_y, true, chars),
            escape(&shorten(&message.line, chars))
        );
    } else {
        // No room for a label: the line itself carries the tooltip.
        let _ = writeln!(out, "><title>{tooltip}</title></path>");
    }
}

/// How wide the label of a session's line to itself may be, each side of
/// its centre.
pub(super) const LABEL_SELF_LOOP_PX: i64 = 60;
/// A label centred on an arrow keeps this far from both of its ends.
pub(super) const LABEL_END_MARGIN_PX: i64 = 14;
