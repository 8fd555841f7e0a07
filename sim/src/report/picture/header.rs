//! The header of the picture: the lines under the title and verdict, and
//! the who-is-who table of lifelines, player ids and addresses.

use super::*;

/// The header below the title and verdict: (extra CSS class, text).
pub(super) fn header_lines(
    outcome: &RunOutcome,
    names: &[String],
    all_messages: &[Message],
    anchors: &[Anchor],
    cut_ms: u64,
    end_ms: u64,
) -> Vec<(&'static str, String)> {
    let mut header: Vec<(&'static str, String)> = Vec::new();
    for anchor in anchors
        .iter()
        .filter(|anchor| anchor.kind == AnchorKind::Violation)
    {
        let place = match &anchor.at {
            Some((time_ms, _)) => format!("at {} ms (⚠ in the diagram)", ms(*time_ms)),
            None => "(not located in the trace)".to_owned(),
        };
        header.push((
            " fail",
            format!(
                "⚠ violation {} {place}: {}",
                anchor.name,
                in_words(&anchor.detail)
            ),
        ));
    }
    let rare: Vec<String> = anchors
        .iter()
        .filter(|anchor| anchor.kind == AnchorKind::RareEvent)
        .map(|anchor| match &anchor.at {
            Some((time_ms, _)) => format!("{} at {} ms", anchor.name, ms(*time_ms)),
            None => format!("{} (not located)", anchor.name),
        })
        .collect();
    if !rare.is_empty() {
        // Wrapped at whole events.
        let mut line = "★ rare events reached:".to_owned();
        for event in rare {
            if line.chars().count() + event.chars().count() + 2 > HEADER_CHARS_MAX {
                header.push((" rare", line));
                line = "   ".to_owned();
            }
            let _ = write!(line, " {event},");
        }
        line.pop();
        header.push((" rare", line));
    }
    let winners: Vec<String> = outcome
        .winners_per_game
        .iter()
        .map(usize::to_string)
        .collect();
    let lost = all_messages
        .iter()
        .filter(|message| message.received.is_none())
        .count();
    let harness_events = outcome
        .trace
        .iter()
        .filter(|line| line.host == HARNESS_HOST)
        .count();
    header.push((
        "",
        format!(
            "{} game{} (winners per game: {}) · {} sessions · {} lines on the wire ({lost} lost) · {harness_events} faults · {} ms simulated",
            outcome.games,
            if outcome.games == 1 { "" } else { "s" },
            if winners.is_empty() { "none".to_owned() } else { winners.join(", ") },
            names.len(),
            all_messages.len(),
            ms(end_ms),
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
        " k",
        format!("How to read: time flows down (idle stretches shortened to {IDLE_GAP_MAX_PX} px: // on the axis) · arrows run from sender at send time to receiver at receive time"),
    ));
    header.push((
        " k",
        "x: never received · ●: a note · dashed orange: a fault · ⚠ red: a violation · ★ purple: a rare event · ▸ shaded row: folded steps, click to list · hover for full text".to_owned(),
    ));
    header
}

/// The table of who each lifeline is: the player ids (or, in chat, the
/// addresses) the server gave its session, and the addresses it used.
pub(super) fn who_is_who(
    names: &[String],
    identities: &BTreeMap<String, story::Identity>,
) -> Vec<(&'static str, String)> {
    let rows: Vec<(&str, String, String)> = names
        .iter()
        .map(|name| {
            let identity = identities.get(name).cloned().unwrap_or_default();
            let ids = if identity.ids.is_empty() {
                "-".to_owned()
            } else {
                identity.ids.join(" then ")
            };
            let addresses = if identity.addresses.is_empty() {
                "-".to_owned()
            } else {
                identity.addresses.join(", ")
            };
            (name.as_str(), ids, addresses)
        })
        .collect();
    let name_width = rows
        .iter()
        .map(|row| row.0.chars().count())
        .max()
        .unwrap_or(0)
        .max(8);
    let id_width = rows
        .iter()
        .map(|row| row.1.chars().count())
        .max()
        .unwrap_or(0)
        .max(10);
    let mut table = vec![(
        " k",
        format!(
            "{:<name_width$}  {:<id_width$}  addresses",
            "lifeline", "given id"
        ),
    )];
    table.extend(rows.into_iter().map(|(name, ids, addresses)| {
        (
            "",
            format!("{name:<name_width$}  {ids:<id_width$}  {addresses}"),
        )
    }));
    table
}
