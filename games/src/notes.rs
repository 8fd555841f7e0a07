//! What the three games' typed trace notes share: the parse error and the
//! word helpers their `FromStr` implementations are built from.
//!
//! Each game's state machine writes its notes as values of its own enum
//! (`tombola::notes::Note`, `live::notes::Note`, `chat::notes::Note`); the
//! env's `record` receives their `Display` text, and the simulation's
//! oracles read the text back with `FromStr`. The two are exact inverses
//! (property-tested next to each enum), so a trace line is either a note
//! or not one: nothing is split into words twice in two places.

use std::fmt;

/// A line that is not one of the game's notes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteError {
    /// The line as given.
    pub line: String,
}

impl NoteError {
    pub fn new(line: &str) -> NoteError {
        NoteError {
            line: line.to_owned(),
        }
    }
}

impl fmt::Display for NoteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a note: {:?}", self.line)
    }
}

impl std::error::Error for NoteError {}

/// A number in its canonical spelling (no sign, no leading zero), as the
/// notes write it; anything else makes the line not a note.
pub fn number<T: TryFrom<u64>>(token: &str, line: &str) -> Result<T, NoteError> {
    crate::wire::number(token).ok_or_else(|| NoteError::new(line))
}

/// A name that a note writes as one word (a player id, a nick): not
/// empty and without spaces, or the line would not split back the same.
pub fn word(token: &str, line: &str) -> Result<String, NoteError> {
    if token.is_empty() || token.contains(' ') {
        return Err(NoteError::new(line));
    }
    Ok(token.to_owned())
}

/// Space-separated names (none for an empty text).
pub fn words(text: &str, line: &str) -> Result<Vec<String>, NoteError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    text.split(' ').map(|token| word(token, line)).collect()
}

/// Writes `names` space-separated.
pub fn write_words(f: &mut fmt::Formatter<'_>, names: &[String]) -> fmt::Result {
    for (index, name) in names.iter().enumerate() {
        if index > 0 {
            f.write_str(" ")?;
        }
        f.write_str(name)?;
    }
    Ok(())
}

/// Defines a fieldless enum written as one fixed word per variant, with
/// `ALL`, `as_str`, `from_word` and a `Display` that writes the word.
macro_rules! word_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $($(#[$variant_meta:meta])* $variant:ident = $word:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($(#[$variant_meta])* $variant,)+
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The word the trace writes.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word,)+
                }
            }

            /// The variant written as `word`, if any.
            pub fn from_word(word: &str) -> Option<$name> {
                match word {
                    $($word => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use word_enum;

/// Reads the `fixtures/snapshots/<prefix>*.snap` traces and returns the
/// event text of every line logged by `host`: real notes to check a
/// game's `FromStr` and `Display` against.
#[cfg(test)]
pub fn snapshot_events(prefix: &str, host: &str) -> Vec<String> {
    let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures/snapshots");
    let mut paths: Vec<_> = std::fs::read_dir(folder)
        .expect("fixtures/snapshots exists")
        .map(|entry| entry.expect("readable folder").path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with(prefix) && name.ends_with(".snap"))
        })
        .collect();
    paths.sort();
    let mut events = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path).expect("readable snapshot");
        // Front matter between the first two `---` lines, then the trace:
        // `{time:>8} {host:<8} {event}`.
        for line in text.split('\n').skip_while(|line| *line != "---").skip(1) {
            let line = line.trim_start();
            let Some((time, rest)) = line.split_once(' ') else {
                continue;
            };
            if time.parse::<u64>().is_err() {
                continue;
            }
            let Some((logged_by, event)) = rest.split_once(' ') else {
                continue;
            };
            if logged_by == host {
                events.push(event.trim_start_matches(' ').to_owned());
            }
        }
    }
    events
}

/// Checks that every server line of the snapshots named `prefix*` that is
/// not a shell line parses as a `Note` and is written back byte for byte,
/// and that there are more than `notes_min` of them (so the check cannot
/// pass on an empty sample).
#[cfg(test)]
pub fn assert_snapshot_notes_round_trip<Note>(
    prefix: &str,
    is_shell_line: fn(&str) -> bool,
    notes_min: usize,
) where
    Note: std::str::FromStr + std::fmt::Display,
    Note::Err: std::fmt::Display,
{
    let events = snapshot_events(prefix, "server");
    let notes: Vec<&String> = events
        .iter()
        .filter(|event| !is_shell_line(event))
        .collect();
    assert!(notes.len() > notes_min, "the snapshots hold notes");
    for event in notes {
        let note: Note = event
            .parse()
            .unwrap_or_else(|error| panic!("{event:?}: {error}"));
        assert_eq!(&note.to_string(), event);
    }
}
