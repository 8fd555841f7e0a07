//! What the chat room's state machine (`room.rs`) records: one [`Note`]
//! per decision, in the order it was made.
//!
//! The text of a note (its `Display`) is the trace line the simulation
//! snapshots and replays hold, so it never changes silently; `FromStr`
//! reads it back for the simulation's oracles. The shell's own lines
//! (`listen`, `full`, `accept-error`, `shutdown`, in `server.rs`) are not
//! notes of the room and stay plain text.

use std::fmt;
use std::str::FromStr;

use crate::chat::protocol::{parse_id, ClientId};
use crate::notes::{word, word_enum, NoteError};

/// The first words of the lines the server's shell (`server.rs`) writes
/// itself: every other line a chat server records is a [`Note`].
pub const SHELL_KEYWORDS: &[&str] = &["listen", "full", "accept-error", "shutdown"];

/// Whether `line` is one of the shell's own lines, not a note.
pub fn is_shell_line(line: &str) -> bool {
    let keyword = line.split(' ').next().unwrap_or_default();
    SHELL_KEYWORDS.contains(&keyword)
}

/// One decision of the chat room. Clients are named by their id (their
/// address as the server sees it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// `join 10.0.0.1:4000`: a connection joined the room.
    Join { client: ClientId },
    /// `refuse <id> <code>`: a line was refused with this code.
    Refuse { client: ClientId, code: String },
    /// `list <id> <id> ...`: the client asked `L` and was sent these ids
    /// (the text after the asker; empty for an empty list).
    List {
        client: ClientId,
        listed: Vec<ClientId>,
    },
    /// `unknown <from> <to>`: a message to an id not in the room.
    Unknown { from: ClientId, to: ClientId },
    /// `route <from> <to> <text>`: a message was queued for its target.
    /// The text is everything after the target, spaces included.
    Route {
        from: ClientId,
        to: ClientId,
        text: String,
    },
    /// `busy <from> <to>`: the target's queue was full.
    Busy { from: ClientId, to: ClientId },
    /// `leave <id> quit`: the client left the room.
    Leave {
        client: ClientId,
        departure: Departure,
    },
}

impl Note {
    /// The client whose line (or connection) this note decides on.
    pub fn client(&self) -> ClientId {
        match self {
            Note::Join { client }
            | Note::Refuse { client, .. }
            | Note::List { client, .. }
            | Note::Leave { client, .. } => *client,
            Note::Unknown { from, .. } | Note::Route { from, .. } | Note::Busy { from, .. } => {
                *from
            }
        }
    }
}

word_enum! {
    /// Why a client left, as the `leave` note says it.
    pub enum Departure {
        /// It sent `Q`.
        Quit = "quit",
        /// Its connection ended (closed, reset, or broke the framing).
        Closed = "closed",
        /// A new connection arrived from the same address, so this one
        /// was dead.
        Replaced = "replaced",
        /// It sent a line longer than `LINE_BYTES_MAX`.
        LineTooLong = "line-too-long",
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Note::Join { client } => write!(f, "join {client}"),
            Note::Refuse { client, code } => write!(f, "refuse {client} {code}"),
            Note::List { client, listed } => {
                write!(f, "list {client} ")?;
                for (index, id) in listed.iter().enumerate() {
                    if index > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{id}")?;
                }
                Ok(())
            }
            Note::Unknown { from, to } => write!(f, "unknown {from} {to}"),
            Note::Route { from, to, text } => write!(f, "route {from} {to} {text}"),
            Note::Busy { from, to } => write!(f, "busy {from} {to}"),
            Note::Leave { client, departure } => write!(f, "leave {client} {departure}"),
        }
    }
}

impl FromStr for Note {
    type Err = NoteError;

    fn from_str(line: &str) -> Result<Note, NoteError> {
        let bad = || NoteError::new(line);
        let id = |token: &str| parse_id(token).ok_or_else(bad);
        let (keyword, rest) = line.split_once(' ').ok_or_else(bad)?;
        let note = match keyword {
            "join" => Note::Join { client: id(rest)? },
            "list" => {
                let (client, listed) = rest.split_once(' ').ok_or_else(bad)?;
                let listed = if listed.is_empty() {
                    Vec::new()
                } else {
                    listed.split(' ').map(id).collect::<Result<_, _>>()?
                };
                Note::List {
                    client: id(client)?,
                    listed,
                }
            }
            "route" => {
                let (from, rest) = rest.split_once(' ').ok_or_else(bad)?;
                let (to, text) = rest.split_once(' ').ok_or_else(bad)?;
                Note::Route {
                    from: id(from)?,
                    to: id(to)?,
                    text: text.to_owned(),
                }
            }
            _ => {
                let (first, second) = rest.split_once(' ').ok_or_else(bad)?;
                match keyword {
                    "refuse" => Note::Refuse {
                        client: id(first)?,
                        code: word(second, line)?,
                    },
                    "unknown" => Note::Unknown {
                        from: id(first)?,
                        to: id(second)?,
                    },
                    "busy" => Note::Busy {
                        from: id(first)?,
                        to: id(second)?,
                    },
                    "leave" => Note::Leave {
                        client: id(first)?,
                        departure: Departure::from_word(second).ok_or_else(bad)?,
                    },
                    _ => return Err(bad()),
                }
            }
        };
        Ok(note)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::sample::select;
    use std::net::{IpAddr, SocketAddr};

    fn client() -> impl Strategy<Value = ClientId> {
        (any::<IpAddr>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::new(ip, port))
    }

    fn note() -> impl Strategy<Value = Note> {
        prop_oneof![
            client().prop_map(|client| Note::Join { client }),
            (client(), "[a-z][a-z-]{0,20}")
                .prop_map(|(client, code)| Note::Refuse { client, code }),
            (client(), proptest::collection::vec(client(), 0..5))
                .prop_map(|(client, listed)| Note::List { client, listed }),
            (client(), client()).prop_map(|(from, to)| Note::Unknown { from, to }),
            (client(), client(), "[ -~]{0,40}").prop_map(|(from, to, text)| Note::Route {
                from,
                to,
                text
            }),
            (client(), client()).prop_map(|(from, to)| Note::Busy { from, to }),
            (client(), select(Departure::ALL))
                .prop_map(|(client, departure)| Note::Leave { client, departure }),
        ]
    }

    proptest! {
        #[test]
        fn every_note_reads_back_as_itself(note in note()) {
            let text = note.to_string();
            prop_assert_eq!(text.parse::<Note>(), Ok(note), "{}", text);
        }

        #[test]
        fn whatever_parses_as_a_note_is_written_back_unchanged(line in "(join|list|route|busy|unknown|refuse|leave) (1\\.0\\.0\\.[0-9]:0?[0-9]|::1|\\[::1\\]:5|x)( (1\\.0\\.0\\.[0-9]:[0-9]|\\[::0\\]:1|quit|replaced|gone|bad-line| hi)){0,3}") {
            if let Ok(note) = line.parse::<Note>() {
                prop_assert_eq!(note.to_string(), line);
            }
        }
    }

    #[test]
    fn every_server_line_of_the_chat_snapshots_is_a_note_written_back_unchanged() {
        crate::notes::assert_snapshot_notes_round_trip::<Note>("chat_", is_shell_line, 10);
    }

    #[test]
    fn lines_that_are_not_notes_are_refused() {
        for line in [
            "",
            "join",
            "join 1.0.0.1",
            "join 1.0.0.1:01",
            "list 1.0.0.1:1",
            "list 1.0.0.1:1 1.0.0.2:2 ",
            "route 1.0.0.1:1 1.0.0.2:2",
            "busy 1.0.0.1:1 1.0.0.2:2 x",
            "leave 1.0.0.1:1 bored",
            "refuse 1.0.0.1:1 two words",
            "full 1.0.0.1:1",
        ] {
            assert_eq!(line.parse::<Note>(), Err(NoteError::new(line)), "{line:?}");
        }
    }
}
