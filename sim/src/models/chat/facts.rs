//! The trace of a chat run read back as facts: the server's decisions, each
//! session's commands and what it received, spans of membership.

use super::*;

/// One decision of the server about one command of one client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Decision {
    List(Vec<String>),
    Route { to: String, text: String },
    Busy { to: String },
    Unknown { to: String },
    Refuse { code: String },
    Quit,
}

impl Decision {
    /// The reply this decision must have produced, or for a refusal its
    /// prefix (the detail is free text).
    pub(super) fn reply(&self) -> String {
        match self {
            Decision::List(ids) if ids.is_empty() => "CLIENTS".to_owned(),
            Decision::List(ids) => format!("CLIENTS {}", ids.join(" ")),
            Decision::Route { to, .. } => format!("SENT {to}"),
            Decision::Busy { to } => format!("ERR recipient-busy {to}"),
            Decision::Unknown { to } => format!("ERR no-such-client {to}"),
            Decision::Refuse { code } => format!("ERR {code}"),
            Decision::Quit => "BYE".to_owned(),
        }
    }

    /// Whether this decision answers `command` from the client `from`:
    /// the same kind of command, the same target, and for a message the
    /// length bound (`text_bytes_max` of the sender) on the right side.
    pub(super) fn answers(&self, command: &Command, from: &str) -> bool {
        let line = match command {
            Command::InvalidUtf8 => {
                return matches!(self, Decision::Refuse { code } if code == "invalid-utf8")
            }
            Command::TooLong => {
                return matches!(self, Decision::Refuse { code } if code == "line-too-long")
            }
            Command::Line(line) => line,
        };
        let fits = |text: &str| {
            from.parse::<ClientId>()
                .is_ok_and(|from| text.len() <= text_bytes_max(from))
        };
        match (ClientMessage::parse(line), self) {
            (Ok(ClientMessage::List), Decision::List(_)) => true,
            (Ok(ClientMessage::Quit), Decision::Quit) => true,
            (
                Ok(ClientMessage::Send { to, text }),
                Decision::Route {
                    to: routed,
                    text: sent,
                },
            ) => to.to_string() == *routed && text == *sent && fits(&text),
            (Ok(ClientMessage::Send { to, text }), Decision::Busy { to: target }) => {
                to.to_string() == *target && fits(&text)
            }
            (Ok(ClientMessage::Send { to, .. }), Decision::Unknown { to: target }) => {
                to.to_string() == *target
            }
            (Ok(ClientMessage::Send { text, .. }), Decision::Refuse { code }) => {
                code == "message-too-long" && !fits(&text)
            }
            (Err(refusal), Decision::Refuse { code }) => refusal.code == *code,
            _ => false,
        }
    }
}

/// Whether `reply` is the refusal the documented rules call for, given the
/// command it answers: the right code, a detail that starts with the
/// target for refusals about a target, and for an unknown command the
/// detail the documented grammar gives (the first token cut to
/// [`games::wire::TOKEN_ECHO_CHARS_MAX`] characters, with the upper-case hint).
pub(super) fn refusal_fits(reply: &str, command: &Command) -> bool {
    let Some(refusal) = reply.strip_prefix("ERR ").and_then(Refusal::parse) else {
        return false;
    };
    let names = |target: &str| {
        refusal.detail == target || refusal.detail.starts_with(&format!("{target} "))
    };
    match command {
        Command::InvalidUtf8 => refusal.code == "invalid-utf8",
        Command::TooLong => refusal.code == "line-too-long",
        Command::Line(line) => match ClientMessage::parse(line) {
            Ok(ClientMessage::Send { to, .. }) => {
                refusal.code == "message-too-long" && names(&to.to_string())
            }
            Ok(_) => false,
            Err(expected) if expected.code == "unknown-command" => {
                refusal.code == expected.code && refusal.detail == expected.detail
            }
            Err(expected) if expected.code == "empty-message" => {
                refusal.code == expected.code && names(&expected.detail)
            }
            Err(expected) => refusal.code == expected.code,
        },
    }
}

/// One line a client sent, as its trace tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Command {
    /// A UTF-8 line (`send <line>`, or `send-split <line>` for one written
    /// in many small pieces).
    Line(String),
    /// A line that is not UTF-8 (`send-invalid-utf8`).
    InvalidUtf8,
    /// A line over the length limit (`send-too-long`); the last one.
    TooLong,
}

/// What the oracles know beyond the trace: each session's host and
/// silence bound (a run on real TCP has none of this, and no faults).
#[derive(Debug, Clone, Default)]
pub struct Topology {
    /// Session name -> (host, silence bound in ms).
    pub(super) sessions: BTreeMap<String, (String, u64)>,
}

/// A client as the server knows it: (server incarnation, id). A server
/// restart starts an empty room, and ids of one incarnation mean nothing
/// to the next.
pub(super) type Key = (u32, String);

/// One client connection as its trace lines tell it.
#[derive(Debug, Default)]
pub(super) struct Session {
    pub(super) host: String,
    pub(super) silence_ms: u64,
    pub(super) id: Option<Key>,
    /// Trace index and time of its `recv WELCOME`.
    pub(super) welcomed_at: Option<usize>,
    pub(super) welcomed_ms: Option<u64>,
    /// Trace index of its `send Q` or of its `end hangup`: from then on it
    /// has left, as far as it knows.
    pub(super) left_at: Option<usize>,
    pub(super) commands: Vec<Command>,
    /// Indexes (into `commands`) of lines written in many small pieces.
    pub(super) split: BTreeSet<usize>,
    /// Whether it shut down its sending side (`half-close`).
    pub(super) half_closed: bool,
    /// Lines that answer its commands, in order.
    pub(super) replies: Vec<String>,
    /// `FROM` lines: sender and text, in order, with their trace indexes.
    pub(super) received: Vec<(String, String)>,
    pub(super) received_at: Vec<usize>,
    /// Lines received, and the trace index of the last line it may
    /// receive (`BYE`, or the refusal that closes the connection).
    pub(super) recv_count: usize,
    pub(super) final_at: Option<usize>,
    pub(super) end: Option<String>,
    /// Times of its first and last trace lines and of its last `recv`.
    pub(super) first_ms: u64,
    pub(super) last_ms: u64,
    pub(super) last_recv_ms: Option<u64>,
    /// `error` lines: trace index and text.
    pub(super) errors: Vec<(usize, String)>,
}

/// What a fault did, from its `sim` lines: a crash (one host) or a
/// partition or hold (two hosts), from one time until it was lifted.
#[derive(Debug, Clone)]
pub(super) struct Span {
    pub(super) kind: &'static str,
    pub(super) hosts: Vec<String>,
    pub(super) from_ms: u64,
    pub(super) to_ms: Option<u64>,
}

impl Span {
    /// Whether this fault can cut or stall the connections of `host` to
    /// the server: a crash of either, or a partition or hold between them.
    pub(super) fn touches(&self, host: &str) -> bool {
        match self.kind {
            "crash" => self
                .hosts
                .first()
                .is_some_and(|crashed| crashed == host || crashed == SERVER_NAME),
            _ => {
                self.hosts.iter().any(|h| h == host) && self.hosts.iter().any(|h| h == SERVER_NAME)
            }
        }
    }
}

/// What the trace says, parsed once for every oracle.
#[derive(Debug, Default)]
pub(super) struct Facts {
    pub(super) sessions: BTreeMap<String, Session>,
    /// Client -> the server's decisions on its commands, in order.
    pub(super) decisions: BTreeMap<Key, Vec<Decision>>,
    /// (server incarnation, sender, target) -> texts queued for the
    /// target, in order.
    pub(super) routed: BTreeMap<(u32, String, String), Vec<String>>,
    /// The same key -> trace indexes of those `route` notes.
    pub(super) routed_at: BTreeMap<(u32, String, String), Vec<usize>>,
    pub(super) spans: Vec<Span>,
    /// Client host -> the longest silence bound of its sessions: the hosts
    /// a connection may come from, even one that never wrote a trace line.
    pub(super) hosts: BTreeMap<String, u64>,
}

impl Facts {
    /// Whether a fault may have cut or stalled `session`'s connection:
    /// one that touches its host was in force at some time between its
    /// connecting (at most its silence bound before its first line) and
    /// its `end` line (the end of the run if it has none).
    pub(super) fn exposed(&self, session: &Session) -> bool {
        let connect_ms = session.first_ms.saturating_sub(session.silence_ms);
        // A connection with no `end` line was cut short (its host
        // crashed): it lasted as long as the run, as far as we know.
        let last_ms = if session.end.is_some() {
            session.last_ms
        } else {
            u64::MAX
        };
        self.spans.iter().any(|span| {
            span.touches(&session.host)
                && span.from_ms <= last_ms
                && span.to_ms.is_none_or(|to_ms| to_ms >= connect_ms)
        })
    }
}

pub(super) fn parse_facts(
    lines: &[TraceLine],
    topology: &Topology,
    violations: &mut Vec<Violation>,
) -> Facts {
    let mut facts = Facts::default();
    for (host, silence_ms) in topology.sessions.values() {
        let longest = facts.hosts.entry(host.clone()).or_default();
        *longest = (*longest).max(*silence_ms);
    }
    let mut incarnation = 1u32;
    // Id -> the server incarnation that last joined it.
    let mut joined: BTreeMap<String, u32> = BTreeMap::new();
    for (index, line) in lines.iter().enumerate() {
        if line.host == "sim" {
            parse_sim_line(&mut facts, line, &mut incarnation);
            continue;
        }
        if line.host == SERVER_NAME {
            match line.text.parse::<Note>() {
                Ok(note) => {
                    if let Note::Join { client } = &note {
                        joined.insert(client.to_string(), incarnation);
                    }
                    record_decision(&mut facts, incarnation, index, note);
                }
                Err(_) if is_shell_line(&line.text) => {}
                // The server writes nothing else: a line that is neither a
                // note nor the shell's is a broken note.
                Err(_) => violations.push(Violation::new(
                    "trace-format",
                    format!("server: {}", line.text),
                )),
            }
            continue;
        }
        let session = facts.sessions.entry(line.host.to_string()).or_insert_with(|| {
            let (host, silence_ms) = topology
                .sessions
                .get(session_of(&line.host))
                .cloned()
                .unwrap_or_else(|| (line.host.to_string(), 0));
            Session {
                host,
                silence_ms,
                first_ms: line.time_ms,
                ..Session::default()
            }
        });
        session.last_ms = line.time_ms;
        let (kind, rest) = line.text.split_once(' ').unwrap_or((&line.text, ""));
        let command = match kind {
            "send" | "send-split" => Some(Command::Line(rest.to_owned())),
            "send-invalid-utf8" => Some(Command::InvalidUtf8),
            "send-too-long" => Some(Command::TooLong),
            _ => None,
        };
        match kind {
            _ if command.is_some() => {
                if rest == "Q" && kind == "send" {
                    session.left_at.get_or_insert(index);
                }
                if kind == "send-split" {
                    session.split.insert(session.commands.len());
                }
                session.commands.extend(command);
            }
            "half-close" => session.half_closed = true,
            "recv" => {
                session.last_recv_ms = Some(line.time_ms);
                session.recv_count += 1;
                explain_received(session, index, line, rest, &joined, violations);
                let (keyword, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                match keyword {
                    "WELCOME" => {
                        let server = joined.get(tail).copied().unwrap_or(incarnation);
                        session.id.get_or_insert((server, tail.to_owned()));
                        session.welcomed_at.get_or_insert(index);
                        session.welcomed_ms.get_or_insert(line.time_ms);
                    }
                    "FROM" => match tail.split_once(' ') {
                        Some((from, text)) => {
                            session.received.push((from.to_owned(), text.to_owned()));
                            session.received_at.push(index);
                        }
                        None => violations.push(Violation::new("trace-format", line.to_string())),
                    },
                    _ => session.replies.push(rest.to_owned()),
                }
            }
            "end" => {
                if rest == "hangup" {
                    session.left_at.get_or_insert(index);
                }
                session.end = Some(rest.to_owned());
            }
            "error" => session.errors.push((index, rest.to_owned())),
            _ => violations.push(Violation::new("trace-format", line.to_string())),
        }
    }
    facts
}

/// Whether one received line (`recv <rest>`) could have been sent to this
/// connection at that moment, as far as the client's own trace tells:
/// `WELCOME` first and only once, with an id the server joined; nothing
/// after the line that ends the connection (`BYE`, or a refusal that
/// closes it); a reply only when a command is waiting for one; and no line
/// that is not in the protocol at all. What a reply or a `FROM` says is
/// judged against the server's decisions later (`check_replies`,
/// `check_delivery`).
pub(super) fn explain_received(
    session: &mut Session,
    index: usize,
    line: &TraceLine,
    rest: &str,
    joined: &BTreeMap<String, u32>,
    violations: &mut Vec<Violation>,
) {
    let unexplained = |why: &str| {
        Violation::new(
            "line-explained",
            format!("at line {index}: {} received {rest:?}: {why}", line.host),
        )
    };
    if let Some(final_at) = session.final_at {
        violations.push(Violation::new(
            "nothing-after-bye",
            format!(
                "at line {index}: {} received {rest:?} after the last line of its connection (line {final_at})",
                line.host
            ),
        ));
    }
    let Some(message) = ServerMessage::parse(rest) else {
        violations.push(unexplained("not a line of the protocol"));
        return;
    };
    let first = session.recv_count == 1;
    match &message {
        ServerMessage::Welcome(id) => {
            if !first {
                violations.push(Violation::new(
                    "welcome-first",
                    format!("at line {index}: {} received a second WELCOME", line.host),
                ));
            }
            // Joined by this server or by an earlier incarnation: a WELCOME
            // in flight when the server restarts still arrives.
            if !joined.contains_key(id.to_string().as_str()) {
                violations.push(Violation::new(
                    "welcome-joined",
                    format!(
                        "at line {index}: {} was welcomed as {id}, which the server had not joined",
                        line.host
                    ),
                ));
            }
        }
        ServerMessage::Err(refusal) if first && refusal.code == "server-full" => {}
        _ if first => violations.push(Violation::new(
            "welcome-first",
            format!(
                "at line {index}: {} received {rest:?} before WELCOME",
                line.host
            ),
        )),
        ServerMessage::From { .. } => {}
        _ => {
            let waiting = session.commands.len().saturating_sub(session.replies.len());
            if waiting == 0 {
                violations.push(unexplained("a reply with no command waiting for one"));
            }
        }
    }
    let closes = match &message {
        ServerMessage::Bye => true,
        ServerMessage::Err(refusal) => {
            refusal.code == "line-too-long" || refusal.code == "server-full"
        }
        _ => false,
    };
    if closes {
        session.final_at.get_or_insert(index);
    }
}

/// A harness line: a fault starts or is lifted.
pub(super) fn parse_sim_line(facts: &mut Facts, line: &TraceLine, incarnation: &mut u32) {
    let words: Vec<&str> = line.text.split(' ').collect();
    let (kind, lifted) = match words.first() {
        Some(&"crash") => ("crash", false),
        Some(&"restart") => ("crash", true),
        Some(&"partition") => ("partition", false),
        Some(&"heal") => ("partition", true),
        Some(&"hold") => ("hold", false),
        Some(&"release") => ("hold", true),
        _ => return,
    };
    let hosts: Vec<String> = words[1..].iter().map(|word| word.to_string()).collect();
    if kind == "crash" && lifted && hosts.first().map(String::as_str) == Some(SERVER_NAME) {
        *incarnation += 1;
    }
    if lifted {
        let same = |span: &Span| {
            span.kind == kind
                && span.to_ms.is_none()
                && (span.hosts == hosts || span.hosts.iter().rev().eq(hosts.iter()))
        };
        if let Some(span) = facts.spans.iter_mut().rev().find(|span| same(span)) {
            span.to_ms = Some(line.time_ms);
        }
    } else {
        facts.spans.push(Span {
            kind,
            hosts,
            from_ms: line.time_ms,
            to_ms: None,
        });
    }
}

/// The server's decision on a client's line, from its note (trace line
/// `index`); `join` and the leaves other than `quit` answer no line.
pub(super) fn record_decision(facts: &mut Facts, incarnation: u32, index: usize, note: Note) {
    let decision = match &note {
        Note::List { listed, .. } => {
            Decision::List(listed.iter().map(ToString::to_string).collect())
        }
        Note::Route { from, to, text } => {
            let key = (incarnation, from.to_string(), to.to_string());
            facts
                .routed
                .entry(key.clone())
                .or_default()
                .push(text.clone());
            facts.routed_at.entry(key).or_default().push(index);
            Decision::Route {
                to: to.to_string(),
                text: text.clone(),
            }
        }
        Note::Busy { to, .. } => Decision::Busy { to: to.to_string() },
        Note::Unknown { to, .. } => Decision::Unknown { to: to.to_string() },
        Note::Refuse { code, .. } => Decision::Refuse { code: code.clone() },
        Note::Leave {
            departure: Departure::Quit,
            ..
        } => Decision::Quit,
        Note::Join { .. } | Note::Leave { .. } => return,
    };
    facts
        .decisions
        .entry((incarnation, note.client().to_string()))
        .or_default()
        .push(decision);
}
