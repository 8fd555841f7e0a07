//! The fast network's part of a moment's fingerprint (see
//! `choice::Fingerprint`): what each session has written into the trace,
//! with times, and what is in flight on the network (bytes and when they
//! arrive, ends of stream, dead pipes, connections waiting to be
//! accepted). The scheduler adds its pending timers and the run's shaping
//! choices.
//!
//! Each part is hashed on its own and the parts are summed, so that the
//! order sessions and pipes were made in (which differs between two
//! interleavings of the same events) does not count.

use std::hash::{Hash, Hasher};

use super::choice::mix;
use super::pipe::lock;
use super::FastNet;

/// SipHash with fixed keys: the same on every machine and run.
fn hash_of(value: impl Hash) -> u64 {
    let mut hasher = std::hash::DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

impl FastNet {
    /// A function that, called each time a run leaves a moment, returns
    /// the network's part of its fingerprint. It reads only the trace
    /// lines written since its last call.
    pub(super) fn fingerprint_hook(&self) -> impl FnMut() -> u64 + 'static {
        let net = self.clone();
        let mut lines_seen = 0usize;
        // Per session: a hash of its lines so far, in order.
        let mut sessions: std::collections::BTreeMap<String, u64> = Default::default();
        move || {
            lines_seen = net.trace.visit_from(lines_seen, |line| {
                let session = match sessions.get_mut(line.host.as_str()) {
                    Some(session) => session,
                    None => sessions.entry(line.host.clone()).or_insert(0),
                };
                *session = mix(*session ^ hash_of((line.time_ms, &line.text)));
            });
            let mut state = sessions
                .iter()
                .map(|(name, lines)| mix(hash_of(name) ^ *lines))
                .fold(0u64, u64::wrapping_add);
            let shared = lock(&net.shared);
            for (from, to, pipe) in &shared.pipes {
                let Some(pipe) = pipe.upgrade() else {
                    continue;
                };
                let pipe = lock(&pipe);
                let mut hasher = std::hash::DefaultHasher::new();
                (&shared.hosts[*from], &shared.hosts[*to]).hash(&mut hasher);
                pipe.runs.hash(&mut hasher);
                pipe.bytes.hash(&mut hasher);
                (pipe.end_ms, pipe.dead, pipe.reader_gone).hash(&mut hasher);
                std::mem::discriminant(&pipe.link).hash(&mut hasher);
                state = state.wrapping_add(mix(hasher.finish()));
            }
            for ((host, port), backlog) in &shared.listeners {
                let waiting = lock(backlog).queue.len();
                state = state.wrapping_add(mix(hash_of((&shared.hosts[*host], port, waiting))));
            }
            state
        }
    }
}
