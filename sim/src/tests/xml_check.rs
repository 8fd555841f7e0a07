//! A small well-formedness checker for the pictures' tests, so that they
//! need no XML crate: one root element, every tag closed in order,
//! attributes quoted and unique, `&` only in entities, no `<` in text or
//! attribute values, and no character XML 1.0 forbids.

use std::collections::BTreeSet;

fn check_characters(text: &str) -> Result<(), String> {
    for character in text.chars() {
        let code = character as u32;
        let forbidden = (code < 0x20 && !matches!(character, '\t' | '\n' | '\r'))
            || character == '\u{fffe}'
            || character == '\u{ffff}';
        if forbidden {
            return Err(format!("character U+{code:04X} is not allowed in XML"));
        }
    }
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        let after = &rest[at + 1..];
        let end = after
            .find(';')
            .ok_or_else(|| format!("unterminated entity near {:?}", head(&rest[at..])))?;
        let entity = &after[..end];
        let known = matches!(entity, "amp" | "lt" | "gt" | "quot" | "apos")
            || entity
                .strip_prefix("#x")
                .is_some_and(|hex| !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()))
            || entity.strip_prefix('#').is_some_and(|digits| {
                !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
            });
        if !known {
            return Err(format!("unknown entity &{entity};"));
        }
        rest = &after[end + 1..];
    }
    Ok(())
}

fn head(text: &str) -> String {
    text.chars().take(40).collect()
}

fn is_name(name: &str) -> bool {
    let mut characters = name.chars();
    characters
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == '_')
        && characters.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
}

/// Checks one start tag's inside (without `<`, `>` and a closing `/`);
/// returns the element name.
fn check_start_tag(inside: &str) -> Result<&str, String> {
    let name_end = inside.find(char::is_whitespace).unwrap_or(inside.len());
    let name = &inside[..name_end];
    if !is_name(name) {
        return Err(format!("bad element name {name:?}"));
    }
    let mut rest = inside[name_end..].trim_start();
    let mut seen = BTreeSet::new();
    while !rest.is_empty() {
        let equals = rest
            .find('=')
            .ok_or_else(|| format!("attribute without value in <{}>", head(inside)))?;
        let attribute = rest[..equals].trim_end();
        if !is_name(attribute) {
            return Err(format!("bad attribute name {attribute:?}"));
        }
        if !seen.insert(attribute) {
            return Err(format!("attribute {attribute} twice in <{name}>"));
        }
        let after = rest[equals + 1..].trim_start();
        let quote = after
            .chars()
            .next()
            .filter(|c| matches!(c, '"' | '\''))
            .ok_or_else(|| format!("unquoted attribute {attribute}"))?;
        let value_end = after[1..]
            .find(quote)
            .ok_or_else(|| format!("unterminated attribute {attribute}"))?;
        let value = &after[1..1 + value_end];
        if value.contains('<') {
            return Err(format!("< in attribute {attribute}"));
        }
        check_characters(value)?;
        let next = &after[1 + value_end + 1..];
        if !next.is_empty() && !next.starts_with(char::is_whitespace) {
            return Err(format!("no space after attribute {attribute}"));
        }
        rest = next.trim_start();
    }
    Ok(name)
}

/// Whether `document` is well-formed XML; returns its root element's name.
pub(super) fn check_well_formed(document: &str) -> Result<String, String> {
    let mut rest = document;
    if let Some(after) = rest.strip_prefix("<?xml") {
        let end = after.find("?>").ok_or("unterminated XML declaration")?;
        rest = &after[end + 2..];
    }
    let mut open: Vec<&str> = Vec::new();
    let mut root: Option<String> = None;
    let mut root_closed = false;
    loop {
        let text_end = rest.find('<').unwrap_or(rest.len());
        let text = &rest[..text_end];
        check_characters(text)?;
        if open.is_empty() && !text.trim().is_empty() {
            return Err(format!("text outside the root: {:?}", head(text)));
        }
        rest = &rest[text_end..];
        if rest.is_empty() {
            break;
        }
        if let Some(after) = rest.strip_prefix("<!--") {
            let end = after.find("-->").ok_or("unterminated comment")?;
            rest = &after[end + 3..];
            continue;
        }
        // The tag runs to the first `>` outside quotes.
        let mut quote = None;
        let tag_end = rest
            .char_indices()
            .find(|&(_, c)| match quote {
                Some(q) if c == q => {
                    quote = None;
                    false
                }
                Some(_) => false,
                None if c == '"' || c == '\'' => {
                    quote = Some(c);
                    false
                }
                None => c == '>',
            })
            .map(|(index, _)| index)
            .ok_or_else(|| format!("unterminated tag {:?}", head(rest)))?;
        let inside = &rest[1..tag_end];
        rest = &rest[tag_end + 1..];
        if let Some(name) = inside.strip_prefix('/') {
            let name = name.trim_end();
            match open.pop() {
                Some(expected) if expected == name => {}
                other => return Err(format!("</{name}> closes {other:?}")),
            }
            root_closed |= open.is_empty();
            continue;
        }
        let (inside, self_closing) = match inside.strip_suffix('/') {
            Some(inside) => (inside, true),
            None => (inside, false),
        };
        let name = check_start_tag(inside)?;
        if open.is_empty() {
            if root.is_some() {
                return Err(format!("a second root element <{name}>"));
            }
            root = Some(name.to_owned());
        }
        if self_closing {
            root_closed |= open.is_empty();
        } else {
            open.push(name);
        }
    }
    if let Some(name) = open.last() {
        return Err(format!("<{name}> is never closed"));
    }
    match root {
        Some(root) if root_closed => Ok(root),
        _ => Err("no root element".to_owned()),
    }
}

#[test]
fn the_well_formedness_check_accepts_xml_and_rejects_what_a_browser_would() {
    assert_eq!(
        check_well_formed(
            "<?xml version=\"1.0\"?>\n<svg a=\"1\" b='x &amp; y'><g><text>a &lt; b &#233;</text></g><line/></svg>\n"
        ),
        Ok("svg".to_owned())
    );
    for broken in [
        "<svg><text>a < b</text></svg>",
        "<svg><text>fish & chips</text></svg>",
        "<svg><g></svg>",
        "<svg></g></svg>",
        "<svg/><svg/>",
        "<svg a=1/>",
        "<svg a=\"<\"/>",
        "<svg a=\"1\" a=\"2\"/>",
        "<svg>\u{1}</svg>",
        "<svg><text>&nbsp;</text></svg>",
        "stray<svg/>",
        "",
    ] {
        assert!(
            check_well_formed(broken).is_err(),
            "accepted broken XML {broken:?}"
        );
    }
}
