//! The trace of a simulated run: one line per event, in the order events
//! happened, with simulated time in ms, the host (session) name and the
//! event text. Its rendered text is what determinism is checked on and what
//! insta snapshots hold.

use std::fmt;
use std::sync::{Arc, Mutex};

/// Width of the time column: 99,999,999 ms is 27 simulated hours.
const TIME_COLUMN: usize = 8;
/// Width of the host column; longer names push the event right.
const HOST_COLUMN: usize = 8;

/// One event.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TraceLine {
    pub time_ms: u64,
    pub host: Host,
    pub text: String,
}

/// The name of the session (or `server`, `sim`) that wrote a trace line:
/// shared with the session's environment, so recording a line copies no
/// name (a four-player game records some 700 lines, a 1,000-player room
/// 600,000). Reads as the `str` it holds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Host(Arc<str>);

impl Host {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Host {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Host {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Host {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Host {
    fn from(name: &str) -> Host {
        Host(name.into())
    }
}

impl From<String> for Host {
    fn from(name: String) -> Host {
        Host(name.into())
    }
}

impl From<&Arc<str>> for Host {
    fn from(name: &Arc<str>) -> Host {
        Host(name.clone())
    }
}

impl From<Arc<str>> for Host {
    fn from(name: Arc<str>) -> Host {
        Host(name)
    }
}

impl PartialEq<str> for Host {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for Host {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<String> for Host {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Through `str`'s own formatting, so widths and alignment apply.
        fmt::Display::fmt(&*self.0, f)
    }
}

impl serde::Serialize for Host {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl fmt::Display for TraceLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:>TIME_COLUMN$} {:<HOST_COLUMN$} {}",
            self.time_ms, self.host, self.text
        )
    }
}

/// Which way a line crossed a connection, seen from the session that
/// logged it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Sent,
    Received,
}

/// One line as it crossed the simulated wire: what the picture of a run
/// draws arrows from. Kept apart from the trace, which stays the compact
/// record that snapshots and determinism checks hold.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WireEvent {
    pub time_ms: u64,
    /// The session (trace host name) on this end of the connection.
    pub session: String,
    /// This end's socket address.
    pub local: String,
    /// The other end's socket address.
    pub peer: String,
    pub direction: Direction,
    pub line: String,
}

#[derive(Debug, Default)]
struct Inner {
    lines: Vec<TraceLine>,
    wire: Option<Vec<WireEvent>>,
}

/// A shared, append-only trace. Cloning shares it.
#[derive(Debug, Clone, Default)]
pub struct Trace(Arc<Mutex<Inner>>);

thread_local! {
    /// How many lines the last trace moved out on this thread had: a new
    /// trace starts with room for as many, since a sweep or a bench runs
    /// one scenario again and again. Growing a 1,000-player room's
    /// 600,000 lines by doubling copied 35 MB of lines once more and
    /// touched fresh memory at each of twenty steps.
    static LINES_HINT: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

impl Trace {
    /// A trace of events only.
    pub fn new() -> Trace {
        Trace(Arc::new(Mutex::new(Inner {
            lines: Vec::with_capacity(LINES_HINT.get()),
            wire: None,
        })))
    }

    /// A trace that also keeps every line crossing the wire (for pictures).
    pub fn with_wire() -> Trace {
        Trace(Arc::new(Mutex::new(Inner {
            lines: Vec::with_capacity(LINES_HINT.get()),
            wire: Some(Vec::new()),
        })))
    }

    pub fn record(&self, time_ms: u64, host: impl Into<Host>, text: String) {
        let line = TraceLine {
            time_ms,
            host: host.into(),
            text,
        };
        self.0.lock().expect("trace lock").lines.push(line);
    }

    /// Calls `visit` with every line from index `start` on; returns how
    /// many lines there are now (the next call's `start`).
    pub fn visit_from(&self, start: usize, mut visit: impl FnMut(&TraceLine)) -> usize {
        let inner = self.0.lock().expect("trace lock");
        for line in inner.lines.iter().skip(start) {
            visit(line);
        }
        inner.lines.len()
    }

    /// Whether wire events are kept; taps skip their work when not.
    pub fn keeps_wire(&self) -> bool {
        self.0.lock().expect("trace lock").wire.is_some()
    }

    pub fn record_wire(&self, event: WireEvent) {
        if let Some(wire) = &mut self.0.lock().expect("trace lock").wire {
            wire.push(event);
        }
    }

    /// How many lines there are so far.
    pub fn len(&self) -> usize {
        self.0.lock().expect("trace lock").lines.len()
    }

    /// Calls `body` with every line so far (no line can be written
    /// meanwhile).
    pub fn with_lines<T>(&self, body: impl FnOnce(&[TraceLine]) -> T) -> T {
        body(&self.0.lock().expect("trace lock").lines)
    }

    /// A copy of every line so far.
    #[cfg(test)]
    pub fn lines(&self) -> Vec<TraceLine> {
        self.0.lock().expect("trace lock").lines.clone()
    }

    /// Every line so far, moved out (the trace is left empty): what a
    /// finished run hands to its oracles without a copy.
    pub fn take_lines(&self) -> Vec<TraceLine> {
        let mut lines = std::mem::take(&mut self.0.lock().expect("trace lock").lines);
        LINES_HINT.set(lines.len());
        // A short run after a long one on the same thread started with the
        // long one's room: give back what it did not use, so that a trace
        // that is kept (a failure, a search's run) holds only its lines.
        if lines.capacity() > 2 * lines.len() {
            lines.shrink_to_fit();
        }
        lines
    }

    /// A copy of every wire event so far (empty unless [`Trace::with_wire`]).
    pub fn wire(&self) -> Vec<WireEvent> {
        self.0
            .lock()
            .expect("trace lock")
            .wire
            .clone()
            .unwrap_or_default()
    }
}

/// Renders lines as the canonical text, one per line.
pub fn render(lines: &[TraceLine]) -> String {
    let mut out = String::new();
    for line in lines {
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}
