//! Text as a person reads it in the picture: escaped for XML, cut at a
//! word with an ellipsis when it must be, and Rust's debug formatting
//! (`Won { winners: ["p1"] }`, which client notes carry) put in words.

/// Text made safe for XML: markup characters escaped, and control
/// characters (not allowed in XML 1.0 even escaped) shown as their Unicode
/// control pictures.
pub(super) fn escape(text: &str) -> String {
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

/// Lines joined for a multi-line tooltip: each escaped as by [`escape`],
/// the newlines between them kept (XML allows them; browsers show them).
pub(super) fn escape_lines<'a>(lines: impl IntoIterator<Item = &'a str>) -> String {
    lines
        .into_iter()
        .map(escape)
        .collect::<Vec<String>>()
        .join("\n")
}

/// A cut closer to the limit than this many characters is made mid-word
/// rather than throwing away most of the room (a long token such as a board
/// list or an address has no space to cut at).
const WORD_CUT_SLACK_CHARS: usize = 8;

/// `text` cut to `chars_max` characters, with an ellipsis when cut; the cut
/// falls after a whole word when one ends near the limit. Callers that cut
/// keep the whole text in a `<title>` tooltip.
pub(super) fn shorten(text: &str, chars_max: usize) -> String {
    if text.chars().count() <= chars_max {
        return text.to_owned();
    }
    let kept: Vec<char> = text.chars().take(chars_max.saturating_sub(1)).collect();
    let word_end = kept
        .iter()
        .rposition(|&character| character == ' ')
        .filter(|&space| space > 0 && kept.len() - space <= WORD_CUT_SLACK_CHARS);
    let mut cut: String = match word_end {
        Some(space) => kept[..space].iter().collect(),
        None => kept.iter().collect(),
    };
    cut.push('…');
    cut
}

/// A note in words: Rust debug forms that game clients record
/// (`result Won { winners: ["p1", "p3"] }`, `reason: "connection closed"`)
/// become `result won (winners p1, p3)` and `reason connection closed`.
/// Lists keep their brackets (`[p1]`; `[]` reads `none`). Text without
/// those forms comes back unchanged, so protocol lines are never altered.
pub(super) fn in_words(text: &str) -> String {
    if !text.contains(['{', '"', '[']) && !debug_variant_after_result(text) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    // Inside `{ ... }`, where `field: value` reads `field value`.
    let mut braces_depth = 0_usize;
    while let Some(character) = rest.chars().next() {
        let step = character.len_utf8();
        match character {
            '"' => {}
            '{' => {
                // `Name { a: b }` -> `name (a b)`: the opening becomes `(`.
                while out.ends_with(' ') {
                    out.pop();
                }
                out.push_str(" (");
                braces_depth += 1;
                rest = rest[step..].trim_start();
                continue;
            }
            '}' => {
                while out.ends_with(' ') {
                    out.pop();
                }
                out.push(')');
                braces_depth = braces_depth.saturating_sub(1);
            }
            ':' if braces_depth > 0 && rest[step..].starts_with(' ') => {}
            '[' if rest[step..].starts_with(']') => {
                out.push_str("none");
                rest = &rest[2..];
                continue;
            }
            _ => out.push(character),
        }
        rest = &rest[step..];
    }
    // A variant name (`Won`, `Left`) reads as a word: `won`, `left`.
    let words: Vec<String> = out
        .split(' ')
        .map(|word| {
            let mut characters = word.chars();
            let is_variant = characters.next().is_some_and(|c| c.is_ascii_uppercase())
                && word.len() > 1
                && word[1..]
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '(');
            if is_variant {
                word.to_ascii_lowercase()
            } else {
                word.to_owned()
            }
        })
        .collect();
    words.join(" ")
}

/// `result Left`, `result Disqualified`: a bare variant after `result`.
fn debug_variant_after_result(text: &str) -> bool {
    text.strip_prefix("result ")
        .and_then(|rest| rest.chars().next())
        .is_some_and(|first| first.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_leaves_no_markup_and_no_control_characters() {
        assert_eq!(
            escape("a<b>&\"c' \u{1}\u{7f}"),
            "a&lt;b&gt;&amp;&quot;c&#39; \u{2401}\u{2421}"
        );
    }

    #[test]
    fn tooltip_lines_keep_their_newlines_and_escape_the_rest() {
        assert_eq!(escape_lines(["a<b", "c\u{1}"]), "a&lt;b\nc\u{2401}");
    }

    #[test]
    fn shortening_counts_characters_not_bytes() {
        assert_eq!(shorten("città🎲", 10), "città🎲");
        assert_eq!(shorten("città🎲abc", 5), "citt…");
    }

    #[test]
    fn shortening_cuts_after_a_whole_word_when_one_ends_near_the_limit() {
        assert_eq!(shorten("over 1 winners p1 p3", 16), "over 1 winners…");
        // One long token: cut inside it rather than keep almost nothing.
        assert_eq!(
            shorten("a 192.168.0.2:49152,192.168.0.3:49152", 12),
            "a 192.168.0…"
        );
    }

    #[test]
    fn debug_formatting_of_results_is_put_in_words() {
        assert_eq!(
            in_words("result Won { winners: [\"p1\", \"p3\"] }"),
            "result won (winners [p1, p3])"
        );
        assert_eq!(
            in_words("result Dropped { reason: \"connection closed\" }"),
            "result dropped (reason connection closed)"
        );
        assert_eq!(in_words("result Left"), "result left");
        assert_eq!(
            in_words("game 1: winners [\"p1\"], but the boards were []"),
            "game 1: winners [p1], but the boards were none"
        );
    }

    #[test]
    fn protocol_lines_come_back_unchanged() {
        for line in [
            "DRAW 1 7",
            "OVER 1 WINNERS p1 p3",
            "WELCOME p1",
            "route a b m1 hi",
        ] {
            assert_eq!(in_words(line), line);
        }
    }
}
