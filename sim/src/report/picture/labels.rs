//! Room for the picture's labels: each label placed so far keeps its
//! extent, so a later one is cut short at a word or left out rather than
//! drawn over an earlier one, and sits on a white box that lines crossing
//! it do not strike through.

use std::collections::BTreeMap;

use super::LIFELINE_SPACING_PX;

/// Approximate advance of one character of the 10 px monospace font.
pub(super) const CHAR_WIDTH_PX: i64 = 6;
/// A note's label keeps this far right of its dot.
pub(super) const LABEL_OFFSET_PX: i64 = 8;
/// Two labels whose baselines are closer than this would overlap.
pub(super) const LABEL_HEIGHT_PX: i64 = 10;
/// Characters of a note drawn in full: what fits between its dot and the
/// next lifeline (longer ones are cut at a word, whole in the tooltip).
pub(super) const NOTE_CHARS_MAX: usize =
    ((LIFELINE_SPACING_PX - LABEL_OFFSET_PX - 8) / CHAR_WIDTH_PX) as usize;
/// A label that cannot keep this many characters is left out (its arrow
/// or dot keeps the tooltip).
pub(super) const LABEL_CHARS_MIN: usize = 4;

/// The labels placed so far, so that a later one is cut short or left out
/// rather than drawn over an earlier one.
#[derive(Default)]
pub(super) struct LabelSpace {
    /// Baseline y -> horizontal extents of the labels on it.
    placed: BTreeMap<i64, Vec<(i64, i64)>>,
}

impl LabelSpace {
    /// The most of `wanted_chars` of `text` that fit at baseline `y`,
    /// starting at `x` or centred on it, clear of every label placed
    /// before; reserves that room. A cut label keeps at least its first
    /// word whole (and [`LABEL_CHARS_MIN`]): `SEN…` says nothing. 0 when
    /// that does not fit.
    pub(super) fn fit(
        &mut self,
        text: &str,
        x: i64,
        y: i64,
        centred: bool,
        wanted_chars: usize,
    ) -> usize {
        let extent = |chars: usize| {
            let width = chars as i64 * CHAR_WIDTH_PX;
            if centred {
                (x - width / 2, x + width / 2)
            } else {
                (x, x + width)
            }
        };
        let clear = |(start, end): (i64, i64)| {
            self.placed
                .range(y - LABEL_HEIGHT_PX + 1..y + LABEL_HEIGHT_PX)
                .flat_map(|(_, extents)| extents.iter())
                .all(|&(other_start, other_end)| {
                    end + CHAR_WIDTH_PX <= other_start || other_end + CHAR_WIDTH_PX <= start
                })
        };
        let first_word_chars = text.split(' ').next().unwrap_or("").chars().count();
        // The first word and an ellipsis, or the whole text if shorter.
        let least = LABEL_CHARS_MIN
            .max(first_word_chars + 1)
            .min(text.chars().count())
            .max(1);
        let Some(chars) = (least..=wanted_chars)
            .rev()
            .find(|&chars| clear(extent(chars)))
        else {
            return 0;
        };
        self.placed.entry(y).or_default().push(extent(chars));
        chars
    }
}

/// A white box under a label of `chars` characters at baseline `y`, so
/// that lines crossing it do not strike it through.
pub(super) fn label_background(x: i64, y: i64, centred: bool, chars: usize) -> String {
    let width = chars as i64 * CHAR_WIDTH_PX + 4;
    let left = if centred { x - width / 2 } else { x - 2 };
    format!(
        "<rect class=\"bg\" x=\"{left}\" y=\"{}\" width=\"{width}\" height=\"10\"/>",
        y - 8
    )
}
