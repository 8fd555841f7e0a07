//! Faults injected into a run, on a schedule, and the loop that steps a
//! turmoil simulation until every session is done (the fast backend's own
//! loop is `crate::engine::fast_hosts`; both apply the same [`schedule`]).
//!
//! The faults are the ones that mean something for TCP. turmoil 0.7's TCP
//! does not retransmit, so a dropped segment kills its connection (the
//! stream waits forever for the missing bytes), as a real connection dies
//! once a partition outlasts TCP's retransmission timeout:
//! - `partition`: every segment between two hosts is dropped until the
//!   heal; connections that lost a segment are dead, new ones work after.
//! - `hold`: segments between two hosts wait and are delivered at the
//!   release, as TCP would ride out a short partition.
//! - `crash`: a host's software stops and its connections close; with
//!   `restart_at_ms` it starts again from scratch (a server restart, or a
//!   client that comes back).
//! - `latency-spike`: the maximum message latency rises for a while.
//!
//! Random host order within a step is a network setting (`NetConfig`).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::engine::trace::Trace;

/// One fault, as written in a scenario file (`[[faults]]`, `kind = ...`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Fault {
    Partition {
        between: [String; 2],
        at_ms: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        heal_at_ms: Option<u64>,
    },
    Hold {
        between: [String; 2],
        at_ms: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        release_at_ms: Option<u64>,
    },
    Crash {
        host: String,
        at_ms: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        restart_at_ms: Option<u64>,
    },
    LatencySpike {
        at_ms: u64,
        until_ms: u64,
        max_ms: u64,
    },
}

impl Fault {
    /// The hosts this fault names.
    pub fn hosts(&self) -> Vec<&str> {
        match self {
            Fault::Partition { between, .. } | Fault::Hold { between, .. } => {
                vec![&between[0], &between[1]]
            }
            Fault::Crash { host, .. } => vec![host],
            Fault::LatencySpike { .. } => Vec::new(),
        }
    }

    /// Checks times are in order; the hosts are checked by the game, which
    /// knows its host names.
    pub fn validate(&self) -> Result<(), String> {
        let in_order = |start: u64, end: Option<u64>, what: &str| match end {
            Some(end) if end < start => Err(format!("{what} ({end}) is before at_ms ({start})")),
            _ => Ok(()),
        };
        match self {
            Fault::Partition {
                between,
                at_ms,
                heal_at_ms,
            } => {
                if between[0] == between[1] {
                    return Err(format!("partition between {0} and itself", between[0]));
                }
                in_order(*at_ms, *heal_at_ms, "heal_at_ms")
            }
            Fault::Hold {
                between,
                at_ms,
                release_at_ms,
            } => {
                if between[0] == between[1] {
                    return Err(format!("hold between {0} and itself", between[0]));
                }
                in_order(*at_ms, *release_at_ms, "release_at_ms")
            }
            Fault::Crash {
                at_ms,
                restart_at_ms,
                ..
            } => in_order(*at_ms, *restart_at_ms, "restart_at_ms"),
            Fault::LatencySpike {
                at_ms,
                until_ms,
                max_ms,
            } => {
                if *max_ms == 0 {
                    return Err("max_ms must be at least 1".to_owned());
                }
                in_order(*at_ms, Some(*until_ms), "until_ms")
            }
        }
    }
}

impl Fault {
    /// The same fault, every time in it `delay_ms` later.
    pub(crate) fn delayed(&self, delay_ms: u64) -> Fault {
        let mut fault = self.clone();
        let later = |time: &mut u64| *time = time.saturating_add(delay_ms);
        match &mut fault {
            Fault::Partition {
                at_ms, heal_at_ms, ..
            } => {
                later(at_ms);
                heal_at_ms.iter_mut().for_each(later);
            }
            Fault::Hold {
                at_ms,
                release_at_ms,
                ..
            } => {
                later(at_ms);
                release_at_ms.iter_mut().for_each(later);
            }
            Fault::Crash {
                at_ms,
                restart_at_ms,
                ..
            } => {
                later(at_ms);
                restart_at_ms.iter_mut().for_each(later);
            }
            Fault::LatencySpike {
                at_ms, until_ms, ..
            } => {
                later(at_ms);
                later(until_ms);
            }
        }
        fault
    }
}

/// One scheduled change to the network or a host, as every backend
/// applies it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    Partition(String, String),
    Repair(String, String),
    Hold(String, String),
    Release(String, String),
    Crash(String),
    Restart(String),
    MaxLatency(u64),
}

impl Action {
    /// The action as the trace records it (host `sim`).
    pub(crate) fn describe(&self) -> String {
        match self {
            Action::Partition(a, b) => format!("partition {a} {b}"),
            Action::Repair(a, b) => format!("heal {a} {b}"),
            Action::Hold(a, b) => format!("hold {a} {b}"),
            Action::Release(a, b) => format!("release {a} {b}"),
            Action::Crash(host) => format!("crash {host}"),
            Action::Restart(host) => format!("restart {host}"),
            Action::MaxLatency(max_ms) => format!("max-latency {max_ms}"),
        }
    }
}

/// The faults' actions in time order; a latency spike ends by going back
/// to `base_max_latency_ms`.
pub(crate) fn schedule(faults: &[Fault], base_max_latency_ms: u64) -> Vec<(u64, Action)> {
    let mut actions = Vec::new();
    for fault in faults {
        match fault {
            Fault::Partition {
                between: [a, b],
                at_ms,
                heal_at_ms,
            } => {
                actions.push((*at_ms, Action::Partition(a.clone(), b.clone())));
                if let Some(heal_at_ms) = heal_at_ms {
                    actions.push((*heal_at_ms, Action::Repair(a.clone(), b.clone())));
                }
            }
            Fault::Hold {
                between: [a, b],
                at_ms,
                release_at_ms,
            } => {
                actions.push((*at_ms, Action::Hold(a.clone(), b.clone())));
                if let Some(release_at_ms) = release_at_ms {
                    actions.push((*release_at_ms, Action::Release(a.clone(), b.clone())));
                }
            }
            Fault::Crash {
                host,
                at_ms,
                restart_at_ms,
            } => {
                actions.push((*at_ms, Action::Crash(host.clone())));
                if let Some(restart_at_ms) = restart_at_ms {
                    actions.push((*restart_at_ms, Action::Restart(host.clone())));
                }
            }
            Fault::LatencySpike {
                at_ms,
                until_ms,
                max_ms,
            } => {
                actions.push((*at_ms, Action::MaxLatency(*max_ms)));
                actions.push((*until_ms, Action::MaxLatency(base_max_latency_ms)));
            }
        }
    }
    // Stable: faults at the same time apply in the order they were written.
    actions.sort_by_key(|(at_ms, _)| *at_ms);
    actions
}

/// Where each session of a run is: how many times it started, and whether
/// its latest incarnation has ended. Host futures report here; the driver
/// stops the run when every session is done.
#[derive(Debug, Clone, Default)]
pub struct SessionBook(Rc<RefCell<BTreeMap<String, SessionState>>>);

#[derive(Debug, Clone, Copy, Default)]
struct SessionState {
    incarnations: u32,
    done: bool,
}

impl SessionBook {
    /// Declares a session that must finish before the run can end.
    pub fn expect(&self, name: &str) {
        self.0.borrow_mut().entry(name.to_owned()).or_default();
    }

    /// A session (re)starts; returns its incarnation, 1 for the first.
    pub fn start(&self, name: &str) -> u32 {
        let mut book = self.0.borrow_mut();
        let state = book.entry(name.to_owned()).or_default();
        state.incarnations += 1;
        state.done = false;
        state.incarnations
    }

    /// The session's current incarnation ended on its own.
    pub fn finish(&self, name: &str) {
        if let Some(state) = self.0.borrow_mut().get_mut(name) {
            state.done = true;
        }
    }

    /// The host crashed: its session is done until a restart.
    pub(crate) fn crashed(&self, name: &str) {
        self.finish(name);
    }

    /// Sessions whose latest incarnation has not ended.
    pub fn unfinished(&self) -> Vec<String> {
        self.0
            .borrow()
            .iter()
            .filter(|(_, state)| !state.done)
            .map(|(name, _)| name.clone())
            .collect()
    }

    pub(crate) fn all_done(&self) -> bool {
        self.0.borrow().values().all(|state| state.done)
    }
}

/// Steps `sim` until every session in `book` is done, applying `faults` on
/// time and writing each one into the trace (host `sim`). An error is a
/// run that did not finish within `duration_ms` of simulated time, or a
/// host whose software failed. (turmoil enforces its own duration only
/// while a `client` runs; every session here is a restartable `host`, so
/// the limit is kept here.) With a `watch`, it is called after every tick,
/// and the run ends there (without error) when it says so.
pub fn drive(
    sim: &mut turmoil::Sim<'_>,
    faults: &[Fault],
    net: &crate::engine::harness::NetConfig,
    trace: &Trace,
    book: &SessionBook,
    watch: crate::engine::backend::Watch<'_>,
) -> Result<(), String> {
    let base_max_latency_ms = net.latency_max_ms;
    let actions = schedule(faults, base_max_latency_ms);
    let mut next = 0;
    loop {
        let now_ms = sim.elapsed().as_millis() as u64;
        while let Some((at_ms, action)) = actions.get(next) {
            if *at_ms > now_ms {
                break;
            }
            apply(sim, action, book);
            trace.record(now_ms, "sim", action.describe());
            next += 1;
        }
        let restart_pending = actions[next..]
            .iter()
            .any(|(_, action)| matches!(action, Action::Restart(_)));
        if book.all_done() && !restart_pending {
            return Ok(());
        }
        if now_ms > net.duration_ms {
            return Err(format!(
                "still running after {} ms of simulated time (net.duration_ms); unfinished: {}",
                net.duration_ms,
                book.unfinished().join(", ")
            ));
        }
        sim.step().map_err(|error| error.to_string())?;
        if watch.is_some_and(|stop| stop(trace)) {
            return Ok(());
        }
    }
}

fn apply(sim: &mut turmoil::Sim<'_>, action: &Action, book: &SessionBook) {
    match action {
        Action::Partition(a, b) => sim.partition(a.as_str(), b.as_str()),
        Action::Repair(a, b) => sim.repair(a.as_str(), b.as_str()),
        Action::Hold(a, b) => sim.hold(a.as_str(), b.as_str()),
        Action::Release(a, b) => sim.release(a.as_str(), b.as_str()),
        Action::Crash(host) => {
            sim.crash(host.as_str());
            book.crashed(host);
        }
        Action::Restart(host) => sim.bounce(host.as_str()),
        Action::MaxLatency(max_ms) => sim.set_max_message_latency(Duration::from_millis(*max_ms)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse_from_toml_and_unknown_fields_are_named() {
        #[derive(Deserialize)]
        struct File {
            faults: Vec<Fault>,
        }
        let file: File = toml::from_str(
            "[[faults]]\nkind = \"partition\"\nbetween = [\"c1\", \"server\"]\nat_ms = 10\nheal_at_ms = 20\n\
             [[faults]]\nkind = \"crash\"\nhost = \"server\"\nat_ms = 5\n",
        )
        .unwrap();
        assert_eq!(file.faults.len(), 2);
        let error =
            toml::from_str::<File>("[[faults]]\nkind = \"crash\"\nhots = \"server\"\nat_ms = 5\n")
                .err()
                .unwrap()
                .to_string();
        assert!(error.contains("hots"), "{error}");
    }

    #[test]
    fn a_schedule_is_in_time_order_and_keeps_written_order_for_ties() {
        let faults = vec![
            Fault::Crash {
                host: "server".into(),
                at_ms: 50,
                restart_at_ms: Some(60),
            },
            Fault::Hold {
                between: ["a".into(), "b".into()],
                at_ms: 10,
                release_at_ms: Some(60),
            },
        ];
        let described: Vec<(u64, String)> = schedule(&faults, 5)
            .into_iter()
            .map(|(at, action)| (at, action.describe()))
            .collect();
        assert_eq!(
            described,
            vec![
                (10, "hold a b".to_owned()),
                (50, "crash server".to_owned()),
                (60, "restart server".to_owned()),
                (60, "release a b".to_owned()),
            ]
        );
    }

    #[test]
    fn validation_names_times_out_of_order() {
        let fault = Fault::Partition {
            between: ["a".into(), "b".into()],
            at_ms: 10,
            heal_at_ms: Some(5),
        };
        assert!(fault.validate().unwrap_err().contains("heal_at_ms"));
    }
}
