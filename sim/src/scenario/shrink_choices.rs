//! Shrinking a failing fast-backend run on its choices: fewer choices away
//! from the default, and smaller values, while the run still breaks the
//! same property.
//!
//! A run's choices (see `engine::fast::choice`) start from the seeded
//! run's (every latency it drew) or from a recorded seed's `choices`. Runs
//! of deviations are dropped first in halves, then in quarters and so on
//! down to one at a time (delta debugging), and each deviation left is then
//! tried at the value 1, the smallest that is not the default. First of
//! all, the choices made after the trace line that first broke the
//! property (see `engine::first_break`) are dropped together. Dropping a
//! deviation can move every later choice (the run goes another way), so
//! each step is judged by running it: the result always breaks the
//! property, and it replays exactly from its deviations.

use crate::engine::fast::choice::{self, Choice, Deviation};
use crate::engine::fast_hosts::Fast;
use crate::engine::harness::{RunOptions, RunOutcome};
use crate::scenario::file::ScenarioFile;

/// Runs a shrink may make before it stops with what it has.
pub const SHRINK_CHOICE_RUNS_MAX: u64 = 5_000;

/// A failing run with fewer deviations.
#[derive(Debug)]
pub struct ShrunkChoices {
    pub deviations: Vec<Deviation>,
    /// Deviations before shrinking.
    pub from: usize,
    /// Whether [`SHRINK_CHOICE_RUNS_MAX`] stopped it before it was done.
    pub cut: bool,
    pub property: String,
    pub outcome: RunOutcome,
    /// The choices the shrunk run made (with the time of each).
    pub log: Vec<Choice>,
    pub runs: u64,
}

struct Judge<'a> {
    file: &'a ScenarioFile,
    seed: u64,
    property: String,
    runs: u64,
}

impl Judge<'_> {
    /// The run with these deviations, if it still breaks the property.
    fn breaks(&mut self, deviations: &[Deviation]) -> Option<(RunOutcome, Vec<Choice>)> {
        if self.runs >= SHRINK_CHOICE_RUNS_MAX {
            return None;
        }
        self.runs += 1;
        let (outcome, log) = choice::drive(deviations, || {
            self.file.run_on(&Fast, self.seed, &RunOptions::default())
        });
        outcome
            .violations
            .iter()
            .any(|violation| violation.property == self.property)
            .then_some((outcome, log))
    }
}

/// Shrinks the run of `file` and `seed` driven by `start` (or, when `start`
/// is `None`, the seeded run) toward `property` (default: the first
/// property it breaks). `progress` hears of every step kept.
pub fn shrink_choices(
    file: &ScenarioFile,
    seed: u64,
    start: Option<Vec<Deviation>>,
    property: Option<&str>,
    mut progress: impl FnMut(&str),
) -> Result<ShrunkChoices, String> {
    let options = RunOptions::default();
    let start = match start {
        Some(deviations) => deviations,
        None => {
            let (_, log) = choice::record(|| file.run_on(&Fast, seed, &options));
            choice::deviations_of(&log)
        }
    };
    let mut best = choice::drive(&start, || file.run_on(&Fast, seed, &options));
    let broken: Vec<String> = best
        .0
        .violations
        .iter()
        .map(|violation| violation.property.clone())
        .collect();
    let property = match property {
        Some(property) => property.to_owned(),
        None => broken.first().cloned().ok_or_else(|| {
            format!(
                "{} seed {seed} breaks no property on the fast backend",
                file.name()
            )
        })?,
    };
    if !broken.contains(&property) {
        return Err(format!(
            "{} seed {seed} does not break {property} on the fast backend (it breaks [{}])",
            file.name(),
            broken.join(", ")
        ));
    }
    let mut judge = Judge {
        file,
        seed,
        property,
        runs: 1,
    };
    let from = start.len();
    let mut current = start;
    // Choices made after the line that first broke the property cannot
    // have changed the trace up to it, so the run without them breaks it
    // too: they go at once (one run to confirm), before delta debugging.
    if let Some(first) = best
        .0
        .first_break
        .as_ref()
        .filter(|first| first.property == judge.property)
    {
        let broken_ms = best.0.trace[first.line].time_ms;
        let log = &best.1;
        let before: Vec<Deviation> = current
            .iter()
            .copied()
            .filter(|&(position, _)| {
                log.get(position as usize)
                    .is_none_or(|made| made.time_ms <= broken_ms)
            })
            .collect();
        if before.len() < current.len() {
            if let Some(kept) = judge.breaks(&before) {
                progress(&format!(
                    "{} deviations (those after the first break at {broken_ms} ms dropped)",
                    before.len()
                ));
                current = before;
                best = kept;
            }
        }
    }
    let mut chunk = (current.len() / 2).max(1);
    while !current.is_empty() {
        let mut dropped = false;
        let mut index = 0;
        while index < current.len() {
            let end = (index + chunk).min(current.len());
            let candidate: Vec<Deviation> = current[..index]
                .iter()
                .chain(&current[end..])
                .copied()
                .collect();
            match judge.breaks(&candidate) {
                Some(found) => {
                    progress(&format!(
                        "dropped {} choice{}: {} left",
                        end - index,
                        if end - index == 1 { "" } else { "s" },
                        candidate.len()
                    ));
                    current = candidate;
                    best = found;
                    dropped = true;
                }
                None => index += chunk,
            }
        }
        if judge.runs >= SHRINK_CHOICE_RUNS_MAX || (chunk == 1 && !dropped) {
            break;
        }
        if !dropped {
            chunk = (chunk / 2).max(1);
        }
    }
    for index in 0..current.len() {
        if current[index].1 <= 1 {
            continue;
        }
        let mut candidate = current.clone();
        candidate[index].1 = 1;
        if let Some(found) = judge.breaks(&candidate) {
            progress(&format!("choice #{} lowered to 1", candidate[index].0));
            current = candidate;
            best = found;
        }
    }
    let (outcome, log) = best;
    Ok(ShrunkChoices {
        deviations: current,
        from,
        cut: judge.runs >= SHRINK_CHOICE_RUNS_MAX,
        property: judge.property,
        outcome,
        log,
        runs: judge.runs,
    })
}

/// Where each deviation of a shrunk run was made, with the trace lines of
/// the next `window_ms` after it (at most `lines_max` each).
pub fn around_deviations(shrunk: &ShrunkChoices, window_ms: u64, lines_max: usize) -> String {
    let mut out = String::new();
    for &(position, value) in &shrunk.deviations {
        let Some(made) = shrunk.log.get(position as usize) else {
            continue;
        };
        let kind = match made.kind {
            choice::ChoiceKind::Fault => "fault: 0 none, else fires this - 1 ms late",
            choice::ChoiceKind::ServerDraws => "server draws: stream",
            choice::ChoiceKind::BotPlan => "bot plan: stream",
            choice::ChoiceKind::Order => "order: ready task",
            choice::ChoiceKind::Latency => "latency: minimum +",
        };
        out.push_str(&format!(
            "  choice #{position} at {} ms, {kind} {value} (of {} options):\n",
            made.time_ms, made.options
        ));
        let lines = shrunk
            .outcome
            .trace
            .iter()
            .filter(|line| line.time_ms >= made.time_ms && line.time_ms <= made.time_ms + window_ms)
            .take(lines_max);
        for line in lines {
            out.push_str(&format!("    {line}\n"));
        }
    }
    out
}
