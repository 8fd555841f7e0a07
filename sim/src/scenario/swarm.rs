//! Swarm testing: each seed draws its own mix of faults and network
//! settings, so a sweep covers configurations nobody wrote by hand. The
//! draw comes from the seed alone (its own RNG stream), and what was drawn
//! is written at the top of the trace, so a failure replays and explains
//! itself.

use rand::Rng;

use crate::engine::harness::{host_rng, NetConfig};
use crate::engine::trace::Trace;
use crate::scenario::faults::Fault;

/// Largest maximum latency a swarm draws, in ms.
pub const SWARM_LATENCY_MAX_MS: u64 = 40;
/// Most faults a swarm adds to one run.
pub const SWARM_FAULTS_MAX: usize = 3;
/// Faults start within this window, so they hit the first game.
pub const SWARM_FAULT_WINDOW_MS: u64 = 6_000;
/// Longest a drawn partition, hold or latency spike lasts.
pub const SWARM_FAULT_LENGTH_MAX_MS: u64 = 2_000;

/// Draws this seed's network and faults on top of the scenario's own.
/// `hosts` are the client host names (the server is always "server").
pub fn draw(
    seed: u64,
    base: &NetConfig,
    faults: &[Fault],
    hosts: &[String],
    trace: &Trace,
) -> (NetConfig, Vec<Fault>) {
    let mut rng = host_rng(seed, "swarm");
    let mut net = base.clone();
    net.latency_max_ms =
        rng.random_range(net.latency_min_ms.max(1)..=SWARM_LATENCY_MAX_MS.max(net.latency_min_ms));
    net.random_host_order = rng.random_bool(0.5);
    trace.record(
        0,
        "sim",
        format!(
            "swarm latency {}-{} ms, host order {}",
            net.latency_min_ms,
            net.latency_max_ms,
            if net.random_host_order {
                "random"
            } else {
                "fixed"
            }
        ),
    );
    let mut faults = faults.to_vec();
    if hosts.is_empty() {
        return (net, faults);
    }
    let count = rng.random_range(0..=SWARM_FAULTS_MAX);
    for _ in 0..count {
        let at_ms = rng.random_range(0..SWARM_FAULT_WINDOW_MS);
        let length_ms = rng.random_range(1..=SWARM_FAULT_LENGTH_MAX_MS);
        let client = hosts[rng.random_range(0..hosts.len())].clone();
        let fault = match rng.random_range(0..5) {
            0 => Fault::Partition {
                between: [client, "server".to_owned()],
                at_ms,
                heal_at_ms: Some(at_ms + length_ms),
            },
            1 => Fault::Hold {
                between: [client, "server".to_owned()],
                at_ms,
                release_at_ms: Some(at_ms + length_ms),
            },
            2 => Fault::Crash {
                host: client,
                at_ms,
                restart_at_ms: rng.random_bool(0.5).then_some(at_ms + length_ms),
            },
            3 => Fault::Crash {
                host: "server".into(),
                at_ms,
                restart_at_ms: Some(at_ms + length_ms),
            },
            _ => Fault::LatencySpike {
                at_ms,
                until_ms: at_ms + length_ms,
                max_ms: rng.random_range(net.latency_max_ms..=net.latency_max_ms * 4),
            },
        };
        trace.record(0, "sim", format!("swarm fault {}", describe(&fault)));
        faults.push(fault);
    }
    (net, faults)
}

/// A fault on one line, in the words of a scenario file.
pub fn describe(fault: &Fault) -> String {
    toml::to_string(fault)
        .map(|text| text.trim().replace('\n', ", "))
        .unwrap_or_else(|_| format!("{fault:?}"))
}
