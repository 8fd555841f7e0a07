//! The fast network's part of a moment's fingerprint (see
//! `choice::Fingerprint`): what each session has written into the trace,
//! with times, and what is in flight on the network (bytes and when they
//! arrive, ends of stream, dead pipes, connections waiting to be
//! accepted). The scheduler adds its pending timers and the run's shaping
//! choices.
//!
//! Each part is hashed on its own and the parts are summed, so that the
//! order sessions and pipes were made in (which differs between two
//! interleavings of the same events) does not count. When the search asks
//! for it, interchangeable hosts (`HostSpec::class`) are named by their
//! class and each one's parts are summed into one: two states that differ
//! only by a permutation of those hosts get the same fingerprint.

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};

use super::choice::mix;
use super::executor;
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
        let mut sessions: BTreeMap<String, u64> = Default::default();
        move || {
            lines_seen = net.trace.visit_from(lines_seen, |line| {
                let session = match sessions.get_mut(line.host.as_str()) {
                    Some(session) => session,
                    None => sessions.entry(line.host.to_string()).or_insert(0),
                };
                *session = mix(*session ^ hash_of((line.time_ms, &line.text)));
            });
            let shared = lock(&net.shared);
            let symmetric = executor::fingerprints_symmetric();
            // An interchangeable host is named by its class, and its
            // sessions' lines and the pipes from and to it are summed into
            // one part per host: the hosts of a class then count as a
            // multiset, each with everything that is its own.
            let class_of = |host: usize| -> Option<&String> {
                symmetric
                    .then(|| shared.classes.get(&shared.hosts[host]))
                    .flatten()
            };
            let name_of = |host: usize| class_of(host).unwrap_or(&shared.hosts[host]);
            let mut own: BTreeMap<usize, u64> = BTreeMap::new();
            let mut state = 0u64;
            for (name, lines) in &sessions {
                let host = shared.session_hosts.get(name).copied();
                match host.and_then(|host| class_of(host).map(|class| (host, class))) {
                    Some((host, class)) => {
                        // Its name relative to its host's (a restart's
                        // `#2`), under the class.
                        let suffix = name
                            .strip_prefix(shared.hosts[host].as_str())
                            .unwrap_or(name);
                        let part = own.entry(host).or_default();
                        *part = part.wrapping_add(mix(hash_of((class, suffix)) ^ *lines));
                    }
                    None => state = state.wrapping_add(mix(hash_of(name) ^ *lines)),
                }
            }
            for (from, to, pipe) in &shared.pipes {
                let Some(pipe) = pipe.upgrade() else {
                    continue;
                };
                let pipe = lock(&pipe);
                let mut hasher = std::hash::DefaultHasher::new();
                (name_of(*from), name_of(*to)).hash(&mut hasher);
                pipe.runs.hash(&mut hasher);
                pipe.bytes.hash(&mut hasher);
                (pipe.end_ms, pipe.dead, pipe.reader_gone).hash(&mut hasher);
                std::mem::discriminant(&pipe.link).hash(&mut hasher);
                let part = mix(hasher.finish());
                let owner = [*from, *to]
                    .into_iter()
                    .find(|&host| class_of(host).is_some());
                match owner {
                    Some(host) => {
                        let own = own.entry(host).or_default();
                        *own = own.wrapping_add(part);
                    }
                    None => state = state.wrapping_add(part),
                }
            }
            for ((host, port), backlog) in &shared.listeners {
                let waiting = lock(backlog).queue.len();
                state = state.wrapping_add(mix(hash_of((name_of(*host), port, waiting))));
            }
            for (host, part) in own {
                state = state.wrapping_add(mix(hash_of(name_of(host)) ^ mix(part)));
            }
            state
        }
    }
}
