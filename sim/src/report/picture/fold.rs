//! Folded rows of the picture: which messages a folded stretch hides, and
//! how the row that stands for them is drawn and summed up in words.

use super::*;

/// Whether every end of `message` that was seen lies in a folded row: it
/// is listed there, not drawn.
pub(super) fn hidden_in_fold(message: &Message, layout: &Layout) -> bool {
    let ends: Vec<usize> = message
        .sent
        .iter()
        .chain(&message.received)
        .copied()
        .collect();
    !ends.is_empty() && ends.iter().all(|&index| layout.wire_fold[index].is_some())
}

/// The messages a fold hides, in time order.
pub(super) fn fold_messages<'a>(
    fold_index: usize,
    messages: &'a [Message],
    layout: &Layout,
) -> Vec<&'a Message> {
    messages
        .iter()
        .filter(|message| {
            hidden_in_fold(message, layout)
                && message
                    .sent
                    .or(message.received)
                    .is_some_and(|index| layout.wire_fold[index] == Some(fold_index))
        })
        .collect()
}

/// One folded row: a band across the lifelines saying what it holds, a
/// tooltip listing all of it, and a link that opens the list in place.
#[allow(clippy::too_many_arguments)]
pub(super) fn draw_fold(
    out: &mut String,
    lists: &mut String,
    fold_index: usize,
    fold: &Fold,
    outcome: &RunOutcome,
    all_messages: &[Message],
    layout: &Layout,
    (last_x, height): (i64, i64),
) {
    let hidden = fold_messages(fold_index, all_messages, layout);
    // Every hidden line and note, in time order, as a person reads them.
    let mut listed: Vec<(u64, usize, String)> = Vec::new();
    for message in &hidden {
        let time_ms = message.sent_ms.or(message.received_ms).unwrap_or(0);
        let received = match message.received_ms {
            Some(received_ms) => format!("received {received_ms} ms"),
            None => "never received".to_owned(),
        };
        listed.push((
            time_ms,
            message.sent.or(message.received).unwrap_or(0),
            format!(
                "{time_ms} ms {} → {}: {} ({received})",
                message.from,
                message.to.as_deref().unwrap_or("?"),
                message.line
            ),
        ));
    }
    for &index in &fold.notes {
        let line = &outcome.trace[index];
        listed.push((
            line.time_ms,
            index,
            format!(
                "{} ms {} note: {}",
                line.time_ms,
                line.host,
                in_words(&line.text)
            ),
        ));
    }
    listed.sort();

    let summary = fold_summary(fold, outcome, &hidden);
    let left_x = FIRST_LIFELINE_X - 40;
    // Across the lifelines, and wide enough for its summary.
    let summary_chars = summary.0.chars().count().max(summary.1.chars().count()) as i64;
    let band_width = (last_x - left_x + 40).max(summary_chars * CHAR_WIDTH_PX + 16);
    let id = format!("fold-{}", fold_index + 1);
    let tooltip = listed.iter().map(|(_, _, text)| text.as_str());
    let _ = writeln!(
        out,
        "<g class=\"folded\" data-lines=\"{}\" data-notes=\"{}\"><title>{} (click to list)\n{}</title><a href=\"#{id}\"><rect class=\"fold\" x=\"{left_x}\" y=\"{}\" width=\"{band_width}\" height=\"{}\" rx=\"4\"/><text class=\"ft\" x=\"{}\" y=\"{}\" xml:space=\"preserve\">{}</text><text class=\"fs\" x=\"{}\" y=\"{}\">{}</text></a></g>",
        hidden.len(),
        fold.notes.len(),
        escape(&summary.0),
        escape_lines(tooltip),
        fold.y + FOLD_MARGIN_PX,
        FOLD_ROW_PX - 2 * FOLD_MARGIN_PX,
        left_x + 8,
        fold.y + FOLD_MARGIN_PX + 13,
        escape(&summary.0),
        left_x + 8,
        fold.y + FOLD_MARGIN_PX + 26,
        escape(&summary.1),
    );

    // The list, shown when the row is clicked: at the row, or higher when
    // it would run past the bottom of the picture.
    let shown = listed.len().min(FOLD_LIST_LINES_MAX);
    let more = listed.len() - shown;
    let list_height = (shown as i64 + 2 + i64::from(more > 0)) * 12 + 8;
    let list_y = fold.y.min(height - list_height - 4).max(0);
    let list_width = band_width.max(560);
    let _ = write!(
        lists,
        "<g class=\"list\" id=\"{id}\"><rect class=\"lbox\" x=\"{left_x}\" y=\"{list_y}\" width=\"{list_width}\" height=\"{list_height}\" rx=\"4\"/><text class=\"ft\" x=\"{}\" y=\"{}\">{}</text><a href=\"#\"><text class=\"close e\" x=\"{}\" y=\"{}\">close ✕</text></a>",
        left_x + 8,
        list_y + 14,
        escape(&summary.0),
        left_x + list_width - 8,
        list_y + 14,
    );
    for (row, (_, _, text)) in listed.iter().take(shown).enumerate() {
        let _ = write!(
            lists,
            "<text x=\"{}\" y=\"{}\">{}</text>",
            left_x + 8,
            list_y + 28 + row as i64 * 12,
            escape(&shorten(
                text,
                (list_width as usize - 16) / CHAR_WIDTH_PX as usize
            ))
        );
    }
    if more > 0 {
        let _ = write!(
            lists,
            "<text class=\"k\" x=\"{}\" y=\"{}\">… and {more} more: hover the folded row for all of them</text>",
            left_x + 8,
            list_y + 28 + shown as i64 * 12,
        );
    }
    lists.push_str("</g>\n");
}

/// A folded row's two lines: what happened (`505–2,705 ms · 22 steps ·
/// server: draw 6 6 … draw 27 27 (22 draws)`) and what crossed the wire
/// (`132 lines, all delivered: 66 DRAW, 66 ACK · click to list`).
pub(super) fn fold_summary(
    fold: &Fold,
    outcome: &RunOutcome,
    hidden: &[&Message],
) -> (String, String) {
    let mut first_line = format!(
        "▸ {}–{} ms · {} uneventful steps folded",
        ms(fold.first_ms),
        ms(fold.last_ms),
        fold.steps
    );
    // The notes by session and first word: `server: draw 6 6 … draw 27 27 (22)`.
    let mut notes: BTreeMap<(&str, &str), Vec<&str>> = BTreeMap::new();
    for &index in &fold.notes {
        let line = &outcome.trace[index];
        let verb = line.text.split(' ').next().unwrap_or("");
        notes
            .entry((line.host.as_str(), verb))
            .or_default()
            .push(line.text.as_str());
    }
    let mut kinds: Vec<(usize, String)> = notes
        .iter()
        .map(|((host, _), texts)| {
            let text = match texts.as_slice() {
                [only] => format!("{host}: {only}"),
                [first, .., last] => format!("{host}: {first} … {last} ({})", texts.len()),
                [] => String::new(),
            };
            (texts.len(), text)
        })
        .collect();
    kinds.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let shown: Vec<&str> = kinds
        .iter()
        .take(3)
        .map(|(_, text)| text.as_str())
        .collect();
    if !shown.is_empty() {
        let _ = write!(first_line, " · {}", shown.join(" · "));
    }
    if kinds.len() > 3 {
        let _ = write!(first_line, " · {} more kinds of note", kinds.len() - 3);
    }
    // The lines by first word: `66 DRAW, 66 ACK`.
    let mut lines: BTreeMap<&str, usize> = BTreeMap::new();
    for message in hidden {
        let word = message.line.split(' ').next().unwrap_or("");
        *lines.entry(word).or_default() += 1;
    }
    let mut line_kinds: Vec<(usize, &str)> =
        lines.iter().map(|(word, count)| (*count, *word)).collect();
    line_kinds.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    let words: Vec<String> = line_kinds
        .iter()
        .take(5)
        .map(|(count, word)| format!("{count} {word}"))
        .collect();
    let undelivered = hidden
        .iter()
        .filter(|message| message.received.is_none())
        .count();
    let delivered = match undelivered {
        0 => "all delivered".to_owned(),
        lost => format!("{lost} never received"),
    };
    let mut second_line = format!("{} lines, {delivered}", hidden.len());
    if !words.is_empty() {
        let _ = write!(second_line, ": {}", words.join(", "));
        if line_kinds.len() > 5 {
            second_line.push_str(", …");
        }
    }
    second_line.push_str(" · click to list, hover for all");
    (
        shorten(&first_line, HEADER_CHARS_MAX),
        shorten(&second_line, HEADER_CHARS_MAX),
    )
}
