//! Shrinking: given a scenario file and a seed that breaks a property,
//! find a smaller scenario (fewer faults, fewer clients, a calmer network,
//! a shorter run) that still breaks the same property with the same seed.
//!
//! The method is greedy delta debugging: try each one-step reduction in a
//! fixed order, keep the first that still fails, start again; stop when no
//! reduction fails or after [`SHRINK_RUNS_MAX`] runs. Swarm scenarios are
//! first turned into the explicit faults their seed drew, so the result is
//! a plain file anyone can read and replay.
//!
//! The result has no `must_reach`: it reproduces one seed, it is not a
//! coverage scenario. The original's required events belonged to faults
//! and clients that may be gone, and even kept ones may stop being reached
//! once the bug is fixed, so a sweep of the shrunk file would fail for the
//! wrong reason (`NOT REACHED`).

use std::collections::BTreeSet;

use crate::engine::harness::RunOptions;
use crate::engine::trace::Trace;
use crate::scenario::file::ScenarioFile;

/// Most runs one shrink may spend.
pub const SHRINK_RUNS_MAX: usize = 400;
/// A run is never shortened below this.
pub const SHRINK_DURATION_MIN_MS: u64 = 1_000;

/// What a shrink found.
#[derive(Debug, Clone)]
pub struct Shrunk {
    /// The reduced scenario; it breaks `property` at the seed shrunk at.
    pub file: ScenarioFile,
    /// The property the original run broke, which the result still breaks.
    pub property: String,
    pub runs: usize,
    /// One line per reduction kept, in order.
    pub steps: Vec<String>,
}

/// Shrinks `file` at `seed` toward the first property its run breaks;
/// `progress` hears about every reduction kept.
#[cfg(test)]
pub fn shrink(
    file: &ScenarioFile,
    seed: u64,
    progress: impl FnMut(&str),
) -> Result<Shrunk, String> {
    shrink_toward(file, seed, None, progress)
}

/// Properties a run broke.
fn broken(outcome: &crate::engine::harness::RunOutcome) -> BTreeSet<String> {
    outcome
        .violations
        .iter()
        .map(|violation| violation.property.clone())
        .collect()
}

/// Shrinks `file` at `seed` so that it still breaks `property` (default:
/// the first property the run breaks). A reduction is kept only if it
/// breaks no property the current scenario does not: cutting the run short
/// must not add a `liveness` failure that the fixed server would still
/// have, so the result passes once the bug is fixed.
pub fn shrink_toward(
    file: &ScenarioFile,
    seed: u64,
    property: Option<&str>,
    mut progress: impl FnMut(&str),
) -> Result<Shrunk, String> {
    file.check()?;
    let options = RunOptions::default();
    let first = file.run(seed, &options);
    let Some(violation) = first.violations.first() else {
        return Err(format!(
            "seed {seed} of {} passes: there is nothing to shrink",
            file.name()
        ));
    };
    let mut broken_now = broken(&first);
    let property = match property {
        None => violation.property.clone(),
        Some(property) if broken_now.contains(property) => property.to_owned(),
        Some(property) => {
            return Err(format!(
                "seed {seed} of {} does not break {property}; it breaks {}",
                file.name(),
                broken_now.iter().cloned().collect::<Vec<_>>().join(", ")
            ))
        }
    };
    let mut current = materialize(file, seed);
    let mut runs = 1;
    let mut steps = Vec::new();
    'reduce: loop {
        for (description, candidate) in candidates(&current) {
            if runs >= SHRINK_RUNS_MAX {
                break 'reduce;
            }
            if candidate.check().is_err() {
                continue;
            }
            runs += 1;
            let outcome = candidate.run(seed, &options);
            let broken_then = broken(&outcome);
            if broken_then.contains(&property) && broken_then.is_subset(&broken_now) {
                broken_now = broken_then;
                progress(&description);
                steps.push(description);
                current = candidate;
                continue 'reduce;
            }
        }
        break;
    }
    Ok(Shrunk {
        file: current,
        property,
        runs,
        steps,
    })
}

/// The same run with a swarm's drawn faults written out.
fn materialize(file: &ScenarioFile, seed: u64) -> ScenarioFile {
    let mut file = file.clone();
    file.must_reach.clear();
    if file.swarm {
        let (net, faults) = crate::scenario::swarm::draw(
            seed,
            &file.net,
            &file.faults,
            &file.client_names(),
            &Trace::new(),
        );
        file.net = net;
        file.faults = faults;
        file.swarm = false;
    }
    file
}

/// Every one-step reduction of `file`, biggest first.
fn candidates(file: &ScenarioFile) -> Vec<(String, ScenarioFile)> {
    let mut out = Vec::new();
    for index in 0..file.faults.len() {
        let mut smaller = file.clone();
        let fault = smaller.faults.remove(index);
        out.push((
            format!("removed fault {}", crate::scenario::swarm::describe(&fault)),
            smaller,
        ));
    }
    for index in 0..file.clients.len() {
        if file.clients.len() > 1 {
            let mut smaller = file.clone();
            let group = smaller.clients.remove(index);
            // Faults naming the removed hosts go with them.
            let gone = group.member_names();
            smaller.faults.retain(|fault| {
                !fault
                    .hosts()
                    .iter()
                    .any(|host| gone.iter().any(|name| name == host))
            });
            out.push((format!("removed client group {}", group.name), smaller));
        }
    }
    for index in 0..file.clients.len() {
        if file.clients[index].count > 1 {
            let mut smaller = file.clone();
            let mut members = smaller.clients[index].member_names();
            let gone = members.pop().expect("count > 1");
            smaller.clients[index].count -= 1;
            smaller
                .faults
                .retain(|fault| !fault.hosts().contains(&gone.as_str()));
            let group_name = smaller.clients[index].name.clone();
            if smaller.clients[index].count == 1 {
                // A group of one is named by its member, so the remaining
                // host keeps its name (and the faults naming it still fit).
                smaller.clients[index].name = members.remove(0);
            }
            out.push((format!("one client fewer in group {group_name}"), smaller));
        }
    }
    // A game that waits for `players` needs that many clients: shrink both.
    let players = file
        .server
        .get("players")
        .and_then(toml::Value::as_integer)
        .unwrap_or(0);
    if players > 1 {
        if let Some(last) = file.clients.len().checked_sub(1) {
            let mut smaller = file.clone();
            smaller
                .server
                .insert("players".to_owned(), toml::Value::Integer(players - 1));
            let gone = if smaller.clients[last].count > 1 {
                let mut members = smaller.clients[last].member_names();
                let gone = members.pop().expect("count > 1");
                smaller.clients[last].count -= 1;
                if smaller.clients[last].count == 1 {
                    smaller.clients[last].name = members.remove(0);
                }
                vec![gone]
            } else if smaller.clients.len() > 1 {
                smaller.clients.remove(last).member_names()
            } else {
                Vec::new()
            };
            if !gone.is_empty() {
                smaller.faults.retain(|fault| {
                    !fault
                        .hosts()
                        .iter()
                        .any(|host| gone.iter().any(|name| name == host))
                });
                out.push((
                    format!("one player fewer ({} players)", players - 1),
                    smaller,
                ));
            }
        }
    }
    if file.net.random_host_order {
        let mut calmer = file.clone();
        calmer.net.random_host_order = false;
        out.push(("fixed host order".to_owned(), calmer));
    }
    if file.net.latency_max_ms > file.net.latency_min_ms {
        let mut calmer = file.clone();
        calmer.net.latency_max_ms = file.net.latency_min_ms;
        out.push((
            format!("latency fixed at {} ms", file.net.latency_min_ms),
            calmer,
        ));
    }
    if file.net.duration_ms / 2 >= SHRINK_DURATION_MIN_MS {
        let mut shorter = file.clone();
        shorter.net.duration_ms /= 2;
        out.push((
            format!("run limited to {} ms", shorter.net.duration_ms),
            shorter,
        ));
    }
    out
}
