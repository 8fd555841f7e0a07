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
    pub host: String,
    pub text: String,
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

/// A shared, append-only trace. Cloning shares it.
#[derive(Debug, Clone, Default)]
pub struct Trace(Arc<Mutex<Vec<TraceLine>>>);

impl Trace {
    pub fn new() -> Trace {
        Trace::default()
    }

    pub fn record(&self, time_ms: u64, host: &str, text: String) {
        self.0.lock().expect("trace lock").push(TraceLine {
            time_ms,
            host: host.to_owned(),
            text,
        });
    }

    /// A copy of every line so far.
    pub fn lines(&self) -> Vec<TraceLine> {
        self.0.lock().expect("trace lock").clone()
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
