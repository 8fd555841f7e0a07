//! Wire pieces shared by every game's protocol: the `ERR <code> <text>`
//! refusal and small token parsers that never panic.
//!
//! The number grammar is one for every game (docs/protocol.md, "Framing"):
//! a number is one or more ASCII decimal digits, without sign and without
//! a leading zero (`0` alone is zero); words are separated by exactly one
//! space, with none before the first or after the last. So `05`, `+5`,
//! `5 ` and `1  2` are all refused: one value has exactly one spelling, and
//! a typo is refused rather than taken for another number.

use std::fmt;

/// A refusal as it goes on the wire: `ERR <code> <detail>`. The code is a
/// lower-case kebab word tests match on; the detail is for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: String,
    pub detail: String,
}

impl Refusal {
    pub fn new(code: &str, detail: impl Into<String>) -> Refusal {
        Refusal {
            code: code.to_owned(),
            detail: detail.into(),
        }
    }

    /// Parses the part after `ERR `.
    pub fn parse(rest: &str) -> Option<Refusal> {
        let (code, detail) = rest.split_once(' ').unwrap_or((rest, ""));
        let kebab = !code.is_empty()
            && code
                .bytes()
                .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-');
        kebab.then(|| Refusal::new(code, detail))
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.detail.is_empty() {
            write!(f, "ERR {}", self.code)
        } else {
            write!(f, "ERR {} {}", self.code, self.detail)
        }
    }
}

/// Splits a line into its keyword and the rest (after one space).
pub fn keyword(line: &str) -> (&str, &str) {
    split_word(line).unwrap_or((line, ""))
}

/// `text.split_once(' ')`, by a plain search of the bytes: lines are
/// short, and the general character search cost about a hundred
/// instructions a call, several calls for every line a run parses.
pub fn split_word(text: &str) -> Option<(&str, &str)> {
    let space = text.bytes().position(|byte| byte == b' ')?;
    // A space is one byte in UTF-8, so both sides are whole characters.
    Some((&text[..space], &text[space + 1..]))
}

/// Writes `number` in decimal as `{number}` would, by `itoa` rather than
/// the formatting machinery (padding and flags do not apply to a number
/// inside a line, and a 1,000-player room renders half a million).
pub fn write_decimal(out: &mut impl fmt::Write, number: impl itoa::Integer) -> fmt::Result {
    out.write_str(itoa::Buffer::new().format(number))
}

/// The first token of a line, cut to a length that is safe to echo back.
pub fn first_token(line: &str) -> &str {
    let token = keyword(line).0;
    match token.char_indices().nth(TOKEN_ECHO_CHARS_MAX) {
        Some((cut, _)) => &token[..cut],
        None => token,
    }
}

/// The refusal of a line whose first word is no command: `ERR
/// unknown-command <word>`, echoing at most [`TOKEN_ECHO_CHARS_MAX`]
/// characters of the word, and saying so when the word is one of
/// `keywords` in the wrong case (`board` for `BOARD`), the usual slip of a
/// person typing by hand.
pub fn unknown_command(line: &str, keywords: &[&str]) -> Refusal {
    let token = first_token(line);
    let upper = token.to_ascii_uppercase();
    match keywords.iter().find(|keyword| **keyword == upper) {
        Some(keyword) => Refusal::new(
            "unknown-command",
            format!("{token} (commands are upper case: {keyword})"),
        ),
        None => Refusal::new("unknown-command", token),
    }
}

/// How much of an unknown token a refusal echoes back.
pub const TOKEN_ECHO_CHARS_MAX: usize = 32;

/// Whether `token` is spelled as the number grammar says: decimal digits,
/// no sign, no spaces, no leading zero unless it is `0` itself.
pub fn is_number(token: &str) -> bool {
    match token.as_bytes() {
        [] => false,
        [b'0', _, ..] => false,
        bytes => bytes.iter().all(u8::is_ascii_digit),
    }
}

/// Parses a number token in the protocol's grammar ([`is_number`]); `None`
/// also when it does not fit in `T`. One pass over the digits: the
/// grammar has already ruled out what `str::parse` would check again
/// (signs, an empty token), and the simulated runs parse millions of
/// these (a seq and a number in every `DRAW`, in the client and twice in
/// the oracles).
#[inline]
pub fn number<T: TryFrom<u64>>(token: &str) -> Option<T> {
    // The grammar's checks ([`is_number`]) in the same pass: not empty, no
    // leading zero, digits only.
    let bytes = token.as_bytes();
    if bytes.is_empty() || bytes.len() > U64_DIGITS_MAX || (bytes[0] == b'0' && bytes.len() > 1) {
        return None;
    }
    let mut value: u64 = 0;
    for &byte in bytes {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        if bytes.len() < U64_DIGITS_MAX {
            // Fewer digits than u64::MAX has cannot overflow: plain
            // arithmetic, not the checked kind every digit.
            value = value * 10 + u64::from(digit);
        } else {
            value = value.checked_mul(10)?.checked_add(u64::from(digit))?;
        }
    }
    T::try_from(value).ok()
}

/// Digits of `u64::MAX` (18446744073709551615): a longer number cannot
/// fit, and a shorter one cannot overflow while it is read.
const U64_DIGITS_MAX: usize = 20;

/// Parses numbers separated by single spaces, with no space before the
/// first or after the last; the empty text is no numbers.
pub fn numbers<T: TryFrom<u64>>(text: &str) -> Option<Vec<T>> {
    if text.is_empty() {
        return Some(Vec::new());
    }
    text.split(' ').map(number).collect()
}

/// Writes numbers space-separated.
pub fn join<T: fmt::Display>(items: &[T]) -> String {
    let mut out = String::new();
    for (index, item) in items.iter().enumerate() {
        if index > 0 {
            out.push(' ');
        }
        out.push_str(&item.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_unknown_command_in_the_wrong_case_says_commands_are_upper_case() {
        let keywords = ["BOARD", "ACK"];
        assert_eq!(
            unknown_command("board 1 2", &keywords).to_string(),
            "ERR unknown-command board (commands are upper case: BOARD)"
        );
        assert_eq!(
            unknown_command("HELLO x", &keywords).to_string(),
            "ERR unknown-command HELLO"
        );
        let long = "x".repeat(100);
        assert_eq!(
            unknown_command(&long, &keywords).detail.chars().count(),
            TOKEN_ECHO_CHARS_MAX
        );
    }

    #[test]
    fn write_decimal_writes_the_extremes() {
        for number in [0u64, 9, 10, u64::MAX] {
            let mut written = String::new();
            write_decimal(&mut written, number).unwrap();
            assert_eq!(written, number.to_string());
        }
    }

    #[test]
    fn leading_zeros_signs_and_stray_spaces_are_refused() {
        for bad in ["", "05", "00", "+5", "-5", " 5", "5 ", "5\t", "٣", "1_000"] {
            assert_eq!(number::<u32>(bad), None, "{bad:?}");
        }
        assert_eq!(number::<u32>("0"), Some(0));
        assert_eq!(number::<u32>("10"), Some(10));
        assert_eq!(number::<u8>("256"), None, "out of range for the type");
        for bad in [" 1 2", "1 2 ", "1  2", "1 02"] {
            assert_eq!(numbers::<u32>(bad), None, "{bad:?}");
        }
        assert_eq!(numbers::<u32>("1 2"), Some(vec![1, 2]));
    }

    proptest! {
        #[test]
        fn split_word_splits_as_split_once_does(text in "[ a\u{e9}\u{20ac}]{0,12}") {
            prop_assert_eq!(split_word(&text), text.split_once(' '));
        }

        #[test]
        fn write_decimal_writes_what_display_writes(number in any::<u64>()) {
            let mut written = String::new();
            write_decimal(&mut written, number).unwrap();
            prop_assert_eq!(written, number.to_string());
        }

        #[test]
        fn a_number_is_accepted_exactly_when_it_is_the_canonical_spelling(token in "[-+ 0-9a]{0,6}") {
            let canonical = token.parse::<u32>().ok().map(|value| value.to_string());
            let expected = canonical.as_deref() == Some(token.as_str());
            prop_assert_eq!(number::<u32>(&token).is_some(), expected);
        }

        #[test]
        fn a_number_parses_to_what_str_parse_gives_for_a_canonical_spelling(value in any::<u64>(), digits in "[0-9]{1,22}") {
            prop_assert_eq!(number::<u64>(&value.to_string()), Some(value));
            prop_assert_eq!(number::<u8>(&value.to_string()), u8::try_from(value).ok());
            let expected = if is_number(&digits) { digits.parse::<u64>().ok() } else { None };
            prop_assert_eq!(number::<u64>(&digits), expected);
            let expected = if is_number(&digits) { digits.parse::<u32>().ok() } else { None };
            prop_assert_eq!(number::<u32>(&digits), expected);
        }

        #[test]
        fn numbers_accepts_exactly_the_joined_canonical_spellings(text in "[ 0-9]{0,12}") {
            let parsed = numbers::<u32>(&text);
            match &parsed {
                // Whatever is accepted is exactly what join writes back.
                Some(values) => prop_assert_eq!(join(values), text),
                None => prop_assert!(
                    text.split(' ').any(|token| token.parse::<u32>().ok().map(|v| v.to_string()).as_deref() != Some(token)),
                    "{:?} refused though every token is canonical", text
                ),
            }
        }
    }
}
