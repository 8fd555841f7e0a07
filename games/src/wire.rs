//! Wire pieces shared by every game's protocol: the `ERR <code> <text>`
//! refusal and small token parsers that never panic.

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
    line.split_once(' ').unwrap_or((line, ""))
}

/// The first token of a line, cut to a length that is safe to echo back.
pub fn first_token(line: &str) -> &str {
    let token = keyword(line).0;
    match token.char_indices().nth(TOKEN_ECHO_CHARS_MAX) {
        Some((cut, _)) => &token[..cut],
        None => token,
    }
}

/// How much of an unknown token a refusal echoes back.
pub const TOKEN_ECHO_CHARS_MAX: usize = 32;

/// Parses a decimal number token; no sign, no spaces, no leading `+`.
pub fn number<T: std::str::FromStr>(token: &str) -> Option<T> {
    if token.is_empty() || !token.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    token.parse().ok()
}

/// Parses space-separated numbers (single spaces, as the protocol says).
pub fn numbers<T: std::str::FromStr>(text: &str) -> Option<Vec<T>> {
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
